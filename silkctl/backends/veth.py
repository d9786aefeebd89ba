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

Order of writes, and why:
1. One RTM_NEWLINK creates the pair: the host end (name, MAC, MTU, NOARP,
   up) and its peer born directly inside the container's namespace under
   its final name, so the reference's temporary `c-` name and the move
   between namespaces are not needed, and two ADDs never race for a name
   in the host. One RTM_GETLINK then gives the host index and, as IFLA_LINK,
   the peer's index inside the container.
2. Host end: sysctls (rp_filter=1, IPv6 off), the /32 peer address (the
   kernel adds the host route to the container), the permanent neighbour;
   then ip_forward=1 for the namespace.
3. Container end, from a thread switched into CNI_NETNS with setns(2):
   NOARP + up, sysctls, the /32 peer address (the kernel adds the link
   route to 169.254.0.1), the permanent neighbour, then the default route,
   which needs that link route.
If any step fails, deleting the host end removes the pair together with
every address, neighbour and route above; nothing else is left to undo.
Deleting a veth costs the kernel about 15 ms (an RCU grace period), by far
the largest part of a DEL; it is done once, from the host end.

Cost per container: one veth pair, two addresses, two neighbours, one
route; the host's table grows by one /32 route per container.

Namespace switching is per thread (setns affects only the calling thread),
so the daemon serves concurrent ADDs without forking; a thread that cannot
switch back stops instead of carrying on in the wrong namespace.

The messages are packed with `struct` on a plain NETLINK_ROUTE socket
rather than through pyroute2: a CNI call makes about ten small requests,
and pyroute2's per-request cost (~0.7 ms) would be most of an ADD; it also
keeps pyroute2 out of silk-cni's in-process path when the daemon is down.
"""

import ctypes
import errno
import os
import socket
import struct
from contextlib import contextmanager
from dataclasses import dataclass

from silkctl import hwaddr
from silkctl.errors import KernelError

GATEWAY = "169.254.0.1"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# TODO: this codec repeats the packing helpers of backends/netlink.py (which
# imports pyroute2); a fix to netlink framing has to be made in both places.
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = (
    0x1,
    0x4,
    0x200,
    0x400,
    0x300,
)
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 20, 22, 24, 26
RTM_NEWNEIGH, RTM_GETNEIGH = 28, 30
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = (
    18,
    28,
    1,
    2,
    1,
)
IFA_ADDRESS, IFA_LOCAL = 1, 2
NDA_DST, NDA_LLADDR = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 7, 15
IFF_UP, IFF_NOARP = 0x1, 0x80
NUD_PERMANENT = 0x80
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RTN_UNICAST = (
    254,
    4,
    0,
    253,
    1,
)

_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBi")
_NDMSG = struct.Struct("=BxxxiHBB")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_TIMEOUT_SECONDS = 10.0


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


# ---- the netlink socket -----------------------------------------------------------


def _nla(attr_type: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return _NLA.pack(length, attr_type) + payload + b"\0" * (-length % 4)


def _name(name: str) -> bytes:
    return name.encode() + b"\0"


def _mac(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _ip(ip: str) -> bytes:
    return socket.inet_aton(ip)


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    found = {}
    while offset + 4 <= end:
        length, attr_type = _NLA.unpack_from(data, offset)
        if length < 4:
            break
        found[attr_type & 0x3FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


class _Rtnl:
    """A NETLINK_ROUTE socket in the calling thread's namespace; one call at a time."""

    def __init__(self):
        self.sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE
        )
        self.sock.settimeout(_TIMEOUT_SECONDS)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "_Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, msg_type: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request; the answer's messages, or OSError on an error."""
        self.seq += 1
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        flags |= NLM_F_REQUEST if dump else NLM_F_REQUEST | NLM_F_ACK
        self.sock.send(_HDR.pack(16 + len(body), msg_type, flags, self.seq, 0) + body)
        answers = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, seq, _ = _HDR.unpack_from(data, offset)
                if length < 16:
                    break
                if seq == self.seq:
                    if kind == NLMSG_DONE:
                        return answers
                    if kind == NLMSG_ERROR:
                        code = -_I32.unpack_from(data, offset + 16)[0]
                        if code:
                            raise OSError(code, os.strerror(code))
                        return answers
                    answers.append(data[offset : offset + length])
                offset += (length + 3) & ~3

    def link(self, name: str) -> dict | None:
        """Index, peer index, MAC, MTU and flags of link `name`; None when absent."""
        try:
            msg = self.call(
                RTM_GETLINK,
                0,
                _IFINFO.pack(0, 0, 0, 0, 0) + _nla(IFLA_IFNAME, _name(name)),
            )[0]
        except OSError as err:
            if err.errno == errno.ENODEV:
                return None
            raise
        _, _, index, flags, _ = _IFINFO.unpack_from(msg, 16)
        attrs = _attrs(msg, 32, len(msg))
        return {
            "index": index,
            "flags": flags,
            "mac": attrs[IFLA_ADDRESS].hex(":") if IFLA_ADDRESS in attrs else None,
            "mtu": _U32.unpack(attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else None,
            "peer": _U32.unpack(attrs[IFLA_LINK])[0] if IFLA_LINK in attrs else None,
        }

    def create_veth(self, att: "Attachment", netns_fd: int) -> None:
        peer = (
            _IFINFO.pack(0, 0, 0, 0, 0)
            + _nla(IFLA_IFNAME, _name(att.ifname))
            + _nla(IFLA_ADDRESS, _mac(att.container_mac))
            + _nla(IFLA_MTU, _U32.pack(att.mtu))
            + _nla(IFLA_NET_NS_FD, _U32.pack(netns_fd))
        )
        info = _nla(IFLA_INFO_KIND, b"veth") + _nla(
            IFLA_INFO_DATA, _nla(VETH_INFO_PEER, peer)
        )
        body = (
            _IFINFO.pack(0, 0, 0, IFF_UP | IFF_NOARP, IFF_UP | IFF_NOARP)
            + _nla(IFLA_IFNAME, _name(att.host_name))
            + _nla(IFLA_ADDRESS, _mac(att.host_mac))
            + _nla(IFLA_MTU, _U32.pack(att.mtu))
            + _nla(IFLA_LINKINFO, info)
        )
        self.call(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def set_flags(self, index: int, flags: int) -> None:
        self.call(RTM_SETLINK, 0, _IFINFO.pack(0, 0, index, flags, flags))

    def delete_link(self, name: str) -> bool:
        try:
            self.call(
                RTM_DELLINK,
                0,
                _IFINFO.pack(0, 0, 0, 0, 0) + _nla(IFLA_IFNAME, _name(name)),
            )
        except OSError as err:
            if err.errno == errno.ENODEV:
                return False
            raise
        return True

    def add_peer_address(self, index: int, local: str, peer: str) -> None:
        body = (
            _IFADDR.pack(socket.AF_INET, 32, 0, RT_SCOPE_LINK, index)
            + _nla(IFA_LOCAL, _ip(local))
            + _nla(IFA_ADDRESS, _ip(peer))
        )
        self.call(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)

    def add_neighbour(self, index: int, ip: str, mac: str) -> None:
        body = (
            _NDMSG.pack(socket.AF_INET, index, NUD_PERMANENT, 0, 0)
            + _nla(NDA_DST, _ip(ip))
            + _nla(NDA_LLADDR, _mac(mac))
        )
        self.call(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, body)

    def add_default_route(self, index: int, gateway: str, src: str) -> None:
        body = (
            _RTMSG.pack(
                socket.AF_INET,
                0,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_STATIC,
                RT_SCOPE_UNIVERSE,
                RTN_UNICAST,
                0,
            )
            + _nla(RTA_GATEWAY, _ip(gateway))
            + _nla(RTA_PREFSRC, _ip(src))
            + _nla(RTA_OIF, _U32.pack(index))
        )
        self.call(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body)

    def addresses(self, index: int) -> list[tuple]:
        """(local, peer, prefixlen, scope) of each IPv4 address on link `index`."""
        found = []
        for msg in self.call(
            RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)
        ):
            _, prefixlen, _, scope, where = _IFADDR.unpack_from(msg, 16)
            if where == index:
                attrs = _attrs(msg, 24, len(msg))
                found.append(
                    (
                        _text_ip(attrs.get(IFA_LOCAL)),
                        _text_ip(attrs.get(IFA_ADDRESS)),
                        prefixlen,
                        scope,
                    )
                )
        return sorted(found)

    def neighbours(self, index: int) -> list[tuple]:
        """(ip, mac, state) of each IPv4 neighbour on link `index`."""
        found = []
        for msg in self.call(
            RTM_GETNEIGH, NLM_F_DUMP, _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0)
        ):
            _, where, state, _, _ = _NDMSG.unpack_from(msg, 16)
            if where == index:
                attrs = _attrs(msg, 28, len(msg))
                mac = attrs[NDA_LLADDR].hex(":") if NDA_LLADDR in attrs else None
                found.append((_text_ip(attrs.get(NDA_DST)), mac, state))
        return sorted(found)

    def default_gateways(self, index: int) -> list[str]:
        """Gateways of the main table's default routes out of link `index`."""
        found = []
        for msg in self.call(
            RTM_GETROUTE,
            NLM_F_DUMP,
            _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0),
        ):
            _, dst_len, _, _, table, _, _, _, _ = _RTMSG.unpack_from(msg, 16)
            attrs = _attrs(msg, 28, len(msg))
            if RTA_TABLE in attrs:
                table = _U32.unpack(attrs[RTA_TABLE])[0]
            oif = _U32.unpack(attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
            if dst_len == 0 and table == RT_TABLE_MAIN and oif == index:
                found.append(_text_ip(attrs.get(RTA_GATEWAY)) or "direct")
        return found


def _text_ip(raw: bytes | None) -> str | None:
    return socket.inet_ntoa(raw) if raw is not None and len(raw) == 4 else None


# ---- namespaces and sysctls ----------------------------------------------------------


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
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


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
    except OSError as err:
        raise KernelError(f"{what}: {err.strerror or err}") from err
    except KernelError as err:
        raise KernelError(f"{what}: {err}") from err


# ---- attach and detach ---------------------------------------------------------


def attach(att: Attachment) -> None:
    """Create and configure the pair; on failure nothing of it is left behind."""
    netns_fd = open_netns(att.netns)
    try:
        with _Rtnl() as host:
            with _step(f"create veth {att.host_name} peer {att.ifname}"):
                host.create_veth(att, netns_fd)
            try:
                with _step(f"set up host {att.host_name}"):
                    link = host.link(att.host_name)
                    _interface_sysctls(att.host_name)
                    host.add_peer_address(link["index"], GATEWAY, att.ip)
                    host.add_neighbour(link["index"], att.ip, att.container_mac)
                    sysctl("net/ipv4/ip_forward", "1")
                with _step(f"set up container {att.ifname}"), entered(netns_fd):
                    _set_up_container(att, link["peer"])
            except BaseException:
                host.delete_link(att.host_name)
                raise
    finally:
        os.close(netns_fd)


def _set_up_container(att: Attachment, index: int) -> None:
    with _Rtnl() as ipr:
        ipr.set_flags(index, IFF_UP | IFF_NOARP)
        _interface_sysctls(att.ifname)
        ipr.add_peer_address(index, att.ip, GATEWAY)
        ipr.add_neighbour(index, GATEWAY, att.host_mac)
        with _step(f"add default route via {GATEWAY}"):
            ipr.add_default_route(index, GATEWAY, att.ip)


def remove_host_end(ip: str) -> bool:
    """Delete the host end for `ip` (the peer goes with it); False when absent."""
    with _step(f"delete link {host_end(ip)}"), _Rtnl() as ipr:
        return ipr.delete_link(host_end(ip))


def remove_container_end(netns: str, ifname: str) -> bool:
    """Delete `ifname` inside `netns`; False when the namespace or link is gone."""
    try:
        netns_fd = open_netns(netns)
    except NetnsMissing:
        return False
    try:
        with (
            _step(f"delete link {ifname} in {netns}"),
            entered(netns_fd),
            _Rtnl() as ipr,
        ):
            return ipr.delete_link(ifname)
    finally:
        os.close(netns_fd)


# ---- inspection (CHECK) --------------------------------------------------------


def differences(att: Attachment, mtu: int | None) -> list[str]:
    """How the kernel differs from `att`; `mtu=None` compares the two ends only."""
    problems: list[str] = []
    with _step("inspect host end"), _Rtnl() as host:
        host_state = _link_state(host, att.host_name)
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
        with _step("inspect container end"), entered(netns_fd), _Rtnl() as ipr:
            state = _link_state(ipr, att.ifname)
            gateways = ipr.default_gateways(state["index"]) if state else []
    finally:
        os.close(netns_fd)
    if state is None:
        return problems + [f"container interface {att.ifname} is missing"]
    if mtu is None and host_state is not None:
        mtu = host_state["mtu"]
    problems += _compare(
        att.ifname, state, att.container_mac, mtu, att.ip, GATEWAY, att.host_mac
    )
    if GATEWAY not in gateways:
        problems.append(
            f"{att.ifname}: default route via {GATEWAY} is missing"
            + (f" (has via {', '.join(gateways)})" if gateways else "")
        )
    return problems


def _link_state(ipr: _Rtnl, name: str) -> dict | None:
    link = ipr.link(name)
    if link is not None:
        link["addresses"] = ipr.addresses(link["index"])
        link["neighbours"] = ipr.neighbours(link["index"])
    return link


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
