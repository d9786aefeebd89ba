"""Tests of silkctl/server/controller_app.py, health_app.py and errors.py, in process.

The WSGI apps are called directly (no sockets) over a real database per
backend; the process-level behaviour is in test_controller_process.py.
"""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from silkctl.cidr_pool import CidrPool
from silkctl.leaser import Leaser
from silkctl.server import errors
from silkctl.server.controller_app import MAX_BODY, ControllerApp
from silkctl.server.health_app import make_health_app
from tests.fixtures.db import TestDatabase, migrated_store, selected_backends


def call(app, method, path, body=None, headers=None):
    """(status, lower-cased headers, parsed JSON or raw bytes) of one request."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path.split("?")[0],
        "QUERY_STRING": path.partition("?")[2],
    }
    setup_testing_defaults(environ)
    raw = (
        body
        if isinstance(body, bytes)
        else (b"" if body is None else json.dumps(body).encode())
    )
    environ["wsgi.input"] = io.BytesIO(raw)
    if raw:
        environ["CONTENT_LENGTH"] = str(len(raw))
    for name, value in (headers or {}).items():
        environ[name] = value
    status = []

    def start_response(line, response_headers, exc_info=None):
        status.append(
            (int(line.split()[0]), {k.lower(): v for k, v in response_headers})
        )

    data = b"".join(app(environ, start_response))
    code, response_headers = status[0]
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data
    return code, response_headers, parsed


@pytest.fixture(scope="module", params=selected_backends())
def shared_store(request, tmp_path_factory):
    """One database per backend for the whole module: the tests below clean up."""
    database = TestDatabase(request.param, tmp_path_factory.mktemp("db"))
    store = migrated_store(database.url)
    yield store
    store.close()
    database.drop()


@pytest.fixture
def api(shared_store):
    app = ControllerApp(Leaser(shared_store, CidrPool("10.255.0.0/16", 24), 60))
    yield app.wsgi
    with shared_store.session(), shared_store.write():
        shared_store.db.execute_sql("DELETE FROM leases")
        shared_store.bump()


def snapshot(store):
    with store.session():
        return store.routable_tag(60), store.all_rows(60)[1]


def test_acquire_answers_the_lease_json(api):
    status, headers, body = call(
        api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"}
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert set(body) == {"underlay_ip", "overlay_subnet", "overlay_hardware_addr"}


def test_acquire_reads_json_whatever_the_content_type_says(api):
    form = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    status, _, body = call(
        api,
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip":"10.0.0.2","single_overlay_ip":true}',
        form,
    )
    assert status == 200 and body["overlay_subnet"].endswith("/32")
    status, _, _ = call(
        api,
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip":"10.0.0.3"}',
        {"CONTENT_TYPE": ""},
    )
    assert status == 200


def test_renew_and_release_answer_empty_objects(api):
    _, _, lease = call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"})
    assert call(api, "PUT", "/leases/renew", lease)[:3:2] == (200, {})
    assert call(api, "PUT", "/leases/release", {"underlay_ip": "10.0.0.1"})[:3:2] == (
        200,
        {},
    )
    assert call(api, "PUT", "/leases/release", {"underlay_ip": "10.0.0.1"})[:3:2] == (
        200,
        {},
    )


def test_list_leases_is_the_reference_shape(api):
    assert call(api, "GET", "/leases")[2] == {"leases": []}
    _, _, lease = call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"})
    assert call(api, "GET", "/leases")[2] == {"leases": [lease]}


def test_list_leases_all_adds_renewal_time_and_expiry_for_operators(api):
    call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"})
    status, headers, body = call(api, "GET", "/leases?all=1")
    assert status == 200 and "etag" not in headers
    (item,) = body["leases"]
    assert item["expired"] is False
    assert abs(item["last_renewed_at"] - body["now"]) <= 1


def test_list_leases_etag_answers_304_until_the_set_changes(api):
    status, headers, _ = call(api, "GET", "/leases")
    tag = headers["etag"]
    status, headers, body = call(
        api, "GET", "/leases", headers={"HTTP_IF_NONE_MATCH": tag}
    )
    assert (status, headers["etag"], body) == (304, tag, None)
    assert (
        call(api, "GET", "/leases", headers={"HTTP_IF_NONE_MATCH": f'"x", W/{tag}'})[0]
        == 304
    )
    call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"})
    status, headers, body = call(
        api, "GET", "/leases", headers={"HTTP_IF_NONE_MATCH": tag}
    )
    assert status == 200 and headers["etag"] != tag and len(body["leases"]) == 1


def test_list_leases_304_reads_no_lease_rows(api, shared_store, monkeypatch):
    _, headers, _ = call(api, "GET", "/leases")

    def no_rows(*args, **kwargs):
        raise AssertionError("lease rows were read")

    monkeypatch.setattr(shared_store, "routable", no_rows)
    monkeypatch.setattr(shared_store, "all_rows", no_rows)
    assert (
        call(api, "GET", "/leases", headers={"HTTP_IF_NONE_MATCH": headers["etag"]})[0]
        == 304
    )
    # An unchanged list is served from the encoded copy too.
    assert call(api, "GET", "/leases")[0] == 200


def _renew(underlay="10.0.0.2", subnet="10.255.1.0/24", mac="ee:ee:0a:ff:01:00"):
    return json.dumps(
        {
            "underlay_ip": underlay,
            "overlay_subnet": subnet,
            "overlay_hardware_addr": mac,
        }
    ).encode()


UNMARSHAL = "unmarshal-request: "
TOO_DEEP = UNMARSHAL + "body nested too deeply"
BAD_REQUESTS = [
    (
        "PUT",
        "/leases/acquire",
        b"{not json",
        400,
        UNMARSHAL
        + "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    (
        "PUT",
        "/leases/acquire",
        b"",
        400,
        UNMARSHAL + "Expecting value: line 1 column 1 (char 0)",
    ),
    (
        "PUT",
        "/leases/acquire",
        b"[1, 2]",
        400,
        UNMARSHAL + "body must be a JSON object",
    ),
    (
        "PUT",
        "/leases/acquire",
        b"\xff\xfe",
        400,
        UNMARSHAL + "Expecting value: line 1 column 1 (char 0)",
    ),
    ("PUT", "/leases/acquire", b"{}", 400, UNMARSHAL + "missing key 'underlay_ip'"),
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": 10}',
        400,
        UNMARSHAL + "underlay_ip: expected a string, got 10",
    ),
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": "fe80::1"}',
        400,
        "invalid ipv4 address: fe80::1",
    ),
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": "10.0.0.1", "single_overlay_ip": "yes"}',
        400,
        UNMARSHAL + 'single_overlay_ip: expected true or false, got "yes"',
    ),
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": "10.0.0.1", "single_overlay_ip": 1}',
        400,
        UNMARSHAL + "single_overlay_ip: expected true or false, got 1",
    ),
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": "<script>\\"x"}',
        400,
        'invalid ipv4 address: <script>"x',
    ),
    # Nesting that would exhaust the decoder's recursion, under the size limit.
    ("PUT", "/leases/acquire", b"[" * 30_000, 400, TOO_DEEP),
    ("PUT", "/leases/release", b'{"a":' * 10_000, 400, TOO_DEEP),
    ("PUT", "/leases/renew", b'{"a":[' * 5_000, 400, TOO_DEEP),
    # NaN and infinities are not JSON, wherever they appear.
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": "10.0.0.1", "single_overlay_ip": NaN}',
        400,
        UNMARSHAL + "NaN is not valid JSON",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew()[:-1] + b', "x": NaN}',
        400,
        UNMARSHAL + "NaN is not valid JSON",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew()[:-1] + b', "x": -Infinity}',
        400,
        UNMARSHAL + "-Infinity is not valid JSON",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew()[:-1] + b', "x": 1e999}',
        400,
        UNMARSHAL + "number 1e999 out of range",
    ),
    # A host's underlay address is a unicast one.
    *(
        (
            "PUT",
            "/leases/acquire",
            json.dumps({"underlay_ip": ip}).encode(),
            400,
            f"invalid underlay_ip {ip}: {reason}",
        )
        for ip, reason in [
            ("0.0.0.0", "unspecified address"),
            ("0.1.2.3", "this-network address (0.0.0.0/8)"),
            ("127.0.0.1", "loopback address"),
            ("224.0.0.1", "multicast address"),
            ("240.0.0.1", "reserved address (240.0.0.0/4)"),
            ("255.255.255.255", "broadcast address"),
        ]
    ),
    # Release refuses such an address too (400, not an idempotent {}), as acquire does.
    (
        "PUT",
        "/leases/release",
        b'{"underlay_ip": "127.0.0.1"}',
        400,
        "invalid underlay_ip 127.0.0.1: loopback address",
    ),
    # Renew answers its validation failures 409, non-retriable (SPEC 1.7).
    (
        "PUT",
        "/leases/renew",
        _renew(underlay="224.0.0.1"),
        409,
        "renew-subnet-lease: invalid underlay_ip '224.0.0.1': multicast address",
    ),
    (
        "PUT",
        "/leases/renew",
        b'{"underlay_ip": "10.0.0.1"}',
        400,
        UNMARSHAL + "missing key 'overlay_subnet'",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew(subnet=24),
        400,
        UNMARSHAL + "overlay_subnet: expected a string, got 24",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew(subnet="10.255.1.0/33"),
        409,
        "renew-subnet-lease: invalid overlay_subnet '10.255.1.0/33': "
        "'33' is not a valid netmask",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew(subnet="10.255.0.0/99"),
        409,
        "renew-subnet-lease: invalid overlay_subnet '10.255.0.0/99': "
        "'99' is not a valid netmask",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew(mac="ee:ee:0a:ff:01"),
        409,
        "renew-subnet-lease: invalid overlay_hardware_addr 'ee:ee:0a:ff:01'",
    ),
    (
        "PUT",
        "/leases/renew",
        _renew(underlay="x"),
        409,
        "renew-subnet-lease: invalid underlay_ip 'x': expected 4 octets in 'x'",
    ),
    (
        "PUT",
        "/leases/release",
        b'{"underlay_ip": null}',
        400,
        UNMARSHAL + "underlay_ip: expected a string, got null",
    ),
    (
        "PUT",
        "/leases/release",
        b'{"underlay_ip": "300.1.1.1"}',
        400,
        "invalid ipv4 address: 300.1.1.1",
    ),
    (
        "PUT",
        "/leases/acquire",
        b'{"underlay_ip": "' + b"1" * MAX_BODY + b'"}',
        413,
        f"read-body: body over {MAX_BODY} bytes",
    ),
    (
        "POST",
        "/leases/acquire",
        b'{"underlay_ip": "10.0.0.1"}',
        405,
        "Method not allowed.",
    ),
    ("DELETE", "/leases", None, 405, "Method not allowed."),
    ("GET", "/leases/nope", None, 404, "Not found: '/leases/nope'"),
    ("GET", "/", None, 404, "Not found: '/'"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    BAD_REQUESTS,
    ids=[f"{m} {p} {s} {msg[-40:]}" for m, p, _, s, msg in BAD_REQUESTS],
)
def test_bad_request_gets_a_json_error_and_changes_nothing(
    api, shared_store, method, path, body, status, message
):
    call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"})
    before = snapshot(shared_store)
    code, headers, answer = call(api, method, path, body)
    assert (code, answer) == (status, {"error": message})
    assert headers["content-type"] == "application/json"
    assert snapshot(shared_store) == before


def test_wrong_method_lists_the_allowed_ones(api):
    _, headers, _ = call(api, "GET", "/leases/renew")
    assert headers["allow"] == "PUT"


def test_body_over_the_limit_is_refused_before_reading(api):
    status, _, answer = call(
        api, "PUT", "/leases/acquire", b"{}", {"CONTENT_LENGTH": str(MAX_BODY + 1)}
    )
    assert status == 413 and "body over" in answer["error"]


def test_chunked_body_is_read(api):
    body = b'{"underlay_ip": "10.0.0.5"}'
    status, _, answer = call(
        api,
        "PUT",
        "/leases/acquire",
        body,
        {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""},
    )
    assert status == 200 and answer["underlay_ip"] == "10.0.0.5"


def test_unexpected_failure_is_a_500_without_traceback(
    api, shared_store, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(shared_store, "get", broken)
    status, _, answer = call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.1"})
    assert (status, answer) == (500, {"error": "internal server error"})


def test_request_ids_reach_the_lease_event_log(api, caplog):
    caplog.set_level("DEBUG", logger="silkctl")
    call(api, "PUT", "/leases/acquire", {"underlay_ip": "10.0.0.9"})
    acquired = [r for r in caplog.records if r.getMessage() == "lease-acquired"]
    request = [r for r in caplog.records if r.getMessage() == "request"]
    assert acquired and request
    assert acquired[0].request_id == request[-1].request_id


def test_health_answers_200_while_the_database_answers(shared_store):
    app = make_health_app(shared_store)
    assert call(app, "GET", "/health")[0] == 200
    assert call(app, "GET", "/nope")[0] == 404


def test_health_answers_500_when_the_database_fails(shared_store, monkeypatch):
    from silkctl.errors import DatabaseError

    def down():
        raise DatabaseError("database: gone")

    monkeypatch.setattr(shared_store, "ping", down)
    status, _, answer = call(make_health_app(shared_store), "GET", "/health")
    assert (status, answer) == (500, {"error": "check database failed"})


def test_error_body_is_escaped_json():
    assert json.loads(errors.error_body('a "quoted"\nline')) == {
        "error": 'a "quoted"\nline'
    }
