"""Tests of silkctl/daemon.py: real daemons in host namespaces, a real controller."""

import ipaddress
import json
import time

import pytest

from silkctl import hwaddr
from silkctl.backends import netns
from silkctl.backends.netlink import Monitor, Netlink
from silkctl.client import Lease
from silkctl.errors import NonRetriable
from tests.fixtures.hosts import (
    VTEP,
    http_get,
    link_json,
    make_vtep,
    vtep_arp,
    vtep_fdb,
    vtep_routes,
    wait_for,
)

pytestmark = pytest.mark.kernel


def first_ip(subnet: str) -> str:
    return str(ipaddress.IPv4Network(subnet).network_address)


def peers_programmed(host, others: dict[str, str]) -> bool:
    """`host` has exactly a route, permanent ARP and FDB entry for each of `others`.

    `others` maps overlay subnet to underlay IP.
    """
    routes, arp, fdb = (
        vtep_routes(host.netns),
        vtep_arp(host.netns),
        vtep_fdb(host.netns),
    )
    if set(routes) != set(others):
        return False
    for subnet, underlay_ip in others.items():
        ip, mac = first_ip(subnet), hwaddr.vtep_mac(subnet)
        if routes[subnet].get("gateway") != ip:
            return False
        if arp.get(ip, {}).get("lladdr") != mac or arp[ip]["state"] != ["PERMANENT"]:
            return False
        if (
            fdb.get(mac, {}).get("dst") != underlay_ip
            or fdb[mac]["state"] != "permanent"
        ):
            return False
    return len(fdb) == len(others)


def vtep_stats(namespace: str) -> dict:
    result = netns.run(namespace, ["ip", "-s", "-j", "link", "show", VTEP])
    return json.loads(result.stdout)[0]["stats64"]


def test_daemon_programs_the_other_hosts_when_three_hosts_start(
    underlay, controller, start_daemon
):
    hosts = [underlay.add_host(n) for n in (1, 2, 3)]
    daemons = [start_daemon(h) for h in hosts]
    subnets = {
        h.name: d.info()["overlay_subnet"] for h, d in zip(hosts, daemons, strict=True)
    }
    assert len(set(subnets.values())) == 3

    for host in hosts:
        others = {subnets[o.name]: o.underlay_ip for o in hosts if o is not host}
        wait_for(
            lambda h=host, o=others: peers_programmed(h, o), 10, what=f"peers on {host}"
        )
        assert subnets[host.name] not in vtep_routes(host.netns)

    h1, h2 = hosts[0], hosts[1]
    before = vtep_stats(h1.netns)["tx"]["packets"]
    ping = netns.run(
        h1.netns, ["ping", "-c", "2", "-W", "2", first_ip(subnets["h2"])], check=False
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert vtep_stats(h1.netns)["tx"]["packets"] >= before + 2
    assert vtep_stats(h2.netns)["rx"]["packets"] >= 2


def test_daemon_answers_subnet_and_mtu_when_asked_on_any_path(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    daemon = start_daemon(host)

    info = daemon.info("/")
    assert daemon.info("/health") == info == daemon.info("/ping")
    assert ipaddress.IPv4Network(info["overlay_subnet"]).subnet_of(
        ipaddress.IPv4Network("10.255.0.0/16")
    )
    assert info["mtu"] == underlay.mtu - 50 == link_json(host.netns, VTEP)["mtu"]
    status, body = http_get(host.netns, "127.0.0.1", 23954, "/anything", method="POST")
    assert (status, json.loads(body)) == (200, info)
    status, body = http_get(host.netns, "127.0.0.1", 23954, "/metrics")
    assert status == 200 and b"silkctl_daemon_renew_success_total" in body


def test_daemon_builds_vtep_as_specified_when_it_acquires_a_lease(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    subnet = start_daemon(host).info()["overlay_subnet"]

    link = link_json(host.netns, VTEP)
    vxlan = link["linkinfo"]["info_data"]
    assert link["address"] == hwaddr.vtep_mac(subnet)
    assert (vxlan["id"], vxlan["port"], vxlan["local"], vxlan["learning"]) == (
        1,
        4789,
        host.underlay_ip,
        False,
    )
    assert vxlan.get("gbp") is True and vxlan["link"] == "eth0"
    addresses = json.loads(
        netns.run(host.netns, ["ip", "-j", "addr", "show", VTEP]).stdout
    )
    inet = [a for a in addresses[0]["addr_info"] if a["family"] == "inet"]
    assert [(a["local"], a["prefixlen"], a["scope"]) for a in inet] == [
        (first_ip(subnet), 16, "link")
    ]
    connected = netns.run(host.netns, ["ip", "route", "show", "10.255.0.0/16"]).stdout
    assert "dev silk-vtep proto kernel scope link" in connected


def test_daemon_withdraws_a_host_when_its_lease_is_released_and_adds_a_new_one(
    underlay, controller, start_daemon
):
    h1, h2, h3 = (underlay.add_host(n) for n in (1, 2, 3))
    d1, d2 = start_daemon(h1), start_daemon(h2)
    s2 = d2.info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")

    assert d2.stop() == 0
    controller.client().release(h2.underlay_ip)
    wait_for(lambda: peers_programmed(h1, {}), 5, what="h2 withdrawn from h1")

    s3 = start_daemon(h3).info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s3: h3.underlay_ip}), 5, what="h3 on h1")
    assert d1.alive()


def test_daemon_withdraws_a_host_when_its_lease_expires(
    underlay, controller_factory, start_daemon
):
    controller_factory(lease_expiration_seconds=2)
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    start_daemon(h1)
    d2 = start_daemon(h2)
    s2 = d2.info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")

    d2.stop()
    wait_for(lambda: peers_programmed(h1, {}), 10, what="expired h2 withdrawn from h1")
    assert link_json(h2.netns, VTEP) is not None


def test_daemon_keeps_subnet_and_kernel_state_when_restarted(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    d1 = start_daemon(h1)
    s1, s2 = d1.info()["overlay_subnet"], start_daemon(h2).info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")
    before = (
        link_json(h1.netns, VTEP)["ifindex"],
        vtep_routes(h1.netns),
        vtep_arp(h1.netns),
        vtep_fdb(h1.netns),
    )

    monitor = Monitor(h1.netns)
    try:
        assert d1.stop() == 0
        assert link_json(h1.netns, VTEP) is not None
        d1 = start_daemon(h1)
        assert d1.info()["overlay_subnet"] == s1
        # One loop thread: a renewal logged after the first listing means the
        # convergence of that poll is over.
        wait_for(
            lambda: "lease-renewed" in d1.log().partition("leases-listed")[2],
            5,
            what="a whole poll after restart",
        )
        events = [e for e in monitor.drain() if e.ifindex == before[0]]
    finally:
        monitor.close()

    assert events == []
    assert (
        link_json(h1.netns, VTEP)["ifindex"],
        vtep_routes(h1.netns),
        vtep_arp(h1.netns),
        vtep_fdb(h1.netns),
    ) == before
    assert "lease-renewed" in d1.log() and "lease-acquired" not in d1.log()


def test_daemon_rediscovers_a_single_ip_lease_as_32_when_restarted(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    daemon = start_daemon(host, single_ip_only=True)
    subnet = daemon.info()["overlay_subnet"]
    assert subnet.endswith("/32")

    daemon.stop()
    daemon = start_daemon(host, single_ip_only=True)
    assert daemon.info()["overlay_subnet"] == subnet
    assert "lease-renewed" in daemon.log()


def test_daemon_exits_after_partition_tolerance_when_controller_stops(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    d1 = start_daemon(h1, partition_tolerance_seconds=6, renew_interval_seconds=1)
    s2 = start_daemon(h2).info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")
    info = d1.info()

    controller.stop()
    stopped = time.monotonic()
    wait_for(
        lambda: "lease-renew-failed" in d1.log() and "list-leases-failed" in d1.log(),
        5,
        what="failed renewals and listings",
    )
    assert d1.alive() and d1.info() == info
    assert peers_programmed(h1, {s2: h2.underlay_ip})

    assert d1.wait_exit(15) == 1
    # The last renewal came at most 1 s before the stop: no exit before 6 - 1 s.
    assert time.monotonic() - stopped >= 5
    assert "partition_tolerance_seconds" in d1.log()
    assert peers_programmed(h1, {s2: h2.underlay_ip})


def test_daemon_exits_at_once_when_renew_answers_409(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    daemon = start_daemon(host)
    subnet = daemon.info()["overlay_subnet"]
    other = "10.255.250.0/24" if subnet != "10.255.250.0/24" else "10.255.251.0/24"

    # Record another lease for this underlay address, so the daemon's no longer
    # matches. Its own renewal may slip in between and re-record its lease.
    client = controller.client()

    def recorded():
        client.release(host.underlay_ip)
        try:
            client.renew(Lease(host.underlay_ip, other, hwaddr.vtep_mac(other)))
        except NonRetriable:
            return False
        return True

    wait_for(recorded, 5, interval=0.05, what="the other lease recorded")

    assert daemon.wait_exit(10) == 1
    assert "must be restarted" in daemon.log() and "409" in daemon.log()


def _old_network_vtep(host, subnet="10.99.1.0/24"):
    """A VTEP left from an earlier overlay network, as a previous daemon made it."""
    with Netlink(host.netns) as nl:
        make_vtep(nl, host, subnet, overlay="10.99.0.0/16")


def test_daemon_replaces_an_out_of_network_lease_when_the_host_has_no_containers(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    _old_network_vtep(host)

    daemon = start_daemon(host)
    subnet = daemon.info()["overlay_subnet"]
    assert subnet.startswith("10.255.")
    assert link_json(host.netns, VTEP)["address"] == hwaddr.vtep_mac(subnet)
    assert (
        "lease-not-in-overlay" in daemon.log() and "vtep-incompatible" in daemon.log()
    )


@pytest.mark.parametrize(
    ("store", "reason"),
    [
        ("one-container", "the host has 1 containers, so the lease cannot be replaced"),
        ("unreadable", "read datastore"),
    ],
)
def test_daemon_exits_when_an_out_of_network_lease_may_be_in_use(
    underlay, controller, start_daemon, tmp_path, store, reason
):
    host = underlay.add_host(1)
    _old_network_vtep(host)
    datastore = tmp_path / "store.json"
    if store == "one-container":
        record = {"handle": "c1", "ip": "10.99.1.2", "metadata": None}
        datastore.write_text(json.dumps({"c1": record}))
    else:
        datastore.mkdir()

    daemon = start_daemon(host, wait=False, datastore=str(datastore))

    assert daemon.wait_exit(15) == 1
    last = daemon.log().strip().splitlines()[-1]
    assert "discovered lease 10.99.1.0/24 is not in overlay network" in last
    assert reason in last
    assert link_json(host.netns, VTEP)["address"] == hwaddr.vtep_mac("10.99.1.0/24")


@pytest.mark.parametrize("containers", [0, 1])
def test_daemon_replaces_an_unrenewable_lease_only_when_the_host_has_no_containers(
    underlay, controller, start_daemon, tmp_path, containers
):
    host = underlay.add_host(1)
    datastore = tmp_path / "store.json"
    first = start_daemon(host, datastore=str(datastore))
    subnet = first.info()["overlay_subnet"]
    assert first.stop() == 0
    # While the daemon is down another host takes its subnet: renewing fails.
    client = controller.client()
    client.release(host.underlay_ip)
    client.renew(Lease("10.0.9.9", subnet, hwaddr.vtep_mac(subnet)))
    if containers:
        record = {"handle": "c1", "ip": subnet.replace(".0/24", ".2"), "metadata": None}
        datastore.write_text(json.dumps({"c1": record}))

    second = start_daemon(host, wait=not containers, datastore=str(datastore))

    if containers:
        assert second.wait_exit(15) == 1
        last = second.log().strip().splitlines()[-1]
        assert f"renew subnet lease {subnet}:" in last
        assert "the host has 1 containers, so the lease cannot be replaced" in last
        assert link_json(host.netns, VTEP)["address"] == hwaddr.vtep_mac(subnet)
    else:
        replaced = second.info()["overlay_subnet"]
        assert replaced != subnet
        assert link_json(host.netns, VTEP)["address"] == hwaddr.vtep_mac(replaced)
        assert "lease-renew-failed" in second.log()


def test_daemon_refuses_host_gw_when_a_remote_host_is_not_directly_reachable(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    far = "10.255.77.0/24"
    controller.client().renew(Lease("192.0.2.7", far, hwaddr.vtep_mac(far)))

    daemon = start_daemon(host, wait=False, encapsulation="host-gw")

    assert daemon.wait_exit(15) == 1
    last = daemon.log().strip().splitlines()[-1]
    assert (
        f"not directly reachable from {host.underlay_ip}: 192.0.2.7 ({far}) "
        "(use encapsulation vxlan)"
    ) in last


def test_daemon_removes_stray_entries_when_added_by_hand(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    start_daemon(h1)
    s2 = start_daemon(h2).info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")

    for argv in (
        ["ip", "route", "add", "10.255.77.0/24", "via", "10.255.77.0", "dev", VTEP],
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
        netns.run(h1.netns, argv)
    assert not peers_programmed(h1, {s2: h2.underlay_ip})

    wait_for(
        lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 5, what="strays removed"
    )


def test_daemon_puts_the_vtep_right_when_changed_behind_its_back(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    s1 = start_daemon(h1).info()["overlay_subnet"]
    s2 = start_daemon(h2).info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")

    netns.run(h1.netns, ["ip", "link", "set", VTEP, "address", "ee:ee:01:02:03:04"])
    wait_for(
        lambda: link_json(h1.netns, VTEP)["address"] == hwaddr.vtep_mac(s1),
        5,
        what="MAC put back",
    )
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 5, what="peers back")

    netns.run(h1.netns, ["ip", "link", "del", VTEP])
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 5, what="VTEP rebuilt")
    ping = netns.run(
        h1.netns, ["ping", "-c", "1", "-W", "2", first_ip(s2)], check=False
    )
    assert ping.returncode == 0


def test_daemon_replaces_entries_when_a_host_returns_with_new_underlay_and_mac(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    start_daemon(h1)
    d2 = start_daemon(h2)
    s2 = d2.info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")
    d2.stop()
    client = controller.client()

    # Same subnet, another underlay address: only the FDB entry changes.
    client.release(h2.underlay_ip)
    client.renew(Lease("172.31.0.99", s2, hwaddr.vtep_mac(s2)))
    wait_for(lambda: peers_programmed(h1, {s2: "172.31.0.99"}), 5, what="new underlay")

    # Another MAC for the subnet: ARP replaced, old FDB entry gone.
    client.release("172.31.0.99")
    new_mac = "ee:ee:0a:0b:0c:0d"
    client.renew(Lease("172.31.0.99", s2, new_mac))

    def moved():
        arp, fdb = vtep_arp(h1.netns), vtep_fdb(h1.netns)
        return (
            arp.get(first_ip(s2), {}).get("lladdr") == new_mac
            and set(fdb) == {new_mac}
            and fdb[new_mac]["dst"] == "172.31.0.99"
        )

    wait_for(moved, 5, what="new MAC on h1")
    assert set(vtep_routes(h1.netns)) == {s2}


RECORDING_PLUGIN = """
from pathlib import Path
from silkctl.plugins import hookimpl

OUT = Path(__file__).with_suffix(".calls")

@hookimpl
def silkctl_daemon_started(config):
    OUT.write_text("started " + config.underlay_ip + "\\n")

@hookimpl
def silkctl_daemon_stopping():
    with OUT.open("a") as out:
        out.write("stopping\\n")
"""


def test_hook_silkctl_daemon_stopping_follows_daemon_started(
    underlay, controller, start_daemon, tmp_path
):
    (tmp_path / "recording_plugin.py").write_text(RECORDING_PLUGIN)
    host = underlay.add_host(1)
    daemon = start_daemon(
        host, plugins=["recording_plugin"], env={"PYTHONPATH": str(tmp_path)}
    )
    calls = tmp_path / "recording_plugin.calls"
    assert calls.read_text() == f"started {host.underlay_ip}\n"

    assert daemon.stop() == 0
    assert calls.read_text() == f"started {host.underlay_ip}\nstopping\n"


def test_hook_silkctl_daemon_started_refusal_stops_daemon_with_reason(
    underlay, controller, start_daemon, tmp_path
):
    (tmp_path / "refusing_plugin.py").write_text(
        "from silkctl.plugins import hookimpl\n\n"
        "@hookimpl\n"
        "def silkctl_daemon_started(config):\n"
        "    raise RuntimeError('needs a policy file')\n"
    )
    host = underlay.add_host(1)
    daemon = start_daemon(
        host,
        wait=False,
        plugins=["refusing_plugin"],
        env={"PYTHONPATH": str(tmp_path)},
    )

    assert daemon.wait_exit(15) == 1
    last = daemon.log().strip().splitlines()[-1]
    assert last == "error: start plugins: needs a policy file"


def test_daemon_polls_without_listing_or_writing_when_nothing_changes(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    d1 = start_daemon(h1)
    s2 = start_daemon(h2).info()["overlay_subnet"]
    wait_for(lambda: peers_programmed(h1, {s2: h2.underlay_ip}), 10, what="h2 on h1")
    listed, converged = d1.log().count("leases-listed"), d1.log().count(" converged ")

    # Renewals are the clock: three of them span more than five polls.
    renewed = d1.log().count("lease-renewed")
    wait_for(lambda: d1.log().count("lease-renewed") >= renewed + 3, 5, what="renewals")

    assert d1.log().count("leases-listed") == listed
    assert d1.log().count(" converged ") == converged
