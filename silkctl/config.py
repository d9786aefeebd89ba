"""Typed, described and validated configuration for the controller and daemon.

Each component has one dataclass. Every field carries a default and a
one-line description (the man page `silkctl.conf.5` is built from them).
Keys are the reference's JSON keys. Values are layered, last wins:
defaults < JSON file < `SILKCTL_<KEY>` environment variables < CLI options.
`validate()` reports every bad field by name in one `ConfigError`.
"""

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any

from silkctl.errors import ConfigError

ENV_PREFIX = "SILKCTL_"


def setting(default, description: str, *, env: bool = True):
    """A config field with its default and one-line description."""
    kwargs = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"description": description, "env": env}, **kwargs)


class _Config:
    """Shared loading and validation for the component configs."""

    kind = "config"

    @classmethod
    def load(
        cls,
        path: str | None = None,
        overrides: dict | None = None,
        environ: dict | None = None,
    ):
        """Read the JSON file (if any), env and CLI overrides, then validate."""
        values: dict[str, Any] = {}
        if path:
            values.update(read_json_file(path))
        values.update(_env_values(cls, os.environ if environ is None else environ))
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        config = cls.from_dict(values)
        config.validate()
        return config

    @classmethod
    def from_dict(cls, values: dict):
        """Build from a dict, converting types; unknown keys are ignored."""
        config, problems = cls._converted(values)
        if problems:
            raise ConfigError(f"invalid {cls.kind}: " + "; ".join(problems))
        return config

    @classmethod
    def _converted(cls, values: dict):
        """(config, type problems); a field of the wrong type keeps its default."""
        problems = []
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            try:
                kwargs[f.name] = _coerce(f, values[f.name])
            except (TypeError, ValueError) as err:
                problems.append(f"{f.name}: {err}")
        return cls(**kwargs), problems

    @classmethod
    def check(cls, values: dict) -> list[str]:
        """Every problem of a config file's values at once, for `config validate`:
        wrong types, invalid values of the other keys, and unknown keys."""
        config, problems = cls._converted(values)
        mistyped = {problem.split(":", 1)[0] for problem in problems}
        problems += [
            problem
            for problem in config.problems()
            if problem.split(":", 1)[0] not in mistyped
        ]
        known = {f.name for f in dataclasses.fields(cls)}
        problems += [
            f"{key}: unknown key (misspelt?)" for key in sorted(set(values) - known)
        ]
        return problems

    def problems(self) -> list[str]:
        """Every invalid field as `key: reason`; empty when the config is usable."""
        return []

    def validate(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(f"invalid {self.kind}: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any]]:
        """(key, description, default) for every field, for docs and man pages."""
        rows = []
        for f in dataclasses.fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            rows.append((f.name, f.metadata.get("description", ""), default))
        return rows


def read_json_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise ConfigError(f"read config file {path}: {err.strerror}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"parse config file {path}: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"parse config file {path}: top level must be a JSON object")
    return data


def _env_values(cls, environ) -> dict:
    values = {}
    for f in dataclasses.fields(cls):
        name = ENV_PREFIX + f.name.upper()
        if f.metadata.get("env", True) and name in environ:
            raw = environ[name]
            if _kind(f) == "dict | str":
                try:
                    raw = json.loads(raw) if raw.strip().startswith("{") else raw
                except json.JSONDecodeError as err:
                    raise ConfigError(f"{name}: not valid JSON: {err}") from err
            if _kind(f) == "list":
                raw = [item for item in raw.split(",") if item]
            values[f.name] = raw
    return values


def _kind(f: dataclasses.Field) -> str:
    return (
        f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    )


def _coerce(f: dataclasses.Field, value):
    kind = _kind(f)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if kind == "int":
        if (
            isinstance(value, bool)
            or isinstance(value, float)
            and not value.is_integer()
        ):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {json.dumps(value)}")
        return value
    if kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {json.dumps(value)}")
        return value
    if kind == "dict | str":
        if not isinstance(value, dict | str):
            raise ValueError(
                f"expected a URL string or an object, got {json.dumps(value)}"
            )
        return value
    return value


def check_network(value: str, key: str, problems: list[str]):
    """Parse an IPv4 CIDR, appending a problem naming `key` when it is not one."""
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        problems.append(f"{key}: {value!r} is not an IPv4 CIDR")
        return None
    if "/" not in value:
        problems.append(f"{key}: {value!r} has no prefix length")
        return None
    return network


def check_pool(
    network: ipaddress.IPv4Network | None,
    prefix: int,
    problems: list[str],
    network_key: str = "network",
) -> None:
    """A pool must hold at least one block: prefix longer than the network's, ≤ 30."""
    if not 1 <= prefix <= 30:
        problems.append(f"subnet_prefix_length: {prefix} must be between 1 and 30")
    elif network is not None and prefix <= network.prefixlen:
        problems.append(
            f"subnet_prefix_length: /{prefix} must be longer than {network_key} "
            f"/{network.prefixlen}, or the network holds no block"
        )


def _check_port(value: int, key: str, problems: list[str], allow_zero=False) -> None:
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        problems.append(f"{key}: {value} is not a port number ({low}-65535)")


def _check_positive(config, keys, problems, minimum=1) -> None:
    for key in keys:
        if getattr(config, key) < minimum:
            problems.append(f"{key}: must be at least {minimum}")


def _check_tls_files(config, keys, problems) -> None:
    if getattr(config, "plaintext", False):
        return
    for key in keys:
        if not getattr(config, key):
            problems.append(f"{key}: required unless plaintext is true")


@dataclass
class ControllerConfig(_Config):
    """The lease controller (`silkctl serve controller`)."""

    kind = "controller config"

    listen_host: str = setting("127.0.0.1", "Address the lease API listens on.")
    listen_port: int = setting(
        4103, "Port of the lease API (HTTPS with client certificates)."
    )
    health_check_port: int = setting(
        19683, "Plain-HTTP port on 127.0.0.1 for GET /health and GET /metrics."
    )
    network: str = setting(
        "10.255.0.0/16", "Overlay network the host subnets are cut from."
    )
    subnet_prefix_length: int = setting(24, "Prefix length of each host's subnet.")
    database: dict | str = setting(
        "sqlite:///var/lib/silkctl/leases.db",
        "Database URL (sqlite:///path, postgresql://..., mysql://...) "
        "or the reference's database object.",
    )
    lease_expiration_seconds: int = setting(
        604800, "A lease not renewed for this long is hidden and may be reclaimed."
    )
    staleness_threshold_seconds: int = setting(
        3600, "A lease not renewed for this long counts as stale in metrics."
    )
    ca_cert_file: str = setting(
        "", "CA certificate that client certificates must chain to."
    )
    server_cert_file: str = setting("", "Server certificate (PEM).")
    server_key_file: str = setting("", "Server private key (PEM).")
    plaintext: bool = setting(
        False, "Serve plain HTTP without TLS (labs only; logged as a warning)."
    )
    server_threads: int = setting(
        8, "Worker threads of the WSGI server (each holds one database connection)."
    )
    max_open_connections: int = setting(
        200,
        "Kept for compatibility with the reference; each of server_threads "
        "holds one database connection.",
    )
    max_idle_connections: int = setting(
        10, "Kept for compatibility with the reference."
    )
    connections_max_lifetime_seconds: int = setting(
        3600, "Database connections older than this are reopened (0 = forever)."
    )
    debug_server_port: int = setting(
        46455, "Kept for compatibility with the reference."
    )
    metron_port: int = setting(3457, "Kept for compatibility with the reference.")
    metrics_emit_seconds: int = setting(
        30, "Kept for compatibility with the reference."
    )
    log_prefix: str = setting(
        "cfnetworking", "Kept for compatibility with the reference."
    )

    def problems(self) -> list[str]:
        problems: list[str] = []
        if not self.listen_host:
            problems.append("listen_host: must not be empty")
        _check_port(self.listen_port, "listen_port", problems)
        _check_port(
            self.health_check_port, "health_check_port", problems, allow_zero=True
        )
        network = check_network(self.network, "network", problems)
        check_pool(network, self.subnet_prefix_length, problems)
        _check_positive(
            self,
            (
                "lease_expiration_seconds",
                "staleness_threshold_seconds",
                "server_threads",
            ),
            problems,
        )
        _check_tls_files(
            self, ("ca_cert_file", "server_cert_file", "server_key_file"), problems
        )
        if not self.database:
            problems.append("database: must not be empty")
        else:
            from silkctl.db import open_database  # peewee, only for controller configs

            try:
                open_database(self.database)
            except ConfigError as err:
                problems.append(str(err))
        return problems


@dataclass
class DaemonConfig(_Config):
    """The per-host daemon (`silkctl serve daemon`)."""

    kind = "daemon config"

    underlay_ip: str = setting("", "This host's underlay IPv4 address (VXLAN source).")
    vxlan_interface_name: str = setting(
        "", "Underlay interface for the VTEP; empty = the one that holds underlay_ip."
    )
    subnet_prefix_length: int = setting(24, "Prefix length of each host's subnet.")
    overlay_network: str = setting(
        "10.255.0.0/16", "The overlay network of the fabric."
    )
    health_check_port: int = setting(
        23954, "Port on 127.0.0.1 of the local endpoint (lease, MTU, health)."
    )
    vtep_name: str = setting("silk-vtep", "Name of the VXLAN device.")
    connectivity_server_url: str = setting(
        "https://127.0.0.1:4103", "URL of the lease controller."
    )
    ca_cert_file: str = setting(
        "", "CA certificate the controller's certificate chains to."
    )
    client_cert_file: str = setting(
        "", "Client certificate presented to the controller."
    )
    client_key_file: str = setting("", "Client private key.")
    plaintext: bool = setting(False, "Talk plain HTTP to the controller (labs only).")
    vni: int = setting(1, "VXLAN network identifier.")
    vtep_port: int = setting(4789, "VXLAN UDP port.")
    poll_interval: float = setting(1.0, "Seconds between lease list polls.")
    renew_interval_seconds: float = setting(5.0, "Seconds between lease renewals.")
    partition_tolerance_seconds: int = setting(
        604800, "Exit when renewals have failed for this long."
    )
    client_timeout_seconds: float = setting(5.0, "Timeout of each controller request.")
    datastore: str = setting(
        "/var/lib/silkctl/containers.json",
        "Container datastore shared with the CNI plugin.",
    )
    cni_socket: str = setting(
        "/run/silkctl/cni.sock",
        "Unix socket (root only) where the CNI plugin sends work.",
    )
    state_dir: str = setting(
        "/var/lib/silkctl", "Directory for host state (IPAM reservations)."
    )
    single_ip_only: bool = setting(False, "Lease a single /32 instead of a subnet.")
    encapsulation: str = setting(
        "vxlan", "Data-plane backend by name (vxlan, host-gw)."
    )
    plugins: list = setting(list, "Extra plugin modules to load by import name.")
    policy_file: str = setting(
        "", "Policy file of the nft_policy plugin (groups, tags, allow rules)."
    )
    log_level: str = setting("info", "Log level: debug, info, warning or error.")
    debug_server_port: int = setting(
        22233, "Kept for compatibility with the reference."
    )
    metron_port: int = setting(3457, "Kept for compatibility with the reference.")
    log_prefix: str = setting(
        "cfnetworking", "Kept for compatibility with the reference."
    )

    def problems(self) -> list[str]:
        problems: list[str] = []
        try:
            ipaddress.IPv4Address(self.underlay_ip)
        except ValueError:
            problems.append(f"underlay_ip: {self.underlay_ip!r} is not an IPv4 address")
        network = check_network(self.overlay_network, "overlay_network", problems)
        check_pool(network, self.subnet_prefix_length, problems, "overlay_network")
        _check_port(self.health_check_port, "health_check_port", problems)
        _check_port(self.vtep_port, "vtep_port", problems)
        if not 1 <= self.vni <= 0xFFFFFF:
            problems.append(f"vni: {self.vni} must be between 1 and 16777215")
        if not self.vtep_name or len(self.vtep_name) > 15:
            problems.append("vtep_name: must be 1 to 15 characters")
        if not self.connectivity_server_url.startswith(("http://", "https://")):
            problems.append(
                "connectivity_server_url: must start with https:// or http://"
            )
        for key in (
            "poll_interval",
            "renew_interval_seconds",
            "client_timeout_seconds",
        ):
            if getattr(self, key) <= 0:
                problems.append(f"{key}: must be greater than 0")
        _check_positive(self, ("partition_tolerance_seconds",), problems)
        _check_tls_files(
            self, ("ca_cert_file", "client_cert_file", "client_key_file"), problems
        )
        if not self.datastore:
            problems.append("datastore: must not be empty")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            problems.append(
                f"log_level: {self.log_level!r} is not one of debug, info, "
                "warning, error"
            )
        return problems


CONFIG_KINDS = {"controller": ControllerConfig, "daemon": DaemonConfig}


def guess_kind(values: dict) -> str:
    """Tell a daemon config from a controller config by its keys."""
    daemon_keys = {
        "underlay_ip",
        "overlay_network",
        "connectivity_server_url",
        "vtep_name",
    }
    return "daemon" if daemon_keys & set(values) else "controller"
