"""`silkctl cni install`: the silk-cni plugin and its conflist where runtimes look."""

import json
import os
import sys

import typer

import silkctl
from silkctl import cni, output
from silkctl.config import DaemonConfig
from silkctl.errors import SilkError

app = typer.Typer(
    help="Install the silk-cni plugin for container runtimes.", no_args_is_help=True
)

PLUGIN_TYPE = "silk-cni"
CNI_VERSION = "1.1.0"

# -IS: no site-packages scan and no user environment; the launcher puts the
# package on sys.path itself, which saves most of the interpreter's start-up.
LAUNCHER = '''#!{python} -IS
"""silk-cni, written by `silkctl cni install`: the lean CNI entry point."""
import sys

sys.path.insert(0, {root!r})
from silkctl.cni import launch

launch()
'''


def launcher_text() -> str:
    """The plugin executable: this interpreter, this installation of silkctl."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(silkctl.__file__)))
    return LAUNCHER.format(python=sys.executable, root=root)


def conflist(
    config: DaemonConfig, name: str, mtu: int, capabilities: tuple[str, ...] = ()
) -> dict:
    """The network config list pointing silk-cni at the daemon of `config`.

    `capabilities` are the runtime-config keys the runtime is to pass (as
    `runtimeConfig`); silk-cni keeps what it gets in the container's record.
    """
    plugin = {
        "type": PLUGIN_TYPE,
        "cniSocket": config.cni_socket,
        "daemonPort": config.health_check_port,
        "dataDir": config.state_dir,
        "datastore": config.datastore,
        "mtu": mtu,
    }
    if capabilities:
        plugin["capabilities"] = dict.fromkeys(capabilities, True)
    return {"cniVersion": CNI_VERSION, "name": name, "plugins": [plugin]}


def _write(path: str, text: str, mode: int) -> None:
    """Write `path` whole or not at all: a temporary file renamed into place."""
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as err:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise SilkError(f"write {path}: {err.strerror}") from err


@app.command("install")
def install(
    bin_dir: str = typer.Option(
        "/opt/cni/bin",
        "--bin-dir",
        help="CNI plugin directory (on the runtime's CNI_PATH).",
    ),
    conf_dir: str = typer.Option(
        "/etc/cni/net.d",
        "--conf-dir",
        help="Directory the runtime reads network configs from.",
    ),
    daemon_config: str = typer.Option(
        None,
        "--daemon-config",
        help="Daemon config whose socket, state dir and datastore the plugin uses; "
        "defaults apply without it.",
    ),
    name: str = typer.Option("silk", "--name", help="Network name in the conflist."),
    mtu: int = typer.Option(0, "--mtu", help="Container MTU; 0 takes the daemon's."),
    capabilities: list[str] = typer.Option(
        [],
        "--capability",
        help="Runtime-config key for the runtime to pass in runtimeConfig "
        "(e.g. io.kubernetes.cri.pod-annotations); silk-cni keeps it in the "
        "container's record for policy plugins. Repeatable.",
    ),
) -> None:
    """Install the silk-cni executable and a conflist for it.

    Example:

        silkctl cni install --daemon-config /etc/silkctl/daemon.json
    """
    if not cni.valid_name(name):
        raise typer.BadParameter(
            f"{name!r}: letters, digits, '_', '.', '-', not starting with the "
            "last three",
            param_hint="--name",
        )
    if mtu < 0 or 0 < mtu < cni.MIN_MTU or mtu > cni.MAX_MTU:
        raise typer.BadParameter(
            f"{mtu}: 0 (the daemon's) or {cni.MIN_MTU}-{cni.MAX_MTU}",
            param_hint="--mtu",
        )
    for capability in capabilities:
        if not capability.strip() or capability != capability.strip():
            raise typer.BadParameter(
                f"{capability!r} is not a capability name", param_hint="--capability"
            )
    config = DaemonConfig.load(daemon_config) if daemon_config else DaemonConfig()
    plugin = os.path.join(bin_dir, PLUGIN_TYPE)
    conf_path = os.path.join(conf_dir, f"10-{name}.conflist")
    _write(plugin, launcher_text(), 0o755)
    conf = conflist(config, name, mtu, tuple(capabilities))
    _write(conf_path, json.dumps(conf, indent=2) + "\n", 0o644)
    output.console.print(f"installed {plugin}")
    output.console.print(f"wrote {conf_path}")
