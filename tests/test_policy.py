"""Policy tagging: plugins' tags are checked, marked on egress, undone on failure."""

import pytest

from silkctl.backends import marks, netns
from silkctl.plugins import hookimpl
from silkctl.plugins.manager import build_manager
from silkctl.policy import TagError, Tagger, container_info

RECORD = {
    "ip": "10.255.7.2",
    "ifname": "eth0",
    "netns": "/run/netns/x",
    "metadata": {"cni_args": {"POLICY_GROUP": "web"}},
}


class FixedTag:
    """A plugin answering one tag for group 'web' and recording what it is told."""

    def __init__(self, tag):
        self.tag = tag
        self.added, self.removed = [], []

    @hookimpl
    def silkctl_container_tag(self, container):
        if isinstance(self.tag, Exception):
            raise self.tag
        return self.tag if container.metadata.get("policy_group") == "web" else None

    @hookimpl
    def silkctl_container_added(self, container, tag):
        self.added.append((container.container_id, tag))

    @hookimpl
    def silkctl_container_removed(self, container):
        self.removed.append(container.container_id)


@pytest.fixture
def namespace(unique):
    name = f"{unique}-tag"
    netns.create(name)
    yield name
    netns.remove(name)


def _tagger(tag):
    manager = build_manager(entry_points=False)
    plugin = FixedTag(tag)
    manager.register(plugin)
    return Tagger(manager), plugin


def _marks_rules(name):
    done = netns.run(name, ["nft", "list", "table", "inet", marks.TABLE], check=False)
    return done.stdout if done.returncode == 0 else ""


def test_container_info_lifts_policy_group_when_given_in_cni_args():
    info = container_info("c1", RECORD)
    assert info.metadata["policy_group"] == "web"
    assert info.host_ifname == "s-010255007002"


@pytest.mark.kernel
def test_hook_silkctl_container_added_gets_tag_and_egress_is_marked(namespace):
    tagger, plugin = _tagger(0x2A)
    tag = netns.call_in(namespace, tagger.added, container_info("c1", RECORD))
    assert tag == 0x2A
    assert plugin.added == [("c1", 0x2A)]
    assert 'iifname "s-010255007002" meta mark set 0x0000002a' in _marks_rules(
        namespace
    )


@pytest.mark.kernel
def test_hook_silkctl_container_removed_is_called_and_mark_dropped(namespace):
    tagger, plugin = _tagger(7)
    info = container_info("c1", RECORD)
    netns.call_in(namespace, tagger.added, info)
    netns.call_in(namespace, tagger.removed, info)
    assert plugin.removed == ["c1"]
    assert _marks_rules(namespace) == ""


@pytest.mark.kernel
@pytest.mark.parametrize("bad", [0x10000, -1, "42", True, 4.5])
def test_tagger_refuses_tag_and_changes_nothing_when_out_of_range(namespace, bad):
    tagger, plugin = _tagger(bad)
    with pytest.raises(TagError, match="tags must be integers in 1..65535"):
        netns.call_in(namespace, tagger.added, container_info("c1", RECORD))
    assert tagger.tags == {}
    assert plugin.added == []
    assert _marks_rules(namespace) == ""


@pytest.mark.kernel
def test_tagger_reports_plugin_error_when_plugin_raises(namespace):
    tagger, _ = _tagger(RuntimeError("policy server down"))
    with pytest.raises(TagError, match="policy tag for c1: policy server down"):
        netns.call_in(namespace, tagger.added, container_info("c1", RECORD))
    assert tagger.tags == {}


def test_tagger_leaves_marks_alone_when_no_container_is_tagged():
    calls = []
    manager = build_manager(entry_points=False)
    tagger = Tagger(manager, apply_marks=calls.append)
    tagger.added(container_info("c1", {"ip": "10.255.7.3"}))
    tagger.added(container_info("c2", {"ip": "10.255.7.4"}))
    assert calls == [{}]  # one write: the first time, clearing leftovers


def test_tagger_refresh_re_marks_only_tags_that_changed_and_keeps_them_on_failure():
    calls = []
    manager = build_manager(entry_points=False)
    plugin = FixedTag(10)
    manager.register(plugin)
    tagger = Tagger(manager, apply_marks=calls.append)
    info = container_info("c1", RECORD)
    tagger.added(info)
    assert calls == [{info.host_ifname: 10}]

    assert tagger.refresh() == 0 and len(calls) == 1  # nothing changed: no write
    plugin.tag = 20
    assert tagger.refresh() == 1
    assert calls[-1] == {info.host_ifname: 20}
    plugin.tag = RuntimeError("policy server down")
    assert tagger.refresh() == 0
    assert tagger.tags["c1"][1] == 20 and len(calls) == 2
