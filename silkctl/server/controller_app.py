"""The controller's `/leases` routes: decode the request, call the leaser, encode.

Wire format as the reference (SPEC §1.3): bodies are JSON whatever the
Content-Type says, answers are the lease, `{}` or `{"error": ...}`. Bodies
nested too deeply, or holding NaN or an infinite number, are refused (400).
`GET /leases` carries an ETag and answers 304 to a matching If-None-Match
after one cheap query; the encoded list is kept per ETag, so unchanged
lists are not read or encoded again. `GET /leases?all=1` is for operators:
every row, expired ones too, with `last_renewed_at` and `expired`, and a
`summary` of the figures the metrics carry: `total` rows, `free` (block
pool size minus rows) and `stale` (not renewed for `stale_seconds`).
"""

import json
import math

import bottle

from silkctl.client import Lease
from silkctl.errors import BadRequest
from silkctl.leaser import Leaser
from silkctl.server import errors
from silkctl.server.openapi import controller_document

MAX_BODY = 64 * 1024
_JSON = "application/json"
_EMPTY = b"{}"
_READ_CHUNK = 16 * 1024
_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


def _read_body(environ) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        try:
            size = int(length)
        except ValueError:
            raise BadRequest(f"read-body: bad Content-Length {length!r}") from None
        if size > MAX_BODY:
            raise errors.PayloadTooLarge(f"read-body: body over {MAX_BODY} bytes")
        return stream.read(size) if size > 0 else b""
    # No length: chunked (the server has already undone the chunking) or empty.
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""
    parts, total = [], 0
    while total <= MAX_BODY:
        part = stream.read(_READ_CHUNK)
        if not part:
            break
        parts.append(part)
        total += len(part)
    if total > MAX_BODY:
        raise errors.PayloadTooLarge(f"read-body: body over {MAX_BODY} bytes")
    return b"".join(parts)


def _no_constant(name: str):
    raise BadRequest(f"unmarshal-request: {name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"unmarshal-request: number {text[:20]} out of range")
    return value


def _json_object(environ) -> dict:
    body = _read_body(environ)
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise BadRequest("unmarshal-request: body nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"unmarshal-request: {err}") from None
    if not isinstance(data, dict):
        raise BadRequest("unmarshal-request: body must be a JSON object")
    return data


def _string(data: dict, key: str) -> str:
    if key not in data:
        raise BadRequest(f"unmarshal-request: missing key {key!r}")
    value = data[key]
    if not isinstance(value, str):
        raise BadRequest(
            f"unmarshal-request: {key}: expected a string, got {json.dumps(value)[:40]}"
        )
    return value


def _flag(data: dict, key: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(
            f"unmarshal-request: {key}: expected true or false, got "
            f"{json.dumps(value)[:40]}"
        )
    return value


def _encode(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _matches(if_none_match: str, tag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    return any(
        candidate.strip().removeprefix("W/") == tag
        for candidate in if_none_match.split(",")
    )


class ControllerApp:
    """The `/leases` API over one Leaser, as a Bottle app (`.wsgi`)."""

    def __init__(self, leaser: Leaser, stale_seconds: int = 3600):
        self.leaser = leaser
        self.stale_seconds = stale_seconds
        # (ETag, encoded body) of the last full list; replaced whole, never mutated.
        self._listed: tuple[str, bytes] = ("", b"")
        app = bottle.Bottle()
        app.config["json.enable"] = False
        app.route("/leases", "GET", self.list_leases)
        app.route("/leases/acquire", "PUT", self.acquire)
        app.route("/leases/renew", "PUT", self.renew)
        app.route("/leases/release", "PUT", self.release)
        app.route("/openapi.json", "GET", self.openapi)
        errors.install(app)
        errors.tag_loggers("silkctl.leaser", "silkctl.db", "silkctl.server.errors")
        self.bottle = app
        self.wsgi = errors.RequestLog(app, "controller")

    # -- routes --------------------------------------------------------------------

    def openapi(self) -> bytes:
        bottle.response.content_type = _JSON
        return _encode(controller_document())

    def list_leases(self) -> bytes:
        show_all = bottle.request.query.get("all")
        if show_all is not None and show_all not in _TRUE + _FALSE:
            raise BadRequest(
                f"query all={show_all[:20]!r}: expected one of "
                f"{', '.join(_TRUE + _FALSE)}"
            )
        if show_all in _TRUE:
            bottle.response.content_type = _JSON
            return self._list_all()
        if_none_match = bottle.request.environ.get("HTTP_IF_NONE_MATCH")
        tag = self.leaser.routable_tag()
        if if_none_match and _matches(if_none_match, tag):
            return bottle.HTTPResponse(status=304, headers={"ETag": tag})
        cached_tag, body = self._listed
        if cached_tag != tag:
            tag, items = self.leaser.routable()
            body = _encode(
                {
                    "leases": [
                        {
                            "underlay_ip": ip,
                            "overlay_subnet": subnet,
                            "overlay_hardware_addr": mac,
                        }
                        for ip, subnet, mac in items
                    ]
                }
            )
            self._listed = (tag, body)
        bottle.response.content_type = _JSON
        bottle.response.set_header("ETag", tag)
        return body

    def _list_all(self) -> bytes:
        now, rows = self.leaser.all_leases()
        stale_before = now - self.stale_seconds
        return _encode(
            {
                "now": now,
                "lease_expiration_seconds": self.leaser.expiration,
                "summary": {
                    "total": len(rows),
                    "free": self.leaser.pool.block_count - len(rows),
                    "stale": sum(row.last_renewed_at <= stale_before for row in rows),
                },
                "leases": [
                    {
                        "underlay_ip": row.underlay_ip,
                        "overlay_subnet": row.overlay_subnet,
                        "overlay_hardware_addr": row.overlay_hwaddr,
                        "last_renewed_at": row.last_renewed_at,
                        "expired": row.expired,
                    }
                    for row in rows
                ],
            }
        )

    def acquire(self) -> bytes:
        data = _json_object(bottle.request.environ)
        lease = self.leaser.acquire(
            _string(data, "underlay_ip"), _flag(data, "single_overlay_ip")
        )
        bottle.response.content_type = _JSON
        return _encode(lease.to_json())

    def renew(self) -> bytes:
        data = _json_object(bottle.request.environ)
        lease = Lease(
            _string(data, "underlay_ip"),
            _string(data, "overlay_subnet"),
            _string(data, "overlay_hardware_addr"),
        )
        self.leaser.renew(lease)
        bottle.response.content_type = _JSON
        return _EMPTY

    def release(self) -> bytes:
        data = _json_object(bottle.request.environ)
        self.leaser.release(_string(data, "underlay_ip"))
        bottle.response.content_type = _JSON
        return _EMPTY
