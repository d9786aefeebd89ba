"""The daemon tells policy plugins of each container it wires, and marks its egress."""

import json

import pytest

from silkctl.backends import marks, netns
from silkctl.cni import SETUP_FAILED
from tests.fixtures.hosts import wait_for

pytestmark = pytest.mark.kernel

TAGGING_PLUGIN = """
import json
from pathlib import Path
from silkctl.plugins import hookimpl

OUT = Path(__file__).with_suffix(".calls")

def _note(*fields):
    with OUT.open("a") as out:
        out.write(json.dumps(fields) + "\\n")

@hookimpl
def silkctl_container_tag(container):
    group = container.metadata.get("policy_group")
    if group == "broken":
        raise RuntimeError("policy server down")
    return {"web": 10, "db": 20, "huge": 0x10000}.get(group)

@hookimpl
def silkctl_container_added(container, tag):
    _note("added", container.container_id, container.host_ifname, tag)

@hookimpl
def silkctl_container_removed(container):
    _note("removed", container.container_id)
"""


@pytest.fixture
def policy_host(underlay, controller, start_daemon, cni_on_daemon, tmp_path):
    """A daemon running the tagging plugin, and silk-cni pointed at it."""
    (tmp_path / "tagging_plugin.py").write_text(TAGGING_PLUGIN)
    host = underlay.add_host(1)

    def start():
        return start_daemon(
            host, plugins=["tagging_plugin"], env={"PYTHONPATH": str(tmp_path)}
        )

    daemon = start()
    return daemon, cni_on_daemon(daemon), tmp_path / "tagging_plugin.calls", start


def calls(path) -> list:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def marks_rules(namespace: str) -> str:
    done = netns.run(
        namespace, ["nft", "list", "table", marks.FAMILY, marks.TABLE], check=False
    )
    return done.stdout if done.returncode == 0 else ""


def policy_args(group: str) -> dict:
    return {"CNI_ARGS": f"IgnoreUnknown=1;POLICY_GROUP={group}"}


def test_add_tags_container_marks_egress_and_del_removes_both(policy_host):
    _, cni, out, _ = policy_host
    box = cni.container()
    result = cni.add(box, env=policy_args("web"))
    host_if = result["interfaces"][0]["name"]

    assert calls(out) == [["added", box.name, host_if, 10]]
    assert f'iifname "{host_if}" meta mark set 0x0000000a' in marks_rules(cni.netns)

    run = cni.cni("DEL", box)
    assert run.code == 0, run.stdout
    assert calls(out)[-1] == ["removed", box.name]
    assert marks_rules(cni.netns) == ""


@pytest.mark.parametrize(
    ("group", "details"),
    [
        ("broken", "policy server down"),
        ("huge", "a plugin answered 65536; tags must be integers in 1..65535"),
    ],
)
def test_add_fails_and_leaves_nothing_when_plugin_raises_or_answers_a_bad_tag(
    policy_host, group, details
):
    _, cni, out, _ = policy_host
    box = cni.container()
    run = cni.cni("ADD", box, env=policy_args(group))

    assert run.code == 1
    error = run.json
    assert error["code"] == SETUP_FAILED
    assert error["msg"] == "tag container"
    assert details in error["details"]
    assert cni.host_links() == []
    assert cni.records() == {}
    assert cni.reservations() == []
    assert calls(out) == []
    assert marks_rules(cni.netns) == ""


def test_untagged_container_is_added_without_a_mark(policy_host):
    _, cni, out, _ = policy_host
    box = cni.container()
    result = cni.add(box)

    assert calls(out) == [["added", box.name, result["interfaces"][0]["name"], 0]]
    assert marks_rules(cni.netns) == ""


def test_restarted_daemon_retags_containers_already_attached(policy_host):
    daemon, cni, out, start = policy_host
    box = cni.container()
    host_if = cni.add(box, env=policy_args("db"))["interfaces"][0]["name"]
    assert daemon.stop() == 0
    out.write_text("")

    start()
    wait_for(lambda: calls(out), 10, what="the restarted daemon's resync")
    assert calls(out) == [["added", box.name, host_if, 20]]
    assert f'iifname "{host_if}" meta mark set 0x00000014' in marks_rules(cni.netns)
