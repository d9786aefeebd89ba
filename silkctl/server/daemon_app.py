"""The daemon's local endpoint: this host's overlay subnet and MTU, on any path.

As in the reference, every method and path answers 200 with
`{"overlay_subnet": "10.255.30.0/24", "mtu": 1450}` (the CNI plugin asks
`GET /`, health checks `GET /health`); the exceptions are `GET /metrics`,
the daemon's metrics in Prometheus text format, `GET /openapi.json`, and
`PUT /log-level` with a level name as the body (`debug`, `info`, ...),
which changes the log level at run time (400 on an unknown level;
`GET /log-level` shows it).
The endpoint listens on 127.0.0.1 only.
"""

import json
from collections.abc import Callable

import bottle
from prometheus_client import CollectorRegistry

from silkctl.server import errors, ops
from silkctl.server.openapi import daemon_document


def make_daemon_app(
    network_info: Callable[[], dict], registry: CollectorRegistry | None = None
):
    """A WSGI app answering `network_info()` as JSON on any path."""
    app = bottle.Bottle()
    app.config["json.enable"] = False

    ops.install(app, registry)

    @app.route("/openapi.json", "GET")
    def openapi():
        bottle.response.content_type = "application/json"
        return json.dumps(daemon_document()).encode()

    @app.route("/", "ANY")
    @app.route("/<path:path>", "ANY")
    def info(path: str = ""):
        bottle.response.content_type = "application/json"
        return json.dumps(network_info()).encode()

    errors.install(app)
    return errors.RequestLog(app, "daemon")
