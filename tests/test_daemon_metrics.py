"""The daemon's `/metrics` and `/log-level` (silkctl/daemon.py `Metrics`,
silkctl/server/ops.py) and `silkctl host inspect` showing them: real daemons
in host namespaces, a real controller."""

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from silkctl.backends import netns
from tests.fixtures.hosts import DAEMON_PORT, silkctl_in, wait_for

pytestmark = pytest.mark.kernel


def _request(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{DAEMON_PORT}{path}", data=body, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def request_in(namespace: str, method: str, path: str, body: bytes | None = None):
    """(status, body) of a request to the daemon's endpoint, made in `namespace`."""
    return netns.call_in(namespace, _request, method, path, body)


def scrape(namespace: str) -> dict[str, float]:
    status, body = request_in(namespace, "GET", "/metrics")
    assert status == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_daemon_metrics_show_peers_renewals_and_convergence_when_two_hosts_run(
    underlay, controller, start_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    daemon = start_daemon(h1)
    start_daemon(h2)

    samples = wait_for(
        lambda: (
            (s := scrape(h1.netns))["silkctl_daemon_peers"] == 1
            and s["silkctl_daemon_renew_success_total"] >= 1
            and s
        ),
        10,
        what="daemon metrics with one peer and a renewal",
    )
    assert samples["silkctl_daemon_leases"] == 2
    assert samples["silkctl_daemon_converge_success_total"] >= 1
    assert samples["silkctl_daemon_converge_failure_total"] == 0
    assert samples["silkctl_daemon_converge_duration_seconds_count"] >= 1
    # Renewals run every 0.5 s in the test config.
    assert 0 <= samples["silkctl_daemon_seconds_since_renew"] < 5

    done = silkctl_in(
        h1.netns, "host", "inspect", "--config", str(daemon.config_path), "-o", "json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout)["metrics"]
    assert figures["renew_success"] >= 1 and figures["renew_failure"] == 0
    assert figures["converge_failure"] == 0 and figures["peers"] == 1
    assert 0 <= figures["seconds_since_renew"] < 5

    table = silkctl_in(h1.netns, "host", "inspect", "--config", str(daemon.config_path))
    assert table.returncode == 0, table.stdout + table.stderr
    assert "renewals" in table.stdout and "converge failures 0" in table.stdout
    assert samples["silkctl_daemon_uptime_seconds"] > 0

    controller.stop()
    failed = wait_for(
        lambda: (
            (s := scrape(h1.netns))["silkctl_daemon_renew_failure_total"] >= 1 and s
        ),
        10,
        what="a failed renewal counted",
    )
    assert (
        failed["silkctl_daemon_uptime_seconds"]
        > samples["silkctl_daemon_uptime_seconds"]
    )


def test_daemon_log_level_changes_at_run_time_and_rejects_an_unknown_level(
    underlay, controller, start_daemon
):
    host = underlay.add_host(1)
    start_daemon(host)

    status, body = request_in(host.netns, "GET", "/log-level")
    assert (status, json.loads(body)) == (200, {"level": "debug"})
    status, body = request_in(host.netns, "PUT", "/log-level", b"warning")
    assert (status, json.loads(body)) == (200, {"level": "warning"})
    status, body = request_in(host.netns, "PUT", "/log-level", b"loud")
    assert status == 400 and "unknown log level 'loud'" in json.loads(body)["error"]
    status, body = request_in(host.netns, "GET", "/log-level")
    assert json.loads(body) == {"level": "warning"}
