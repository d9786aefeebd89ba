"""HTTP servers: the WSGI runner, the controller and health Bottle apps.

`run_controller(config)` is `silkctl serve controller`: migrate the
database, then serve the lease API (mutual TLS) and `/health`, `/metrics`
and `/log-level` (plain HTTP on 127.0.0.1) until SIGTERM or SIGINT. Imports
stay inside the functions so that users of `silkctl.server.wsgi` alone do
not load the database stack.
"""

import logging
import time

log = logging.getLogger(__name__)

MIGRATE_ATTEMPTS = 5
MIGRATE_RETRY_SECONDS = 1.0


def _migrate(store, description: str) -> None:
    from silkctl import migrations
    from silkctl.errors import DatabaseError

    for attempt in range(1, MIGRATE_ATTEMPTS + 1):
        try:
            with store.session():
                migrations.migrate(store.db)
            return
        except DatabaseError as err:
            if attempt == MIGRATE_ATTEMPTS:
                raise DatabaseError(f"migrate {description}: {err}") from err
            log.warning("migrate-failed", extra={"attempt": attempt, "error": str(err)})
            time.sleep(MIGRATE_RETRY_SECONDS)


def build_controller(config):
    """(lease API server, health server), ready to start, for a validated config."""
    from silkctl import db
    from silkctl.cidr_pool import CidrPool
    from silkctl.leaser import Leaser
    from silkctl.server.controller_app import ControllerApp
    from silkctl.server.health_app import make_health_app
    from silkctl.server.metrics import ControllerMetrics, RequestMetrics
    from silkctl.server.wsgi import WsgiServer

    tls = None
    if config.plaintext:
        log.warning(
            "plaintext-enabled",
            extra={
                "detail": "the lease API serves plain HTTP without client certificates"
            },
        )
    else:
        from silkctl.certs import server_tls_context

        tls = server_tls_context(
            config.ca_cert_file, config.server_cert_file, config.server_key_file
        )
    description = db.describe(config.database)
    store = db.LeaseStore.open(
        config.database, max_lifetime=config.connections_max_lifetime_seconds
    )
    _migrate(store, description)
    pool = CidrPool(config.network, config.subnet_prefix_length)
    leaser = Leaser(store, pool, config.lease_expiration_seconds)
    metrics = ControllerMetrics(store, pool, config.staleness_threshold_seconds)
    api = WsgiServer(
        RequestMetrics(
            ControllerApp(leaser, config.staleness_threshold_seconds).wsgi, metrics
        ),
        config.listen_host,
        config.listen_port,
        tls=tls,
        threads=config.server_threads,
        name="controller",
    )
    health = WsgiServer(
        make_health_app(store, metrics),
        "127.0.0.1",
        config.health_check_port,
        threads=2,
        name="health",
    )
    log.info(
        "controller-configured",
        extra={
            "database": description,
            "network": config.network,
            "subnet_prefix_length": config.subnet_prefix_length,
            "blocks": pool.block_count,
            "single_ips": pool.single_count,
        },
    )
    return api, health


def run_controller(config) -> None:
    """Serve until SIGTERM or SIGINT; returns after a clean stop."""
    from silkctl.errors import SilkError

    api, health = build_controller(config)
    for server in (api, health):
        try:
            server.start()
        except OSError as err:
            api.stop()
            raise SilkError(
                f"listen on {server.host}:{server.port} ({server.name}): "
                f"{err.strerror or err}"
            ) from err
    log.info("controller-running", extra={"url": api.url, "health_url": health.url})
    api.serve_forever(health)
    log.info("controller-exited")
