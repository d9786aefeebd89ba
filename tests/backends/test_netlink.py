"""Tests of silkctl/backends/netlink.py against a real host namespace."""

import errno
import socket

import pytest

from silkctl.backends import netns
from silkctl.backends.netlink import (
    BATCH_SIZE,
    FdbEntry,
    Monitor,
    Neighbour,
    Netlink,
    Op,
    Route,
)
from silkctl.errors import KernelError
from tests.fixtures.hosts import VTEP, make_vtep, wait_for

pytestmark = pytest.mark.kernel

PEER = Route("10.255.31.0/24", "10.255.31.0", "10.255.30.0")
PEER_ARP = Neighbour("10.255.31.0", "ee:ee:0a:ff:1f:00")
PEER_FDB = FdbEntry("ee:ee:0a:ff:1f:00", "172.31.0.12")


def test_netlink_raises_kernel_error_naming_the_step_when_the_kernel_refuses(nl):
    with pytest.raises(KernelError, match=r"^delete link ghost0: No such device"):
        nl.delete_link(999_999, "ghost0")


def test_netlink_raises_and_creates_nothing_when_the_namespace_is_missing(unique):
    with pytest.raises(KernelError, match=f"netns {unique}-none"):
        Netlink(f"{unique}-none")
    assert not netns.exists(f"{unique}-none")


def test_netlink_reads_back_what_it_writes_when_entries_are_replaced(nl, host):
    vtep = make_vtep(nl, host)

    answers = nl.write(
        [
            Op("replace", PEER_FDB, vtep.index),
            Op("replace", PEER_ARP, vtep.index),
            Op("replace", PEER, vtep.index),
        ]
    )

    assert answers == [(0, "")] * 3
    assert PEER in nl.routes(vtep.index)
    assert nl.neighbours(vtep.index) == [PEER_ARP]
    assert nl.fdb(vtep.index) == [PEER_FDB]


def test_netlink_answers_each_op_when_a_batch_mixes_good_and_bad(nl, host):
    vtep = make_vtep(nl, host)
    off_link = Route("192.168.9.0/24", "192.168.9.1", None)

    answers = nl.write(
        [
            Op("replace", PEER, vtep.index),
            Op("replace", off_link, vtep.index),
            Op("delete", Neighbour("10.255.99.0", None), vtep.index),
            Op("replace", PEER_ARP, vtep.index),
        ]
    )

    assert [code for code, _ in answers] == [0, errno.ENETUNREACH, errno.ENOENT, 0]
    assert answers[1][1].startswith("Network is unreachable")
    assert PEER in nl.routes(vtep.index)
    assert nl.neighbours(vtep.index) == [PEER_ARP]


def test_netlink_sends_several_datagrams_when_ops_exceed_a_batch(nl, host):
    vtep = make_vtep(nl, host)
    ips = [f"10.255.{1 + n // 250}.{1 + n % 250}" for n in range(BATCH_SIZE * 2 + 5)]
    routes = [Route(f"{ip}/32", ip, "10.255.30.0") for ip in ips]
    before = nl.messages

    answers = nl.write([Op("replace", r, vtep.index) for r in routes])

    assert answers == [(0, "")] * len(routes)
    assert nl.messages - before == len(routes)
    assert set(routes) <= set(nl.routes(vtep.index))


def test_netlink_answers_each_op_when_failures_fall_on_datagram_edges(nl, host):
    vtep = make_vtep(nl, host)
    ips = [f"10.255.{1 + n // 250}.{1 + n % 250}" for n in range(BATCH_SIZE * 2 + 1)]
    ops = [Op("replace", Route(f"{ip}/32", ip, None), vtep.index) for ip in ips]
    # The last op of each datagram carries its ack request; make those fail.
    failing = {BATCH_SIZE - 1, BATCH_SIZE, len(ops) - 1}
    for n in failing:
        ops[n] = Op("delete", Neighbour(f"10.255.99.{n % 250}", None), vtep.index)

    answers = nl.write(ops)

    codes = [code for code, _ in answers]
    assert codes == [errno.ENOENT if n in failing else 0 for n in range(len(ops))]
    written = {op.entry for n, op in enumerate(ops) if n not in failing}
    assert written <= set(nl.routes(vtep.index))


def test_netlink_creates_a_plain_link_with_its_mac_when_asked(nl, unique):
    index = nl.create_link(unique, "bridge", "ee:ee:0a:ff:1f:00")

    link = nl.link(index)
    assert (link["name"], link["kind"], link["mac"]) == (
        unique,
        "bridge",
        "ee:ee:0a:ff:1f:00",
    )
    with pytest.raises(KernelError, match=f"^create bridge {unique}: "):
        nl.create_link(unique, "bridge", "ee:ee:0a:ff:1f:00")


def test_netlink_dumps_only_the_link_asked_for_when_others_have_entries(nl, host):
    vtep = make_vtep(nl, host)
    netns.run(
        host.netns,
        [
            "ip",
            "neigh",
            "add",
            "172.31.0.50",
            "lladdr",
            "02:00:00:00:00:50",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    )
    netns.run(host.netns, ["ip", "route", "add", "192.168.7.0/24", "via", "172.31.0.1"])

    assert nl.neighbours(vtep.index) == []
    assert {r.dst for r in nl.routes(vtep.index)} == {"10.255.0.0/16"}
    assert all(f.dst is None for f in nl.fdb(vtep.index))
    eth0 = nl.link_index("eth0")
    assert Neighbour("172.31.0.50", "02:00:00:00:00:50") in nl.neighbours(eth0)


def test_netlink_monitor_reports_changes_when_made_by_hand(nl, host):
    vtep = make_vtep(nl, host)
    monitor = Monitor(host.netns)
    try:
        netns.run(
            host.netns,
            ["ip", "route", "add", "10.255.31.0/24", "via", "10.255.31.0", "dev", VTEP],
        )
        netns.run(host.netns, ["ip", "link", "set", VTEP, "down"])
        events = []
        wait_for(
            lambda: (
                events.extend(monitor.drain())
                or {e.table for e in events} >= {"route", "link"}
            ),
            5,
            what="events",
        )
    finally:
        monitor.close()

    added = [e for e in events if e.table == "route" and e.action == "replace"]
    assert added[0].ifindex == vtep.index
    assert added[0].entry.dst == "10.255.31.0/24"
    assert added[0].entry.gateway == "10.255.31.0"
    assert any(e.table == "link" and e.ifindex == vtep.index for e in events)


def test_netlink_monitor_reports_entries_as_written_when_the_handle_writes(nl, host):
    vtep = make_vtep(nl, host)
    monitor = Monitor(host.netns)
    try:
        nl.write([Op("replace", e, vtep.index) for e in (PEER_FDB, PEER_ARP, PEER)])
        nl.write([Op("delete", PEER, vtep.index)])
        events = []
        wait_for(
            lambda: events.extend(monitor.drain()) or len(events) >= 4,
            5,
            what="events",
        )
    finally:
        monitor.close()

    mine = [(e.table, e.action, e.entry) for e in events if e.ifindex == vtep.index]
    assert mine == [
        ("fdb", "replace", PEER_FDB),
        ("arp", "replace", PEER_ARP),
        ("route", "replace", PEER),
        ("route", "delete", PEER),
    ]


def test_netlink_monitor_raises_overflow_when_notifications_were_dropped(nl, host):
    vtep = make_vtep(nl, host)
    monitor = Monitor(host.netns)
    try:
        # Shrink the buffer below a burst of notifications, then read.
        monitor._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ips = [f"10.255.{1 + n // 250}.{1 + n % 250}" for n in range(500)]
        nl.write(
            [
                Op("replace", Route(f"{ip}/32", ip, "10.255.30.0"), vtep.index)
                for ip in ips
            ]
        )
        with pytest.raises(Monitor.Overflow):
            monitor.drain()
        # The socket stays usable: read the backlog, later notifications arrive.
        wait_for(lambda: monitor.drain() is not None, 5, what="the backlog read")
        nl.write([Op("replace", PEER_ARP, vtep.index)])
        events = []
        wait_for(
            lambda: (
                events.extend(monitor.drain())
                or any(e.entry == PEER_ARP for e in events)
            ),
            5,
            what="an event after the overflow",
        )
    finally:
        monitor.close()
