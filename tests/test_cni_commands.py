"""`silkctl cni install` and `silkctl container list`."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from silkctl import datastore
from silkctl.cli import app

SILKCTL = str(Path(sys.executable).with_name("silkctl"))


def silkctl(*argv: str) -> subprocess.CompletedProcess:
    """The real CLI, for exit codes and the one-line error it prints."""
    return subprocess.run(
        [SILKCTL, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def daemon_config(tmp_path) -> Path:
    path = tmp_path / "daemon.json"
    path.write_text(
        json.dumps(
            {
                "underlay_ip": "10.0.0.11",
                "plaintext": True,
                "health_check_port": 24000,
                "cni_socket": "/run/test/cni.sock",
                "state_dir": "/var/lib/test",
                "datastore": "/var/lib/test/containers.json",
            }
        )
    )
    return path


def test_cni_install_writes_plugin_and_conflist_from_daemon_config(
    tmp_path, daemon_config, monkeypatch
):
    monkeypatch.delenv("SILKCTL_STATE_DIR")
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    result = CliRunner().invoke(
        app,
        [
            "cni",
            "install",
            "--bin-dir",
            str(bin_dir),
            "--conf-dir",
            str(conf_dir),
            "--daemon-config",
            str(daemon_config),
            "--mtu",
            "1400",
        ],
    )
    assert result.exit_code == 0, result.output
    plugin = bin_dir / "silk-cni"
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o755
    assert json.loads((conf_dir / "10-silk.conflist").read_text()) == {
        "cniVersion": "1.1.0",
        "name": "silk",
        "plugins": [
            {
                "type": "silk-cni",
                "cniSocket": "/run/test/cni.sock",
                "daemonPort": 24000,
                "dataDir": "/var/lib/test",
                "datastore": "/var/lib/test/containers.json",
                "mtu": 1400,
            }
        ],
    }
    done = subprocess.run(
        [str(plugin)],
        input="",
        env={"CNI_COMMAND": "VERSION"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["cniVersion"] == "1.1.0"


def test_cni_install_names_the_network_and_replaces_earlier_files(tmp_path):
    argv = [
        "cni",
        "install",
        "--bin-dir",
        str(tmp_path / "bin"),
        "--conf-dir",
        str(tmp_path / "net.d"),
        "--name",
        "overlay",
    ]
    assert CliRunner().invoke(app, argv).exit_code == 0
    assert CliRunner().invoke(app, argv).exit_code == 0
    conf = json.loads((tmp_path / "net.d" / "10-overlay.conflist").read_text())
    assert conf["name"] == "overlay"
    assert conf["plugins"][0]["dataDir"] == "/var/lib/silkctl"
    assert sorted(os.listdir(tmp_path / "bin")) == ["silk-cni"]


def test_cni_install_fails_in_one_line_when_bin_dir_cannot_be_made(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    done = silkctl(
        "cni",
        "install",
        "--bin-dir",
        str(blocker / "bin"),
        "--conf-dir",
        str(tmp_path / "net.d"),
    )
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert f"write {blocker / 'bin' / 'silk-cni'}" in done.stderr
    assert not (tmp_path / "net.d").exists()


def test_cni_install_fails_when_daemon_config_is_invalid(tmp_path):
    bad = tmp_path / "daemon.json"
    bad.write_text(json.dumps({"underlay_ip": "nope"}))
    done = silkctl(
        "cni",
        "install",
        "--bin-dir",
        str(tmp_path / "bin"),
        "--conf-dir",
        str(tmp_path / "net.d"),
        "--daemon-config",
        str(bad),
    )
    assert done.returncode == 2
    assert "underlay_ip" in done.stderr
    assert not (tmp_path / "bin").exists()


def test_cni_install_declares_the_capabilities_asked_for(tmp_path):
    argv = ["cni", "install", "--bin-dir", str(tmp_path / "bin")]
    argv += ["--conf-dir", str(tmp_path / "net.d")]
    argv += ["--capability", "io.kubernetes.cri.pod-annotations"]
    argv += ["--capability", "portMappings", "--capability", "portMappings"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    conf = json.loads((tmp_path / "net.d" / "10-silk.conflist").read_text())
    assert conf["plugins"][0]["capabilities"] == {
        "io.kubernetes.cri.pod-annotations": True,
        "portMappings": True,
    }


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--name", "bad name"),
        ("--name", "-silk"),
        ("--mtu", "-1"),
        ("--mtu", "65536"),
        ("--mtu", "40"),
        ("--capability", " "),
    ],
)
def test_cni_install_refuses_what_silk_cni_would_refuse(tmp_path, option, value):
    done = silkctl(
        "cni",
        "install",
        "--bin-dir",
        str(tmp_path / "bin"),
        "--conf-dir",
        str(tmp_path / "net.d"),
        option,
        value,
    )
    assert done.returncode == 2
    assert option in done.stderr
    assert not (tmp_path / "bin").exists()
    assert not (tmp_path / "net.d").exists()


def test_container_list_shows_a_table_of_the_datastore(tmp_path):
    store = str(tmp_path / "store.json")
    datastore.add(
        store,
        "c1",
        "10.255.30.2",
        ifname="eth0",
        netns="/run/netns/c1",
        network="silk",
        metadata={"cni_args": {"APP": "web"}},
    )
    done = silkctl("container", "list", "--datastore", store)
    assert done.returncode == 0, done.stderr
    for text in ("c1", "10.255.30.2", "eth0", "/run/netns/c1", "silk", '"APP": "web"'):
        assert text in done.stdout


def test_container_list_prints_records_as_json_when_asked(tmp_path):
    store = str(tmp_path / "store.json")
    datastore.add(store, "b", "10.255.30.3")
    datastore.add(store, "a", "10.255.30.2")
    result = CliRunner().invoke(
        app, ["container", "list", "--datastore", store, "-o", "json"]
    )
    assert result.exit_code == 0
    assert [r["handle"] for r in json.loads(result.stdout)] == ["a", "b"]


def test_container_list_reads_the_daemon_configs_datastore(tmp_path):
    store = tmp_path / "containers.json"
    datastore.add(str(store), "c9", "10.255.30.9")
    config = tmp_path / "daemon.json"
    config.write_text(
        json.dumps(
            {"underlay_ip": "10.0.0.11", "plaintext": True, "datastore": str(store)}
        )
    )
    result = CliRunner().invoke(
        app, ["container", "list", "--daemon-config", str(config), "--output", "json"]
    )
    assert [r["handle"] for r in json.loads(result.stdout)] == ["c9"]


def test_container_list_fails_in_one_line_when_datastore_is_corrupt(tmp_path):
    store = tmp_path / "store.json"
    store.write_text("{oops")
    done = silkctl("container", "list", "--datastore", str(store))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: decode datastore")
    assert done.stderr.strip().count("\n") == 0


def test_container_list_rejects_an_unknown_output_format(tmp_path):
    done = silkctl(
        "container", "list", "--datastore", str(tmp_path / "s.json"), "-o", "xml"
    )
    assert done.returncode == 2
    assert "--output" in done.stderr
