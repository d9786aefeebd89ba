"""Creates, lists, enters and removes named network namespaces (/run/netns)."""

import os
import subprocess

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


def run(name: str | None, argv: list[str], check: bool = True, timeout: float = 30,
        **kwargs) -> subprocess.CompletedProcess:
    """Run `argv` inside namespace `name`, capturing output."""
    try:
        result = subprocess.run(command(name, argv), capture_output=True, text=True,
                                timeout=timeout, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise KernelError(f"run {' '.join(argv)} in netns {name}: {err}") from err
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise KernelError(f"run {' '.join(argv)} in netns {name}: "
                          f"{detail[-1] if detail else 'exit ' + str(result.returncode)}")
    return result


def popen(name: str | None, argv: list[str], **kwargs) -> subprocess.Popen:
    """Start `argv` in the background inside namespace `name`."""
    return subprocess.Popen(command(name, argv), **kwargs)
