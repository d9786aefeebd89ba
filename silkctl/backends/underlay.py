"""Builds a simulated underlay: a bridge in its own namespace, hosts on veths.

    netns <prefix>-ul            netns <prefix>-h1 ...
    ┌───────────────────┐        ┌──────────────────┐
    │ br0 10.x.y.1/24   │◄─veth─►│ eth0 10.x.y.11/24│
    │  (controller      │        │ (daemon, CNI,    │
    │   listens here)   │        │  containers)     │
    └───────────────────┘        └──────────────────┘

Used by the lab and by the tests; nothing here touches the root namespace.
Every name starts with `prefix`, so `destroy_all(prefix)` finds what a
crashed run left behind.
"""

import ipaddress
from dataclasses import dataclass

from pyroute2 import IPRoute

from silkctl.backends import netns
from silkctl.errors import KernelError

BRIDGE = "br0"
HOST_IFNAME = "eth0"


@dataclass(frozen=True)
class Host:
    """A simulated machine: its namespace and its underlay address."""

    name: str
    netns: str
    underlay_ip: str


class Underlay:
    """An underlay L2 segment `cidr`; the bridge takes the first address."""

    def __init__(self, prefix: str, cidr: str = "172.31.0.0/24", mtu: int = 1500):
        self.prefix = prefix
        self.network = ipaddress.IPv4Network(cidr)
        self.mtu = mtu
        self.netns = f"{prefix}-ul"
        self.gateway_ip = str(self.network.network_address + 1)
        self.hosts: dict[str, Host] = {}

    def create(self) -> None:
        """Make the underlay namespace and its bridge."""
        netns.create(self.netns)
        with IPRoute(netns=self.netns) as ipr:
            ipr.link("add", ifname=BRIDGE, kind="bridge")
            index = ipr.link_lookup(ifname=BRIDGE)[0]
            ipr.link("set", index=index, mtu=self.mtu)
            ipr.addr(
                "add",
                index=index,
                address=self.gateway_ip,
                prefixlen=self.network.prefixlen,
            )
            ipr.link("set", index=index, state="up")

    def host_ip(self, number: int) -> str:
        return str(self.network.network_address + 10 + number)

    def add_host(self, number: int, name: str | None = None) -> Host:
        """Make host namespace `<prefix>-h<number>` joined to the bridge."""
        name = name or f"h{number}"
        host = Host(name, f"{self.prefix}-{name}", self.host_ip(number))
        netns.create(host.netns)
        bridge_end = f"{self.prefix[:8]}-{name}"[:15]
        try:
            with IPRoute(netns=self.netns) as ul:
                ul.link(
                    "add",
                    ifname=bridge_end,
                    kind="veth",
                    mtu=self.mtu,
                    peer={
                        "ifname": HOST_IFNAME,
                        "net_ns_fd": host.netns,
                        "mtu": self.mtu,
                    },
                )
                index = ul.link_lookup(ifname=bridge_end)[0]
                ul.link(
                    "set",
                    index=index,
                    master=ul.link_lookup(ifname=BRIDGE)[0],
                    state="up",
                )
            with IPRoute(netns=host.netns) as hr:
                index = hr.link_lookup(ifname=HOST_IFNAME)[0]
                hr.addr(
                    "add",
                    index=index,
                    address=host.underlay_ip,
                    prefixlen=self.network.prefixlen,
                )
                hr.link("set", index=index, state="up")
        except Exception as err:
            netns.remove(host.netns)
            raise KernelError(
                f"add host {name} to underlay {self.netns}: {err}"
            ) from err
        self.hosts[name] = host
        return host

    def remove_host(self, name: str) -> None:
        host = self.hosts.pop(name, None)
        if host:
            netns.remove(host.netns)

    def destroy(self) -> None:
        """Remove every namespace of this underlay (veths go with them)."""
        destroy_all(self.prefix)
        self.hosts.clear()


def destroy_all(prefix: str) -> list[str]:
    """Remove every namespace whose name starts with `prefix-`; returns their names."""
    removed = []
    for name in netns.names(prefix + "-"):
        if netns.remove(name):
            removed.append(name)
    return removed
