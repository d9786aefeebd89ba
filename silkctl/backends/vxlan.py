"""Creates, checks (compatible or recreate) and deletes the VXLAN-GBP VTEP.

Design notes
------------
Data path. Every host owns one VXLAN device, the VTEP (`silk-vtep`), with
VNI `vni`, UDP port `vtep_port`, GBP on (the low 16 bits of the packet mark
travel in the VXLAN header, for policy), learning off, the lease's MAC and
the underlay address as source, bound to the underlay device. Its address
is the first IP of the host's lease with the overlay's prefix and scope
link (`10.255.30.0/16`), so the kernel adds the connected route
`10.255.0.0/16 dev silk-vtep`. A packet for a container on another host
takes `10.255.31.0/24 via 10.255.31.0 dev silk-vtep`; the permanent ARP entry
turns the gateway into the remote VTEP's MAC, and the permanent FDB entry
turns that MAC into the remote underlay IP, the outer destination. Nothing
is flooded or learnt: without an FDB entry a frame is dropped.

Write order. The MAC is set in the create call itself (setting it later
was unreliable on some kernels, and the MAC is how a restarted daemon finds
its lease again). Then link up, then the address; routes come last, in
backends/converge.py, which writes per peer FDB, then ARP, then the route,
so that a route never steers traffic into an entry that is not there yet.
No MTU is set: the kernel takes the lower device's MTU minus 50 (IPv4 VXLAN
overhead), and the daemon reports what the device has.

Scaling. One device per host whatever the fabric size. Each other host costs
one route, one ARP and one FDB entry, so a host holds 3(N-1) entries for N
hosts; they are read with one dump per table and written in batches.
"""

import ipaddress
import logging
import time
from dataclasses import dataclass

from silkctl.backends import converge as convergence
from silkctl.backends.netlink import RT_SCOPE_LINK, Monitor, Netlink
from silkctl.client import Lease
from silkctl.errors import KernelError

log = logging.getLogger(__name__)

RESYNC_SECONDS = 120.0
"""Even without notifications, re-read the VTEP and its tables this often."""


@dataclass(frozen=True)
class VtepSpec:
    """What the VTEP must look like for a lease."""

    name: str
    vni: int
    port: int
    local_ip: str
    lower_index: int
    mac: str
    address: str
    prefixlen: int


@dataclass(frozen=True)
class Vtep:
    """The VTEP as it is in the kernel."""

    index: int
    name: str
    mac: str
    address: str
    mtu: int


def spec_for(
    name: str,
    *,
    vni: int,
    port: int,
    local_ip: str,
    lower_index: int,
    lease_subnet: str,
    lease_mac: str,
    overlay_network: str,
) -> VtepSpec:
    """The VTEP for a lease: address = the subnet's first IP, overlay prefix."""
    first = ipaddress.IPv4Network(lease_subnet, strict=False).network_address
    overlay = ipaddress.IPv4Network(overlay_network, strict=False)
    return VtepSpec(
        name,
        vni,
        port,
        local_ip,
        lower_index,
        lease_mac.lower(),
        str(first),
        overlay.prefixlen,
    )


def underlay_device(nl: Netlink, underlay_ip: str, name: str = "") -> tuple[int, str]:
    """(index, name) of device `name`, else of the one holding `underlay_ip`."""
    if name:
        index = nl.link_index(name)
        if index is None:
            raise KernelError(f"find underlay device {name}: no such device")
        return index, name
    for address in nl.addresses():
        if address.ip == underlay_ip:
            link = nl.link(address.ifindex)
            return address.ifindex, link["name"] if link else str(address.ifindex)
    raise KernelError(f"find underlay device: no device holds {underlay_ip}")


def differences(spec: VtepSpec, link: dict) -> list[str]:
    """Names of the attributes in which an existing device differs from `spec`."""
    if link.get("kind") != "vxlan" or "vxlan" not in link:
        return ["kind"]
    vxlan = link["vxlan"]
    wanted = {
        "vni": (vxlan["vni"], spec.vni),
        "local": (vxlan["local"], spec.local_ip),
        "port": (vxlan["port"], spec.port),
        "lower device": (vxlan["lower"], spec.lower_index),
        "gbp": (vxlan["gbp"], True),
        "learning": (vxlan["learning"], False),
        "mac": ((link["mac"] or "").lower(), spec.mac),
    }
    return [name for name, (have, want) in wanted.items() if have != want]


def ensure(nl: Netlink, spec: VtepSpec) -> Vtep:
    """Make the VTEP match `spec`: create it, accept it, or recreate it; up; address."""
    index = nl.link_index(spec.name)
    if index is not None:
        link = nl.link(index)
        differ = differences(spec, link) if link else ["kind"]
        if differ:
            log.warning(
                "vtep-incompatible",
                extra={"vtep": spec.name, "differs": ",".join(differ)},
            )
            nl.delete_link(index, spec.name)
            index = None
    if index is None:
        index = nl.create_vxlan(
            spec.name,
            vni=spec.vni,
            port=spec.port,
            local=spec.local_ip,
            lower_index=spec.lower_index,
            mac=spec.mac,
        )
        log.info(
            "vtep-created",
            extra={
                "vtep": spec.name,
                "mac": spec.mac,
                "vni": spec.vni,
                "local": spec.local_ip,
            },
        )
    link = nl.link(index)
    if link is None:
        raise KernelError(f"set up vtep {spec.name}: device vanished")
    if not link["up"]:
        nl.set_up(index, spec.name)
        log.info("vtep-set-up", extra={"vtep": spec.name})
    _ensure_address(nl, index, spec)
    link = nl.link(index) or link
    return Vtep(index, spec.name, link["mac"], spec.address, link["mtu"])


def _ensure_address(nl: Netlink, index: int, spec: VtepSpec) -> None:
    present = False
    for address in nl.addresses(index):
        if (address.ip, address.prefixlen, address.scope) == (
            spec.address,
            spec.prefixlen,
            RT_SCOPE_LINK,
        ):
            present = True
            continue
        nl.delete_address(index, address.ip, address.prefixlen)
        log.info(
            "vtep-address-removed",
            extra={"vtep": spec.name, "address": f"{address.ip}/{address.prefixlen}"},
        )
    if not present:
        nl.add_address(index, spec.address, spec.prefixlen, RT_SCOPE_LINK)
        log.info(
            "vtep-address-added",
            extra={"vtep": spec.name, "address": f"{spec.address}/{spec.prefixlen}"},
        )


def discover(
    nl: Netlink, name: str, subnet_prefix_length: int, single_ip: bool = False
) -> tuple[str, str] | None:
    """(overlay subnet, MAC) of the lease an existing VTEP carries; None without one.

    The device is the lease's only record on the host: its MAC and the
    network of its first address. A single-IP host's lease is the `/32`.
    """
    index = nl.link_index(name)
    if index is None:
        return None
    link = nl.link(index)
    addresses = nl.addresses(index)
    if link is None or not addresses or not link["mac"]:
        return None
    prefix = 32 if single_ip else subnet_prefix_length
    subnet = ipaddress.IPv4Network(f"{addresses[0].ip}/{prefix}", strict=False)
    return str(subnet), link["mac"].lower()


def read(nl: Netlink, name: str) -> Vtep | None:
    """The VTEP named `name` as it is now, or None."""
    index = nl.link_index(name)
    link = nl.link(index) if index is not None else None
    if link is None:
        return None
    addresses = nl.addresses(index)
    return Vtep(
        index, name, link["mac"], addresses[0].ip if addresses else "", link["mtu"]
    )


def delete(nl: Netlink, name: str) -> None:
    """Delete the VTEP; a missing device is an error naming it."""
    index = nl.link_index(name)
    if index is None:
        raise KernelError(f"delete vtep {name}: no such device")
    nl.delete_link(index, name)
    log.info("vtep-deleted", extra={"vtep": name})


class VxlanBackend:
    """The built-in data plane: the VTEP and, per remote lease, route, ARP and FDB.

    `setup(lease)` makes the VTEP; `converge(leases)` brings the tables in
    line (pass None when the lease list did not change: only drift in the
    kernel is then put right); `mtu()` is the VTEP's MTU; `teardown()`
    deletes the VTEP. Not thread-safe: one loop drives it.
    """

    name = "vxlan"

    def __init__(self, config, nl: Netlink, netns: str | None = None):
        self.config = config
        self.nl = nl
        self.netns = netns
        self.lease: Lease | None = None
        self.vtep: Vtep | None = None
        self.monitor: Monitor | None = None
        self.mirror: convergence.Mirror | None = None
        self.desired: convergence.DesiredState | None = None
        self._next_resync = 0.0
        self._retry = False
        self._reported: tuple[int, tuple[str, ...]] = (0, ())

    def discover(self) -> tuple[str, str] | None:
        """(subnet, MAC) of the lease the existing VTEP carries, or None."""
        return discover(
            self.nl,
            self.config.vtep_name,
            self.config.subnet_prefix_length,
            self.config.single_ip_only,
        )

    def setup(self, lease: Lease) -> Vtep:
        """Make the VTEP match `lease` and start watching its tables."""
        if lease != self.lease:
            self.desired = None
        self.lease = lease
        if self.monitor is None:
            self.monitor = Monitor(self.netns)
        self.vtep = self._ensure_vtep()
        self.mirror = convergence.Mirror(self.nl, self.monitor, self.vtep.index)
        self._next_resync = time.monotonic() + RESYNC_SECONDS
        return self.vtep

    def _ensure_vtep(self) -> Vtep:
        config = self.config
        lower_index, _ = underlay_device(
            self.nl, config.underlay_ip, config.vxlan_interface_name
        )
        return ensure(
            self.nl,
            spec_for(
                config.vtep_name,
                vni=config.vni,
                port=config.vtep_port,
                local_ip=config.underlay_ip,
                lower_index=lower_index,
                lease_subnet=self.lease.overlay_subnet,
                lease_mac=self.lease.overlay_hardware_addr,
                overlay_network=config.overlay_network,
            ),
        )

    def mtu(self) -> int:
        return self.vtep.mtu if self.vtep else 0

    def peer_count(self) -> int:
        """Remote leases the VTEP is programmed for (routes, ARP, FDB)."""
        return len(self.desired.peers) if self.desired is not None else 0

    def converge(self, leases: list[Lease] | None) -> convergence.ApplyResult | None:
        """Converge to `leases` (None: unchanged); None when nothing had to change."""
        try:
            return self._converge(leases)
        except Exception:
            self._next_resync = 0.0
            raise

    def _converge(self, leases):
        started = time.monotonic()
        tables, device = self.mirror.refresh()
        if device or started >= self._next_resync:
            vtep = self._ensure_vtep()
            self.mirror.resync(vtep.index)
            self.vtep = vtep
            self._next_resync = started + RESYNC_SECONDS
            tables = True
        full = tables or self._retry
        added = removed = None
        if leases is not None:
            if self.desired is None:
                self.desired = convergence.desired_state(
                    leases, self.lease, self.config.overlay_network
                )
                full = True
            else:
                added, removed = self.desired.update(leases)
            self._report(self.desired)
        if self.desired is None:
            return None
        if full:
            changes = convergence.diff(self.desired, self.mirror.state)
        elif added or removed:
            # Nothing moved in the kernel: only the peers that came or went matter.
            changes = convergence.diff_peers(
                self.desired, self.mirror.state, added, removed
            )
        else:
            return None
        self._retry = False
        if not changes:
            return None
        result = convergence.apply(self.nl, self.vtep.index, changes, self.mirror.state)
        self._retry = bool(result.failed)
        log.info(
            "converged",
            extra={
                "peers": len(self.desired.peers),
                "diff": "full" if full else "peers",
                "added": result.added,
                "replaced": result.replaced,
                "deleted": result.deleted,
                "failed": len(result.failed),
                "messages": result.messages,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return result

    def _report(self, desired: convergence.DesiredState) -> None:
        reported = (desired.skipped, tuple(desired.invalid))
        if reported == self._reported:
            return
        self._reported = reported
        if desired.skipped:
            log.warning(
                "leases-outside-overlay",
                extra={
                    "non_routable_lease_count": desired.skipped,
                    "overlay_network": desired.overlay,
                },
            )
        for problem in desired.invalid:
            log.error("lease-invalid", extra={"error": problem})

    def teardown(self) -> None:
        delete(self.nl, self.config.vtep_name)

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
