"""The built-in allocator (host-local layout, flock) and delegation to IPAM plugins."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from silkctl import ipam
from silkctl.ipam import HostLocal

HOST_LOCAL = "/usr/lib/cni/host-local"


@pytest.fixture
def store(tmp_path) -> HostLocal:
    return HostLocal(str(tmp_path), "silk")


def test_allocate_starts_at_the_second_host_address_when_store_is_new(store, tmp_path):
    assert store.allocate("10.255.30.0/24", "c1", "eth0") == "10.255.30.2"
    assert store.allocate("10.255.30.0/24", "c2", "eth0") == "10.255.30.3"
    directory = tmp_path / "ipam" / "silk"
    assert (directory / "10.255.30.2").read_bytes() == b"c1\r\neth0"
    assert (directory / "last_reserved_ip.0").read_text() == "10.255.30.3"


def test_allocate_goes_round_robin_when_addresses_are_released(store):
    subnet = "10.255.30.0/29"
    assert [store.allocate(subnet, f"c{n}", "eth0") for n in range(3)] == [
        "10.255.30.2",
        "10.255.30.3",
        "10.255.30.4",
    ]
    assert store.release("c0", "eth0") == ["10.255.30.2"]
    assert store.allocate(subnet, "c3", "eth0") == "10.255.30.5"
    assert store.allocate(subnet, "c4", "eth0") == "10.255.30.6"
    assert store.allocate(subnet, "c5", "eth0") == "10.255.30.2"


def test_allocate_raises_exhausted_naming_the_range_when_subnet_is_full(store):
    for n in range(5):
        store.allocate("10.255.30.0/29", f"c{n}", "eth0")
    with pytest.raises(ipam.Exhausted, match=r"10\.255\.30\.2-10\.255\.30\.6"):
        store.allocate("10.255.30.0/29", "late", "eth0")
    assert len(store.reservations()) == 5


@pytest.mark.parametrize("subnet", ["10.255.30.0/31", "10.255.30.7/32"])
def test_allocate_raises_exhausted_when_subnet_has_no_container_addresses(
    store, subnet
):
    with pytest.raises(ipam.Exhausted, match="no container addresses"):
        store.allocate(subnet, "c1", "eth0")


def test_release_frees_only_the_container_interface_asked_for(store):
    store.allocate("10.255.30.0/24", "c1", "eth0")
    store.allocate("10.255.30.0/24", "c1", "eth1")
    store.allocate("10.255.30.0/24", "c2", "eth0")
    assert store.release("c1", "eth0") == ["10.255.30.2"]
    assert store.reservations() == {
        "10.255.30.3": ("c1", "eth1"),
        "10.255.30.4": ("c2", "eth0"),
    }
    assert store.find("c2", "eth0") == "10.255.30.4"
    assert store.find("c1", "eth0") is None


def test_release_uses_the_hint_and_ignores_a_wrong_one(store):
    store.allocate("10.255.30.0/24", "c1", "eth0")
    store.allocate("10.255.30.0/24", "c2", "eth0")
    assert store.release("c2", "eth0", hint="10.255.30.3") == ["10.255.30.3"]
    assert store.release("c1", "eth0", hint="10.255.30.3") == ["10.255.30.2"]
    assert store.reservations() == {}


def test_release_returns_nothing_when_store_does_not_exist(store):
    assert store.release("c1", "eth0") == []
    assert store.reservations() == {}


def test_allocate_gives_distinct_addresses_when_threads_race(store):
    with ThreadPoolExecutor(max_workers=32) as pool:
        ips = list(
            pool.map(
                lambda n: store.allocate("10.255.30.0/24", f"c{n}", "eth0"), range(100)
            )
        )
    assert len(set(ips)) == 100


def test_allocate_gives_distinct_addresses_when_processes_race(tmp_path):
    code = (
        "import sys; from silkctl.ipam import HostLocal\n"
        "s = HostLocal(sys.argv[1], 'silk')\n"
        "print(' '.join(s.allocate('10.255.30.0/24', f'{sys.argv[2]}-{n}', 'eth0')"
        " for n in range(25)))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), f"p{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    ips = [ip for proc in procs for ip in proc.communicate(timeout=60)[0].split()]
    assert len(ips) == 100 and len(set(ips)) == 100


def _host_local(command: str, container_id: str, data_dir: str, subnet: str):
    conf = {
        "cniVersion": "1.0.0",
        "name": "silk",
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": subnet}]],
            "dataDir": os.path.join(data_dir, "ipam"),
        },
    }
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": "/run/netns/none",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/usr/lib/cni",
    }
    return subprocess.run(
        [HOST_LOCAL],
        input=json.dumps(conf),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_store_layout_is_shared_with_the_reference_host_local(store, tmp_path):
    store.allocate("10.255.30.0/24", "ours", "eth0")
    theirs = json.loads(
        _host_local("ADD", "theirs", str(tmp_path), "10.255.30.0/24").stdout
    )
    assert theirs["ips"][0]["address"] == "10.255.30.3/24"
    assert store.reservations() == {
        "10.255.30.2": ("ours", "eth0"),
        "10.255.30.3": ("theirs", "eth0"),
    }
    _host_local("DEL", "ours", str(tmp_path), "10.255.30.0/24")
    assert store.allocate("10.255.30.0/24", "next", "eth0") == "10.255.30.4"
    assert store.find("ours", "eth0") is None


def test_find_plugin_raises_naming_the_path_when_plugin_is_missing(tmp_path):
    with pytest.raises(ipam.IpamError) as caught:
        ipam.find_plugin("nope", [str(tmp_path), "/usr/lib/cni"])
    assert "find ipam plugin nope" in str(caught.value)
    assert str(tmp_path) in caught.value.details


def test_delegate_returns_the_plugins_result_when_it_succeeds(tmp_path):
    conf = {
        "cniVersion": "1.0.0",
        "name": "silk",
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.9.0.0/24"}]],
            "dataDir": str(tmp_path),
        },
    }
    env = {
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/none",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/usr/lib/cni",
        "CNI_ARGS": "",
    }
    result = ipam.delegate("host-local", "ADD", env, conf)
    assert result["ips"][0]["address"] == "10.9.0.2/24"
    assert ipam.delegate("host-local", "DEL", env, conf) is None
    assert not (tmp_path / "silk" / "10.9.0.2").exists()


def test_delegate_reports_the_plugins_error_when_it_fails(tmp_path):
    conf = {"cniVersion": "1.0.0", "name": "silk", "ipam": {"type": "host-local"}}
    env = {
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/none",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/usr/lib/cni",
    }
    with pytest.raises(ipam.IpamError) as caught:
        ipam.delegate("host-local", "ADD", env, conf)
    assert str(caught.value) == "run ipam plugin host-local"
    assert caught.value.details.startswith("code ")
