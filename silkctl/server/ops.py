"""Operator routes of the localhost listeners: `GET /metrics` and `/log-level`.

`GET /metrics` answers a Prometheus registry in text format. `PUT
/log-level` with a level name as the body (`debug`, `info`, `warning`,
`error`) sets the `silkctl` logger's level at run time and answers
`{"level": "debug"}`; an unknown name is a 400 `{"error": ...}`.
`GET /log-level` answers the current level.
"""

import json
import logging

import bottle
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from silkctl import logsetup
from silkctl.errors import BadRequest

log = logging.getLogger(__name__)

MAX_LEVEL_BODY = 64


def _level() -> bytes:
    name = logging.getLevelName(logging.getLogger("silkctl").getEffectiveLevel())
    bottle.response.content_type = "application/json"
    return json.dumps({"level": name.lower()}).encode()


def install(app: bottle.Bottle, registry: CollectorRegistry | None) -> None:
    """Add `/log-level` and, given a registry, `/metrics` to `app`."""
    if registry is not None:

        @app.route("/metrics", "GET")
        def metrics():
            bottle.response.content_type = CONTENT_TYPE_LATEST
            return generate_latest(registry)

    @app.route("/log-level", "GET")
    def get_level():
        return _level()

    @app.route("/log-level", "PUT")
    def put_level():
        body = bottle.request.body.read(MAX_LEVEL_BODY + 1)
        name = body.decode("utf-8", "replace").strip().strip('"')
        if len(body) > MAX_LEVEL_BODY or not name:
            raise BadRequest("log-level: body must be a level name such as debug")
        try:
            logsetup.set_level(name)
        except ValueError as err:
            raise BadRequest(f"log-level: {err}") from None
        log.warning("log-level-changed", extra={"level": name.lower()})
        return _level()
