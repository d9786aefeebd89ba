"""Tests of silkctl/server/metrics.py and ops.py: the controller's `/metrics` and
`/log-level` on its health listener, against a running controller process."""

import http.client
import json
import time

from prometheus_client.parser import text_string_to_metric_families

from silkctl.cidr_pool import CidrPool
from silkctl.server.metrics import ControllerMetrics
from tests.fixtures.db import migrated_store


def request(ctl, method: str, path: str, body: bytes | None = None):
    """(status, body) of one request to the controller's health listener."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", ctl.config["health_check_port"], timeout=10
    )
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(ctl) -> dict:
    """{(sample name, frozenset of labels): value} of the controller's /metrics."""
    status, body = request(ctl, "GET", "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_total_free_and_stale_leases_and_requests(
    lease_controller_factory,
):
    ctl = lease_controller_factory(staleness_threshold_seconds=3)
    client = ctl.client()
    kept = client.acquire("10.0.0.1")
    client.acquire("10.0.0.2")
    client.acquire("10.0.0.3", single_overlay_ip=True)
    time.sleep(3.5)
    client.renew(kept)
    client.list_leases()

    samples = scrape(ctl)
    assert value(samples, "silkctl_controller_leases") == 3
    # 255 blocks in 10.255.0.0/16 with /24; the single-IP row counts too (as
    # the reference counts it).
    assert value(samples, "silkctl_controller_leases_free") == 255 - 3
    assert value(samples, "silkctl_controller_leases_stale") == 2
    acquire = {"route": "/leases/acquire", "status": "200"}
    assert value(samples, "silkctl_controller_requests_total", **acquire) == 3
    assert (
        value(samples, "silkctl_controller_request_duration_seconds_count", **acquire)
        == 3
    )
    renew = {"route": "/leases/renew", "status": "200"}
    assert value(samples, "silkctl_controller_requests_total", **renew) == 1
    assert (
        value(
            samples, "silkctl_controller_requests_total", route="/leases", status="200"
        )
        == 1
    )
    assert value(samples, "silkctl_controller_db_queries_total") > 0
    assert value(samples, "silkctl_controller_db_query_duration_seconds_count") > 0
    assert value(samples, "silkctl_controller_db_connections") >= 1
    assert value(samples, "silkctl_controller_uptime_seconds") > 0


def test_metrics_count_http_errors_by_status(lease_controller):
    client = lease_controller.client()
    try:
        client.release("not-an-ip")
    except Exception:  # noqa: BLE001 - the 400 is what we want to count
        pass
    samples = scrape(lease_controller)
    assert value(samples, "silkctl_controller_http_errors_total", status="400") == 1
    assert (
        value(
            samples,
            "silkctl_controller_requests_total",
            route="/leases/release",
            status="400",
        )
        == 1
    )


def test_log_level_changes_at_run_time_and_rejects_an_unknown_level(lease_controller):
    client = lease_controller.client()
    assert json.loads(request(lease_controller, "GET", "/log-level")[1]) == {
        "level": "info"
    }
    client.acquire("10.0.0.1")
    assert "debug silkctl.server.errors request" not in lease_controller.log()

    status, body = request(lease_controller, "PUT", "/log-level", b"debug")
    assert (status, json.loads(body)) == (200, {"level": "debug"})
    client.acquire("10.0.0.1")
    deadline = time.monotonic() + 5
    while "debug silkctl.server.errors request" not in lease_controller.log():
        assert time.monotonic() < deadline, lease_controller.log()[-2000:]
        time.sleep(0.05)

    status, body = request(lease_controller, "PUT", "/log-level", b"chatty")
    assert status == 400
    assert "unknown log level 'chatty'" in json.loads(body)["error"]
    status, body = request(lease_controller, "PUT", "/log-level", b"")
    assert status == 400
    assert json.loads(request(lease_controller, "GET", "/log-level")[1]) == {
        "level": "debug"
    }


def test_metrics_registries_are_per_app_so_two_live_in_one_process(tmp_path):
    stores = [migrated_store(f"sqlite:///{tmp_path}/{n}.db") for n in ("a", "b")]
    try:
        pool = CidrPool("10.255.0.0/16", 24)
        first, second = (ControllerMetrics(store, pool, 60) for store in stores)
        first.observe_request("/leases", "200", 0.01)
        assert (
            first.registry.get_sample_value(
                "silkctl_controller_requests_total",
                {"route": "/leases", "status": "200"},
            )
            == 1
        )
        assert (
            second.registry.get_sample_value(
                "silkctl_controller_requests_total",
                {"route": "/leases", "status": "200"},
            )
            is None
        )
        assert second.registry.get_sample_value("silkctl_controller_leases") == 0
    finally:
        for store in stores:
            store.close()
