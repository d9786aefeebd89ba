"""Tests of silkctl/commands/config_cmd.py: `silkctl config validate|show`."""

import json

import pytest
from typer.testing import CliRunner

from silkctl.cli import app

runner = CliRunner()


def write(tmp_path, values, name="config.json"):
    path = tmp_path / name
    path.write_text(values if isinstance(values, str) else json.dumps(values))
    return str(path)


def test_validate_reports_every_problem_of_a_controller_config_in_one_run(tmp_path):
    path = write(
        tmp_path,
        {
            "listen_port": "x",
            "network": "10.0.0.0/33",
            "subnet_prefix_length": 99,
            "database": 5,
            "ca_cert_file": "/c/ca.crt",
            "server_cert_file": "/c/s.crt",
            "server_key_file": "/c/s.key",
            "netwrok": "10.1.0.0/16",
        },
    )
    result = runner.invoke(app, ["config", "validate", path])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error")]
    assert [line.split(": ", 2)[2] for line in lines] == [
        "listen_port: expected an integer, got 'x'",
        "database: expected a URL string or an object, got 5",
        "network: '10.0.0.0/33' is not an IPv4 CIDR",
        "subnet_prefix_length: 99 must be between 1 and 30",
        "netwrok: unknown key (misspelt?)",
    ]


def test_validate_reports_every_problem_of_a_daemon_config_in_one_run(tmp_path):
    path = write(
        tmp_path,
        {
            "underlay_ip": "10.0.0.300",
            "overlay_network": "10.255.0.0/16",
            "subnet_prefix_length": 16,
            "vni": 0,
            "poll_interval": "often",
            "plaintext": True,
        },
    )
    result = runner.invoke(app, ["config", "validate", path])
    assert result.exit_code == 2
    for expected in (
        "underlay_ip: '10.0.0.300' is not an IPv4 address",
        "subnet_prefix_length: /16 must be longer than overlay_network /16",
        "vni: 0 must be between 1 and 16777215",
        "poll_interval: expected a number, got 'often'",
    ):
        assert expected in result.output


def test_validate_accepts_a_good_config_and_names_its_kind(tmp_path):
    path = write(
        tmp_path,
        {
            "underlay_ip": "10.0.0.21",
            "connectivity_server_url": "http://127.0.0.1:4103",
            "plaintext": True,
        },
    )
    result = runner.invoke(app, ["config", "validate", path])
    assert result.exit_code == 0, result.output
    assert "valid daemon config" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("{not json", "parse config file"),
        ("[1, 2]", "top level must be a JSON object"),
    ],
)
def test_validate_fails_in_one_line_when_file_is_missing_or_not_an_object(
    tmp_path, content, message
):
    path = (
        str(tmp_path / "absent.json") if content is None else write(tmp_path, content)
    )
    result = runner.invoke(app, ["config", "validate", path])
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_show_fills_in_every_default(tmp_path):
    path = write(tmp_path, {"network": "10.9.0.0/16", "plaintext": True})
    result = runner.invoke(app, ["config", "show", path])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["network"], shown["subnet_prefix_length"]) == ("10.9.0.0/16", 24)
