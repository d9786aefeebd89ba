"""Tests of `silkctl teardown`: release the lease, delete the VTEP, optionally drain."""

import json
import subprocess

import pytest

from silkctl import datastore
from silkctl.backends import netns
from tests.fixtures.hosts import SILKCTL, VTEP, link_json, silkctl_in

pytestmark = pytest.mark.kernel


def last_line(text: str) -> str:
    """The CLI's error line (log lines come before it on stderr)."""
    return text.strip().splitlines()[-1]


def listed(controller, underlay_ip: str) -> bool:
    leases, _ = controller.client().list_leases()
    return any(lease.underlay_ip == underlay_ip for lease in leases)


def stopped_host(underlay, start_daemon, containers: int = 0):
    """A host whose daemon held a lease and stopped; its config path."""
    host = underlay.add_host(1)
    daemon = start_daemon(host)
    daemon.stop()
    for n in range(containers):
        datastore.add(daemon.config["datastore"], f"c{n}", f"10.255.0.{n + 2}")
    return host, daemon.config_path, daemon.config


def test_teardown_releases_the_lease_and_deletes_the_vtep(
    underlay, controller, start_daemon
):
    host, path, _ = stopped_host(underlay, start_daemon)
    assert listed(controller, host.underlay_ip)

    result = silkctl_in(host.netns, "teardown", "--config", str(path))

    assert result.returncode == 0, result.stderr
    assert "teardown complete" in result.stdout
    assert link_json(host.netns, VTEP) is None
    assert not listed(controller, host.underlay_ip)


def test_teardown_deletes_the_vtep_and_exits_1_when_the_release_fails(
    underlay, controller, start_daemon
):
    host, path, _ = stopped_host(underlay, start_daemon)
    controller.stop()

    result = silkctl_in(host.netns, "teardown", "--config", str(path))

    assert result.returncode == 1
    assert last_line(result.stderr).startswith("error: teardown: release lease:")
    assert link_json(host.netns, VTEP) is None


def test_teardown_reports_both_failures_when_release_and_delete_fail(
    underlay, controller, start_daemon
):
    host, path, _ = stopped_host(underlay, start_daemon)
    controller.stop()
    netns.run(host.netns, ["ip", "link", "del", VTEP])

    result = silkctl_in(host.netns, "teardown", "--config", str(path))

    assert result.returncode == 1
    last = last_line(result.stderr)
    assert last.startswith("error: teardown: release lease:")
    assert "; delete vtep silk-vtep: no such device" in last


def test_teardown_drain_changes_nothing_when_containers_remain(
    underlay, controller, start_daemon
):
    host, path, _ = stopped_host(underlay, start_daemon, containers=1)

    result = silkctl_in(
        host.netns, "teardown", "--config", str(path), "--drain", "--timeout", "0.5"
    )

    assert result.returncode == 1
    assert "1 containers still on this host" in last_line(result.stderr)
    assert link_json(host.netns, VTEP) is not None
    assert listed(controller, host.underlay_ip)


def test_teardown_drain_proceeds_when_the_last_container_leaves(
    underlay, controller, start_daemon
):
    host, path, config = stopped_host(underlay, start_daemon, containers=1)
    proc = subprocess.Popen(
        netns.command(
            host.netns,
            [
                SILKCTL,
                "-v",
                "teardown",
                "--config",
                str(path),
                "--drain",
                "--timeout",
                "30",
            ],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Its first look at the datastore finds the container and waits.
        line = proc.stderr.readline()
        while "drain-waiting" not in line and line:
            line = proc.stderr.readline()
        assert "drain-waiting" in line
        datastore.remove(config["datastore"], "c0")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, err
    assert link_json(host.netns, VTEP) is None
    assert not listed(controller, host.underlay_ip)
    assert json.loads(open(config["datastore"]).read() or "{}") == {}
