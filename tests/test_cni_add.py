"""silk-cni ADD through the real entry point, socket service and kernel."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from silkctl.backends import netns
from tests.fixtures.cni import ip_json

pytestmark = pytest.mark.kernel


def read_sysctl(namespace: str, key: str) -> str:
    return netns.run(namespace, ["cat", f"/proc/sys/{key}"]).stdout.strip()


def assert_nothing_left(host, box=None, records: int = 0, links: int = 0) -> None:
    assert len(host.host_links()) == links
    assert len(host.reservations()) == links
    assert len(host.records()) == records
    if box is not None:
        names = [link["ifname"] for link in ip_json(box.name, "link", "show")]
        assert names == ["lo"]


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_add_prints_result_in_the_shape_of_the_version(cni_host, version):
    box = cni_host.container()
    result = cni_host.add(box, conf=cni_host.conf(cniVersion=version))
    host_if = {"name": "s-010255030002", "mac": "aa:aa:0a:ff:1e:02"}
    box_if = {"name": "eth0", "mac": "ee:ee:0a:ff:1e:02", "sandbox": box.path}
    ip = {"address": "10.255.30.2/32", "gateway": "169.254.0.1", "interface": 1}
    if version == "1.1.0":
        host_if["mtu"] = box_if["mtu"] = 1450
    if version < "1.0.0":
        ip["version"] = "4"
    assert result == {
        "cniVersion": version,
        "interfaces": [host_if, box_if],
        "ips": [ip],
        "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.0.1"}],
        "dns": {},
    }


def test_add_programs_point_to_point_veth_when_container_is_new(cni_host):
    box = cni_host.container()
    cni_host.add(box)

    host_link = ip_json(cni_host.netns, "-d", "addr", "show", "s-010255030002")[0]
    box_link = ip_json(box.name, "-d", "addr", "show", "eth0")[0]
    for link, mac in (
        (host_link, "aa:aa:0a:ff:1e:02"),
        (box_link, "ee:ee:0a:ff:1e:02"),
    ):
        assert link["address"] == mac
        assert link["mtu"] == 1450
        assert "NOARP" in link["flags"] and "UP" in link["flags"]
        assert link["linkinfo"]["info_kind"] == "veth"
    assert [
        (a["local"], a["address"], a["prefixlen"], a["scope"])
        for a in host_link["addr_info"]
        if a["family"] == "inet"
    ] == [("169.254.0.1", "10.255.30.2", 32, "link")]
    assert [
        (a["local"], a["address"], a["prefixlen"], a["scope"])
        for a in box_link["addr_info"]
    ] == [("10.255.30.2", "169.254.0.1", 32, "link")]

    host_neigh = ip_json(cni_host.netns, "neigh", "show", "dev", "s-010255030002")
    box_neigh = ip_json(box.name, "neigh", "show", "dev", "eth0")
    assert [(n["dst"], n["lladdr"], n["state"]) for n in host_neigh] == [
        ("10.255.30.2", "ee:ee:0a:ff:1e:02", ["PERMANENT"])
    ]
    assert [(n["dst"], n["lladdr"], n["state"]) for n in box_neigh] == [
        ("169.254.0.1", "aa:aa:0a:ff:1e:02", ["PERMANENT"])
    ]

    box_routes = {
        (r["dst"], r.get("gateway"), r.get("scope"))
        for r in ip_json(box.name, "route", "show")
    }
    assert box_routes == {
        ("default", "169.254.0.1", None),
        ("169.254.0.1", None, "link"),
    }
    host_routes = ip_json(cni_host.netns, "route", "show", "dev", "s-010255030002")
    assert [(r["dst"], r["scope"]) for r in host_routes] == [("10.255.30.2", "link")]

    assert read_sysctl(cni_host.netns, "net/ipv4/ip_forward") == "1"
    for namespace, name in ((cni_host.netns, "s-010255030002"), (box.name, "eth0")):
        assert read_sysctl(namespace, f"net/ipv4/conf/{name}/rp_filter") == "1"
        assert read_sysctl(namespace, f"net/ipv6/conf/{name}/disable_ipv6") == "1"


def test_add_lets_container_and_host_ping_each_other(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    netns.run(box.name, ["ping", "-c", "1", "-W", "2", "169.254.0.1"])
    netns.run(cni_host.netns, ["ping", "-c", "1", "-W", "2", "10.255.30.2"])


def test_add_lets_two_containers_on_one_host_talk(cni_host):
    first, second = cni_host.container(), cni_host.container()
    cni_host.add(first)
    cni_host.add(second)
    netns.run(first.name, ["ping", "-c", "1", "-W", "2", "10.255.30.3"])


def test_add_uses_config_mtu_when_set(cni_host):
    box = cni_host.container()
    result = cni_host.add(box, conf=cni_host.conf(mtu=1300))
    assert result["interfaces"][1]["mtu"] == 1300
    assert ip_json(box.name, "link", "show", "eth0")[0]["mtu"] == 1300
    assert ip_json(cni_host.netns, "link", "show", "s-010255030002")[0]["mtu"] == 1300


def test_add_uses_daemon_mtu_when_config_mtu_is_zero(cni_host_factory):
    host = cni_host_factory(mtu=1372)
    box = host.container()
    host.add(box, conf=host.conf(mtu=0))
    assert ip_json(box.name, "link", "show", "eth0")[0]["mtu"] == 1372


def test_add_records_container_and_reservation_when_done(cni_host):
    box = cni_host.container()
    conf = cni_host.conf(
        runtimeConfig={"portMappings": []},
        args={"cni": {"labels": [{"key": "app", "value": "web"}]}},
    )
    cni_host.add(box, conf=conf, env={"CNI_ARGS": "IgnoreUnknown=1;APP=web"})
    assert cni_host.records() == {
        box.name: {
            "handle": box.name,
            "ip": "10.255.30.2",
            "ifname": "eth0",
            "netns": box.path,
            "network": "silk",
            "metadata": {
                "cni_args": {"APP": "web"},
                "runtime_config": {"portMappings": []},
                "args": {"cni": {"labels": [{"key": "app", "value": "web"}]}},
            },
        }
    }
    reservation = Path(cni_host.data_dir) / "ipam" / "silk" / "10.255.30.2"
    assert reservation.read_bytes() == f"{box.name}\r\neth0".encode()


def test_add_fails_and_allocates_nothing_when_container_is_already_attached(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    run = cni_host.cni("ADD", box)
    assert run.code == 1
    assert run.json["code"] == 102
    assert "10.255.30.2" in run.json["details"]
    assert cni_host.reservations() == ["10.255.30.2"]
    assert cni_host.host_links() == ["s-010255030002"]


def test_add_reports_exhaustion_without_leaks_when_subnet_is_full(cni_host_factory):
    host = cni_host_factory(subnet="10.255.30.0/29")
    boxes = [host.container() for _ in range(6)]
    ips = [host.add(box)["ips"][0]["address"] for box in boxes[:5]]
    assert ips == [f"10.255.30.{n}/32" for n in range(2, 7)]

    run = host.cni("ADD", boxes[5])
    assert run.code == 1
    assert run.json["code"] == 101
    assert run.json["msg"] == "allocate address"
    assert "10.255.30.2-10.255.30.6" in run.json["details"]
    assert_nothing_left(host, boxes[5], records=5, links=5)


def test_add_rolls_back_everything_when_container_route_cannot_be_added(cni_host):
    box = cni_host.container()
    # A container that already has a default route: the last kernel step fails.
    netns.run(box.name, ["ip", "route", "add", "default", "dev", "lo"])
    run = cni_host.cni("ADD", box)
    assert run.code == 1
    assert run.json["code"] == 100
    assert "add default route via 169.254.0.1: File exists" in run.json["details"]
    assert_nothing_left(host=cni_host, box=box)
    assert [r["dst"] for r in ip_json(box.name, "route", "show")] == ["default"]
    assert "add-rolled-back" in cni_host.service_log()


def test_add_rolls_back_everything_when_datastore_cannot_be_written(cni_host, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the datastore's directory should be")
    box = cni_host.container()
    run = cni_host.cni("ADD", box, cni_host.conf(datastore=str(blocker / "store.json")))
    assert run.code == 1
    assert (run.json["code"], run.json["msg"]) == (100, "write container metadata")
    assert_nothing_left(cni_host, box)


def test_add_fails_cleanly_when_container_already_has_the_interface(cni_host):
    box = cni_host.container()
    netns.run(
        box.name, ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "x0"]
    )
    run = cni_host.cni("ADD", box)
    assert run.code == 1
    assert run.json["code"] == 100
    assert "create veth s-010255030002 peer eth0" in run.json["details"]
    assert cni_host.host_links() == []
    assert cni_host.reservations() == []
    assert cni_host.records() == {}


def test_add_fails_with_code_4_when_netns_does_not_exist(cni_host):
    run = cni_host.cni(
        "ADD",
        container_id="ghost",
        env={"CNI_NETNS": f"/run/netns/{cni_host.netns}-none"},
    )
    assert run.code == 1
    assert (run.json["code"], run.json["msg"]) == (4, "open CNI_NETNS")
    assert_nothing_left(cni_host)


def test_add_refuses_when_netns_is_the_host_itself(cni_host):
    run = cni_host.cni(
        "ADD", container_id="self", env={"CNI_NETNS": netns.path(cni_host.netns)}
    )
    assert run.code == 1
    assert "host's own namespace" in run.json["details"]
    assert_nothing_left(cni_host)


def test_add_gives_distinct_addresses_when_50_run_concurrently(cni_host):
    boxes = [cni_host.container() for _ in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        runs = list(pool.map(lambda box: cni_host.cni("ADD", box), boxes))
    assert [run.code for run in runs] == [0] * 50, [r.stdout for r in runs if r.code]
    ips = {json.loads(run.stdout)["ips"][0]["address"] for run in runs}
    assert len(ips) == 50
    assert len(cni_host.host_links()) == 50
    assert len(cni_host.reservations()) == 50
    assert {r["ip"] + "/32" for r in cni_host.records().values()} == ips
