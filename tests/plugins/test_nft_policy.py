"""The reference policy plugin: parsing, rendering, and enforcement in a namespace."""

import json

import pytest

from silkctl.backends import netns
from silkctl.errors import ConfigError
from silkctl.plugins import ContainerInfo, nft_policy
from silkctl.plugins.nft_policy import Enforcer, Policy

POLICY = {
    "groups": {"web": 10, "db": 20},
    "rules": [{"from": "web", "to": "db", "protocol": "tcp", "ports": "5432"}],
}
DB = ContainerInfo(
    "c-db",
    "10.255.1.2",
    "eth0",
    "/run/netns/x",
    "s-010255001002",
    {"policy_group": "db"},
)
WEB = ContainerInfo(
    "c-web",
    "10.255.1.3",
    "eth0",
    "/run/netns/y",
    "s-010255001003",
    {"policy_group": "web"},
)


@pytest.fixture
def namespace(unique):
    name = f"{unique}-pol"
    netns.create(name)
    yield name
    netns.remove(name)


def _ruleset(name):
    return netns.run(name, ["nft", "list", "ruleset"]).stdout


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "top level must be an object"),
        ({"groups": {"web": 0}}, "tag 0 is not in 1..65535"),
        ({"groups": {"web": 65536}}, "tag 65536 is not in 1..65535"),
        ({"groups": {"web": "10"}}, "tag '10' is not in 1..65535"),
        (
            {"groups": {"web": 1}, "rules": [{"from": "web", "to": "db"}]},
            "to group 'db' is not in groups",
        ),
        (
            {
                "groups": {"web": 1},
                "rules": [
                    {"from": "web", "to": "web", "protocol": "icmp", "ports": "1"}
                ],
            },
            "protocol 'icmp'",
        ),
        (
            {
                "groups": {"web": 1},
                "rules": [{"from": "web", "to": "web", "ports": "9-2"}],
            },
            "ports 9-2 are not within",
        ),
        (
            {
                "groups": {"web": 1},
                "rules": [{"from": "web", "to": "web", "ports": "x"}],
            },
            "is not N or N-M",
        ),
    ],
)
def test_policy_parse_rejects_with_reason_when_invalid(data, message):
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")
    ):
        Policy.parse(data)


@pytest.mark.kernel
def test_enforcer_accepts_only_allowed_mark_and_port_when_applied(namespace, tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    enforcer = Enforcer(str(policy_file), "10.255.0.0/16")
    enforcer.containers = {"c-db": DB, "c-web": WEB}
    netns.call_in(namespace, enforcer.reload)
    rules = _ruleset(namespace)
    assert "ip daddr 10.255.1.2 meta mark 0x00000014" not in rules
    assert "ip daddr 10.255.1.2 meta mark 0x0000000a tcp dport 5432 accept" in rules
    assert "ip saddr 10.255.0.0/16 ip daddr { 10.255.1.2, 10.255.1.3 } reject" in rules


@pytest.mark.kernel
def test_enforcer_rebuilds_table_when_policy_file_changes(namespace, tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    enforcer = Enforcer(str(policy_file), "10.255.0.0/16")
    enforcer.containers = {"c-db": DB}
    netns.call_in(namespace, enforcer.reload)
    enforcer._thread = object()  # as if watching: reload only on change
    changed = dict(POLICY, rules=[dict(POLICY["rules"][0], ports="6000-6010")])
    policy_file.write_text(json.dumps(changed))
    netns.call_in(namespace, enforcer.reload)
    rules = _ruleset(namespace)
    assert "tcp dport 6000-6010 accept" in rules
    assert "dport 5432" not in rules


@pytest.mark.kernel
def test_enforcer_removes_table_when_policy_disabled(namespace, tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    enforcer = Enforcer(str(policy_file), "10.255.0.0/16")
    enforcer.containers = {"c-db": DB}
    netns.call_in(namespace, enforcer.reload)
    assert "silkctl_policy" in _ruleset(namespace)
    policy_file.write_text(json.dumps(dict(POLICY, enabled=False)))
    netns.call_in(namespace, enforcer.reload)
    assert "silkctl_policy" not in _ruleset(namespace)


@pytest.mark.kernel
def test_enforcer_keeps_last_good_policy_when_edit_is_invalid(namespace, tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    enforcer = Enforcer(str(policy_file), "10.255.0.0/16")
    enforcer.containers = {"c-db": DB}
    netns.call_in(namespace, enforcer.reload)
    policy_file.write_text("{not json")
    netns.call_in(namespace, enforcer.reload)
    assert "tcp dport 5432 accept" in _ruleset(namespace)


def test_enforcer_tag_for_raises_when_group_unknown(tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    enforcer = Enforcer(str(policy_file), "10.255.0.0/16")
    enforcer.policy = Policy.parse(POLICY)
    stray = ContainerInfo(
        "c-x", "10.255.1.9", "eth0", "", "s-x", {"policy_group": "ops"}
    )
    assert enforcer.tag_for(WEB) == 10
    assert enforcer.tag_for(ContainerInfo("c", "10.255.1.8", "eth0", "", "s")) is None
    with pytest.raises(ConfigError, match="unknown group 'ops'"):
        enforcer.tag_for(stray)


def test_nft_policy_needs_policy_file_when_daemon_starts():
    class Config:
        policy_file = ""
        overlay_network = "10.255.0.0/16"

    with pytest.raises(ConfigError, match="set policy_file"):
        nft_policy.silkctl_daemon_started(Config())
