"""Container addresses: a file-locked allocator over the host subnet, or an IPAM plugin.

The built-in allocator keeps the on-disk layout of the reference's
`host-local` plugin, so either can read what the other wrote:

    <dataDir>/ipam/<network>/lock                  flock'd around every change
    <dataDir>/ipam/<network>/<ip>                  "<container id>\\r\\n<ifname>"
    <dataDir>/ipam/<network>/last_reserved_ip.0    where the next search starts

Like host-local it skips the subnet's network address, its first host
address (the gateway slot; the host's VTEP owns the network address) and the
broadcast address, and hands addresses out round-robin from the last one
reserved. Every change runs under an exclusive `flock` on `lock`, so
concurrent ADDs in threads or processes never share an address. Unlike
host-local it does not read every reservation on ADD to refuse a second
address for the same container: the CNI service refuses that through the
container datastore, before and after allocating.
"""

import fcntl
import ipaddress
import json
import logging
import os
import subprocess
from contextlib import contextmanager

from silkctl.errors import Conflict, SilkError

log = logging.getLogger(__name__)

LOCK_FILE = "lock"
LAST_RESERVED = "last_reserved_ip.0"
PLUGIN_TIMEOUT_SECONDS = 60


class IpamError(SilkError):
    """Reserving or releasing an address failed; `details` says what the plugin said."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class Exhausted(Conflict):
    """No free address is left in the host subnet."""


class HostLocal:
    """The built-in allocator for one network's reservations under `data_dir`."""

    def __init__(self, data_dir: str, network: str):
        self.dir = os.path.join(data_dir, "ipam", network)

    @contextmanager
    def _locked(self):
        try:
            os.makedirs(self.dir, mode=0o755, exist_ok=True)
            fd = os.open(
                os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600
            )
        except OSError as err:
            raise IpamError(f"open ipam store {self.dir}: {err.strerror}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def allocate(self, subnet: str, container_id: str, ifname: str) -> str:
        """Reserve the next free address of `subnet` for the container interface."""
        network = ipaddress.IPv4Network(subnet, strict=False)
        first, last = (
            int(network.network_address) + 2,
            int(network.broadcast_address) - 1,
        )
        if last < first:
            raise Exhausted(
                f"allocate in {network}: the subnet has no container addresses"
            )
        with self._locked():
            # Names only: a second ADD for the same container is refused by the
            # caller (datastore), which keeps this O(1) file reads per ADD.
            taken = set(os.listdir(self.dir))
            start = self._next_start(first, last)
            size = last - first + 1
            for step in range(size):
                candidate = str(
                    ipaddress.IPv4Address(first + (start - first + step) % size)
                )
                if candidate not in taken and self._reserve(
                    candidate, container_id, ifname
                ):
                    self._write_last(candidate)
                    log.debug(
                        "ip-reserved",
                        extra={"ip": candidate, "container_id": container_id},
                    )
                    return candidate
        raise Exhausted(
            f"allocate in {network}: no free address in "
            f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(last)}"
        )

    def release(
        self, container_id: str, ifname: str, hint: str | None = None
    ) -> list[str]:
        """Free every address the container interface holds; returns them."""
        if not os.path.isdir(self.dir):
            return []
        freed = []
        with self._locked():
            if hint and self._owner(hint) == (container_id, ifname):
                candidates = {hint: (container_id, ifname)}
            else:
                candidates = self._entries()
            for ip, owner in candidates.items():
                if owner == (container_id, ifname):
                    try:
                        os.unlink(os.path.join(self.dir, ip))
                    except FileNotFoundError:
                        continue
                    except OSError as err:
                        raise IpamError(f"release {ip}: {err.strerror}") from err
                    freed.append(ip)
        if freed:
            log.debug("ip-released", extra={"ips": freed, "container_id": container_id})
        return freed

    def reservations(self) -> dict[str, tuple[str, str]]:
        """Every reserved address and its (container id, ifname)."""
        if not os.path.isdir(self.dir):
            return {}
        with self._locked():
            return self._entries()

    def find(self, container_id: str, ifname: str) -> str | None:
        for ip, owner in self.reservations().items():
            if owner == (container_id, ifname):
                return ip
        return None

    def _entries(self) -> dict[str, tuple[str, str]]:
        entries = {}
        for name in os.listdir(self.dir):
            if name in (LOCK_FILE, LAST_RESERVED) or not name[:1].isdigit():
                continue
            owner = self._owner(name)
            if owner is not None:
                entries[name] = owner
        return entries

    def _owner(self, ip: str) -> tuple[str, str] | None:
        try:
            with open(
                os.path.join(self.dir, ip), encoding="utf-8", newline=""
            ) as handle:
                text = handle.read()
        except OSError:
            return None
        container_id, _, ifname = text.strip().partition("\r\n")
        return container_id, ifname

    def _reserve(self, ip: str, container_id: str, ifname: str) -> bool:
        try:
            fd = os.open(
                os.path.join(self.dir, ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644
            )
        except FileExistsError:
            return False
        except OSError as err:
            raise IpamError(f"reserve {ip}: {err.strerror}") from err
        try:
            os.write(fd, f"{container_id}\r\n{ifname}".encode())
        except OSError as err:
            os.close(fd)
            os.unlink(os.path.join(self.dir, ip))
            raise IpamError(f"reserve {ip}: {err.strerror}") from err
        os.close(fd)
        return True

    def _next_start(self, first: int, last: int) -> int:
        try:
            with open(
                os.path.join(self.dir, LAST_RESERVED), encoding="utf-8"
            ) as handle:
                previous = int(ipaddress.IPv4Address(handle.read().strip()))
        except (OSError, ValueError):
            return first
        return previous + 1 if first <= previous < last else first

    def _write_last(self, ip: str) -> None:
        try:
            with open(
                os.path.join(self.dir, LAST_RESERVED), "w", encoding="utf-8"
            ) as handle:
                handle.write(ip)
        except OSError as err:
            log.warning("last-reserved-write-failed", extra={"error": err.strerror})


def find_plugin(kind: str, cni_path: list[str]) -> str:
    """The executable named `kind` in the first CNI_PATH directory that has one."""
    for directory in cni_path:
        candidate = os.path.join(directory, kind)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise IpamError(f"find ipam plugin {kind}", details=f"not in CNI_PATH {cni_path}")


def delegate(kind: str, command: str, env: dict, conf: dict) -> dict | None:
    """Run IPAM plugin `kind` for `command` with the network config; its result."""
    cni_path = [part for part in env.get("CNI_PATH", "").split(":") if part]
    plugin = find_plugin(kind, cni_path)
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        **env,
        "CNI_COMMAND": command,
    }
    try:
        done = subprocess.run(
            [plugin],
            input=json.dumps(conf),
            env=child_env,
            capture_output=True,
            text=True,
            timeout=PLUGIN_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise IpamError(f"run ipam plugin {kind}", details=str(err)) from err
    if done.returncode != 0:
        raise _plugin_error(kind, done)
    if command != "ADD":
        return None
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise IpamError(
            f"run ipam plugin {kind}", details=f"undecodable result: {err}"
        ) from err


def _plugin_error(kind: str, done: subprocess.CompletedProcess) -> IpamError:
    try:
        error = json.loads(done.stdout)
        detail = error.get("msg", "")
        if error.get("details"):
            detail += f": {error['details']}"
        detail = f"code {error.get('code')}: {detail}"
    except (json.JSONDecodeError, AttributeError):
        detail = (done.stdout or done.stderr).strip() or f"exit {done.returncode}"
    return IpamError(f"run ipam plugin {kind}", details=detail)
