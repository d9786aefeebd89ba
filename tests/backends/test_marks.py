"""Egress marks: one nft rule per tagged container veth, none when untagged."""

import pytest

from silkctl.backends import marks, netns


@pytest.fixture
def namespace(unique):
    name = f"{unique}-mk"
    netns.create(name)
    yield name
    netns.remove(name)


@pytest.mark.kernel
def test_marks_apply_sets_mark_per_veth_when_tagged(namespace):
    netns.call_in(namespace, marks.apply, {"s-010255001002": 42, "s-010255001003": 0})
    rules = netns.run(namespace, ["nft", "list", "table", "inet", marks.TABLE]).stdout
    assert 'iifname "s-010255001002" meta mark set 0x0000002a' in rules
    assert "s-010255001003" not in rules


@pytest.mark.kernel
def test_marks_apply_removes_table_when_nothing_tagged(namespace):
    netns.call_in(namespace, marks.apply, {"s-010255001002": 7})
    netns.call_in(namespace, marks.apply, {"s-010255001002": 0})
    assert marks.TABLE not in netns.run(namespace, ["nft", "list", "tables"]).stdout
