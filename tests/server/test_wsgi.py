"""Tests of silkctl/server/wsgi.py: binding, mutual TLS, stopping."""

import http.client
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


def test_wsgi_server_stop_is_idempotent():
    server = WsgiServer(hello, "127.0.0.1", 0).start()
    server.stop()
    server.stop()
