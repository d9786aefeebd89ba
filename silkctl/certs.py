"""Certificates for the controller's mutual TLS: a CA, a server and a client pair.

`init_certs(directory)` writes `ca.crt`, `ca.key`, `server.crt`,
`server.key`, `client.crt` and `client.key` (all mode 0600), ready for the
controller keys `ca_cert_file`, `server_cert_file`, `server_key_file` and
the daemon keys `ca_cert_file`, `client_cert_file`, `client_key_file`.
Keys are ECDSA P-256: quick to make and to handshake with.
`server_tls_context` builds the controller's TLS context from such files.
The `cryptography` imports sit inside the functions that make certificates,
so that the CLI starts without loading it.
"""

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass

from silkctl.errors import ConfigError

DEFAULT_CONTROLLER_NAME = "silk-controller.service.cf.internal"
DEFAULT_DAYS = 3650
# TLS 1.2 suites allowed besides TLS 1.3's own: forward-secret AEAD only.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
FILE_NAMES = (
    "ca.crt",
    "ca.key",
    "server.crt",
    "server.key",
    "client.crt",
    "client.key",
)


@dataclass(frozen=True)
class CertPaths:
    """Where `init_certs` wrote each file."""

    directory: str

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    @property
    def ca_cert(self) -> str:
        return self.path("ca.crt")

    @property
    def server_cert(self) -> str:
        return self.path("server.crt")

    @property
    def server_key(self) -> str:
        return self.path("server.key")

    @property
    def client_cert(self) -> str:
        return self.path("client.crt")

    @property
    def client_key(self) -> str:
        return self.path("client.key")


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "silkctl"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: str, issuer, key, days: int):
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _make_ca(common_name: str, days: int):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, _name(common_name), key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(
    common_name: str,
    ca_key,
    ca_cert,
    days: int,
    *,
    server: bool,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = ec.generate_private_key(ec.SECP256R1())
    usage = (
        ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    )
    builder = (
        _builder(common_name, ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns or ips:
        names = [x509.DNSName(name) for name in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def init_certs(
    directory: str,
    controller_name: str = DEFAULT_CONTROLLER_NAME,
    ips: tuple[str, ...] | list[str] = (),
    *,
    client_name: str = "silk-daemon",
    days: int = DEFAULT_DAYS,
    force: bool = False,
) -> CertPaths:
    """Write a fresh CA, server and client certificate set into `directory`.

    The server certificate names `controller_name`, `localhost`, 127.0.0.1
    and every address in `ips`. Existing files are only replaced with `force`.
    """
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigError(f"--ip: {ip!r} is not an IP address") from None
    paths = CertPaths(directory)
    existing = [name for name in FILE_NAMES if os.path.exists(paths.path(name))]
    if existing and not force:
        raise ConfigError(
            f"certs init {directory}: {', '.join(existing)} already "
            "exist; use --force to replace them"
        )
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"certs init {directory}: {err.strerror}") from err

    ca_key, ca_cert = _make_ca("silkctl CA", days)
    dns = tuple(dict.fromkeys((controller_name, "localhost")))
    all_ips = tuple(dict.fromkeys(("127.0.0.1", *ips)))
    server_key, server_cert = _make_leaf(
        controller_name, ca_key, ca_cert, days, server=True, dns=dns, ips=all_ips
    )
    client_key, client_cert = _make_leaf(
        client_name, ca_key, ca_cert, days, server=False
    )

    for name, data in (
        ("ca.crt", _pem_cert(ca_cert)),
        ("ca.key", _pem_key(ca_key)),
        ("server.crt", _pem_cert(server_cert)),
        ("server.key", _pem_key(server_key)),
        ("client.crt", _pem_cert(client_cert)),
        ("client.key", _pem_key(client_key)),
    ):
        try:
            _write(paths.path(name), data)
        except OSError as err:
            raise ConfigError(f"write {paths.path(name)}: {err.strerror}") from err
    return paths


def server_tls_context(
    ca_cert_file: str, cert_file: str, key_file: str
) -> ssl.SSLContext:
    """Server context: our certificate, client certificates required and
    verified against `ca_cert_file`, TLS 1.2 or newer."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_ciphers(TLS12_CIPHERS)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"load server certificate {cert_file}, key {key_file}: "
            f"{getattr(err, 'strerror', None) or err}"
        ) from err
    try:
        context.load_verify_locations(cafile=ca_cert_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"load client CA {ca_cert_file}: {getattr(err, 'strerror', None) or err}"
        ) from err
    return context
