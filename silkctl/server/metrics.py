"""The controller's Prometheus metrics (SPEC §1.9), on a registry of its own.

Lease figures are read at scrape time in one aggregate query:
`silkctl_controller_leases` (every row), `..._leases_free` (block pool
size minus rows, as the reference counts it) and `..._leases_stale` (not
renewed for `staleness_threshold_seconds`). `RequestMetrics` wraps the
lease API: requests and latency by route and status, and HTTP errors.
The database reports every statement (count, failures, duration) and its
open connections. Each app gets its own `CollectorRegistry`, so several
controllers can live in one process (tests).
"""

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from silkctl.cidr_pool import CidrPool
from silkctl.db import LeaseStore
from silkctl.errors import DatabaseError

log = logging.getLogger(__name__)

ROUTES = ("/leases", "/leases/acquire", "/leases/renew", "/leases/release", "/health")
OTHER = "other"
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


class LeaseCollector:
    """Lease totals, free and stale leases, computed from the database per scrape."""

    def __init__(self, store: LeaseStore, pool: CidrPool, stale_seconds: int):
        self.store = store
        self.pool = pool
        self.stale_seconds = stale_seconds

    def collect(self):
        try:
            with self.store.session() as store:
                total, stale = store.counts(self.stale_seconds)
        except DatabaseError as err:
            log.warning("metrics-lease-count-failed", extra={"error": str(err)})
            return
        for name, doc, value in (
            ("silkctl_controller_leases", "Lease rows of every kind.", total),
            (
                "silkctl_controller_leases_free",
                "Block pool size minus lease rows.",
                self.pool.block_count - total,
            ),
            (
                "silkctl_controller_leases_stale",
                "Leases not renewed within staleness_threshold_seconds.",
                stale,
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class ControllerMetrics:
    """Every metric of one controller; `.registry` is what `/metrics` serves."""

    def __init__(self, store: LeaseStore, pool: CidrPool, stale_seconds: int):
        self.registry = registry = CollectorRegistry()
        self.started = time.monotonic()
        registry.register(LeaseCollector(store, pool, stale_seconds))
        Gauge(
            "silkctl_controller_uptime_seconds",
            "Seconds since the controller started.",
            registry=registry,
        ).set_function(lambda: time.monotonic() - self.started)
        self.requests = Counter(
            "silkctl_controller_requests",
            "HTTP requests by route and status.",
            ("route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "silkctl_controller_request_duration_seconds",
            "HTTP request latency by route and status.",
            ("route", "status"),
            registry=registry,
        )
        self.http_errors = Counter(
            "silkctl_controller_http_errors",
            "HTTP responses with a status of 400 or more.",
            ("status",),
            registry=registry,
        )
        self.db_queries = Counter(
            "silkctl_controller_db_queries",
            "SQL statements run.",
            registry=registry,
        )
        self.db_failures = Counter(
            "silkctl_controller_db_query_failures",
            "SQL statements that failed.",
            registry=registry,
        )
        self.db_duration = Histogram(
            "silkctl_controller_db_query_duration_seconds",
            "SQL statement duration.",
            buckets=QUERY_BUCKETS,
            registry=registry,
        )
        Gauge(
            "silkctl_controller_db_connections",
            "Open database connections.",
            registry=registry,
        ).set_function(lambda: store.db.open_connections)
        store.db.observer = self.observe_query

    def observe_query(self, seconds: float, ok: bool) -> None:
        self.db_queries.inc()
        if not ok:
            self.db_failures.inc()
        self.db_duration.observe(seconds)

    def observe_request(self, route: str, status: str, seconds: float) -> None:
        self.requests.labels(route, status).inc()
        self.latency.labels(route, status).observe(seconds)
        if status.isdigit() and int(status) >= 400:
            self.http_errors.labels(status).inc()


class RequestMetrics:
    """WSGI middleware: each request's route, status and latency into `metrics`."""

    def __init__(self, app, metrics: ControllerMetrics):
        self.app = app
        self.metrics = metrics

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        route = path if path in ROUTES else OTHER
        status = ["500"]

        def _start_response(line, headers, exc_info=None):
            status[0] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        try:
            return self.app(environ, _start_response)
        finally:
            self.metrics.observe_request(
                route, status[0], time.perf_counter() - started
            )
