"""Diffs the routes, ARP and FDB entries the leases call for against the kernel.

The pieces are public so that other code (the lab's `host inspect`) can
report drift without changing anything:

    desired = desired_state(leases, local_lease, overlay_network)
    actual = read_kernel_state(nl, vtep_index)
    changes = diff(desired, actual)          # adds / replaces / deletes
    result = apply(nl, vtep_index, changes, actual)

What counts as ours on the VTEP (only these are ever deleted): routes in
the main table whose destination or gateway lies in the overlay, except the
kernel's connected route; permanent ARP entries; FDB entries that point at
a remote (`dst`). Entries the kernel makes by itself (incomplete ARP, the
device's multicast FDB entries) are left alone.

`Mirror` keeps a `KernelState` current from netlink notifications, so a
daemon with thousands of peers need not re-read the tables every poll.
"""

import errno
import logging
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from silkctl.backends.netlink import (
    NUD_PERMANENT,
    RTPROT_KERNEL,
    FdbEntry,
    Monitor,
    Neighbour,
    Netlink,
    Op,
    Route,
    describe,
)
from silkctl.client import Lease

log = logging.getLogger(__name__)

_U32 = struct.Struct("!I")
TABLES = ("fdb", "arp", "route")
"""Write order for one peer; deletes go the other way round."""


# -- desired state -------------------------------------------------------------


class PeerEntries(NamedTuple):
    """The route, ARP and FDB entry one remote lease calls for."""

    subnet: str
    ip_int: int
    route_key: tuple[str, int]
    route: Route
    arp: Neighbour
    fdb_key: tuple[str, str]
    fdb: FdbEntry


class DesiredState:
    """What the VTEP should carry for a set of leases; updated lease by lease.

    `peers` maps each routable remote lease to its entries; `routes`, `arp`
    and `fdb` index those entries by kernel key. Leases outside the overlay
    are counted in `skipped`; malformed or clashing ones are in `invalid`.
    """

    def __init__(self, overlay_network: str, local_lease: Lease):
        self.overlay = overlay_network
        self.overlay_base, self.overlay_mask, _ = _network(overlay_network)
        self.local_subnet = local_lease.overlay_subnet
        self.local_ip = _dotted(_network(local_lease.overlay_subnet)[0])
        self.leases: set[Lease] = set()
        self.peers: dict[Lease, PeerEntries] = {}
        self.routes: dict[tuple[str, int], Route] = {}
        self.arp: dict[str, Neighbour] = {}
        self.fdb: dict[str, FdbEntry] = {}
        self._outside: set[Lease] = set()
        self._invalid: dict[Lease, str] = {}

    @property
    def skipped(self) -> int:
        return len(self._outside)

    @property
    def invalid(self) -> list[str]:
        return list(self._invalid.values())

    def in_overlay(self, ip: str | None) -> bool:
        if not ip:
            return False
        return (
            _U32.unpack(socket.inet_aton(ip))[0] & self.overlay_mask
            == self.overlay_base
        )

    def update(
        self, leases: Iterable[Lease]
    ) -> tuple[list[PeerEntries], list[PeerEntries]]:
        """Become the state for `leases`, touching only the leases that came or went.

        Returns (peers added, peers removed).
        """
        wanted = set(leases)
        gone, new = self.leases - wanted, wanted - self.leases
        removed = [peer for peer in map(self._remove, gone) if peer is not None]
        clashing = [lease for lease in self._invalid if lease not in gone]
        if gone and clashing:
            # A lease that clashed with a departed one may fit now.
            for lease in clashing:
                self._remove(lease)
            new |= set(clashing)
        # Of two clashing newcomers the lower underlay address wins; a lease
        # already in place is never displaced.
        ordered = sorted(
            new, key=lambda lease: (str(lease.underlay_ip), str(lease.overlay_subnet))
        )
        added = [peer for peer in map(self._add, ordered) if peer is not None]
        return added, removed

    def _add(self, lease: Lease) -> PeerEntries | None:
        self.leases.add(lease)
        if lease.overlay_subnet == self.local_subnet:
            return None
        try:
            peer = _peer_entries(
                lease.overlay_subnet,
                lease.overlay_hardware_addr,
                lease.underlay_ip,
                self.local_ip,
            )
        except (ValueError, TypeError, AttributeError) as err:
            self._invalid[lease] = f"lease of {lease.underlay_ip}: {err}"
            return None
        if peer.ip_int & self.overlay_mask != self.overlay_base:
            self._outside.add(lease)
            return None
        if (
            peer.route_key in self.routes
            or peer.arp.ip in self.arp
            or peer.fdb.mac in self.fdb
        ):
            self._invalid[lease] = (
                f"lease of {lease.underlay_ip}: {peer.subnet} clashes "
                "with another lease's subnet or MAC"
            )
            return None
        self.peers[lease] = peer
        self.routes[peer.route_key] = peer.route
        self.arp[peer.arp.ip] = peer.arp
        self.fdb[peer.fdb.mac] = peer.fdb
        return peer

    def _remove(self, lease: Lease) -> PeerEntries | None:
        self.leases.discard(lease)
        self._outside.discard(lease)
        self._invalid.pop(lease, None)
        peer = self.peers.pop(lease, None)
        if peer is not None:
            del (
                self.routes[peer.route_key],
                self.arp[peer.arp.ip],
                self.fdb[peer.fdb.mac],
            )
        return peer


def _network(cidr: str) -> tuple[int, int, int]:
    """(base, mask, prefix) of an IPv4 CIDR; ValueError when it is not one."""
    ip, slash, prefix_text = cidr.partition("/")
    if not slash or not prefix_text.isdigit() or not 0 <= int(prefix_text) <= 32:
        raise ValueError(f"{cidr!r} is not an IPv4 CIDR")
    try:
        value = _U32.unpack(socket.inet_aton(ip))[0]
    except OSError:
        raise ValueError(f"{cidr!r} is not an IPv4 CIDR") from None
    if ip.count(".") != 3:
        raise ValueError(f"{cidr!r} is not an IPv4 CIDR")
    prefix = int(prefix_text)
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return value & mask, mask, prefix


def _dotted(value: int) -> str:
    return socket.inet_ntoa(_U32.pack(value))


@lru_cache(maxsize=65536)
def _peer_entries(
    subnet: str, mac: str, underlay_ip: str, local_ip: str
) -> PeerEntries:
    """The three entries for one remote lease; ValueError when it is malformed."""
    base, _, prefix = _network(subnet)
    first = _dotted(base)
    if f"{first}/{prefix}" != subnet:
        raise ValueError(f"overlay_subnet {subnet!r} is not a network address")
    raw_mac = mac.lower()
    if len(raw_mac) != 17 or len(bytes.fromhex(raw_mac.replace(":", ""))) != 6:
        raise ValueError(f"overlay_hardware_addr {mac!r} is not a MAC address")
    try:
        socket.inet_aton(underlay_ip)
    except OSError:
        raise ValueError(
            f"underlay_ip {underlay_ip!r} is not an IPv4 address"
        ) from None
    if underlay_ip.count(".") != 3:
        raise ValueError(f"underlay_ip {underlay_ip!r} is not an IPv4 address")
    route = Route(subnet, first, local_ip)
    return PeerEntries(
        subnet,
        base,
        (subnet, 0),
        route,
        Neighbour(first, raw_mac),
        (raw_mac, underlay_ip),
        FdbEntry(raw_mac, underlay_ip),
    )


def desired_state(
    leases: Iterable[Lease], local_lease: Lease, overlay_network: str
) -> DesiredState:
    """Route, permanent ARP and permanent FDB entry for every other routable lease.

    The local lease is skipped; leases outside the overlay are skipped and
    counted in `skipped`; malformed ones are listed in `invalid`.
    """
    desired = DesiredState(overlay_network, local_lease)
    desired.update(leases)
    return desired


# -- kernel state --------------------------------------------------------------


@dataclass
class KernelState:
    """The VTEP's routes, ARP and FDB entries as the kernel has them."""

    ifindex: int
    routes: dict[tuple[str, int], Route] = field(default_factory=dict)
    arp: dict[str, Neighbour] = field(default_factory=dict)
    fdb: dict[tuple[str, str | None], FdbEntry] = field(default_factory=dict)

    def update(self, table: str, action: str, entry) -> bool:
        """Record one change; True when it made a difference."""
        store, key = self._slot(table, entry)
        if action == "delete":
            return store.pop(key, None) is not None
        if store.get(key) == entry:
            return False
        store[key] = entry
        return True

    def _slot(self, table: str, entry):
        if table == "route":
            return self.routes, (entry.dst, entry.priority)
        if table == "arp":
            return self.arp, entry.ip
        return self.fdb, (entry.mac, entry.dst)

    def count(self) -> int:
        return len(self.routes) + len(self.arp) + len(self.fdb)


def read_kernel_state(nl: Netlink, ifindex: int) -> KernelState:
    """One dump per table, filtered to the VTEP."""
    state = KernelState(ifindex)
    for route in nl.routes(ifindex):
        state.routes[(route.dst, route.priority)] = route
    for neighbour in nl.neighbours(ifindex):
        state.arp[neighbour.ip] = neighbour
    for entry in nl.fdb(ifindex):
        state.fdb[(entry.mac, entry.dst)] = entry
    return state


# -- diff ----------------------------------------------------------------------


class Change(NamedTuple):
    """One entry to add, replace or delete; `old` is what a replace overwrites."""

    table: str
    action: str
    entry: Route | Neighbour | FdbEntry
    old: Route | Neighbour | FdbEntry | None = None
    peer: str | None = None


@dataclass
class Diff:
    """Changes grouped per peer (in write order) plus stale entries to delete."""

    peers: dict[str, list[Change]] = field(default_factory=dict)
    stale: list[Change] = field(default_factory=list)

    def changes(self) -> list[Change]:
        return [c for group in self.peers.values() for c in group] + self.stale

    def of(self, action: str, table: str | None = None) -> list[Change]:
        return [
            c
            for c in self.changes()
            if c.action == action and (table is None or c.table == table)
        ]

    @property
    def adds(self) -> list[Change]:
        return self.of("add")

    @property
    def replaces(self) -> list[Change]:
        return self.of("replace")

    @property
    def deletes(self) -> list[Change]:
        return self.of("delete")

    def summary(self) -> dict[str, int]:
        return {action: len(self.of(action)) for action in ("add", "replace", "delete")}

    def __bool__(self) -> bool:
        return bool(self.peers or self.stale)


def diff(desired: DesiredState, actual: KernelState) -> Diff:
    """What must change so that `actual` matches `desired`; nothing right is touched."""
    result = Diff()

    # FDB entries pointing at a remote: stale, or another remote of a peer's MAC.
    stale_fdb, others = [], {}
    for (mac, dst), entry in actual.fdb.items():
        if dst is None:
            continue
        want = desired.fdb.get(mac)
        if want is None:
            stale_fdb.append(entry)
        elif dst != want.dst:
            others.setdefault(mac, []).append(entry)

    routes, arp, fdb = actual.routes, actual.arp, actual.fdb
    for peer in desired.peers.values():
        if (
            fdb.get(peer.fdb_key) == peer.fdb
            and arp.get(peer.arp.ip) == peer.arp
            and routes.get(peer.route_key) == peer.route
            and peer.fdb.mac not in others
        ):
            continue
        result.peers.update(_peer_diff(peer, actual, others.get(peer.fdb.mac, [])))

    # Stale entries, routes first so traffic stops before its entries go.
    for key, route in actual.routes.items():
        if key not in desired.routes and _route_is_ours(route, desired):
            result.stale.append(Change("route", "delete", route))
    for ip, neighbour in actual.arp.items():
        if ip not in desired.arp and neighbour.state & NUD_PERMANENT:
            result.stale.append(Change("arp", "delete", neighbour))
    result.stale += [Change("fdb", "delete", entry) for entry in stale_fdb]
    return result


def diff_peers(
    desired: DesiredState,
    actual: KernelState,
    added: list[PeerEntries],
    removed: list[PeerEntries],
) -> Diff:
    """`diff` limited to the peers that came and went, for when nothing else moved.

    Valid only while `actual` is known to match the previous desired state
    (no change seen in the kernel since the last full diff was applied).
    """
    result = Diff()
    # A returning host's MAC may still point at its old underlay address.
    leaving = {
        p.fdb.mac: actual.fdb[p.fdb_key] for p in removed if p.fdb_key in actual.fdb
    }
    for peer in added:
        before = leaving.get(peer.fdb.mac)
        others = [before] if before is not None and before.dst != peer.fdb.dst else []
        result.peers.update(_peer_diff(peer, actual, others))
    for peer in removed:
        route = actual.routes.get(peer.route_key)
        if route is not None and peer.route_key not in desired.routes:
            result.stale.append(Change("route", "delete", route))
        neighbour = actual.arp.get(peer.arp.ip)
        if (
            neighbour is not None
            and peer.arp.ip not in desired.arp
            and neighbour.state & NUD_PERMANENT
        ):
            result.stale.append(Change("arp", "delete", neighbour))
        entry = actual.fdb.get(peer.fdb_key)
        if entry is not None and peer.fdb.mac not in desired.fdb:
            result.stale.append(Change("fdb", "delete", entry))
    result.stale.sort(key=lambda c: TABLES.index(c.table), reverse=True)
    return result


def _peer_diff(
    peer: PeerEntries, actual: KernelState, other_remotes: list[FdbEntry]
) -> dict[str, list[Change]]:
    """One peer's changes in write order: FDB (one remote kept), ARP, route."""
    changes = []
    fdb = actual.fdb.get(peer.fdb_key)
    if fdb is None and other_remotes:
        fdb, other_remotes = other_remotes[0], other_remotes[1:]
    changes += [Change("fdb", "delete", e, None, peer.subnet) for e in other_remotes]
    for table, want, have in (
        ("fdb", peer.fdb, fdb),
        ("arp", peer.arp, actual.arp.get(peer.arp.ip)),
        ("route", peer.route, actual.routes.get(peer.route_key)),
    ):
        if have != want:
            changes.append(
                Change(table, "replace" if have else "add", want, have, peer.subnet)
            )
    return {peer.subnet: changes} if changes else {}


def _route_is_ours(route: Route, desired: DesiredState) -> bool:
    if route.proto == RTPROT_KERNEL:
        return False
    dst = route.dst.partition("/")[0]
    return desired.in_overlay(dst) or desired.in_overlay(route.gateway)


# -- apply ---------------------------------------------------------------------


@dataclass
class ApplyResult:
    """What `apply` did: counts, items given up on, netlink messages sent."""

    added: int = 0
    replaced: int = 0
    deleted: int = 0
    failed: list[str] = field(default_factory=list)
    messages: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return self.added + self.replaced + self.deleted


def _op(change: Change, ifindex: int) -> Op:
    return Op(
        "delete" if change.action == "delete" else "replace", change.entry, ifindex
    )


def _undo(change: Change, ifindex: int) -> Op | None:
    if change.action == "add":
        return Op("delete", change.entry, ifindex)
    if change.action == "replace" and change.old is not None:
        return Op("replace", change.old, ifindex)
    return None


def apply(
    nl: Netlink, ifindex: int, changes: Diff, state: KernelState | None = None
) -> ApplyResult:
    """Write `changes` (peers in FDB, ARP, route order, then stale deletes).

    When a peer's later entry fails, its earlier entries are undone so no
    half-programmed peer remains. A delete of an entry already gone counts
    as done. `state`, when given, is updated to what the kernel now has.
    """
    started, sent_before = time.monotonic(), nl.messages
    result = ApplyResult()
    plan = [c for group in changes.peers.values() for c in group] + changes.stale
    answers = nl.write([_op(c, ifindex) for c in plan])
    failed_peers: dict[str, str] = {}
    done: list[Change] = []
    for change, (code, reason) in zip(plan, answers, strict=True):
        if not code or (change.action == "delete" and code == errno.ENOENT):
            done.append(change)
            continue
        what = f"{describe(change.entry)}: {reason}"
        if change.peer is not None:
            failed_peers.setdefault(change.peer, what)
        else:
            result.failed.append(f"delete {what}")
            log.error("stale-entry-delete-failed", extra={"entry": what})
    undone: list[tuple[Change, Op]] = []
    if failed_peers:
        undone = _roll_back(nl, ifindex, changes, failed_peers, done, result)
        gone = {id(change) for change, _ in undone}
        done = [c for c in done if id(c) not in gone]
    verbose = log.isEnabledFor(logging.DEBUG)
    for change in done:
        _count(result, change)
        if state is not None and change.table == "fdb" and change.old is not None:
            # A replace moved the MAC's remote: the old (mac, dst) key is gone.
            state.update("fdb", "delete", change.old)
        if verbose:
            log.debug(
                "entry-written",
                extra={
                    "action": change.action,
                    "peer": change.peer,
                    "entry": describe(change.entry),
                },
            )
        if state is not None:
            state.update(change.table, _op(change, ifindex).action, change.entry)
    if state is not None:
        for _, op in undone:
            state.update(_table_of(op.entry), op.action, op.entry)
    result.messages = nl.messages - sent_before
    result.seconds = time.monotonic() - started
    return result


def _table_of(entry) -> str:
    if isinstance(entry, Route):
        return "route"
    return "arp" if isinstance(entry, Neighbour) else "fdb"


def _roll_back(
    nl: Netlink,
    ifindex: int,
    changes: Diff,
    failed_peers: dict[str, str],
    done: list[Change],
    result: ApplyResult,
) -> list[tuple[Change, Op]]:
    """Undo what succeeded for each failed peer; returns the undos that worked."""
    done_ids = {id(change) for change in done}
    undo: list[tuple[Change, Op]] = []
    for peer, what in failed_peers.items():
        result.failed.append(f"program peer {peer}: {what}")
        log.error("peer-program-failed", extra={"peer": peer, "error": what})
        for change in reversed(changes.peers[peer]):
            if id(change) in done_ids and (op := _undo(change, ifindex)) is not None:
                undo.append((change, op))
    answers = nl.write([op for _, op in undo])
    worked = []
    for (change, op), (code, reason) in zip(undo, answers, strict=True):
        if code and not (op.action == "delete" and code == errno.ENOENT):
            log.error(
                "peer-undo-failed",
                extra={
                    "peer": change.peer,
                    "entry": describe(op.entry),
                    "error": reason,
                },
            )
            continue
        worked.append((change, op))
    return worked


def _count(result: ApplyResult, change: Change) -> None:
    if change.action == "add":
        result.added += 1
    elif change.action == "replace":
        result.replaced += 1
    else:
        result.deleted += 1


# -- the mirror ----------------------------------------------------------------


class Mirror:
    """The VTEP's tables, read once and then kept current by notifications.

    `refresh()` folds in what the kernel announced since the last call and
    says whether the tables or the device itself changed. IPv4 routes that
    the kernel drops with a link or an address go unannounced, so a device
    or address change, or lost notifications, trigger a full re-read.
    """

    def __init__(self, nl: Netlink, monitor: Monitor | None, ifindex: int):
        self.nl = nl
        self.monitor = monitor
        self.state = read_kernel_state(nl, ifindex)
        self.full_reads = 1

    def resync(self, ifindex: int | None = None) -> None:
        if self.monitor is not None:
            try:
                self.monitor.drain()
            except Monitor.Overflow:
                pass
        self.state = read_kernel_state(self.nl, ifindex or self.state.ifindex)
        self.full_reads += 1

    def refresh(self) -> tuple[bool, bool]:
        """(tables changed, device changed) since the last refresh."""
        if self.monitor is None:
            before = self.state
            self.resync()
            return before != self.state, False
        try:
            events = self.monitor.drain()
        except Monitor.Overflow:
            log.warning("netlink-notifications-lost")
            self.resync()
            return True, True
        device = False
        before: dict = {}
        for event in events:
            if event.ifindex != self.state.ifindex:
                continue
            if event.table in ("link", "addr"):
                device = True
                continue
            store, key = self.state._slot(event.table, event.entry)
            before.setdefault((id(store), key), (store, store.get(key)))
            self.state.update(event.table, event.action, event.entry)
        # Changed only when the net effect differs (a delete is announced in steps).
        tables = any(store.get(key) != old for (_, key), (store, old) in before.items())
        if device:
            self.resync()
            tables = True
        return tables, device
