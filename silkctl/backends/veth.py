"""Container side of CNI: veth pair, point-to-point /32 addressing, static neighbours.

Design notes
------------
Every container sits on its own point-to-point segment to the host, which
routes for it; nothing is bridged and nothing ARPs:

    host netns (the daemon's)                   container netns (CNI_NETNS)
    s-010255030002   aa:aa:0a:ff:1e:02  <veth>  eth0   ee:ee:0a:ff:1e:02
    169.254.0.1/32 peer 10.255.30.2/32          10.255.30.2/32 peer 169.254.0.1/32
    neigh 10.255.30.2 ee:ee:... PERMANENT       neigh 169.254.0.1 aa:aa:... PERMANENT
    (kernel: 10.255.30.2 dev s-... scope link)  default via 169.254.0.1 src 10.255.30.2

Every netlink request goes through pyroute2's `AsyncIPRoute` (see `Handle`);
only the sysctls are plain writes under /proc/sys.

Order of writes, and why:
1. One `link("add", kind="veth", peer={..., "net_ns_fd": fd})` creates the
   pair: the host end (name, MAC, MTU, NOARP, up) and its peer born
   directly inside the container's namespace under its final name, so the
   reference's temporary `c-` name and the move between namespaces are not
   needed, and two ADDs never race for a name in the host.
2. Host end: sysctls (rp_filter=1, IPv6 off), the /32 peer address (the
   kernel adds the host route to the container), the permanent neighbour;
   then ip_forward=1 for the namespace.
3. Container end, on a short-lived thread switched into CNI_NETNS with
   setns(2), with its own handle opened there: NOARP + up (the kernel
   refuses to bring a veth end up before the pair exists, so this cannot
   ride on step 1), sysctls, the /32 peer address (the kernel adds the link
   route to 169.254.0.1), the permanent neighbour, then the default route,
   which needs that link route.
Interface indexes come from if_nametoindex(3) in each namespace, a
microsecond ioctl; asking the kernel to echo the new link instead costs
pyroute2 about 0.5 ms to decode the message.
If any step fails, deleting the host end removes the pair together with
every address, neighbour and route above; nothing else is left to undo.
Deleting a veth costs the kernel about 15 ms (an RCU grace period), by far
the largest part of a DEL; it is done once, from the host end.

Cost per container: one veth pair, two addresses, two neighbours, one
route; the host's table grows by one /32 route per container. An ADD sends
seven requests. pyroute2 spends about 0.2 ms of CPU on a request once warm,
more in a service that sleeps between calls, and about 0.7 ms to open a
handle and make its first request; that is most of an ADD's netlink time
(about 6 ms against 1.5 ms for the struct-packed messages this module used
before). Callers that serve many calls from one thread pass a `Handle` for
the host side and skip one opening per call; the container's handle is new
each time, as its namespace is.

Namespaces: the host side works in the calling thread's namespace, so the
daemon serves concurrent ADDs from its worker threads, and tests run it
from a thread inside a throw-away namespace. The container side runs on a
thread of its own that enters CNI_NETNS and ends there, so the caller never
leaves its namespace. pyroute2's own netns support (`netns=` on a handle)
forks a helper process for each handle, about 6 ms here against about 1 ms
for the thread, and would fork the multi-threaded daemon.
"""

import asyncio
import errno
import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from pyroute2 import AsyncIPRoute, NetlinkError
from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink.rtnl import rt_proto
from pyroute2.netlink.rtnl.ifinfmsg import IFF_NOARP, IFF_UP
from pyroute2.netlink.rtnl.ndmsg import NUD_PERMANENT
from pyroute2.netlink.rtnl.rtmsg import RT_SCOPE_LINK

from silkctl import hwaddr
from silkctl.errors import KernelError

GATEWAY = "169.254.0.1"
RT_TABLE_MAIN = 254


class NetnsMissing(KernelError):
    """CNI_NETNS does not name an existing network namespace."""


@dataclass(frozen=True)
class Attachment:
    """A container's veth as planned: its address, interface, namespace and MTU."""

    ip: str
    ifname: str
    netns: str
    mtu: int

    @property
    def host_name(self) -> str:
        return host_end(self.ip)

    @property
    def host_mac(self) -> str:
        return hwaddr.host_veth_mac(self.ip)

    @property
    def container_mac(self) -> str:
        return hwaddr.container_mac(self.ip)


def host_end(ip: str) -> str:
    """Name of the host end of the veth for container address `ip`."""
    return hwaddr.veth_names(ip)[0]


# ---- handles, namespaces and sysctls ----------------------------------------------


class Handle:
    """A pyroute2 handle and its event loop, for the thread and namespace that made it.

    `run(fn, ...)` awaits `fn(ipr, ...)` on the handle. The functions below
    open one per call unless given one; the CNI server keeps one per worker
    thread for the host side. pyroute2 ties a handle to the thread that uses
    it, so a handle must not change threads. After a failed call the next
    one gets a fresh handle, whatever state the failure left behind.
    """

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        self._ipr = self._open()

    def _open(self) -> AsyncIPRoute:
        # No multicast groups: a long-lived handle must not queue events.
        return AsyncIPRoute(groups=0, use_event_loop=self._loop)

    def run(self, fn, *args, **kwargs):
        try:
            return self._loop.run_until_complete(fn(self._ipr, *args, **kwargs))
        except BaseException:
            self._ipr.close()
            self._ipr = self._open()
            raise

    def close(self) -> None:
        self._ipr.close()
        # One more turn of the loop lets the socket's transport finish closing.
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def __enter__(self) -> "Handle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def _using(handle: Handle | None):
    """`handle`, or one opened in the calling thread for this call only."""
    if handle is not None:
        yield handle
    else:
        with Handle() as own:
            yield own


def _with_own_handle(fn, *args, **kwargs):
    """`await fn(ipr, ...)` on a handle opened for it in this thread's namespace."""
    with Handle() as handle:
        return handle.run(fn, *args, **kwargs)


def open_netns(path: str) -> int:
    """An fd on the namespace at `path`; refuses the caller's own namespace."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise NetnsMissing(f"open netns {path}: {err.strerror}") from err
    own = os.stat("/proc/thread-self/ns/net")
    theirs = os.fstat(fd)
    if (theirs.st_dev, theirs.st_ino) == (own.st_dev, own.st_ino):
        os.close(fd)
        raise KernelError(f"open netns {path}: it is the host's own namespace")
    return fd


def _setns(fd: int) -> None:
    """Switch the calling thread into namespace `fd`; OSError with the errno's text."""
    try:
        pyroute2_netns.setns(fd, flags=0)
    except OSError as err:
        raise OSError(err.errno, os.strerror(err.errno)) from None


@contextmanager
def entered(netns_fd: int):
    """Run the block with the calling thread inside namespace `netns_fd`."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            _setns(netns_fd)
        except OSError as err:
            raise KernelError(f"enter netns: {err.strerror}") from err
        try:
            yield
        finally:
            try:
                _setns(home)
            except OSError as err:  # pragma: no cover - the kernel refused to go back
                raise SystemExit(f"return to host netns: {err.strerror}") from err
    finally:
        os.close(home)


def _in_netns(netns_fd: int, fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on a short-lived thread that enters namespace `netns_fd`.

    Returns or raises what `fn` did. Only that thread switches namespace,
    and it ends there, so the caller never leaves its own.
    """
    outcome: dict = {}

    def target() -> None:
        try:
            try:
                _setns(netns_fd)
            except OSError as err:
                raise KernelError(f"enter netns: {err.strerror}") from err
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            outcome["error"] = err

    thread = threading.Thread(target=target, name="veth-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def sysctl(key: str, value: str, optional: bool = False) -> None:
    """Write /proc/sys/<key> in the calling thread's namespace."""
    try:
        with open(f"/proc/sys/{key}", "w", encoding="ascii") as handle:
            handle.write(value)
    except OSError as err:
        if not optional:
            raise KernelError(
                f"sysctl {key.replace('/', '.')}={value}: {err.strerror}"
            ) from err


def _interface_sysctls(name: str) -> None:
    sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "1", optional=True)
    sysctl(f"net/ipv4/conf/{name}/rp_filter", "1")


@contextmanager
def _step(what: str):
    """Name the failing step: errors inside become KernelError(`what: cause`)."""
    try:
        yield
    except NetlinkError as err:
        cause = err.args[1] if len(err.args) > 1 else os.strerror(err.code)
        raise KernelError(f"{what}: {cause}") from err
    except OSError as err:
        raise KernelError(f"{what}: {err.strerror or err}") from err
    except KernelError as err:
        raise KernelError(f"{what}: {err}") from err


async def _delete_link(ipr: AsyncIPRoute, **which) -> bool:
    """Delete the link named by `which` (ifname= or index=); False when absent."""
    try:
        await ipr.link("del", **which)
    except NetlinkError as err:
        if err.code == errno.ENODEV:
            return False
        raise
    return True


# ---- attach and detach ---------------------------------------------------------


def attach(att: Attachment, host: Handle | None = None) -> None:
    """Create and configure the pair; on failure nothing of it is left behind.

    `host` is a handle in the caller's namespace to reuse; by default one
    is opened for the call.
    """
    netns_fd = open_netns(att.netns)
    try:
        with _using(host) as host:
            host.run(_make_host_end, att, netns_fd)
            try:
                with _step(f"set up container {att.ifname}"):
                    _in_netns(netns_fd, _with_own_handle, _configure_container_end, att)
            except BaseException:
                with _step(f"delete link {att.host_name}"):
                    host.run(_delete_link, ifname=att.host_name)
                raise
    finally:
        os.close(netns_fd)


async def _make_host_end(host: AsyncIPRoute, att: Attachment, netns_fd: int) -> None:
    """Steps 1 and 2: the pair and the host end; the pair is gone if they fail."""
    with _step(f"create veth {att.host_name} peer {att.ifname}"):
        await host.link(
            "add",
            ifname=att.host_name,
            kind="veth",
            address=att.host_mac,
            mtu=att.mtu,
            state="up",
            arp=False,
            peer={
                "ifname": att.ifname,
                "address": att.container_mac,
                "mtu": att.mtu,
                "net_ns_fd": netns_fd,
            },
        )
    try:
        with _step(f"set up host {att.host_name}"):
            index = socket.if_nametoindex(att.host_name)
            _interface_sysctls(att.host_name)
            await host.addr(
                "add",
                index=index,
                local=GATEWAY,
                address=att.ip,
                prefixlen=32,
                scope=RT_SCOPE_LINK,
            )
            await host.neigh(
                "add",
                ifindex=index,
                dst=att.ip,
                lladdr=att.container_mac,
                state=NUD_PERMANENT,
            )
            sysctl("net/ipv4/ip_forward", "1")
    except BaseException:
        await _delete_link(host, ifname=att.host_name)
        raise


async def _configure_container_end(ipr: AsyncIPRoute, att: Attachment) -> None:
    """Step 3, run inside the container's namespace."""
    index = socket.if_nametoindex(att.ifname)
    await ipr.link("set", index=index, state="up", arp=False)
    _interface_sysctls(att.ifname)
    await ipr.addr(
        "add",
        index=index,
        local=att.ip,
        address=GATEWAY,
        prefixlen=32,
        scope=RT_SCOPE_LINK,
    )
    await ipr.neigh(
        "add",
        ifindex=index,
        dst=GATEWAY,
        lladdr=att.host_mac,
        state=NUD_PERMANENT,
    )
    with _step(f"add default route via {GATEWAY}"):
        await ipr.route(
            "add",
            dst="0.0.0.0/0",
            gateway=GATEWAY,
            prefsrc=att.ip,
            oif=index,
            table=RT_TABLE_MAIN,
            proto=rt_proto["static"],
        )


def remove_host_end(ip: str, host: Handle | None = None) -> bool:
    """Delete the host end for `ip` (the peer goes with it); False when absent."""
    with _step(f"delete link {host_end(ip)}"), _using(host) as host:
        return host.run(_delete_link, ifname=host_end(ip))


def remove_container_end(netns: str, ifname: str) -> bool:
    """Delete `ifname` inside `netns`; False when the namespace or link is gone."""
    try:
        netns_fd = open_netns(netns)
    except NetnsMissing:
        return False
    try:
        with _step(f"delete link {ifname} in {netns}"):
            return _in_netns(netns_fd, _with_own_handle, _delete_link, ifname=ifname)
    finally:
        os.close(netns_fd)


# ---- inspection (CHECK) --------------------------------------------------------


def differences(
    att: Attachment, mtu: int | None, host: Handle | None = None
) -> list[str]:
    """How the kernel differs from `att`; `mtu=None` compares the two ends only."""
    problems: list[str] = []
    with _step("inspect host end"), _using(host) as host:
        host_state = host.run(_link_state, att.host_name)
    if host_state is None:
        problems.append(f"host interface {att.host_name} is missing")
    else:
        problems += _compare(
            att.host_name,
            host_state,
            att.host_mac,
            mtu,
            GATEWAY,
            att.ip,
            att.container_mac,
        )
    try:
        netns_fd = open_netns(att.netns)
    except KernelError as err:
        return problems + [str(err)]
    try:
        with _step("inspect container end"):
            state = _in_netns(
                netns_fd, _with_own_handle, _link_state, att.ifname, routes=True
            )
    finally:
        os.close(netns_fd)
    if state is None:
        return problems + [f"container interface {att.ifname} is missing"]
    if mtu is None and host_state is not None:
        mtu = host_state["mtu"]
    problems += _compare(
        att.ifname, state, att.container_mac, mtu, att.ip, GATEWAY, att.host_mac
    )
    gateways = state["gateways"]
    if GATEWAY not in gateways:
        problems.append(
            f"{att.ifname}: default route via {GATEWAY} is missing"
            + (f" (has via {', '.join(gateways)})" if gateways else "")
        )
    return problems


async def _link_state(
    ipr: AsyncIPRoute, name: str, routes: bool = False
) -> dict | None:
    """MAC, MTU, flags, addresses, neighbours (and default gateways) of `name`.

    None when the link is absent.
    """
    try:
        link = (await ipr.link("get", ifname=name))[0]
    except NetlinkError as err:
        if err.code == errno.ENODEV:
            return None
        raise
    index = link["index"]
    state = {
        "flags": link["flags"],
        "mac": link.get("address"),
        "mtu": link.get("mtu"),
        "addresses": sorted(
            [
                (a.get("local"), a.get("address"), a["prefixlen"], a["scope"])
                async for a in await ipr.addr(
                    "dump", family=socket.AF_INET, index=index
                )
            ]
        ),
        "neighbours": sorted(
            [
                (n.get("dst"), n.get("lladdr"), n["state"])
                async for n in await ipr.neigh(
                    "dump", family=socket.AF_INET, ifindex=index
                )
            ]
        ),
    }
    if routes:
        state["gateways"] = [
            route.get("gateway") or "direct"
            async for route in await ipr.route(
                "dump",
                family=socket.AF_INET,
                table=RT_TABLE_MAIN,
                dst_len=0,
                oif=index,
            )
        ]
    return state


def _compare(name, state, mac, mtu, local, peer, neighbour_mac) -> list[str]:
    problems = []
    if state["mac"] != mac:
        problems.append(f"{name}: MAC is {state['mac']}, expected {mac}")
    if mtu is not None and state["mtu"] != mtu:
        problems.append(f"{name}: MTU is {state['mtu']}, expected {mtu}")
    if not state["flags"] & IFF_NOARP:
        problems.append(f"{name}: ARP is on, expected NOARP")
    if not state["flags"] & IFF_UP:
        problems.append(f"{name}: link is down")
    if state["addresses"] != [(local, peer, 32, RT_SCOPE_LINK)]:
        have = ", ".join(
            f"{a} peer {b}/{n} scope {s}" for a, b, n, s in state["addresses"]
        )
        problems.append(
            f"{name}: addresses are [{have}], expected "
            f"{local} peer {peer}/32 scope link"
        )
    if (peer, neighbour_mac, NUD_PERMANENT) not in state["neighbours"]:
        problems.append(
            f"{name}: permanent neighbour {peer} {neighbour_mac} is missing"
        )
    return problems
