"""Creates, lists, enters and removes named network namespaces (/run/netns)."""

import os
import subprocess
import threading

from pyroute2 import netns as _netns

from silkctl.errors import KernelError

NETNS_DIR = "/run/netns"


def exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def create(name: str) -> None:
    """Create namespace `name` with its loopback up; an existing one is an error."""
    if exists(name):
        raise KernelError(f"create netns {name}: already exists")
    try:
        _netns.create(name)
    except OSError as err:
        raise KernelError(f"create netns {name}: {err}") from err
    run(name, ["ip", "link", "set", "lo", "up"])


def remove(name: str) -> bool:
    """Remove namespace `name`; returns False when it did not exist."""
    if not exists(name):
        return False
    try:
        _netns.remove(name)
    except OSError as err:
        raise KernelError(f"remove netns {name}: {err}") from err
    return True


def names(prefix: str = "") -> list[str]:
    if not os.path.isdir(NETNS_DIR):
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))


def path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def command(name: str | None, argv: list[str]) -> list[str]:
    """`argv` wrapped to run inside namespace `name` (unchanged when name is None)."""
    return list(argv) if name is None else ["ip", "netns", "exec", name, *argv]


def run(
    name: str | None, argv: list[str], check: bool = True, timeout: float = 30, **kwargs
) -> subprocess.CompletedProcess:
    """Run `argv` inside namespace `name`, capturing output."""
    try:
        result = subprocess.run(
            command(name, argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise KernelError(f"run {' '.join(argv)} in netns {name}: {err}") from err
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise KernelError(
            f"run {' '.join(argv)} in netns {name}: "
            f"{detail[-1] if detail else 'exit ' + str(result.returncode)}"
        )
    return result


def popen(name: str | None, argv: list[str], **kwargs) -> subprocess.Popen:
    """Start `argv` in the background inside namespace `name`."""
    return subprocess.Popen(command(name, argv), **kwargs)


def call_in(name: str | None, fn, *args, **kwargs):
    """Call `fn` in a thread that has entered namespace `name`; return its result.

    Network namespaces are per thread, so sockets `fn` opens live in `name`
    while the rest of the process stays where it was. Exceptions propagate.
    """
    if name is None:
        return fn(*args, **kwargs)
    if not exists(name):
        raise KernelError(f"enter netns {name}: no such namespace")
    outcome: dict = {}

    def target():
        try:
            _netns.setns(name, flags=0)
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller
            outcome["error"] = err

    thread = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
