"""Reference network-policy plugin: group tags and allow rules, enforced with nftables.

Off by default; turn it on by listing `silkctl.plugins.nft_policy` in the
daemon config's `plugins` and setting `policy_file`. The file:

    {"enabled": true,
     "groups": {"web": 10, "db": 20},
     "rules": [{"from": "web", "to": "db", "protocol": "tcp", "ports": "5432"}]}

A container joins a group through its metadata (`policy_group`, e.g. from
`CNI_ARGS=POLICY_GROUP=web` or the runtime config). On the source host the
fabric marks the container's egress with its group's tag, which VXLAN-GBP
carries to the destination host. There, table `inet silkctl_policy`
accepts overlay traffic to a local container only when the mark, protocol
and port match an allow rule (and established flows), and rejects the rest.
The table is rebuilt atomically when the policy file changes and removed
when the file says `"enabled": false` or disappears.
"""

import json
import logging
import os
import threading

from silkctl.backends import nft
from silkctl.errors import ConfigError
from silkctl.plugins import MAX_TAG, hookimpl

log = logging.getLogger(__name__)

TABLE = "silkctl_policy"
FAMILY = "inet"
WATCH_SECONDS = 0.5
PROTOCOLS = ("tcp", "udp")


class Policy:
    """A parsed, validated policy file."""

    def __init__(self, groups: dict[str, int], rules: list[dict], enabled: bool = True):
        self.groups = groups
        self.rules = rules
        self.enabled = enabled

    @classmethod
    def parse(cls, data) -> "Policy":
        if not isinstance(data, dict):
            raise ConfigError("policy: top level must be an object")
        groups = data.get("groups", {})
        if not isinstance(groups, dict):
            raise ConfigError("policy groups: must map group names to tags")
        for name, tag in groups.items():
            if (
                not isinstance(tag, int)
                or isinstance(tag, bool)
                or not 1 <= tag <= MAX_TAG
            ):
                raise ConfigError(
                    f"policy group {name}: tag {tag!r} is not in 1..65535"
                )
        rules = []
        for number, rule in enumerate(data.get("rules", []), 1):
            rules.append(_parse_rule(number, rule, groups))
        return cls(groups, rules, bool(data.get("enabled", True)))

    @classmethod
    def read(cls, path: str) -> "Policy | None":
        """The policy in `path`; None when the file does not exist."""
        try:
            with open(path, encoding="utf-8") as handle:
                return cls.parse(json.load(handle))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise ConfigError(f"read policy {path}: {err}") from err


def _parse_rule(number: int, rule, groups) -> dict:
    where = f"policy rule {number}"
    if not isinstance(rule, dict):
        raise ConfigError(f"{where}: must be an object")
    for key in ("from", "to"):
        if rule.get(key) not in groups:
            raise ConfigError(
                f"{where}: {key} group {rule.get(key)!r} is not in groups"
            )
    protocol = rule.get("protocol", "tcp")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}: protocol {protocol!r} is not tcp or udp")
    low, _, high = str(rule.get("ports", "")).partition("-")
    try:
        low, high = int(low), int(high or low)
    except ValueError:
        raise ConfigError(
            f"{where}: ports {rule.get('ports')!r} is not N or N-M"
        ) from None
    if not 1 <= low <= high <= 65535:
        raise ConfigError(f"{where}: ports {low}-{high} are not within 1-65535")
    return {
        "from": rule["from"],
        "to": rule["to"],
        "protocol": protocol,
        "ports": (low, high),
    }


def render(policy: Policy, containers, overlay_network: str) -> list[dict]:
    """nft JSON for table `silkctl_policy` guarding this host's `containers`."""
    local = sorted({c.ip for c in containers})
    chain = {
        "family": FAMILY,
        "table": TABLE,
        "name": "forward",
        "type": "filter",
        "hook": "forward",
        "prio": 0,
        "policy": "accept",
    }
    body = [{"add": {"chain": chain}}]
    if not local:
        return body

    def rule(*expr):
        body.append(
            {
                "add": {
                    "rule": {
                        "family": FAMILY,
                        "table": TABLE,
                        "chain": "forward",
                        "expr": list(expr),
                    }
                }
            }
        )

    daddr = nft.payload("ip", "daddr")
    rule(
        nft.match(daddr, {"set": local}),
        nft.match({"ct": {"key": "state"}}, ["established", "related"], op="in"),
        {"accept": None},
    )
    by_group: dict[str, list[str]] = {}
    for container in containers:
        group = (container.metadata or {}).get("policy_group")
        if group:
            by_group.setdefault(group, []).append(container.ip)
    for allow in policy.rules:
        targets = sorted(by_group.get(allow["to"], []))
        if not targets:
            continue
        low, high = allow["ports"]
        ports = low if low == high else {"range": [low, high]}
        rule(
            nft.match(daddr, {"set": targets}),
            nft.match(nft.meta("mark"), policy.groups[allow["from"]]),
            nft.match(nft.payload(allow["protocol"], "dport"), ports),
            {"accept": None},
        )
    prefix, length = overlay_network.split("/")
    rule(
        nft.match(
            nft.payload("ip", "saddr"), {"prefix": {"addr": prefix, "len": int(length)}}
        ),
        nft.match(daddr, {"set": local}),
        {"reject": None},
    )
    return body


class Enforcer:
    """Keeps table `silkctl_policy` in step with the policy file and containers."""

    def __init__(self, policy_file: str, overlay_network: str):
        self.policy_file = policy_file
        self.overlay_network = overlay_network
        self.containers: dict[str, object] = {}
        self.policy: Policy | None = None
        self._stamp = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reload(self) -> None:
        """Read the file if it changed; keeps the last good policy on a bad edit."""
        try:
            stat = os.stat(self.policy_file)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and self._thread is not None:
            return
        self._stamp = stamp
        try:
            self.policy = Policy.read(self.policy_file)
        except ConfigError as err:
            log.error("policy-rejected", extra={"error": str(err)})
            return
        self.apply()

    def tag_for(self, container) -> int | None:
        group = (container.metadata or {}).get("policy_group")
        if group is None or self.policy is None or not self.policy.enabled:
            return None
        if group not in self.policy.groups:
            raise ConfigError(
                f"policy: container {container.container_id} names "
                f"unknown group {group!r}"
            )
        return self.policy.groups[group]

    def apply(self) -> None:
        with self._lock:
            if self.policy is None or not self.policy.enabled:
                if nft.delete_table(FAMILY, TABLE):
                    log.info("policy-table-removed")
                return
            nft.replace_table(
                FAMILY,
                TABLE,
                render(
                    self.policy, list(self.containers.values()), self.overlay_network
                ),
            )
            log.info(
                "policy-applied",
                extra={
                    "rules": len(self.policy.rules),
                    "containers": len(self.containers),
                },
            )

    def watch(self) -> None:
        self.reload()
        self._thread = threading.Thread(
            target=self._loop, name="policy-watch", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            try:
                self.reload()
            except Exception:
                log.exception("policy-apply-failed")

    def stop(self) -> None:
        self._stop.set()


_enforcer: Enforcer | None = None


@hookimpl
def silkctl_daemon_started(config):
    global _enforcer
    if not config.policy_file:
        raise ConfigError("plugin nft_policy: set policy_file in the daemon config")
    _enforcer = Enforcer(config.policy_file, config.overlay_network)
    _enforcer.watch()


@hookimpl
def silkctl_daemon_stopping():
    if _enforcer is not None:
        _enforcer.stop()


@hookimpl
def silkctl_container_tag(container):
    return _enforcer.tag_for(container) if _enforcer else None


@hookimpl
def silkctl_container_added(container, tag):
    if _enforcer is not None:
        _enforcer.containers[container.container_id] = container
        _enforcer.apply()


@hookimpl
def silkctl_container_removed(container):
    if _enforcer is not None and _enforcer.containers.pop(container.container_id, None):
        _enforcer.apply()
