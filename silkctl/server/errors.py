"""One error path for the Bottle apps: every failure becomes a JSON `{"error": ...}`.

`install(app)` makes Bottle's own errors (404 unknown path, 405 wrong
method with `Allow`) JSON, and wraps every route so that a `SilkError`
answers its `http_status` with its message and anything unexpected
answers 500 without a traceback (which goes to the log instead).
`RequestLog` wraps an app: one debug line per request, with a request id
that the lease events of that request carry too.
"""

import contextvars
import itertools
import json
import logging
import os
import time

import bottle

from silkctl.errors import BadRequest, SilkError

log = logging.getLogger(__name__)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default=""
)
_ids = itertools.count(1)
_ID_PREFIX = f"{os.getpid():x}"


class PayloadTooLarge(BadRequest):
    """A request body is over the size the API accepts."""

    http_status = 413


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _default_error(res: bottle.HTTPError) -> bytes:
    bottle.response.content_type = "application/json"
    return error_body(
        res.body
        if isinstance(res.body, str) and res.body
        else res.status_line.split(" ", 1)[-1].lower()
    )


def _translate(callback):
    def wrapper(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except bottle.HTTPResponse:
            raise
        except SilkError as err:
            status = err.http_status
            if status >= 500:
                log.warning(
                    "request-failed", extra={"status": status, "error": str(err)}
                )
            return _answer(status, str(err))
        except Exception as err:  # noqa: BLE001 - the API must answer JSON, not a traceback
            log.error("request-crashed", exc_info=err)
            return _answer(500, "internal server error")

    return wrapper


def _answer(status: int, message: str) -> bytes:
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return error_body(message)


def install(app: bottle.Bottle) -> bottle.Bottle:
    """Make `app` answer every error as JSON."""
    app.default_error_handler = _default_error
    app.install(_translate)
    return app


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        if rid and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


def tag_loggers(*names: str) -> None:
    """Have the named loggers' lines carry the current request id."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RequestIdFilter) for f in logger.filters):
            logger.addFilter(_RequestIdFilter())


class RequestLog:
    """WSGI middleware: a request id per request and one debug line when it is done."""

    def __init__(self, app, name: str):
        self.app = app
        self.name = name

    def __call__(self, environ, start_response):
        rid = f"{_ID_PREFIX}-{next(_ids)}"
        token = request_id.set(rid)
        try:
            if not log.isEnabledFor(logging.DEBUG):
                return self.app(environ, start_response)
            return self._logged(rid, environ, start_response)
        finally:
            request_id.reset(token)

    def _logged(self, rid, environ, start_response):
        started = time.perf_counter()
        status = ["-"]

        def _start_response(line, headers, exc_info=None):
            status[0] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        try:
            return self.app(environ, _start_response)
        finally:
            log.debug(
                "request",
                extra={
                    "server": self.name,
                    "request_id": rid,
                    "method": environ.get("REQUEST_METHOD"),
                    "path": environ.get("PATH_INFO"),
                    "status": status[0],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": environ.get("SSL_CLIENT_S_DN_CN")
                    or environ.get("REMOTE_ADDR"),
                },
            )
