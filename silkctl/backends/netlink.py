"""The one thin netlink adapter: links, addresses, routes, ARP and FDB entries.

Domain code passes and gets plain values (CIDR strings, MACs, ifindexes,
small named tuples); every kernel failure comes out as a `KernelError`
whose message starts with the step (`add route 10.255.3.0/24: ...`).

Design notes
------------
Everything on the wire is pyroute2's: its sockets, its message classes, its
encoder and parser, its constants. A `Netlink` handle opens two pyroute2
sockets, both in the handle's namespace:

* an `IPRoute` for the few, attribute-rich link and address calls (creating
  a VXLAN device, reading its settings);
* an `IPRSocket`, pyroute2's plain synchronous rtnetlink socket, for the
  bulk tables. `IPRoute` does not fit them (pyroute2 0.9.7): its dumps filter
  in user space (`get_routes(oif=...)` decodes every route of the
  namespace), and `nlm_request_batch` stops at the first failed message,
  or with `noraise` drops every error, so per-message answers are lost.

Dumps are `rtmsg`/`ndmsg` requests that the kernel filters by device
(strict checking is on), retried when the kernel flags them interrupted.
Writes are `rtmsg`/`ndmsg` messages encoded by pyroute2 and sent
`BATCH_SIZE` to a datagram. The kernel runs them in order. Only the last
message of a datagram asks for an ack. The kernel answers a failed message
anyway, so a datagram costs one reply plus one per failure. pyroute2's
parser turns each reply into (errno, extended-ack text).

Cost. pyroute2 spends about 70 µs of CPU encoding an ARP or FDB message and
about 150 µs encoding a route; decoding a dumped entry or a notification
costs about as much. So 5,000 peers (15,000 entries) take about 1.5 s of CPU
to write and about as long to read back. Messages carry no attribute the
kernel can do without (no RTA_TABLE for the main table, no ack request but
the last).

`messages` counts every netlink request sent (a dump counts as one), so
callers can measure what a change costs. A handle is not thread-safe.
"""

import errno
import os
import select
from contextlib import contextmanager
from socket import AF_INET, SOL_SOCKET
from typing import NamedTuple

from pyroute2 import IPRoute, IPRSocket
from pyroute2.config import AF_BRIDGE
from pyroute2.iproute.linux import DEFAULT_TABLE
from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
)
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELNEIGH,
    RTM_DELROUTE,
    RTM_GETNEIGH,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_LINK,
    RTMGRP_NEIGH,
    rt_proto,
    rt_scope,
    rt_type,
)
from pyroute2.netlink.rtnl.ndmsg import NTF_SELF, NUD_PERMANENT, ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from silkctl.errors import KernelError

RT_TABLE_MAIN = DEFAULT_TABLE
RTPROT_KERNEL, RTPROT_STATIC = rt_proto["kernel"], rt_proto["static"]
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = rt_scope["universe"], rt_scope["link"]
RTN_UNICAST = rt_type["unicast"]

BATCH_SIZE = 128
"""Messages per datagram; their replies must fit the receive buffer."""

SOCKET_TIMEOUT = 10.0
"""Seconds to wait for the kernel's answer before giving up on a request."""

DUMP_ATTEMPTS = 5
"""Dumps interrupted by concurrent changes are retried this many times."""

MONITOR_BUFFER = 8 << 20
"""Receive buffer of a `Monitor`: a first convergence announces every entry."""

SO_RCVBUFFORCE = 33
"""socket(7) option (root may exceed rmem_max); Python's socket module lacks it."""


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


# -- errors ----------------------------------------------------------------------


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
    """strerror of the code, with the kernel's extended-ack text when it has one."""
    code = err.code if isinstance(err.code, int) else 0
    text = str(err.args[1]) if len(err.args) > 1 and err.args[1] else ""
    reason = os.strerror(code) if code > 0 else ""
    if not reason:
        return text or str(err)
    return f"{reason} ({text})" if text and text != reason else reason


def _answer(error) -> tuple[int, str]:
    """(errno, reason) of one reply's error; (0, "") for an ack."""
    if error is None:
        return 0, ""
    if isinstance(error, NetlinkError):
        return abs(error.code), _netlink_reason(error)
    code = getattr(error, "errno", None) or errno.EIO
    return code, os.strerror(code)


# -- the handle ----------------------------------------------------------------


def _bulk_socket(netns: str | None) -> IPRSocket:
    """pyroute2's synchronous rtnetlink socket, in `netns` (never creating it)."""
    if netns is None:
        return IPRSocket(ext_ack=True, strict_check=True)
    return IPRSocket(netns=netns, flags=0, ext_ack=True, strict_check=True)


class Netlink:
    """A netlink handle in the current namespace or in the named one."""

    def __init__(self, netns: str | None = None):
        self.netns = netns
        self.messages = 0
        self._seq = 0
        where = f" in netns {netns}" if netns else ""
        with _step(f"open netlink{where}"):
            if netns:
                self._ipr = IPRoute(netns=netns, flags=0, ext_ack=True)
            else:
                self._ipr = IPRoute(ext_ack=True)
        try:
            with _step(f"open netlink socket{where}"):
                self._sock = _bulk_socket(netns)
                self._sock.socket.settimeout(SOCKET_TIMEOUT)
        except KernelError:
            self._ipr.close()
            raise

    def close(self) -> None:
        self._sock.close()
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

    def create_link(self, name: str, kind: str, mac: str) -> int:
        """Create a plain device of `kind` (a portless bridge, say) with MAC `mac`."""
        self.messages += 1
        with _step(f"create {kind} {name}"):
            self._ipr.link("add", ifname=name, kind=kind, address=mac)
        index = self.link_index(name)
        if index is None:
            raise KernelError(f"create {kind} {name}: device vanished after creation")
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
            msgs = self._ipr.addr("dump", family=AF_INET, **kwargs)
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
        request = rtmsg()
        request["family"] = AF_INET
        request["table"] = RT_TABLE_MAIN
        request["attrs"] = [("RTA_OIF", ifindex)]
        self.messages += 1
        with _step(f"list routes of link {ifindex}"):
            msgs = self._dump(request, RTM_GETROUTE)
        found = []
        for msg in msgs:
            route, oif = _route_of(msg)
            if route is not None and oif == ifindex:
                found.append(route)
        return found

    def neighbours(self, ifindex: int) -> list[Neighbour]:
        """ARP entries on `ifindex`."""
        request = ndmsg()
        request["family"] = AF_INET
        request["attrs"] = [("NDA_IFINDEX", ifindex)]
        self.messages += 1
        with _step(f"list arp entries of link {ifindex}"):
            msgs = self._dump(request, RTM_GETNEIGH)
        return [n for i, n in map(_neighbour_of, msgs) if i == ifindex]

    def fdb(self, ifindex: int) -> list[FdbEntry]:
        """Forwarding entries of the device `ifindex` itself (`self`)."""
        request = ndmsg()
        request["family"] = AF_BRIDGE
        request["ifindex"] = ifindex
        self.messages += 1
        with _step(f"list fdb entries of link {ifindex}"):
            msgs = self._dump(request, RTM_GETNEIGH)
        return [f for i, f in map(_fdb_of, msgs) if i == ifindex]

    def write(self, ops: list[Op]) -> list[tuple[int, str]]:
        """Apply `ops` in order, batched; per op (errno, reason), (0, "") when done."""
        if not ops:
            return []
        for op in ops:  # refuse before anything is sent
            if op.action not in _WRITE_FLAGS:
                raise ValueError(f"unknown netlink action {op.action!r}")
        self.messages += len(ops)
        answers: list[tuple[int, str]] = []
        with _step("write netlink batch"):
            for start in range(0, len(ops), BATCH_SIZE):
                chunk = [_request(op) for op in ops[start : start + BATCH_SIZE]]
                answers += self._send_batch(chunk)
        return answers

    # -- the bulk socket -------------------------------------------------------

    def _next_seq(self, count: int = 1) -> int:
        """First of `count` fresh sequence numbers."""
        if self._seq + count > 0x7FFFFFFF:
            self._seq = 0
        first = self._seq + 1
        self._seq += count
        return first

    def _dump(self, request, msg_type: int) -> list:
        """All messages of a dump; restarts when the kernel flags it interrupted."""
        for _ in range(DUMP_ATTEMPTS):
            seq = self._next_seq()
            self._sock.put(request, msg_type, NLM_F_REQUEST | NLM_F_DUMP, msg_seq=seq)
            msgs, interrupted = self._read_dump(seq)
            if not interrupted:
                return msgs
        raise OSError(errno.EINTR, "dump interrupted by changes, try again")

    def _read_dump(self, seq: int) -> tuple[list, bool]:
        msgs, interrupted = [], False
        while True:
            for msg in self._sock.get():
                header = msg["header"]
                if header["sequence_number"] != seq:
                    continue
                interrupted |= bool(header["flags"] & NLM_F_DUMP_INTR)
                if header["error"] is not None:
                    raise header["error"]
                if header["type"] == NLMSG_DONE:
                    return msgs, interrupted
                if header["type"] != NLMSG_ERROR:
                    msgs.append(msg)

    def _send_batch(self, chunk: list) -> list[tuple[int, str]]:
        """Send pyroute2 messages in one datagram; per message (errno, reason)."""
        first = self._next_seq(len(chunk))
        last = first + len(chunk) - 1
        chunk[-1]["header"]["flags"] |= NLM_F_ACK
        data = bytearray()
        for seq, msg in enumerate(chunk, first):
            msg["header"]["sequence_number"] = seq
            msg.encode()
            data += msg.data
        self._sock.send(bytes(data))
        answers: dict[int, tuple[int, str]] = {}
        while last not in answers:
            for msg in self._sock.get():
                header = msg["header"]
                seq = header["sequence_number"]
                if header["type"] == NLMSG_ERROR and first <= seq <= last:
                    answers[seq] = _answer(header["error"])
        return [answers.get(seq, (0, "")) for seq in range(first, last + 1)]


# -- plain values to pyroute2 messages ------------------------------------------


_WRITE_FLAGS = {
    "replace": NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
    "delete": NLM_F_REQUEST,
}


def _request(op: Op):
    """The pyroute2 message (not yet encoded) that performs `op`."""
    flags = _WRITE_FLAGS[op.action]
    replace, entry = op.action == "replace", op.entry
    if isinstance(entry, Route):
        msg = _route_request(entry, op.ifindex)
        msg_type = RTM_NEWROUTE if replace else RTM_DELROUTE
    elif isinstance(entry, Neighbour):
        msg = ndmsg()
        msg["family"] = AF_INET
        msg["ifindex"] = op.ifindex
        msg["state"] = entry.state
        msg["attrs"] = [("NDA_DST", entry.ip)]
        if replace:
            msg["attrs"].append(("NDA_LLADDR", entry.mac))
        msg_type = RTM_NEWNEIGH if replace else RTM_DELNEIGH
    else:
        msg = ndmsg()
        msg["family"] = AF_BRIDGE
        msg["ifindex"] = op.ifindex
        msg["state"] = entry.state
        msg["flags"] = entry.flags
        msg["attrs"] = [("NDA_LLADDR", entry.mac)]
        if entry.dst is not None:
            msg["attrs"].append(("NDA_DST", entry.dst))
        msg_type = RTM_NEWNEIGH if replace else RTM_DELNEIGH
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = flags
    return msg


def _route_request(route: Route, ifindex: int):
    dst, _, prefix = route.dst.partition("/")
    msg = rtmsg()
    msg["family"] = AF_INET
    msg["dst_len"] = int(prefix)
    msg["proto"] = route.proto
    msg["scope"] = route.scope
    msg["type"] = route.type
    attrs = [("RTA_DST", dst), ("RTA_OIF", ifindex)]
    if route.table < 256:
        msg["table"] = route.table
    else:
        attrs.append(("RTA_TABLE", route.table))
    if route.gateway:
        attrs.append(("RTA_GATEWAY", route.gateway))
    if route.src:
        attrs.append(("RTA_PREFSRC", route.src))
    if route.priority:
        attrs.append(("RTA_PRIORITY", route.priority))
    msg["attrs"] = attrs
    return msg


# -- pyroute2 messages to plain values -----------------------------------------

_ROUTE_ATTRS = frozenset(
    ("RTA_DST", "RTA_GATEWAY", "RTA_PREFSRC", "RTA_PRIORITY", "RTA_OIF", "RTA_TABLE")
)
_NEIGH_ATTRS = frozenset(("NDA_DST", "NDA_LLADDR"))


def _attrs(msg, wanted: frozenset) -> dict:
    """The wanted attributes of a decoded message; pyroute2 decodes only these."""
    return {slot.name: slot.value for slot in msg["attrs"] if slot.name in wanted}


def _route_of(msg) -> tuple[Route | None, int]:
    """(Route, output ifindex) of an IPv4 route message; (None, 0) for others."""
    if msg["family"] != AF_INET:
        return None, 0
    attrs = _attrs(msg, _ROUTE_ATTRS)
    route = Route(
        f"{attrs.get('RTA_DST', '0.0.0.0')}/{msg['dst_len']}",
        attrs.get("RTA_GATEWAY"),
        attrs.get("RTA_PREFSRC"),
        msg["scope"],
        msg["proto"],
        attrs.get("RTA_PRIORITY", 0),
        msg["type"],
        attrs.get("RTA_TABLE", msg["table"]),
    )
    return route, attrs.get("RTA_OIF", 0)


def _neighbour_of(msg) -> tuple[int, Neighbour | None]:
    """(ifindex, Neighbour) of an AF_INET neighbour message; (-1, None) for others."""
    if msg["family"] != AF_INET:
        return -1, None
    attrs = _attrs(msg, _NEIGH_ATTRS)
    if "NDA_DST" not in attrs:
        return -1, None
    return msg["ifindex"], Neighbour(
        attrs["NDA_DST"], attrs.get("NDA_LLADDR"), msg["state"]
    )


def _fdb_of(msg) -> tuple[int, FdbEntry | None]:
    """(ifindex, FdbEntry) of an AF_BRIDGE neighbour message; (-1, None) for others."""
    if msg["family"] != AF_BRIDGE:
        return -1, None
    attrs = _attrs(msg, _NEIGH_ATTRS)
    if "NDA_LLADDR" not in attrs:
        return -1, None
    dst = attrs.get("NDA_DST")
    dst_ip = dst if isinstance(dst, str) and dst.count(".") == 3 else None
    return msg["ifindex"], FdbEntry(
        attrs["NDA_LLADDR"], dst_ip, msg["state"], msg["flags"]
    )


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

    A pyroute2 `IPRSocket` bound to the rtnetlink groups, the class pyroute2
    offers for select loops. An `IPRoute` reads through its own event loop
    (a readable socket and its queue can disagree), and after ENOBUFS it
    fails every later call, where this socket stays usable.
    `drain()` returns what arrived since the last call without blocking.
    It raises `Overflow` when the kernel dropped notifications (the
    socket buffer filled up); the caller must then re-read everything.
    """

    class Overflow(Exception):
        """Notifications were lost; re-read the tables."""

    GROUPS = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE

    def __init__(self, netns: str | None = None):
        where = f" in netns {netns}" if netns else ""
        with _step(f"open netlink monitor{where}"):
            if netns is None:
                self._sock = IPRSocket(rcvbuf=MONITOR_BUFFER)
            else:
                self._sock = IPRSocket(netns=netns, flags=0, rcvbuf=MONITOR_BUFFER)
            try:
                self._grow_buffer()
                self._sock.bind(groups=self.GROUPS)
                self._sock.socket.setblocking(False)
            except Exception:
                self._sock.close()
                raise

    def _grow_buffer(self) -> None:
        # SO_RCVBUF stops at net.core.rmem_max; as root, go past it.
        try:
            self._sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, MONITOR_BUFFER)
        except PermissionError:
            pass

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def wait(self, timeout: float) -> bool:
        """Block until a notification is readable or `timeout` passes."""
        return bool(select.select([self._sock], [], [], timeout)[0])

    def drain(self) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                msgs = self._sock.get()
            except BlockingIOError:
                return events
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    raise Monitor.Overflow() from err
                raise KernelError(
                    f"read netlink notifications: {err.strerror}"
                ) from err
            for msg in msgs:
                event = _event(msg)
                if event is not None:
                    events.append(event)


_DELETES = frozenset((RTM_DELROUTE, RTM_DELNEIGH, RTM_DELLINK, RTM_DELADDR))


def _event(msg) -> Event | None:
    msg_type = msg["header"]["type"]
    action = "delete" if msg_type in _DELETES else "replace"
    if msg_type in (RTM_NEWROUTE, RTM_DELROUTE):
        route, oif = _route_of(msg)
        return Event("route", action, oif, route) if route is not None else None
    if msg_type in (RTM_NEWNEIGH, RTM_DELNEIGH):
        ifindex, neighbour = _neighbour_of(msg)
        if neighbour is not None:
            return Event("arp", action, ifindex, neighbour)
        ifindex, fdb = _fdb_of(msg)
        return Event("fdb", action, ifindex, fdb) if fdb is not None else None
    if msg_type in (RTM_NEWLINK, RTM_DELLINK):
        return Event("link", action, msg["index"], None)
    if msg_type in (RTM_NEWADDR, RTM_DELADDR):
        return Event("addr", action, msg["index"], None)
    return None
