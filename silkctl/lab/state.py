"""The lab's record of what it made, written after every step of `lab up`.

`lab down` reads it to stop processes and drop the database; names are
derived from the lab's name, so even without the file (a crash before it
was written) `down` finds the namespaces and processes to remove.
"""

import json
import os
import re
from dataclasses import asdict, dataclass, field

from silkctl.errors import ConfigError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,7}$")
DEFAULT_ROOT = "/var/lib/silkctl/lab"


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"--name: {name!r} must be 1-8 lowercase letters or digits, "
            "starting with a letter"
        )
    return name


def state_root() -> str:
    """Where labs keep their state: $SILKCTL_STATE_DIR/lab or /var/lib/silkctl/lab."""
    base = os.environ.get("SILKCTL_STATE_DIR")
    return os.path.join(base, "lab") if base else DEFAULT_ROOT


@dataclass
class HostRecord:
    name: str
    netns: str
    underlay_ip: str
    config: str
    daemon_pid: int | None = None
    overlay_subnet: str | None = None


@dataclass
class ContainerRecord:
    name: str
    host: str
    netns: str
    container_id: str
    ip: str | None = None
    listener_pid: int | None = None


@dataclass
class LabState:
    name: str
    directory: str
    hosts_wanted: int = 3
    containers_per_host: int = 2
    db: str = "sqlite"
    db_url: str = ""
    db_name: str = ""
    encapsulation: str = "vxlan"
    underlay_cidr: str = "172.31.0.0/24"
    underlay_mtu: int = 1500
    overlay_network: str = "10.255.0.0/16"
    policy_file: str = ""
    groups: dict[str, str] = field(default_factory=dict)
    controller_url: str = ""
    controller_pid: int | None = None
    complete: bool = False
    hosts: list[HostRecord] = field(default_factory=list)
    containers: list[ContainerRecord] = field(default_factory=list)

    @property
    def path(self) -> str:
        return os.path.join(self.directory, "lab.json")

    def sub(self, *parts: str) -> str:
        return os.path.join(self.directory, *parts)

    def save(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=1)
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, directory: str) -> "LabState | None":
        path = os.path.join(directory, "lab.json")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"read lab state {path}: {err}") from err
        data["hosts"] = [HostRecord(**h) for h in data.get("hosts", [])]
        data["containers"] = [ContainerRecord(**c) for c in data.get("containers", [])]
        return cls(**data)

    def host(self, name: str) -> HostRecord:
        for host in self.hosts:
            if host.name == name:
                return host
        raise ConfigError(f"lab {self.name} has no host {name!r}")

    def container(self, name: str) -> ContainerRecord:
        for container in self.containers:
            if container.name == name:
                return container
        known = ", ".join(c.name for c in self.containers) or "none"
        raise ConfigError(f"lab {self.name} has no container {name!r} (known: {known})")
