"""Starts the lab's background processes in namespaces and stops them by PID."""

import os
import signal
import subprocess
import time

from silkctl.backends import netns


def start(name: str | None, argv: list[str], log_path: str) -> int:
    """Start `argv` detached inside namespace `name`, logging to `log_path`."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        process = netns.popen(
            name,
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int | None, marker: str) -> bool:
    """True when `pid` runs and its command line mentions `marker` (no PID reuse)."""
    return bool(pid) and marker in _cmdline(pid)


def owned_by(marker: str) -> list[int]:
    """Every process whose command line mentions `marker` (the lab's state dir)."""
    pids = []
    for entry in os.listdir("/proc"):
        if (
            entry.isdigit()
            and int(entry) != os.getpid()
            and marker in _cmdline(int(entry))
        ):
            pids.append(int(entry))
    return pids


def stop(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL whatever is still running after `grace` seconds."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if _running(pid)]
        time.sleep(0.05)
    for pid in remaining:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _running(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
