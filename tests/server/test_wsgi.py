"""Tests of silkctl/server/wsgi.py: binding, mutual TLS, stopping."""

import http.client
import json
import socket
import ssl

import pytest

from silkctl import certs
from silkctl.client import client_tls_context
from silkctl.server.wsgi import WsgiServer


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"cn": "%s"}' % environ.get("SSL_CLIENT_S_DN_CN", "").encode()]


@pytest.fixture
def tls_server(certs_dir):
    context = certs.server_tls_context(
        certs_dir.ca_cert, certs_dir.server_cert, certs_dir.server_key
    )
    server = WsgiServer(
        hello, "127.0.0.1", 0, tls=context, threads=2, name="test"
    ).start()
    yield server
    server.stop()


def _get(port, context):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_wsgi_server_port_zero_picks_a_free_port_and_serves():
    server = WsgiServer(hello, "127.0.0.1", 0, threads=2).start()
    try:
        assert server.port > 0
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def test_wsgi_server_accepts_a_client_certificate_from_its_ca(tls_server, certs_dir):
    context = client_tls_context(
        certs_dir.ca_cert, certs_dir.client_cert, certs_dir.client_key
    )
    assert _get(tls_server.port, context) == (200, b'{"cn": "silk-daemon"}')


def test_wsgi_server_refuses_a_client_without_certificate(tls_server, certs_dir):
    context = ssl.create_default_context(cafile=certs_dir.ca_cert)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(tls_server.port, context)


def test_wsgi_server_refuses_a_certificate_from_another_ca(
    tls_server, certs_dir, foreign_certs
):
    context = ssl.create_default_context(cafile=certs_dir.ca_cert)
    context.load_cert_chain(foreign_certs.client_cert, foreign_certs.client_key)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(tls_server.port, context)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_wsgi_server_refuses_tls_older_than_1_2(tls_server, certs_dir):
    context = client_tls_context(
        certs_dir.ca_cert, certs_dir.client_cert, certs_dir.client_key
    )
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(tls_server.port, context)


def _raw(port, request: bytes, context=None) -> http.client.HTTPResponse:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    sock.sendall(request)
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.body = response.read()
    sock.close()
    return response


BAD_LENGTH = b"PUT /leases/acquire HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"


def _assert_json_error(response, status: int, error: str) -> None:
    assert response.status == status
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.body) == {"error": error}


def test_wsgi_server_answers_json_when_content_length_is_malformed():
    # The plain-HTTP listener: the controller's health and metrics port.
    server = WsgiServer(hello, "127.0.0.1", 0, threads=2).start()
    try:
        _assert_json_error(
            _raw(server.port, BAD_LENGTH),
            400,
            "read-request: malformed content-length header",
        )
        _assert_json_error(
            _raw(server.port, b"NONSENSE\r\n\r\n"),
            400,
            "read-request: malformed request-line",
        )
    finally:
        server.stop()


def test_wsgi_server_answers_json_over_tls_when_content_length_is_malformed(
    tls_server, certs_dir
):
    context = client_tls_context(
        certs_dir.ca_cert, certs_dir.client_cert, certs_dir.client_key
    )
    _assert_json_error(
        _raw(tls_server.port, BAD_LENGTH, context),
        400,
        "read-request: malformed content-length header",
    )


def test_wsgi_server_stop_is_idempotent():
    server = WsgiServer(hello, "127.0.0.1", 0).start()
    server.stop()
    server.stop()
