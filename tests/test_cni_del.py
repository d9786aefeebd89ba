"""silk-cni DEL, CHECK, GC and STATUS, with and without the daemon."""

from pathlib import Path

import pytest

from silkctl.backends import netns
from tests.fixtures.cni import ip_json

pytestmark = pytest.mark.kernel


def assert_released(host, box=None) -> None:
    assert host.host_links() == []
    assert host.reservations() == []
    assert host.records() == {}
    if box is not None and netns.exists(box.name):
        assert [link["ifname"] for link in ip_json(box.name, "link", "show")] == ["lo"]


def test_del_frees_everything_and_succeeds_again_when_repeated(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    first, second = cni_host.cni("DEL", box), cni_host.cni("DEL", box)
    assert (first.code, first.stdout, second.code, second.stdout) == (0, "", 0, "")
    assert_released(cni_host, box)


def test_del_frees_the_address_when_netns_is_gone(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    netns.remove(box.name)
    run = cni_host.cni("DEL", box)
    assert run.code == 0, run.stdout
    assert_released(cni_host)


def test_del_frees_the_address_when_interface_is_gone(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    netns.run(box.name, ["ip", "link", "del", "eth0"])
    run = cni_host.cni("DEL", box)
    assert run.code == 0, run.stdout
    assert_released(cni_host, box)


def test_del_removes_the_veth_from_the_host_when_netns_is_empty(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    run = cni_host.cni("DEL", box, env={"CNI_NETNS": ""})
    assert run.code == 0, run.stdout
    assert_released(cni_host, box)


def test_del_succeeds_when_container_was_never_added(cni_host):
    box = cni_host.container()
    run = cni_host.cni("DEL", box)
    assert (run.code, run.stdout) == (0, "")


def test_del_works_in_process_when_daemon_is_stopped(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    cni_host.stop_service()
    run = cni_host.cni("DEL", box)
    assert (run.code, run.stdout) == (0, "")
    assert "daemon-unreachable-serving-in-process" in run.stderr
    assert_released(cni_host, box)
    again = cni_host.cni("DEL", box)
    assert again.code == 0


def test_del_in_process_writes_logs_to_log_file_when_configured(cni_host, tmp_path):
    box = cni_host.container()
    cni_host.add(box)
    cni_host.stop_service()
    log_file = tmp_path / "silk-cni.log"
    run = cni_host.cni("DEL", box, cni_host.conf(logFile=str(log_file)))
    assert (run.code, run.stdout, run.stderr) == (0, "", "")
    assert "daemon-unreachable-serving-in-process" in log_file.read_text()
    assert_released(cni_host, box)


def test_add_after_del_reuses_nothing_stale(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    cni_host.cni("DEL", box)
    result = cni_host.add(box)
    assert result["ips"][0]["address"] == "10.255.30.3/32"
    assert cni_host.host_links() == ["s-010255030003"]


def test_check_passes_when_nothing_changed(cni_host):
    box = cni_host.container()
    result = cni_host.add(box)
    run = cni_host.cni("CHECK", box, cni_host.conf(prevResult=result))
    assert (run.code, run.stdout) == (0, "")


def test_check_names_each_difference_when_container_network_drifted(cni_host):
    box = cni_host.container()
    result = cni_host.add(box)
    netns.run(box.name, ["ip", "link", "set", "eth0", "mtu", "1400"])
    netns.run(box.name, ["ip", "route", "del", "default"])
    netns.run(
        cni_host.netns, ["ip", "neigh", "del", "10.255.30.2", "dev", "s-010255030002"]
    )
    run = cni_host.cni("CHECK", box, cni_host.conf(prevResult=result))
    assert run.code == 1
    assert (run.json["code"], run.json["msg"]) == (104, "container network differs")
    details = run.json["details"]
    assert "eth0: MTU is 1400, expected 1450" in details
    assert "eth0: default route via 169.254.0.1 is missing" in details
    assert (
        "s-010255030002: permanent neighbour 10.255.30.2 ee:ee:0a:ff:1e:02 is missing"
        in details
    )


def test_check_fails_when_prev_result_lacks_the_interface(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    prev = {"cniVersion": "1.1.0", "interfaces": [], "ips": []}
    run = cni_host.cni("CHECK", box, cni_host.conf(prevResult=prev))
    assert (run.code, run.json["code"]) == (1, 104)
    assert "no interface eth0" in run.json["details"]


def test_check_fails_with_code_7_when_prev_result_is_missing(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    run = cni_host.cni("CHECK", box)
    assert (run.code, run.json["code"]) == (1, 7)


def test_check_works_in_process_when_daemon_is_stopped(cni_host):
    box = cni_host.container()
    result = cni_host.add(box)
    cni_host.stop_service()
    assert cni_host.cni("CHECK", box, cni_host.conf(prevResult=result)).code == 0
    netns.run(box.name, ["ip", "link", "set", "eth0", "down"])
    run = cni_host.cni("CHECK", box, cni_host.conf(prevResult=result))
    assert (run.code, run.json["code"]) == (1, 104)
    assert "eth0: link is down" in run.json["details"]


def test_gc_releases_attachments_the_runtime_no_longer_knows(cni_host):
    keep, drop1, drop2 = (cni_host.container() for _ in range(3))
    for box in (keep, drop1, drop2):
        cni_host.add(box)
    conf = cni_host.conf(
        **{"cni.dev/valid-attachments": [{"containerID": keep.name, "ifname": "eth0"}]}
    )
    run = cni_host.cni(
        "GC",
        conf=conf,
        env={"CNI_CONTAINERID": None, "CNI_NETNS": None, "CNI_IFNAME": None},
    )
    assert (run.code, run.stdout) == (0, "")
    assert cni_host.host_links() == ["s-010255030002"]
    assert cni_host.reservations() == ["10.255.30.2"]
    assert list(cni_host.records()) == [keep.name]
    for box in (drop1, drop2):
        assert [link["ifname"] for link in ip_json(box.name, "link", "show")] == ["lo"]
    netns.run(keep.name, ["ping", "-c", "1", "-W", "2", "169.254.0.1"])


def test_gc_releases_reservations_left_without_a_record(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    kept = cni_host.reservations()
    store = Path(cni_host.data_dir) / "ipam" / "silk"
    (store / "10.255.30.9").write_bytes(b"forgotten\r\neth0")
    conf = cni_host.conf(
        **{"cni.dev/valid-attachments": [{"containerID": box.name, "ifname": "eth0"}]}
    )
    assert cni_host.cni("GC", conf=conf).code == 0
    assert cni_host.reservations() == kept


def test_status_succeeds_when_daemon_serves(cni_host):
    run = cni_host.cni("STATUS", conf=cni_host.conf())
    assert (run.code, run.stdout) == (0, "")


def test_status_reports_code_50_when_daemon_is_stopped(cni_host):
    cni_host.stop_service()
    run = cni_host.cni("STATUS", conf=cni_host.conf())
    assert (run.code, run.json["code"]) == (1, 50)


def test_status_reports_code_50_when_daemon_endpoint_does_not_answer(cni_host):
    run = cni_host.cni("STATUS", conf=cni_host.conf(daemonPort=1))
    assert (run.code, run.json["code"]) == (1, 50)
    assert "127.0.0.1:1" in run.json["details"]


def test_gc_works_in_process_when_daemon_is_stopped(cni_host):
    box = cni_host.container()
    cni_host.add(box)
    cni_host.stop_service()
    conf = cni_host.conf(**{"cni.dev/valid-attachments": []})
    run = cni_host.cni("GC", conf=conf)
    assert (run.code, run.stdout) == (0, "")
    assert_released(cni_host, box)
