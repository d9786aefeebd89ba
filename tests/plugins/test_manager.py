"""The plugin manager: built-ins, entry-point plugins, env filters, bad plugins."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

BUILTINS = ["default_backends", "default_policy"]

PLUGIN_SOURCE = textwrap.dedent("""
    from silkctl.plugins import hookimpl

    @hookimpl
    def silkctl_container_tag(container):
        return 42 if container.metadata.get("group") == "web" else None
""")

BAD_PLUGIN_SOURCE = textwrap.dedent("""
    from silkctl.plugins import hookimpl

    @hookimpl
    def silkctl_contaner_tag(container):
        return 1
""")


def _install_distribution(root, name, module, source, version="1.2.3"):
    """Lay out an installed distribution (module + dist-info with entry points)."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[silkctl]\n{name} = {module}\n")
    return root


def _plugins_json(pythonpath, **env):
    environment = {**os.environ, "PYTHONPATH": str(pythonpath), **env}
    done = subprocess.run(
        [sys.executable, "-m", "silkctl", "plugins", "list", "-o", "json"],
        capture_output=True,
        text=True,
        env=environment,
    )
    return done


def test_plugins_list_shows_entry_point_plugin_when_distribution_installed(tmp_path):
    _install_distribution(tmp_path, "silk-web-policy", "silk_web_policy", PLUGIN_SOURCE)
    done = _plugins_json(tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["silk-web-policy"] == {
        "name": "silk-web-policy",
        "module": "silk_web_policy",
        "source": "entry point",
        "version": "1.2.3",
        "hooks": ["silkctl_container_tag"],
    }
    assert rows["default_policy"]["source"] == "builtin"


def test_plugins_list_skips_plugin_when_disabled_by_env(tmp_path):
    _install_distribution(tmp_path, "silk-web-policy", "silk_web_policy", PLUGIN_SOURCE)
    done = _plugins_json(tmp_path, SILKCTL_DISABLE_PLUGINS="silk-web-policy")
    assert [r["name"] for r in json.loads(done.stdout)] == BUILTINS


def test_plugins_list_skips_plugin_when_not_in_allow_list(tmp_path):
    _install_distribution(tmp_path, "silk-web-policy", "silk_web_policy", PLUGIN_SOURCE)
    done = _plugins_json(tmp_path, SILKCTL_LOAD_PLUGINS="something-else")
    assert [r["name"] for r in json.loads(done.stdout)] == BUILTINS


def test_plugins_list_fails_naming_plugin_when_hook_is_misspelt(tmp_path):
    _install_distribution(tmp_path, "silk-typo", "silk_typo", BAD_PLUGIN_SOURCE)
    done = _plugins_json(tmp_path)
    assert done.returncode != 0
    assert "plugin silk-typo" in done.stderr
    assert "silkctl_contaner_tag" in done.stderr


def test_hook_silkctl_container_tag_first_answer_wins(tmp_path, monkeypatch):
    from silkctl.plugins import ContainerInfo
    from silkctl.plugins.manager import build_manager

    _install_distribution(tmp_path, "silk-web-policy", "silk_web_policy", PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = build_manager()
    web = ContainerInfo(
        "c1", "10.255.1.2", "eth0", "/run/netns/x", "s-010255001002", {"group": "web"}
    )
    other = ContainerInfo("c2", "10.255.1.3", "eth0", "/run/netns/y", "s-010255001003")
    assert manager.hook.silkctl_container_tag(container=web) == 42
    assert manager.hook.silkctl_container_tag(container=other) is None


def test_load_module_raises_config_error_when_module_missing():
    from silkctl.errors import ConfigError
    from silkctl.plugins.manager import build_manager, load_module

    with pytest.raises(ConfigError, match="plugins: import no_such_silk_plugin"):
        load_module(build_manager(entry_points=False), "no_such_silk_plugin")


def test_plugins_list_shows_plugins_named_in_a_daemon_config(tmp_path):
    (tmp_path / "silk_local_policy.py").write_text(PLUGIN_SOURCE)
    config = tmp_path / "daemon.json"
    config.write_text(
        json.dumps(
            {
                "underlay_ip": "10.0.0.21",
                "plaintext": True,
                "plugins": ["silk_local_policy"],
            }
        )
    )
    environment = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "silkctl", "plugins", "list"]
        + ["--config", str(config), "-o", "json"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["silk_local_policy"]["source"] == "config"
    assert rows["silk_local_policy"]["hooks"] == ["silkctl_container_tag"]


def test_plugin_distribution_built_and_installed_with_pip_is_discovered_and_called(
    tmp_path,
):
    source = tmp_path / "src"
    (source / "silk_group_tags").mkdir(parents=True)
    (source / "silk_group_tags" / "__init__.py").write_text(PLUGIN_SOURCE)
    (source / "pyproject.toml").write_text(
        textwrap.dedent("""
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "silk-group-tags"
            version = "0.3.1"

            [project.entry-points.silkctl]
            group-tags = "silk_group_tags"
        """)
    )
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        + ["--no-build-isolation", "--no-deps", "--no-index"]
        + ["--target", str(site), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr

    rows = {row["name"]: row for row in json.loads(_plugins_json(site).stdout)}
    assert rows["group-tags"]["source"] == "entry point"
    assert rows["group-tags"]["version"] == "0.3.1"
    called = subprocess.run(
        [
            sys.executable,
            "-c",
            "from silkctl.plugins import ContainerInfo\n"
            "from silkctl.plugins.manager import get_manager\n"
            "box = ContainerInfo('c1', '10.255.7.2', 'eth0', '/run/netns/x',"
            " 's-010255007002', {'group': 'web'})\n"
            "print(get_manager().hook.silkctl_container_tag(container=box))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert called.stdout.strip() == "42", called.stderr
