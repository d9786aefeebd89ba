"""The controller's plain-HTTP listener on localhost, for operators.

`GET /health` is 200 when `SELECT 1` works. `GET /metrics` is the
controller's Prometheus metrics (`silkctl.server.metrics`). `PUT /log-level`
with a body such as `debug` changes the log level at run time (400 on an
unknown level); `GET /log-level` shows it (`silkctl.server.ops`).
"""

import bottle

from silkctl.db import LeaseStore
from silkctl.errors import DatabaseError
from silkctl.server import errors, ops


def make_health_app(store: LeaseStore, metrics=None):
    """A WSGI app answering `/health`, `/log-level` and, given a
    `ControllerMetrics`, `/metrics`."""
    app = bottle.Bottle()
    app.config["json.enable"] = False

    @app.route("/health", "GET")
    def health():
        try:
            store.ping()
        except DatabaseError as err:
            raise DatabaseError("check database failed") from err
        return b""

    ops.install(app, metrics.registry if metrics is not None else None)
    errors.install(app)
    wsgi = errors.RequestLog(app, "health")
    if metrics is not None:
        from silkctl.server.metrics import RequestMetrics

        wsgi = RequestMetrics(wsgi, metrics)
    return wsgi
