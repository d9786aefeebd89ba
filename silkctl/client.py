"""HTTP client of the lease controller, over mutual TLS, with keep-alive.

Used by the daemon, `silkctl teardown` and the `silkctl lease` commands.
Every failure becomes a `ControllerError` carrying the HTTP status (None
when no answer came); a 409 is a `NonRetriable`, so the daemon knows that
retrying cannot help.
"""

import http.client
import json
import logging
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from silkctl.errors import ConfigError, ControllerError, NonRetriable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """One host's lease, with the reference's JSON keys."""

    underlay_ip: str
    overlay_subnet: str
    overlay_hardware_addr: str

    @classmethod
    def from_json(cls, data: dict) -> "Lease":
        return cls(
            data["underlay_ip"], data["overlay_subnet"], data["overlay_hardware_addr"]
        )

    def to_json(self) -> dict:
        return {
            "underlay_ip": self.underlay_ip,
            "overlay_subnet": self.overlay_subnet,
            "overlay_hardware_addr": self.overlay_hardware_addr,
        }


def client_tls_context(
    ca_cert_file: str, cert_file: str, key_file: str
) -> ssl.SSLContext:
    """TLS ≥ 1.2 context that trusts `ca_cert_file` and presents our certificate."""
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=ca_cert_file
        )
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"load CA certificate {ca_cert_file}: {err}") from err
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"load client certificate {cert_file} and key {key_file}: {err}"
        ) from err
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ControllerClient:
    """Talks to `/leases*` on one controller URL; safe to share between threads."""

    def __init__(
        self, url: str, tls: ssl.SSLContext | None = None, timeout: float = 5.0
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"controller url {url!r}: expected https://host:port")
        if parts.scheme == "https" and tls is None:
            raise ConfigError("controller url is https:// but no TLS files were given")
        self.url = url
        self._scheme = parts.scheme
        self._host = parts.hostname
        try:
            port = parts.port
        except ValueError as err:
            raise ConfigError(f"controller url {url!r}: {err}") from err
        self._port = port or (443 if parts.scheme == "https" else 80)
        self._tls = tls
        self._timeout = timeout
        self._local = threading.local()

    @classmethod
    def from_config(cls, config) -> "ControllerClient":
        """Build from a DaemonConfig-like object (URL, TLS files, timeout)."""
        tls = None
        if config.connectivity_server_url.startswith("https://"):
            tls = client_tls_context(
                config.ca_cert_file, config.client_cert_file, config.client_key_file
            )
        return cls(config.connectivity_server_url, tls, config.client_timeout_seconds)

    # -- the four lease routes -------------------------------------------------

    def acquire(self, underlay_ip: str, single_overlay_ip: bool = False) -> Lease:
        body = {"underlay_ip": underlay_ip, "single_overlay_ip": single_overlay_ip}
        _, data, _ = self._request("PUT", "/leases/acquire", body)
        return Lease.from_json(data)

    def renew(self, lease: Lease) -> None:
        self._request("PUT", "/leases/renew", lease.to_json())

    def release(self, underlay_ip: str) -> None:
        self._request("PUT", "/leases/release", {"underlay_ip": underlay_ip})

    def list_leases(
        self, etag: str | None = None
    ) -> tuple[list[Lease] | None, str | None]:
        """All routable leases and the list's ETag; (None, etag) when unchanged."""
        headers = {"If-None-Match": etag} if etag else {}
        status, data, response_headers = self._request("GET", "/leases", None, headers)
        if status == 304:
            return None, etag
        leases = [Lease.from_json(item) for item in data["leases"]]
        # Header names are case-insensitive (Bottle sends "Etag").
        tags = [v for k, v in response_headers.items() if k.lower() == "etag"]
        return leases, tags[0] if tags else None

    def list_raw(self) -> dict:
        """`GET /leases` as the controller sent it (for the operator commands)."""
        return self._request("GET", "/leases", None)[1]

    def list_all(self) -> dict:
        """`GET /leases?all=1`: every lease, expired ones too, each with
        `last_renewed_at` and `expired`, plus the controller's `now` (operators)."""
        return self._request("GET", "/leases?all=1", None)[1]

    # -- transport -------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._tls
                )
            else:
                conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _request(self, method: str, path: str, body, headers=None):
        payload = None if body is None else json.dumps(body).encode()
        send_headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, payload, send_headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
            ) as err:
                # A kept-alive connection the server closed: reconnect once.
                self.close()
                if attempt == 2:
                    raise ControllerError(f"{method} {path}: {err}") from err
            except (OSError, http.client.HTTPException) as err:
                self.close()
                reason = (
                    getattr(err, "strerror", None) or str(err) or type(err).__name__
                )
                raise ControllerError(f"{method} {path}: {self.url}: {reason}") from err
        return self._decode(method, path, response, raw)

    def _decode(self, method, path, response, raw):
        status = response.status
        if status == 304:
            return status, None, dict(response.getheaders())
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"error": raw.decode(errors="replace")[:200]}
        if status > 299:
            reason = data.get("error") if isinstance(data, dict) else None
            message = f"{method} {path}: http status {status}: {reason or raw[:200]!r}"
            if status == 409:
                raise NonRetriable(message)
            raise ControllerError(message, status)
        return status, data, dict(response.getheaders())
