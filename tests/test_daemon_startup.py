"""Tests of the daemon's refusals at start-up: bad config, TLS, controller, overlap."""

import json

import pytest

from silkctl.backends import netns
from tests.fixtures.hosts import VTEP, daemon_config, link_json, silkctl_in

pytestmark = pytest.mark.kernel


def run_daemon(host, config_path) -> tuple[int, str]:
    """Run `silkctl serve daemon` in `host` until it exits: (code, last stderr line)."""
    result = silkctl_in(
        host.netns, "serve", "daemon", "--config", str(config_path), timeout=30
    )
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, lines[-1] if lines else ""


def write_config(tmp_path, host, **overrides):
    """A daemon config whose controller URL answers nothing (nothing listens there)."""
    values = {
        "plaintext": True,
        "connectivity_server_url": "http://172.31.0.1:1",
        **overrides,
    }
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(daemon_config(host, None, tmp_path, **values)))
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-file", "read config file"),
        ("bad-json", "parse config file"),
        ("bad-value", "underlay_ip: 'not-an-ip' is not an IPv4 address"),
        ("bad-tls", "load CA certificate"),
        ("unreachable-controller", "acquire subnet lease"),
    ],
)
def test_daemon_exits_1_with_a_one_line_reason_when_it_cannot_start(
    underlay, tmp_path, case, expected
):
    host = underlay.add_host(1)
    cert = str(tmp_path / "absent.pem")
    path = write_config(tmp_path, host)
    if case == "missing-file":
        path = tmp_path / "nowhere.json"
    elif case == "bad-json":
        path.write_text('{"underlay_ip": ')
    elif case == "bad-value":
        path = write_config(tmp_path, host, underlay_ip="not-an-ip")
    elif case == "bad-tls":
        path = write_config(
            tmp_path,
            host,
            ca_cert_file=cert,
            client_cert_file=cert,
            client_key_file=cert,
            plaintext=False,
            connectivity_server_url="https://172.31.0.1:1",
        )

    code, last = run_daemon(host, path)

    assert code == 1
    assert last.startswith("error: ") and expected in last
    if case == "bad-tls":
        assert f"{cert}: [Errno 2] No such file or directory" in last
    assert link_json(host.netns, VTEP) is None


def test_daemon_refuses_an_overlay_overlapping_the_underlay_before_touching_routes(
    underlay, tmp_path
):
    host = underlay.add_host(1)
    routes = netns.run(host.netns, ["ip", "route", "show", "table", "all"]).stdout
    path = write_config(tmp_path, host, overlay_network="172.31.0.0/16")

    code, last = run_daemon(host, path)

    assert code == 1
    assert "overlay network 172.31.0.0/16 overlaps 172.31.0.0/24 on eth0" in last
    assert link_json(host.netns, VTEP) is None
    assert (
        netns.run(host.netns, ["ip", "route", "show", "table", "all"]).stdout == routes
    )


def test_daemon_refuses_an_overlay_overlapping_another_network_of_the_host(
    underlay, tmp_path
):
    host = underlay.add_host(1)
    netns.run(
        host.netns, ["ip", "link", "add", "side0", "type", "veth", "peer", "side1"]
    )
    netns.run(host.netns, ["ip", "addr", "add", "10.255.9.1/24", "dev", "side0"])
    path = write_config(tmp_path, host)

    code, last = run_daemon(host, path)

    assert code == 1
    assert "overlaps 10.255.9.0/24 on side0" in last
    assert link_json(host.netns, VTEP) is None
