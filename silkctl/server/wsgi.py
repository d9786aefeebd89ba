"""Runs a WSGI app on cheroot, with stdlib `ssl` for mutual TLS and clean shutdown.

`WsgiServer(app, host, port, tls=context)` binds on `start()` (port 0 picks a
free one, read back from `.port`), serves from a background thread and
stops on `stop()`. `serve_forever()` is the service entry: it blocks until
SIGTERM or SIGINT, then stops cleanly. The TLS context comes from
`silkctl.certs.server_tls_context`, which requires a client certificate.
cheroot's own answers to requests it cannot parse (bad Content-Length, bad
request line, ...) are JSON `{"error": "read-request: ..."}` like the apps'.
"""

import logging
import signal
import ssl
import threading

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from silkctl.server.errors import error_body

log = logging.getLogger(__name__)

# A client that connects but never finishes its TLS handshake holds the
# accept loop for at most this long.
HANDSHAKE_TIMEOUT = 5.0
# Idle keep-alive connections kept open; daemons poll over one each.
KEEP_ALIVE_LIMIT = 1024
LISTEN_BACKLOG = 512


class _ContextAdapter(BuiltinSSLAdapter):
    """cheroot's builtin adapter around a ready-made `ssl.SSLContext`."""

    def __init__(self, context: ssl.SSLContext):
        # The base class wants file names; the context already holds everything.
        self.certificate = self.private_key = self.certificate_chain = None
        self.ciphers = self.private_key_password = None
        self._server_env = {}
        self.context = context

    def wrap(self, sock):
        # TODO: TLS handshakes run on cheroot's accept thread, so a client that
        # stalls mid-handshake delays new connections by up to HANDSHAKE_TIMEOUT.
        sock.settimeout(HANDSHAKE_TIMEOUT)
        return super().wrap(sock)

    def get_environ(self, sock):
        # The handshake already verified the client; skip cheroot's per-connection
        # certificate parsing and keep what the apps use.
        peer = sock.getpeercert() or {}
        subject = dict(item for rdn in peer.get("subject", ()) for item in rdn)
        return {
            "wsgi.url_scheme": "https",
            "HTTPS": "on",
            "SSL_PROTOCOL": sock.version(),
            "SSL_CLIENT_VERIFY": "SUCCESS" if peer else "NONE",
            "SSL_CLIENT_S_DN_CN": subject.get("commonName", ""),
        }


class _JsonErrorRequest(cheroot_server.HTTPRequest):
    """cheroot's request whose own error answers are JSON, not plain text."""

    def simple_response(self, status, msg=""):
        status = str(status)
        if isinstance(msg, bytes):
            msg = msg.decode("iso-8859-1")
        cause = (msg or status.partition(" ")[2]).strip().rstrip(".").lower()
        body = error_body(f"read-request: {cause}")
        head = [
            f"{self.server.protocol} {status}",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ]
        if status[:3] in ("413", "414"):
            self.close_connection = True
            if self.response_protocol == "HTTP/1.1":
                head.append("Connection: close")
        head.append("\r\n")
        try:
            self.conn.wfile.write("\r\n".join(head).encode("iso-8859-1") + body)
        except OSError as err:
            if err.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise


class _JsonErrorConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _JsonErrorRequest


class _Server(wsgi.Server):
    """cheroot's server with its error log sent to `logging` instead of stderr,
    and its own error answers in JSON."""

    ConnectionClass = _JsonErrorConnection

    def error_log(self, msg="", level=logging.INFO, traceback=False):
        # Refused handshakes and dropped clients are routine: keep them at debug.
        log.debug(
            "http-server-error",
            extra={"detail": msg},
            exc_info=traceback and level >= logging.ERROR,
        )


class WsgiServer:
    """One WSGI app served on `host:port`, plain or with mutual TLS."""

    def __init__(
        self,
        app,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        threads: int = 10,
        name: str = "",
    ):
        self.name = name or "http"
        self.host = host
        self._server = _Server(
            (host, port),
            app,
            numthreads=threads,
            server_name=f"silkctl-{self.name}",
            request_queue_size=LISTEN_BACKLOG,
        )
        self._server.keep_alive_conn_limit = KEEP_ALIVE_LIMIT
        if tls is not None:
            self._server.ssl_adapter = _ContextAdapter(tls)
        self.tls = tls is not None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one once started, also when asked for 0)."""
        return self._server.bind_addr[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> "WsgiServer":
        """Bind, listen and serve from a background thread; returns once listening."""
        self._server.prepare()
        self._thread = threading.Thread(
            target=self._serve, name=f"{self.name}-server", daemon=True
        )
        self._thread.start()
        log.info("listening", extra={"server": self.name, "url": self.url})
        return self

    def _serve(self) -> None:
        try:
            self._server.serve()
        except (
            cheroot_errors.FatalSSLAlert
        ):  # pragma: no cover - raised only on stop races
            pass

    def stop(self) -> None:
        """Stop accepting, finish the requests in flight, close the socket."""
        if self._thread is None:
            return
        self._server.stop()
        self._thread.join(timeout=10)
        self._thread = None
        log.info("stopped", extra={"server": self.name})

    def serve_forever(self, *others: "WsgiServer") -> None:
        """Start this server and `others`, block until SIGTERM or SIGINT, stop all."""
        done = threading.Event()

        def _signalled(signum, _frame):
            log.info("signal-received", extra={"signal": signal.Signals(signum).name})
            done.set()

        previous = {
            sig: signal.signal(sig, _signalled)
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        servers = [self, *others]
        try:
            for server in servers:
                if server._thread is None:
                    server.start()
            while not done.wait(1.0):
                pass
        finally:
            for server in reversed(servers):
                server.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
