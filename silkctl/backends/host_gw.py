"""The `host-gw` data plane: plain routes via each remote host's underlay address.

Design notes
------------
Data path. For hosts on one L2 segment no encapsulation is needed: a packet
for a container on another host takes `10.255.31.0/24 via 172.31.0.12 dev
eth0`, the remote host's underlay address as gateway, and arrives there
unchanged, to be routed to the container's veth. No VXLAN header means no
MTU overhead (containers get the full underlay MTU) and no GBP tags: policy
marks do not cross hosts with this backend.

Lease record. As with VXLAN, the kernel keeps the lease across restarts: a
portless bridge `silk-gw` carries the lease's MAC and the subnet's first
address (/32), and a restarted daemon reads its lease back from it.

Reachability. A remote host is reachable only if its underlay address lies
in a network connected to our underlay device; a gateway route to anything
else would send traffic to a router that knows nothing of the overlay. At
start-up such a peer stops the daemon with an error naming it; later ones
are logged and skipped.

Scaling. One route per remote host, read with one dump and written in
one batch; only routes into the overlay on the underlay device are ours.
"""

import ipaddress
import logging
import time

from silkctl.backends.converge import ApplyResult
from silkctl.backends.netlink import RT_SCOPE_LINK, Netlink, Op, Route
from silkctl.backends.vxlan import underlay_device
from silkctl.client import Lease
from silkctl.errors import KernelError

log = logging.getLogger(__name__)

DEVICE = "silk-gw"


class UnreachablePeer(KernelError):
    """A remote host's underlay address is not on a directly connected network."""


class HostGwBackend:
    """Routes via remote underlay addresses; `setup`, `converge`, `mtu`, `teardown`."""

    name = "host-gw"

    def __init__(self, config, nl: Netlink, netns: str | None = None):
        self.config = config
        self.nl = nl
        self.lease: Lease | None = None
        self.underlay_index: int | None = None
        self.overlay = ipaddress.IPv4Network(config.overlay_network, strict=False)
        self._desired: dict[str, str] | None = None

    # -- lease record ------------------------------------------------------------

    def discover(self) -> tuple[str, str] | None:
        """(subnet, MAC) of the lease `silk-gw` records, or None."""
        index = self.nl.link_index(DEVICE)
        link = self.nl.link(index) if index is not None else None
        addresses = self.nl.addresses(index) if link else []
        if not link or not addresses:
            return None
        prefix = 32 if self.config.single_ip_only else self.config.subnet_prefix_length
        subnet = ipaddress.IPv4Network(f"{addresses[0].ip}/{prefix}", strict=False)
        return str(subnet), (link["mac"] or "").lower()

    def setup(self, lease: Lease):
        """Record the lease on `silk-gw` (recreated when it holds another one)."""
        self.lease = lease
        self._desired = None
        self.underlay_index, _ = underlay_device(
            self.nl, self.config.underlay_ip, self.config.vxlan_interface_name
        )
        first = str(ipaddress.IPv4Network(lease.overlay_subnet).network_address)
        index = self.nl.link_index(DEVICE)
        if index is not None:
            link = self.nl.link(index) or {}
            have = [a.ip for a in self.nl.addresses(index)]
            if (
                link.get("mac") or ""
            ).lower() != lease.overlay_hardware_addr or have != [first]:
                self.nl.delete_link(index, DEVICE)
                index = None
        if index is None:
            index = self.nl.create_link(DEVICE, "bridge", lease.overlay_hardware_addr)
            self.nl.add_address(index, first, 32, RT_SCOPE_LINK)
            self.nl.set_up(index, DEVICE)
            log.info(
                "host-gw-device-created", extra={"device": DEVICE, "address": first}
            )
        return self.nl.link(index)

    def mtu(self) -> int:
        link = self.nl.link(self.underlay_index) if self.underlay_index else None
        return link["mtu"] if link else 0

    # -- peers -------------------------------------------------------------------

    def _connected(self) -> list[ipaddress.IPv4Network]:
        return [
            ipaddress.IPv4Network(f"{a.ip}/{a.prefixlen}", strict=False)
            for a in self.nl.addresses(self.underlay_index)
        ]

    def _peers(self, leases: list[Lease]) -> tuple[dict[str, str], list[str]]:
        """{remote subnet: underlay ip} for routable peers, and the unreachable ones."""
        connected = self._connected()
        peers, unreachable = {}, []
        for lease in leases:
            if lease.overlay_subnet == self.lease.overlay_subnet:
                continue
            subnet = ipaddress.IPv4Network(lease.overlay_subnet, strict=False)
            if not subnet.subnet_of(self.overlay):
                continue
            gateway = ipaddress.IPv4Address(lease.underlay_ip)
            if not any(gateway in network for network in connected):
                unreachable.append(f"{lease.underlay_ip} ({lease.overlay_subnet})")
                continue
            peers[str(subnet)] = lease.underlay_ip
        return peers, unreachable

    def peer_count(self) -> int:
        """Remote leases the underlay device has a route for."""
        return len(self._desired or {})

    def preflight(self, leases: list[Lease]) -> None:
        """Refuse to start when any remote host is not directly reachable."""
        _, unreachable = self._peers(leases)
        if unreachable:
            raise UnreachablePeer(
                "host-gw needs every host on one L2 segment; not directly reachable "
                f"from {self.config.underlay_ip}: {', '.join(unreachable)} "
                "(use encapsulation vxlan)"
            )

    def converge(self, leases: list[Lease] | None):
        """Make the underlay device's overlay routes match `leases` (None: last)."""
        started = time.monotonic()
        if leases is not None:
            self._desired, unreachable = self._peers(leases)
            for peer in unreachable:
                log.error("peer-unreachable", extra={"peer": peer})
        if self._desired is None:
            return None
        have = {r.dst: r for r in self.nl.routes(self.underlay_index) if self._ours(r)}
        src = str(ipaddress.IPv4Network(self.lease.overlay_subnet).network_address)
        ops = []
        for dst, gateway in self._desired.items():
            want = Route(dst, gateway, src)
            if have.get(dst) != want:
                ops.append(Op("replace", want, self.underlay_index))
        ops += [
            Op("delete", route, self.underlay_index)
            for dst, route in have.items()
            if dst not in self._desired
        ]
        if not ops:
            return None
        sent_before = self.nl.messages
        answers = self.nl.write(ops)
        result = ApplyResult(messages=self.nl.messages - sent_before)
        for op, (code, reason) in zip(ops, answers, strict=True):
            if code:
                result.failed.append(f"{op.action} route {op.entry.dst}: {reason}")
            elif op.action == "delete":
                result.deleted += 1
            else:
                result.replaced += 1
        result.seconds = time.monotonic() - started
        for failure in result.failed:
            log.error("route-write-failed", extra={"error": failure})
        log.info(
            "converged",
            extra={
                "peers": len(self._desired),
                "written": len(ops),
                "failed": len(result.failed),
                "duration_ms": round(result.seconds * 1000, 1),
            },
        )
        return result

    def _ours(self, route: Route) -> bool:
        network = ipaddress.IPv4Network(route.dst, strict=False)
        return route.gateway is not None and network.subnet_of(self.overlay)

    def teardown(self) -> None:
        """Delete the overlay routes and `silk-gw`."""
        if self.underlay_index is None:
            self.underlay_index, _ = underlay_device(
                self.nl, self.config.underlay_ip, self.config.vxlan_interface_name
            )
        stale = [
            Op("delete", r, self.underlay_index)
            for r in self.nl.routes(self.underlay_index)
            if self._ours(r)
        ]
        self.nl.write(stale)
        index = self.nl.link_index(DEVICE)
        if index is None:
            raise KernelError(f"delete {DEVICE}: no such device")
        self.nl.delete_link(index, DEVICE)

    def close(self) -> None:
        pass
