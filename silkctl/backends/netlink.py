"""The one thin netlink adapter: links, addresses, routes, ARP and FDB entries.

Domain code passes and gets plain values (CIDR strings, MACs, ifindexes,
small named tuples); every kernel failure comes out as a `KernelError`
whose message starts with the step (`add route 10.255.3.0/24: ...`).

Two transports, both opened once per `Netlink` handle:

* a pyroute2 `IPRoute` for the few, attribute-rich link and address calls
  (creating a VXLAN device, reading its settings);
* a raw NETLINK_ROUTE socket for the bulk tables. pyroute2 spends about
  200 µs encoding one route message, so 15,000 writes for 5,000 hosts would
  take seconds; here messages are packed with `struct`, sent many to a
  datagram (the kernel runs them in order and acks each one), and dumps are
  decoded field by field. Dumps ask the kernel to filter by device.

`messages` counts every netlink request sent (a dump counts as one), so
callers can measure what a change costs. A handle is not thread-safe.
"""

import errno
import os
import select
import socket
import struct
from contextlib import contextmanager
from typing import NamedTuple

from pyroute2 import IPRoute
from pyroute2 import netns as _pyroute2_netns
from pyroute2.netlink.exceptions import NetlinkError

from silkctl.errors import KernelError

# -- kernel constants (linux/netlink.h, linux/rtnetlink.h, linux/neighbour.h) --

NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP_INTR, NLM_F_ACK_TLVS = 0x10, 0x200
NLM_F_REPLACE, NLM_F_CREATE, NLM_F_DUMP = 0x100, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
NDA_DST, NDA_LLADDR, NDA_IFINDEX = 1, 2, 8
NLMSGERR_ATTR_MSG = 1
RT_TABLE_MAIN = 254
RTPROT_KERNEL, RTPROT_STATIC = 2, 4
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTN_UNICAST = 1
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7
RTMGRP_LINK, RTMGRP_NEIGH, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x4, 0x10, 0x40
SOL_NETLINK = 270
NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK = 10, 11, 12
SO_RCVBUFFORCE = 33

_HDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_IFMSG = struct.Struct("=BxHiII")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_ERR = struct.Struct("=i")

BATCH_SIZE = 128
"""Messages per datagram; their acks must fit the receive buffer."""

SOCKET_TIMEOUT = 10.0
"""Seconds to wait for the kernel's answer before giving up on a request."""

DUMP_ATTEMPTS = 5
"""Dumps interrupted by concurrent changes are retried this many times."""


# -- plain values ---------------------------------------------------------------


class Route(NamedTuple):
    """An IPv4 route; `dst` is a CIDR string."""

    dst: str
    gateway: str | None
    src: str | None
    scope: int = RT_SCOPE_UNIVERSE
    proto: int = RTPROT_STATIC
    priority: int = 0
    type: int = RTN_UNICAST
    table: int = RT_TABLE_MAIN


class Neighbour(NamedTuple):
    """An ARP entry: overlay IP to MAC, with its NUD state."""

    ip: str
    mac: str | None
    state: int = NUD_PERMANENT


class FdbEntry(NamedTuple):
    """A VXLAN forwarding entry: MAC to remote underlay IP (`dst`)."""

    mac: str
    dst: str | None
    state: int = NUD_PERMANENT
    flags: int = NTF_SELF


class Address(NamedTuple):
    """An IPv4 address on a link."""

    ifindex: int
    ip: str
    prefixlen: int
    scope: int


class Op(NamedTuple):
    """One write: `action` is "replace" or "delete" of `entry` on `ifindex`."""

    action: str
    entry: Route | Neighbour | FdbEntry
    ifindex: int


class Event(NamedTuple):
    """A kernel notification: `table` is route/arp/fdb/link/addr."""

    table: str
    action: str
    ifindex: int
    entry: Route | Neighbour | FdbEntry | None


def describe(entry) -> str:
    """Short text naming an entry in error messages and logs."""
    if isinstance(entry, Route):
        return f"route {entry.dst}"
    if isinstance(entry, Neighbour):
        return f"arp {entry.ip}"
    return f"fdb {entry.mac}"


# -- the handle ----------------------------------------------------------------


@contextmanager
def _step(what: str):
    """Turn netlink and OS failures inside the block into KernelError(`what: cause`)."""
    try:
        yield
    except NetlinkError as err:
        raise KernelError(f"{what}: {_netlink_reason(err)}") from err
    except OSError as err:
        raise KernelError(f"{what}: {err.strerror or err}") from err


def _netlink_reason(err: NetlinkError) -> str:
    code = err.code if isinstance(err.code, int) else 0
    text = err.args[1] if len(err.args) > 1 and err.args[1] else ""
    return str(text) if text else (os.strerror(code) if code else str(err))


class Netlink:
    """A netlink handle in the current namespace or in the named one."""

    def __init__(self, netns: str | None = None):
        self.netns = netns
        self.messages = 0
        where = f" in netns {netns}" if netns else ""
        with _step(f"open netlink{where}"):
            self._ipr = IPRoute(netns=netns, flags=0) if netns else IPRoute()
        try:
            self._raw = _RawSocket(netns)
        except KernelError:
            self._ipr.close()
            raise

    def close(self) -> None:
        self._raw.close()
        self._ipr.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- links -------------------------------------------------------------------

    def link_index(self, name: str) -> int | None:
        """Index of link `name`, or None when there is none."""
        self.messages += 1
        with _step(f"find link {name}"):
            found = self._ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def link(self, index: int) -> dict | None:
        """Settings of link `index` as plain values, or None when it is gone."""
        self.messages += 1
        try:
            with _step(f"read link {index}"):
                msg = self._ipr.link("get", index=index)[0]
        except KernelError as err:
            if (
                isinstance(err.__cause__, NetlinkError)
                and err.__cause__.code == errno.ENODEV
            ):
                return None
            raise
        return _link_values(msg)

    def create_vxlan(
        self, name: str, *, vni: int, port: int, local: str, lower_index: int, mac: str
    ) -> int:
        """Create a VXLAN-GBP device in one call (learning off, MTU from the kernel)."""
        self.messages += 1
        with _step(f"create vxlan {name}"):
            self._ipr.link(
                "add",
                ifname=name,
                kind="vxlan",
                address=mac,
                vxlan_id=vni,
                vxlan_local=local,
                vxlan_port=port,
                vxlan_link=lower_index,
                vxlan_learning=0,
                vxlan_gbp=True,
            )
        index = self.link_index(name)
        if index is None:
            raise KernelError(f"create vxlan {name}: device vanished after creation")
        return index

    def set_up(self, index: int, name: str = "") -> None:
        self.messages += 1
        with _step(f"set link {name or index} up"):
            self._ipr.link("set", index=index, state="up")

    def delete_link(self, index: int, name: str = "") -> None:
        self.messages += 1
        with _step(f"delete link {name or index}"):
            self._ipr.link("del", index=index)

    # -- addresses -----------------------------------------------------------------

    def addresses(self, index: int | None = None) -> list[Address]:
        """IPv4 addresses, of one link or of all."""
        self.messages += 1
        kwargs = {"index": index} if index is not None else {}
        with _step(f"list addresses{f' of link {index}' if index else ''}"):
            msgs = self._ipr.addr("dump", family=socket.AF_INET, **kwargs)
            # IFA_LOCAL is our end of a point-to-point address; IFA_ADDRESS the peer.
            return [
                Address(
                    m["index"],
                    m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS"),
                    m["prefixlen"],
                    m["scope"],
                )
                for m in msgs
            ]

    def add_address(self, index: int, ip: str, prefixlen: int, scope: int) -> None:
        self.messages += 1
        with _step(f"add address {ip}/{prefixlen}"):
            self._ipr.addr(
                "add", index=index, address=ip, prefixlen=prefixlen, scope=scope
            )

    def delete_address(self, index: int, ip: str, prefixlen: int) -> None:
        self.messages += 1
        with _step(f"delete address {ip}/{prefixlen}"):
            self._ipr.addr("del", index=index, address=ip, prefixlen=prefixlen)

    # -- bulk tables -----------------------------------------------------------

    def routes(self, ifindex: int) -> list[Route]:
        """IPv4 routes of the main table that leave through `ifindex`."""
        request = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, 0, 0, 0, 0)
        request += _nla(RTA_OIF, _U32.pack(ifindex))
        self.messages += 1
        with _step(f"list routes of link {ifindex}"):
            msgs = self._raw.dump(RTM_GETROUTE, request)
        found = []
        for msg in msgs:
            route = parse_route(msg)
            if route is not None and route[1] == ifindex:
                found.append(route[0])
        return found

    def neighbours(self, ifindex: int) -> list[Neighbour]:
        """ARP entries on `ifindex`."""
        request = _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0) + _nla(
            NDA_IFINDEX, _U32.pack(ifindex)
        )
        self.messages += 1
        with _step(f"list arp entries of link {ifindex}"):
            msgs = self._raw.dump(RTM_GETNEIGH, request)
        return [n for i, n in map(parse_neighbour, msgs) if i == ifindex]

    def fdb(self, ifindex: int) -> list[FdbEntry]:
        """Forwarding entries of the device `ifindex` itself (`self`)."""
        request = _NDMSG.pack(AF_BRIDGE, ifindex, 0, 0, 0)
        self.messages += 1
        with _step(f"list fdb entries of link {ifindex}"):
            msgs = self._raw.dump(RTM_GETNEIGH, request)
        return [f for i, f in map(parse_fdb, msgs) if i == ifindex]

    def write(self, ops: list[Op]) -> list[tuple[int, str]]:
        """Apply `ops` in order, batched; per op (errno, reason), (0, "") when done."""
        if not ops:
            return []
        self.messages += len(ops)
        with _step("write netlink batch"):
            return self._raw.batch([_encode(op) for op in ops])


# -- the raw socket ----------------------------------------------------------------


class _RawSocket:
    """A NETLINK_ROUTE socket for batched writes and fast dumps."""

    def __init__(self, netns: str | None, groups: int = 0):
        where = f" in netns {netns}" if netns else ""
        with _step(f"open netlink socket{where}"):
            self.sock = _open_socket(netns)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):
                self.sock.setsockopt(SOL_NETLINK, option, 1)
            self.sock.bind((0, groups))
            self.sock.settimeout(SOCKET_TIMEOUT)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def _next_seq(self) -> int:
        self.seq = self.seq + 1 if self.seq < 0x7FFFFFFF else 1
        return self.seq

    def dump(self, msg_type: int, body: bytes) -> list[bytes]:
        """All messages of a dump; restarts when the kernel flags it interrupted."""
        for _ in range(DUMP_ATTEMPTS):
            seq = self._next_seq()
            self.sock.send(
                _HDR.pack(16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                + body
            )
            msgs, interrupted = self._read_dump(seq)
            if not interrupted:
                return msgs
        raise OSError(errno.EINTR, "dump interrupted by changes, try again")

    def _read_dump(self, seq: int) -> tuple[list[bytes], bool]:
        msgs, interrupted = [], False
        while True:
            data = self.sock.recv(1 << 20)
            for offset, length, msg_type, flags, msg_seq in _walk(data):
                if msg_seq != seq:
                    continue
                interrupted |= bool(flags & NLM_F_DUMP_INTR)
                if msg_type == NLMSG_DONE:
                    return msgs, interrupted
                if msg_type == NLMSG_ERROR:
                    code, reason = _error(data, offset, length, flags)
                    if code:
                        raise OSError(code, reason)
                    continue
                msgs.append(data[offset : offset + length])

    def batch(self, messages: list[bytes]) -> list[tuple[int, str]]:
        """Send acked requests in chunks; per request (errno, reason)."""
        results: list[tuple[int, str]] = []
        for start in range(0, len(messages), BATCH_SIZE):
            chunk = messages[start : start + BATCH_SIZE]
            first = self.seq + 1 if self.seq < 0x7FFFFFFF - BATCH_SIZE else 1
            self.seq = first - 1
            packed = bytearray()
            for msg in chunk:
                packed += msg[:8] + _U32.pack(self._next_seq()) + msg[12:]
            self.sock.send(bytes(packed))
            results.extend(self._collect_acks(first, len(chunk)))
        return results

    def _collect_acks(self, first: int, count: int) -> list[tuple[int, str]]:
        answers: dict[int, tuple[int, str]] = {}
        while len(answers) < count:
            data = self.sock.recv(1 << 20)
            for offset, length, msg_type, flags, seq in _walk(data):
                if msg_type != NLMSG_ERROR or not first <= seq < first + count:
                    continue
                answers[seq] = _error(data, offset, length, flags)
        return [answers[first + i] for i in range(count)]


def _open_socket(netns: str | None) -> socket.socket:
    if netns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    return _pyroute2_netns.create_socket(
        netns, socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE, flags=0
    )


def _walk(data: bytes):
    """(offset, length, type, flags, seq) of each message in a datagram."""
    offset, end = 0, len(data)
    while offset + 16 <= end:
        length, msg_type, flags, seq, _ = _HDR.unpack_from(data, offset)
        if length < 16:
            return
        yield offset, length, msg_type, flags, seq
        offset += (length + 3) & ~3


def _error(data: bytes, offset: int, length: int, flags: int) -> tuple[int, str]:
    """(errno, reason) of an NLMSG_ERROR, with the kernel's extended-ack text."""
    code = -_ERR.unpack_from(data, offset + 16)[0]
    if not code:
        return 0, ""
    reason = os.strerror(code)
    if flags & NLM_F_ACK_TLVS:
        for attr_type, value in _attrs(data, offset + 36, offset + length):
            if attr_type == NLMSGERR_ATTR_MSG:
                text = bytes(value).rstrip(b"\0").decode(errors="replace")
                reason = f"{reason} ({text})"
    return code, reason


def _attrs(data: bytes, offset: int, end: int):
    while offset + 4 <= end:
        length, attr_type = _NLA.unpack_from(data, offset)
        if length < 4:
            return
        yield attr_type & 0x3FFF, data[offset + 4 : offset + length]
        offset += (length + 3) & ~3


def _attr_map(data: bytes, offset: int) -> dict[int, bytes]:
    return dict(_attrs(data, offset, len(data)))


# -- decoding ----------------------------------------------------------------------


def parse_route(msg: bytes) -> tuple[Route, int] | None:
    """(Route, output ifindex) of an IPv4 route message; None for others."""
    family, dst_len, _, _, table, proto, scope, rtype, _ = _RTMSG.unpack_from(msg, 16)
    if family != socket.AF_INET:
        return None
    attrs = _attr_map(msg, 28)
    if RTA_TABLE in attrs:
        table = _U32.unpack(attrs[RTA_TABLE])[0]
    dst = socket.inet_ntoa(attrs[RTA_DST]) if RTA_DST in attrs else "0.0.0.0"
    gateway = socket.inet_ntoa(attrs[RTA_GATEWAY]) if RTA_GATEWAY in attrs else None
    src = socket.inet_ntoa(attrs[RTA_PREFSRC]) if RTA_PREFSRC in attrs else None
    priority = _U32.unpack(attrs[RTA_PRIORITY])[0] if RTA_PRIORITY in attrs else 0
    oif = _U32.unpack(attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
    route = Route(
        f"{dst}/{dst_len}", gateway, src, scope, proto, priority, rtype, table
    )
    return route, oif


def parse_neighbour(msg: bytes) -> tuple[int, Neighbour | None]:
    """(ifindex, Neighbour) of an AF_INET neighbour message; (-1, None) for others."""
    family, ifindex, state, _, _ = _NDMSG.unpack_from(msg, 16)
    if family != socket.AF_INET:
        return -1, None
    attrs = _attr_map(msg, 28)
    if NDA_DST not in attrs:
        return -1, None
    mac = attrs[NDA_LLADDR].hex(":") if NDA_LLADDR in attrs else None
    return ifindex, Neighbour(socket.inet_ntoa(attrs[NDA_DST]), mac, state)


def parse_fdb(msg: bytes) -> tuple[int, FdbEntry | None]:
    """(ifindex, FdbEntry) of an AF_BRIDGE neighbour message; (-1, None) for others."""
    family, ifindex, state, flags, _ = _NDMSG.unpack_from(msg, 16)
    if family != AF_BRIDGE:
        return -1, None
    attrs = _attr_map(msg, 28)
    if NDA_LLADDR not in attrs:
        return -1, None
    dst = attrs.get(NDA_DST)
    dst_ip = socket.inet_ntoa(dst) if dst is not None and len(dst) == 4 else None
    return ifindex, FdbEntry(attrs[NDA_LLADDR].hex(":"), dst_ip, state, flags)


# -- encoding ----------------------------------------------------------------------


def _nla(attr_type: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return _NLA.pack(length, attr_type) + payload + b"\0" * (-length % 4)


def _message(msg_type: int, flags: int, body: bytes) -> bytes:
    return (
        _HDR.pack(16 + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, 0, 0)
        + body
    )


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _encode(op: Op) -> bytes:
    entry, replace = op.entry, op.action == "replace"
    if op.action not in ("replace", "delete"):
        raise ValueError(f"unknown netlink action {op.action!r}")
    flags = NLM_F_CREATE | NLM_F_REPLACE if replace else 0
    if isinstance(entry, Route):
        return _message(
            RTM_NEWROUTE if replace else RTM_DELROUTE,
            flags,
            _route_body(entry, op.ifindex),
        )
    if isinstance(entry, Neighbour):
        body = _NDMSG.pack(socket.AF_INET, op.ifindex, entry.state, 0, 0)
        body += _nla(NDA_DST, socket.inet_aton(entry.ip))
        if replace:
            body += _nla(NDA_LLADDR, _mac_bytes(entry.mac))
        return _message(RTM_NEWNEIGH if replace else RTM_DELNEIGH, flags, body)
    body = _NDMSG.pack(AF_BRIDGE, op.ifindex, entry.state, entry.flags, 0)
    body += _nla(NDA_LLADDR, _mac_bytes(entry.mac))
    if entry.dst is not None:
        body += _nla(NDA_DST, socket.inet_aton(entry.dst))
    return _message(RTM_NEWNEIGH if replace else RTM_DELNEIGH, flags, body)


def _route_body(route: Route, ifindex: int) -> bytes:
    dst, _, prefix = route.dst.partition("/")
    body = _RTMSG.pack(
        socket.AF_INET,
        int(prefix),
        0,
        0,
        route.table & 0xFF,
        route.proto,
        route.scope,
        route.type,
        0,
    )
    body += _nla(RTA_DST, socket.inet_aton(dst)) + _nla(RTA_OIF, _U32.pack(ifindex))
    body += _nla(RTA_TABLE, _U32.pack(route.table))
    if route.gateway:
        body += _nla(RTA_GATEWAY, socket.inet_aton(route.gateway))
    if route.src:
        body += _nla(RTA_PREFSRC, socket.inet_aton(route.src))
    if route.priority:
        body += _nla(RTA_PRIORITY, _U32.pack(route.priority))
    return body


# -- pyroute2 link messages to plain values ----------------------------------------


def _link_values(msg) -> dict:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
    values = {
        "index": msg["index"],
        "name": msg.get_attr("IFLA_IFNAME"),
        "mac": msg.get_attr("IFLA_ADDRESS"),
        "mtu": msg.get_attr("IFLA_MTU"),
        "up": bool(msg["flags"] & 1),
        "kind": kind,
        "link": msg.get_attr("IFLA_LINK"),
    }
    if kind == "vxlan" and data is not None:
        values["vxlan"] = {
            "vni": data.get_attr("IFLA_VXLAN_ID"),
            "local": data.get_attr("IFLA_VXLAN_LOCAL"),
            "port": data.get_attr("IFLA_VXLAN_PORT"),
            "lower": data.get_attr("IFLA_VXLAN_LINK") or 0,
            "learning": bool(data.get_attr("IFLA_VXLAN_LEARNING")),
            "gbp": any(name == "IFLA_VXLAN_GBP" for name, _ in data["attrs"]),
        }
    return values


# -- notifications -----------------------------------------------------------------


class Monitor:
    """Kernel notifications about links, addresses, IPv4 routes and neighbours.

    `drain()` returns what arrived since the last call without blocking.
    It raises `Overflow` when the kernel dropped notifications (the
    socket buffer filled up); the caller must then re-read everything.
    """

    class Overflow(Exception):
        """Notifications were lost; re-read the tables."""

    GROUPS = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE

    def __init__(self, netns: str | None = None):
        self._raw = _RawSocket(netns, groups=self.GROUPS)
        self._raw.sock.setblocking(False)

    def fileno(self) -> int:
        return self._raw.sock.fileno()

    def close(self) -> None:
        self._raw.close()

    def wait(self, timeout: float) -> bool:
        """Block until a notification is readable or `timeout` passes."""
        return bool(select.select([self._raw.sock], [], [], timeout)[0])

    def drain(self) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                data = self._raw.sock.recv(1 << 20)
            except BlockingIOError:
                return events
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    raise Monitor.Overflow() from err
                raise KernelError(
                    f"read netlink notifications: {err.strerror}"
                ) from err
            for offset, length, msg_type, _, _ in _walk(data):
                event = _event(msg_type, data[offset : offset + length])
                if event is not None:
                    events.append(event)


def _event(msg_type: int, msg: bytes) -> Event | None:
    action = (
        "delete"
        if msg_type in (RTM_DELROUTE, RTM_DELNEIGH, RTM_DELLINK, RTM_DELADDR)
        else "replace"
    )
    if msg_type in (RTM_NEWROUTE, RTM_DELROUTE):
        parsed = parse_route(msg)
        return Event("route", action, parsed[1], parsed[0]) if parsed else None
    if msg_type in (RTM_NEWNEIGH, RTM_DELNEIGH):
        ifindex, neighbour = parse_neighbour(msg)
        if neighbour is not None:
            return Event("arp", action, ifindex, neighbour)
        ifindex, fdb = parse_fdb(msg)
        return Event("fdb", action, ifindex, fdb) if fdb is not None else None
    if msg_type in (RTM_NEWLINK, RTM_DELLINK):
        return Event("link", action, _IFMSG.unpack_from(msg, 16)[2], None)
    if msg_type in (RTM_NEWADDR, RTM_DELADDR):
        return Event("addr", action, struct.unpack_from("=I", msg, 20)[0], None)
    return None
