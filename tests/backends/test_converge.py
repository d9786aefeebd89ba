"""Tests of silkctl/backends/converge.py: desired state, diff, apply, mirror."""

import pytest

from silkctl import hwaddr
from silkctl.backends import converge, netns
from silkctl.backends.netlink import FdbEntry, Monitor, Neighbour, Route
from silkctl.client import Lease
from tests.fixtures.hosts import VTEP, make_vtep, vtep_arp, vtep_fdb, vtep_routes

LOCAL = Lease("172.31.0.11", "10.255.30.0/24", hwaddr.vtep_mac("10.255.30.0/24"))
OVERLAY = "10.255.0.0/16"


def lease(n: int, underlay: str | None = None, prefix: int = 24) -> Lease:
    subnet = f"10.255.{n}.0/24" if prefix == 24 else f"10.255.0.{n}/32"
    return Lease(underlay or f"172.31.0.{n}", subnet, hwaddr.vtep_mac(subnet))


# -- desired state and diff (no kernel) ------------------------------------------


def test_desired_state_holds_three_entries_per_peer_when_leases_are_routable():
    desired = converge.desired_state(
        [LOCAL, lease(31), lease(7, prefix=32)], LOCAL, OVERLAY
    )

    assert len(desired.peers) == 2
    assert desired.routes[("10.255.31.0/24", 0)] == Route(
        "10.255.31.0/24", "10.255.31.0", "10.255.30.0"
    )
    assert desired.routes[("10.255.0.7/32", 0)].gateway == "10.255.0.7"
    assert desired.arp["10.255.31.0"] == Neighbour("10.255.31.0", "ee:ee:0a:ff:1f:00")
    assert desired.fdb["ee:ee:0a:ff:1f:00"] == FdbEntry(
        "ee:ee:0a:ff:1f:00", "172.31.0.31"
    )
    assert ("10.255.30.0/24", 0) not in desired.routes


def test_desired_state_skips_and_counts_leases_when_outside_the_overlay():
    outside = Lease("172.31.0.40", "10.99.1.0/24", hwaddr.vtep_mac("10.99.1.0/24"))

    desired = converge.desired_state([lease(31), outside], LOCAL, OVERLAY)

    assert (len(desired.peers), desired.skipped) == (1, 1)


@pytest.mark.parametrize(
    "bad",
    [
        Lease("172.31.0.40", "10.255.40.1/24", "ee:ee:0a:ff:28:00"),
        Lease("172.31.0.40", "10.255.40.0", "ee:ee:0a:ff:28:00"),
        Lease("172.31.0.40", "10.255.40.0/24", "ee:ee"),
        Lease("not-an-ip", "10.255.40.0/24", "ee:ee:0a:ff:28:00"),
    ],
)
def test_desired_state_lists_a_lease_as_invalid_when_it_is_malformed(bad):
    desired = converge.desired_state([lease(31), bad], LOCAL, OVERLAY)

    assert len(desired.peers) == 1 and len(desired.invalid) == 1


def _kernel(desired: converge.DesiredState, **extra) -> converge.KernelState:
    state = converge.KernelState(7)
    for route in desired.routes.values():
        state.update("route", "replace", route)
    for neighbour in desired.arp.values():
        state.update("arp", "replace", neighbour)
    for entry in desired.fdb.values():
        state.update("fdb", "replace", entry)
    for table, entries in extra.items():
        for entry in entries:
            state.update(table, "replace", entry)
    return state


def test_diff_is_empty_when_the_kernel_already_matches():
    desired = converge.desired_state([lease(31), lease(32)], LOCAL, OVERLAY)
    connected = Route(OVERLAY, None, "10.255.30.0", scope=253, proto=2)
    incomplete = Neighbour("10.255.77.5", None, state=0x20)
    multicast = FdbEntry("33:33:00:00:00:01", None)

    changes = converge.diff(
        desired, _kernel(desired, route=[connected], arp=[incomplete], fdb=[multicast])
    )

    assert not changes and changes.summary() == {"add": 0, "replace": 0, "delete": 0}


def test_diff_replaces_only_what_differs_when_a_peer_comes_back_changed():
    old = converge.desired_state([lease(31), lease(32)], LOCAL, OVERLAY)
    moved = Lease("172.31.0.99", "10.255.31.0/24", "ee:ee:0a:0b:0c:0d")

    changes = converge.diff(
        converge.desired_state([moved, lease(32)], LOCAL, OVERLAY), _kernel(old)
    )

    assert [(c.table, c.action) for c in changes.changes()] == [
        ("fdb", "add"),
        ("arp", "replace"),
        ("fdb", "delete"),
    ]
    assert changes.replaces[0].old.mac == "ee:ee:0a:ff:1f:00"
    assert changes.deletes[0].peer is None


def test_diff_deletes_our_strays_and_keeps_the_rest_when_the_kernel_has_extras():
    desired = converge.desired_state([lease(31)], LOCAL, OVERLAY)
    stray_route = Route("10.255.77.0/24", "10.255.77.0", None)
    foreign_route = Route("192.168.5.0/24", None, None, scope=253)
    stray_arp = Neighbour("10.255.77.0", "ee:ee:0a:ff:4d:00")
    stray_fdb = FdbEntry("ee:ee:0a:ff:4d:00", "172.31.0.77")

    changes = converge.diff(
        desired,
        _kernel(
            desired,
            route=[stray_route, foreign_route],
            arp=[stray_arp],
            fdb=[stray_fdb],
        ),
    )

    assert [c.entry for c in changes.deletes] == [stray_route, stray_arp, stray_fdb]
    assert not changes.adds and not changes.replaces


def test_diff_keeps_one_remote_when_a_peer_mac_has_several():
    desired = converge.desired_state([lease(31)], LOCAL, OVERLAY)
    extra = FdbEntry("ee:ee:0a:ff:1f:00", "172.31.0.200")

    changes = converge.diff(desired, _kernel(desired, fdb=[extra]))

    assert [(c.action, c.entry) for c in changes.changes()] == [("delete", extra)]


# -- apply and mirror (real kernel) ------------------------------------------------


@pytest.fixture
def vtep(nl, host):
    return make_vtep(nl, host, LOCAL.overlay_subnet)


def _converge(nl, vtep, leases, overlay=OVERLAY):
    state = converge.read_kernel_state(nl, vtep.index)
    changes = converge.diff(converge.desired_state(leases, LOCAL, overlay), state)
    return converge.apply(nl, vtep.index, changes, state), state


@pytest.mark.kernel
def test_apply_programs_every_peer_and_then_has_nothing_left_to_do(nl, host, vtep):
    leases = [LOCAL] + [lease(n) for n in range(40, 60)]

    result, state = _converge(nl, vtep, leases)

    assert (result.added, result.failed, result.messages) == (60, [], 60)
    assert state == converge.read_kernel_state(nl, vtep.index)
    assert len(vtep_routes(host.netns)) == len(vtep_arp(host.netns)) == 20
    assert len(vtep_fdb(host.netns)) == 20
    again, _ = _converge(nl, vtep, leases)
    assert (again.changed, again.messages) == (0, 0)


@pytest.mark.kernel
def test_apply_sends_a_handful_of_messages_when_one_peer_comes_and_one_goes(nl, vtep):
    leases = [lease(n) for n in range(40, 240)]
    _converge(nl, vtep, leases)

    result, _ = _converge(nl, vtep, leases[1:] + [lease(241)])

    assert (result.added, result.deleted, result.replaced) == (3, 3, 0)
    assert result.messages == 6


@pytest.mark.kernel
def test_apply_undoes_a_peer_when_its_route_fails(nl, host, vtep):
    # Desired under a wider overlay than the VTEP's address: 10.254.x is off-link.
    leases = [
        lease(31),
        Lease("172.31.0.44", "10.254.44.0/24", hwaddr.vtep_mac("10.254.44.0/24")),
    ]

    result, state = _converge(nl, vtep, leases, overlay="10.254.0.0/15")

    assert len(result.failed) == 1 and "program peer 10.254.44.0/24" in result.failed[0]
    assert result.added == 3
    assert set(vtep_routes(host.netns)) == {"10.255.31.0/24"}
    assert set(vtep_arp(host.netns)) == {"10.255.31.0"}
    assert set(vtep_fdb(host.netns)) == {"ee:ee:0a:ff:1f:00"}
    assert state == converge.read_kernel_state(nl, vtep.index)


@pytest.mark.kernel
def test_apply_removes_strays_but_keeps_foreign_and_kernel_routes(nl, host, vtep):
    for argv in (
        ["ip", "route", "add", "10.255.77.0/24", "via", "10.255.77.0", "dev", VTEP],
        ["ip", "route", "add", "192.168.5.0/24", "dev", VTEP],
        [
            "ip",
            "neigh",
            "add",
            "10.255.77.0",
            "lladdr",
            "ee:ee:0a:ff:4d:00",
            "nud",
            "permanent",
            "dev",
            VTEP,
        ],
        [
            "bridge",
            "fdb",
            "add",
            "ee:ee:0a:ff:4d:00",
            "dev",
            VTEP,
            "dst",
            "172.31.0.77",
            "self",
            "permanent",
        ],
    ):
        netns.run(host.netns, argv)

    result, _ = _converge(nl, vtep, [lease(31)])

    assert (result.added, result.deleted) == (3, 3)
    assert set(vtep_routes(host.netns)) == {"10.255.31.0/24", "192.168.5.0/24"}
    connected = netns.run(host.netns, ["ip", "route", "show", OVERLAY]).stdout
    assert "proto kernel" in connected


@pytest.mark.kernel
def test_mirror_follows_the_kernel_when_entries_and_the_device_change(nl, host, vtep):
    monitor = Monitor(host.netns)
    try:
        mirror = converge.Mirror(nl, monitor, vtep.index)
        netns.run(
            host.netns,
            ["ip", "route", "add", "10.255.77.0/24", "via", "10.255.77.0", "dev", VTEP],
        )
        assert mirror.refresh() == (True, False)
        assert ("10.255.77.0/24", 0) in mirror.state.routes

        netns.run(host.netns, ["ip", "link", "set", VTEP, "down"])
        assert mirror.refresh() == (True, True)
        assert mirror.state == converge.read_kernel_state(nl, vtep.index)
        assert mirror.refresh() == (False, False)
    finally:
        monitor.close()


def test_diff_peers_finds_what_a_full_diff_finds_when_only_leases_changed():
    leases = [lease(n) for n in range(40, 60)]
    desired = converge.desired_state(leases, LOCAL, OVERLAY)
    actual = _kernel(desired)

    added, removed = desired.update(leases[3:] + [lease(70), lease(71)])

    targeted = converge.diff_peers(desired, actual, added, removed)
    full = converge.diff(desired, actual)
    assert sorted(targeted.changes()) == sorted(full.changes())
    assert targeted.summary() == {"add": 6, "replace": 0, "delete": 9}
    assert [c.table for c in targeted.stale] == ["route"] * 3 + ["arp"] * 3 + [
        "fdb"
    ] * 3


def test_desired_state_admits_a_clashing_lease_when_the_other_one_leaves():
    first = lease(31)
    clash = Lease("172.31.0.99", "10.255.31.0/24", first.overlay_hardware_addr)
    desired = converge.desired_state([first, clash], LOCAL, OVERLAY)
    assert len(desired.invalid) == 1

    added, removed = desired.update([clash])

    assert [p.fdb.dst for p in added] == ["172.31.0.99"] and len(removed) == 1
    assert desired.invalid == []
