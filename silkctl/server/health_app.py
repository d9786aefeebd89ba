"""The controller's plain-HTTP `GET /health` on localhost: 200 when `SELECT 1` works."""

import bottle

from silkctl.db import LeaseStore
from silkctl.errors import DatabaseError
from silkctl.server import errors


def make_health_app(store: LeaseStore):
    """A WSGI app answering `GET /health` from a database ping."""
    app = bottle.Bottle()
    app.config["json.enable"] = False

    @app.route("/health", "GET")
    def health():
        try:
            store.ping()
        except DatabaseError as err:
            raise DatabaseError("check database failed") from err
        return b""

    errors.install(app)
    return errors.RequestLog(app, "health")
