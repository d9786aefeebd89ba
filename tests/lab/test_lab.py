"""The lab end to end: real namespaces, controller, daemons and silk-cni."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from silkctl.backends import netns
from silkctl.lab import fabric, processes
from silkctl.lab.probe import probe_all

pytestmark = pytest.mark.kernel


def silkctl(*args, check=True, timeout=240):
    done = subprocess.run(
        [sys.executable, "-m", "silkctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"silkctl {' '.join(args)} exited {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done


def assert_nothing_left(name, directory):
    assert netns.names(name + "-") == []
    assert processes.owned_by(directory) == []
    assert not os.path.exists(directory)


@pytest.fixture
def lab_name(unique):
    yield unique
    silkctl("lab", "down", "--name", unique, check=False)


def test_lab_up_connects_every_pair_when_three_hosts_on_sqlite(lab_name):
    done = silkctl(
        "lab",
        "up",
        "--hosts",
        "3",
        "--containers",
        "2",
        "--name",
        lab_name,
        "--output",
        "json",
    )
    report = json.loads(done.stdout)
    pairs = report["pairs"]
    assert report["ok"] is True
    assert len(pairs) == 30
    assert all(p["icmp"] and p["tcp"] for p in pairs)
    sources = {(p["source"], p["target"]) for p in pairs}
    assert ("h1c1", "h3c2") in sources and ("h3c2", "h1c1") in sources
    subnets = {h["overlay_subnet"] for h in report["lab"]["hosts"]}
    assert len(subnets) == 3
    assert len(report["lab"]["leases"]) == 3

    check_host_inspect(lab_name)

    directory = report["lab"]["directory"]
    down = silkctl("lab", "down", "--name", lab_name)
    assert "namespaces" in down.stdout
    assert_nothing_left(lab_name, directory)
    again = silkctl("lab", "down", "--name", lab_name)
    assert "nothing to remove" in again.stdout


def check_host_inspect(lab_name):
    """No drift on a healthy lab; the exact entry once one is removed by hand."""
    h1 = f"{lab_name}-h1"
    healthy = json.loads(silkctl("host", "inspect", "--netns", h1, "-o", "json").stdout)
    assert healthy["drift"] is False
    assert healthy["vtep"]["gbp"] is True and healthy["vtep"]["vni"] == 1
    assert len(healthy["peers"]) == 2
    assert all(p[t] == "ok" for p in healthy["peers"] for t in ("route", "arp", "fdb"))
    assert len(healthy["containers"]) == 2
    figures = healthy["metrics"]
    assert figures["peers"] == 2 and figures["converge_failure"] == 0
    assert figures["renew_failure"] == 0 and figures["seconds_since_renew"] >= 0

    state = fabric.load(lab_name)
    daemon = state.host("h1").daemon_pid
    victim = healthy["peers"][0]["overlay_subnet"]
    changed = healthy["peers"][1]["overlay_subnet"]
    neigh = ["ip", "neigh", "replace"]
    os.kill(daemon, signal.SIGSTOP)  # hold the daemon so it cannot repair first
    try:
        netns.run(h1, ["ip", "route", "del", victim])
        lladdr = ["lladdr", "ee:ee:00:00:00:01", "dev", "silk-vtep", "nud", "permanent"]
        netns.run(h1, [*neigh, changed.split("/")[0], *lladdr])
        netns.run(h1, [*neigh, "10.255.250.0", *lladdr])
        drifted = silkctl("host", "inspect", "--netns", h1, "-o", "json", check=False)
    finally:
        os.kill(daemon, signal.SIGCONT)
    assert drifted.returncode == 1
    report = json.loads(drifted.stdout)
    rows = {p["overlay_subnet"]: p for p in report["peers"]}
    assert (rows[victim]["route"], rows[victim]["arp"]) == ("missing", "ok")
    assert (rows[changed]["route"], rows[changed]["arp"]) == ("ok", "different")
    assert report["stale"] == [{"table": "arp", "entry": "arp 10.255.250.0"}]
    deadline = time.monotonic() + 10
    while silkctl("host", "inspect", "--netns", h1, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the daemon did not repair the route"
        time.sleep(0.2)

    # With the controller unanswering nothing can be compared: exit 2, not 0.
    os.kill(state.controller_pid, signal.SIGSTOP)
    try:
        unknown = silkctl("host", "inspect", "--netns", h1, check=False)
    finally:
        os.kill(state.controller_pid, signal.SIGCONT)
    assert unknown.returncode == 2
    assert "error: drift unknown: controller: GET /leases" in unknown.stderr
    assert "no drift" not in unknown.stdout


def test_lab_up_connects_every_pair_when_database_is_postgres(lab_name):
    done = silkctl(
        "lab",
        "up",
        "--hosts",
        "3",
        "--containers",
        "2",
        "--name",
        lab_name,
        "--db",
        "postgres",
        "--output",
        "json",
    )
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert len(report["pairs"]) == 30
    directory = report["lab"]["directory"]
    silkctl("lab", "down", "--name", lab_name)
    assert_nothing_left(lab_name, directory)
    import psycopg2

    conn = psycopg2.connect(
        host="/var/run/postgresql", user="postgres", dbname="postgres"
    )
    with conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"silklab_{lab_name}",)
        )
        assert cursor.fetchone() is None
    conn.close()


def kernel_state(namespace: str) -> dict:
    """The VTEP (index, MAC) and its routes, permanent neighbours and FDB entries.

    Only permanent neighbours are silk's: the kernel adds INCOMPLETE ones of
    its own when a packet takes the overlay's device route before the remote
    host's route exists, and ages them out.
    """

    def lines(*argv):
        return sorted(netns.run(namespace, list(argv)).stdout.splitlines())

    (link,) = json.loads(
        netns.run(namespace, ["ip", "-j", "link", "show", "silk-vtep"]).stdout
    )
    return {
        "vtep": (link["ifindex"], link["address"]),
        "routes": lines("ip", "route", "show", "dev", "silk-vtep"),
        "neighbours": lines(
            "ip", "neigh", "show", "dev", "silk-vtep", "nud", "permanent"
        ),
        "fdb": lines("bridge", "fdb", "show", "dev", "silk-vtep"),
        "links": lines("ip", "-br", "link"),
    }


def test_lab_keeps_data_plane_when_a_daemon_is_killed(lab_name):
    silkctl("lab", "up", "--hosts", "2", "--containers", "1", "--name", lab_name)
    state = fabric.load(lab_name)
    host = state.host("h1")
    before = kernel_state(host.netns)
    assert len(before["neighbours"]) == 1 and len(before["routes"]) == 2
    os.kill(host.daemon_pid, signal.SIGKILL)
    results = probe_all(state.containers, deadline=5)
    assert [r for r in results if not r.ok] == []

    health = fabric.restart_daemon(state, "h1")
    assert health["overlay_subnet"] == host.overlay_subnet
    results = probe_all(state.containers, deadline=5)
    assert [r for r in results if not r.ok] == []
    assert kernel_state(host.netns) == before


def test_lab_down_removes_everything_when_up_was_killed_half_way(lab_name):
    directory = fabric.lab_directory(lab_name)
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "silkctl",
            "lab",
            "up",
            "--hosts",
            "2",
            "--name",
            lab_name,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_controller_pid(directory, up)
    up.send_signal(signal.SIGKILL)
    up.wait()
    assert netns.names(lab_name + "-")  # it got far enough to leave things behind
    silkctl("lab", "down", "--name", lab_name)
    assert_nothing_left(lab_name, directory)


def test_lab_up_refuses_when_lab_already_up(lab_name):
    silkctl("lab", "up", "--hosts", "1", "--containers", "0", "--name", lab_name)
    again = silkctl("lab", "up", "--hosts", "1", "--name", lab_name, check=False)
    assert again.returncode != 0
    assert f"lab {lab_name} is already up" in again.stderr
    # The refused second `up` rolled nothing back: the first lab still runs.
    status = json.loads(
        silkctl("lab", "status", "--name", lab_name, "-o", "json").stdout
    )
    assert status["controller"]["running"] is True


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--db", "oracle"), "--db: 'oracle' is not one of sqlite, postgres, mysql"),
        (("--underlay-mtu", "99999"), "--underlay-mtu: 99999 is not in 1280-9000"),
        (("--encapsulation", "foo"), "--encapsulation: 'foo' is not one of host-gw"),
        (("--hosts", "0"), "--hosts: 0 is not in 1-200"),
        (("--containers", "-1"), "--containers: -1 is not in 0-50"),
    ],
)
def test_lab_up_refuses_bad_options_before_making_anything(lab_name, option, message):
    done = silkctl("lab", "up", "--name", lab_name, *option, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: {message}")
    assert_nothing_left(lab_name, fabric.lab_directory(lab_name))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_lab_up_rolls_back_everything_when_interrupted_half_way(lab_name, signum):
    directory = fabric.lab_directory(lab_name)
    up = subprocess.Popen(
        [sys.executable, "-m", "silkctl", "lab", "up", "--hosts", "2"]
        + ["--name", lab_name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_controller_pid(directory, up)
    up.send_signal(signum)
    _, stderr = up.communicate(timeout=60)
    assert up.returncode == 1
    assert stderr.strip().startswith(f"error: lab {lab_name} interrupted: Ctrl-C; ")
    assert "rolled back (" in stderr and "namespaces" in stderr
    assert_nothing_left(lab_name, directory)


def wait_for_controller_pid(directory, up):
    state_file = os.path.join(directory, "lab.json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise AssertionError(
                f"lab up exited {up.returncode} before its controller: "
                f"{up.stderr.read() if up.stderr else ''}"
            )
        if os.path.exists(state_file):
            with open(state_file) as handle:
                if json.load(handle).get("controller_pid"):
                    return
        time.sleep(0.05)
    raise AssertionError("lab up never started its controller")


def test_lab_commands_fail_in_one_line_when_lab_missing(unique):
    done = silkctl("lab", "status", "--name", unique, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: lab {unique} is not up (start it with "
        f"`silkctl lab up --name {unique}`)"
    )


def test_lab_up_rejects_bad_name_in_one_line():
    done = silkctl("lab", "up", "--name", "Bad-Name", check=False)
    assert done.returncode == 2
    assert "--name: 'Bad-Name' must be 1-8 lowercase letters" in done.stderr
