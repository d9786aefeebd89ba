"""Tests of silkctl/commands/lease.py: `silkctl lease list|show|release` over mTLS."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from silkctl.cli import app
from silkctl.errors import ConfigError, ControllerError, NotFound
from tests.fixtures.db import SILKCTL

runner = CliRunner()


@pytest.fixture
def env(lease_controller, monkeypatch):
    """The SILKCTL_* variables that point the lease commands at the controller."""
    certs = lease_controller.certs
    values = {
        "SILKCTL_CONTROLLER_URL": lease_controller.url,
        "SILKCTL_CA_CERT": certs.ca_cert,
        "SILKCTL_CLIENT_CERT": certs.client_cert,
        "SILKCTL_CLIENT_KEY": certs.client_key,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_lease_list_shows_block_and_single_leases_in_a_table(lease_controller, env):
    client = lease_controller.client()
    block = client.acquire("10.0.0.1")
    single = client.acquire("10.0.0.2", single_overlay_ip=True)
    result = runner.invoke(app, ["lease", "list"], terminal_width=120)
    assert result.exit_code == 0, result.output
    for text in (
        block.overlay_subnet,
        single.overlay_subnet,
        block.overlay_hardware_addr,
        "block",
        "single",
        "s ago",
        "2 leases",
        # 255 blocks in the /16; the single-IP row counts too, as in the metrics.
        "total 2  free 253  stale 0",
    ):
        assert text in result.output


def test_lease_list_json_has_renewal_time_expiry_and_summary(lease_controller, env):
    lease = lease_controller.client().acquire("10.0.0.1")
    result = runner.invoke(app, ["lease", "list", "--output", "json"])
    listing = json.loads(result.output)
    (item,) = listing["leases"]
    assert item["overlay_subnet"] == lease.overlay_subnet
    assert item["expired"] is False and isinstance(item["last_renewed_at"], int)
    assert listing["summary"] == {"total": 1, "free": 254, "stale": 0}


def test_lease_show_one_host_and_not_found(lease_controller, env):
    lease = lease_controller.client().acquire("10.0.0.1")
    result = runner.invoke(app, ["lease", "show", "10.0.0.1", "-o", "json"])
    assert (
        json.loads(result.output)["overlay_hardware_addr"]
        == lease.overlay_hardware_addr
    )
    result = runner.invoke(app, ["lease", "show", "10.0.0.9"])
    assert isinstance(result.exception, NotFound)


def test_lease_release_frees_the_subnet(lease_controller, env):
    client = lease_controller.client()
    client.acquire("10.0.0.1")
    result = runner.invoke(app, ["lease", "release", "10.0.0.1"])
    assert result.exit_code == 0 and "released" in result.output
    assert client.list_leases()[0] == []
    assert runner.invoke(app, ["lease", "release", "10.0.0.1"]).exit_code == 0


def test_lease_commands_take_connection_settings_from_a_daemon_config(
    lease_controller, tmp_path
):
    certs = lease_controller.certs
    config = tmp_path / "daemon.json"
    config.write_text(
        json.dumps(
            {
                "connectivity_server_url": lease_controller.url,
                "ca_cert_file": certs.ca_cert,
                "client_cert_file": certs.client_cert,
                "client_key_file": certs.client_key,
            }
        )
    )
    lease_controller.client().acquire("10.0.0.1")
    result = runner.invoke(
        app, ["lease", "list", "--config", str(config), "-o", "json"]
    )
    listed = json.loads(result.output)["leases"]
    assert [item["underlay_ip"] for item in listed] == ["10.0.0.1"]


def test_lease_commands_need_a_url_and_tls_files():
    result = runner.invoke(app, ["lease", "list"])
    assert isinstance(result.exception, ConfigError)
    assert "--controller" in str(result.exception)
    result = runner.invoke(
        app, ["lease", "list", "--controller", "https://127.0.0.1:1"]
    )
    assert "--ca-cert, --cert, --key" in str(result.exception)


def test_lease_list_refused_with_a_certificate_from_another_ca(
    lease_controller, env, foreign_certs
):
    result = runner.invoke(
        app,
        [
            "lease",
            "list",
            "--cert",
            foreign_certs.client_cert,
            "--key",
            foreign_certs.client_key,
        ],
    )
    assert isinstance(result.exception, ControllerError)


def test_lease_connection_error_is_one_clear_line(certs_dir):
    result = subprocess.run(
        [
            SILKCTL,
            "lease",
            "list",
            "--controller",
            "https://127.0.0.1:1",
            "--ca-cert",
            certs_dir.ca_cert,
            "--cert",
            certs_dir.client_cert,
            "--key",
            certs_dir.client_key,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(
        "error: GET /leases?all=1: https://127.0.0.1:1: Connection refused"
    )
