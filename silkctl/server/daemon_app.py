"""The daemon's local endpoint: this host's overlay subnet and MTU, on any path.

As in the reference, every method and path answers 200 with
`{"overlay_subnet": "10.255.30.0/24", "mtu": 1450}` (the CNI plugin asks
`GET /`, health checks `GET /health`); the exceptions are `GET /metrics`,
the daemon's counters in Prometheus text format, and `GET /openapi.json`.
"""

import json
from collections.abc import Callable

import bottle
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from silkctl.server import errors
from silkctl.server.openapi import daemon_document


def make_daemon_app(
    network_info: Callable[[], dict], registry: CollectorRegistry | None = None
):
    """A WSGI app answering `network_info()` as JSON on any path."""
    app = bottle.Bottle(autojson=False)

    if registry is not None:

        @app.route("/metrics", "GET")
        def metrics():
            bottle.response.content_type = CONTENT_TYPE_LATEST
            return generate_latest(registry)

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
