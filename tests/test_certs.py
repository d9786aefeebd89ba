"""Tests of silkctl/certs.py: the generated files and the server TLS context."""

import ipaddress
import os
import ssl
import stat

import pytest
from cryptography import x509

from silkctl import certs
from silkctl.errors import ConfigError


def _san(path):
    cert = x509.load_pem_x509_certificate(open(path, "rb").read())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(names.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in names.get_values_for_type(x509.IPAddress)},
    )


def test_init_certs_writes_six_files_readable_by_owner_only(tmp_path):
    paths = certs.init_certs(str(tmp_path / "certs"))
    for name in certs.FILE_NAMES:
        mode = stat.S_IMODE(os.stat(paths.path(name)).st_mode)
        assert mode == 0o600, name


def test_init_certs_server_names_include_controller_localhost_and_ips(tmp_path):
    paths = certs.init_certs(str(tmp_path), "ctl.example", ["10.0.0.5", "fd00::1"])
    dns, ips = _san(paths.server_cert)
    assert dns == {"ctl.example", "localhost"}
    assert ips == {"127.0.0.1", "10.0.0.5", str(ipaddress.ip_address("fd00::1"))}


def test_init_certs_client_certificate_chains_to_the_ca(tmp_path):
    paths = certs.init_certs(str(tmp_path))
    ca = x509.load_pem_x509_certificate(open(paths.ca_cert, "rb").read())
    client = x509.load_pem_x509_certificate(open(paths.client_cert, "rb").read())
    client.verify_directly_issued_by(ca)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage


def test_init_certs_refuses_to_overwrite_unless_forced(tmp_path):
    certs.init_certs(str(tmp_path))
    before = open(tmp_path / "ca.crt").read()
    with pytest.raises(ConfigError, match="already exist.*--force"):
        certs.init_certs(str(tmp_path))
    certs.init_certs(str(tmp_path), force=True)
    assert open(tmp_path / "ca.crt").read() != before


def test_init_certs_rejects_a_bad_ip(tmp_path):
    with pytest.raises(ConfigError, match="--ip: 'nope'"):
        certs.init_certs(str(tmp_path), ips=["nope"])


def test_server_tls_context_requires_client_certificates_and_tls12(tmp_path):
    paths = certs.init_certs(str(tmp_path))
    context = certs.server_tls_context(
        paths.ca_cert, paths.server_cert, paths.server_key
    )
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_server_tls_context_names_the_file_it_cannot_load(tmp_path):
    paths = certs.init_certs(str(tmp_path))
    with pytest.raises(ConfigError, match="missing.pem"):
        certs.server_tls_context(
            paths.ca_cert, str(tmp_path / "missing.pem"), paths.server_key
        )
    with pytest.raises(ConfigError, match="load client CA"):
        certs.server_tls_context(
            str(tmp_path / "nope.crt"), paths.server_cert, paths.server_key
        )
