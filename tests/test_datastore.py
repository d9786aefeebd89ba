"""The container datastore: flock-protected JSON shared by the CNI plugin and daemon."""

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from silkctl import datastore
from silkctl.datastore import DatastoreConflict, DatastoreError


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "silk" / "store.json")


def test_read_all_returns_empty_when_file_is_missing_or_empty(path, tmp_path):
    assert datastore.read_all(path) == {}
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert datastore.read_all(str(empty)) == {}


def test_add_writes_a_record_with_its_fields_when_new(path):
    record = datastore.add(
        path, "c1", "10.255.30.2", ifname="eth0", netns="/run/netns/a"
    )
    assert record == {
        "handle": "c1",
        "ip": "10.255.30.2",
        "metadata": None,
        "ifname": "eth0",
        "netns": "/run/netns/a",
    }
    assert datastore.read_all(path) == {"c1": record}
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == {"c1": record}


def test_add_creates_private_file_and_directory(path):
    datastore.add(path, "c1", "10.255.30.2")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_add_replaces_the_record_unless_told_not_to(path):
    datastore.add(path, "c1", "10.255.30.2")
    datastore.add(path, "c1", "10.255.30.3")
    assert datastore.read_all(path)["c1"]["ip"] == "10.255.30.3"
    with pytest.raises(DatastoreConflict, match="c1 already has a record"):
        datastore.add(path, "c1", "10.255.30.4", replace=False)
    assert datastore.read_all(path)["c1"]["ip"] == "10.255.30.3"


@pytest.mark.parametrize(
    "handle, ip, text",
    [
        ("", "10.0.0.1", "handle must not be empty"),
        ("c1", "not-an-ip", "invalid ip 'not-an-ip'"),
    ],
)
def test_add_raises_when_handle_or_ip_is_invalid(path, handle, ip, text):
    with pytest.raises(DatastoreError, match=text):
        datastore.add(path, handle, ip)


def test_remove_returns_the_record_and_none_when_unknown(path):
    datastore.add(path, "c1", "10.255.30.2")
    datastore.add(path, "c2", "10.255.30.3")
    assert datastore.remove(path, "c1")["ip"] == "10.255.30.2"
    assert datastore.remove(path, "c1") is None
    assert list(datastore.read_all(path)) == ["c2"]
    assert datastore.remove(path + ".missing", "c1") is None


@pytest.mark.parametrize(
    "text, error",
    [
        ("{not json", "decode datastore"),
        ("[1, 2]", "top level is not an object"),
    ],
)
def test_read_all_raises_when_file_is_corrupt(tmp_path, text, error):
    corrupt = tmp_path / "store.json"
    corrupt.write_text(text)
    with pytest.raises(DatastoreError, match=error):
        datastore.read_all(str(corrupt))
    with pytest.raises(DatastoreError, match=error):
        datastore.add(str(corrupt), "c1", "10.0.0.1")
    assert corrupt.read_text() == text


def test_add_raises_open_error_when_parent_is_a_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(DatastoreError, match="open datastore"):
        datastore.add(str(blocker / "store.json"), "c1", "10.0.0.1")


def test_concurrent_adds_and_removes_lose_nothing_when_threads_and_processes_race(path):
    code = (
        "import sys; from silkctl import datastore\n"
        "for n in range(30):\n"
        "    datastore.add(sys.argv[1], f'p{sys.argv[2]}-{n}', '10.0.0.1')"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, path, str(n)]) for n in range(3)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: datastore.add(path, f"t{n}", "10.0.0.2"), range(40)))
        list(pool.map(lambda n: datastore.remove(path, f"t{n}"), range(0, 40, 2)))
    assert [proc.wait(60) for proc in procs] == [0, 0, 0]
    records = datastore.read_all(path)
    assert len(records) == 90 + 20
    assert {f"t{n}" for n in range(1, 40, 2)} <= set(records)
