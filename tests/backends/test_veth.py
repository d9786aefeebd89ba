"""The container veth: attach, inspect and remove, against real namespaces."""

import os
import threading

import pytest

from silkctl.backends import netns, veth
from silkctl.errors import KernelError
from tests.fixtures.cni import ip_json

pytestmark = pytest.mark.kernel


def in_netns(name: str, fn, *args):
    """`fn(*args)` run on a thread inside namespace `name`; its result or error."""
    outcome = {}

    def target():
        fd = os.open(netns.path(name), os.O_RDONLY)
        try:
            with veth.entered(fd):
                outcome["value"] = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            outcome["error"] = err
        finally:
            os.close(fd)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def spaces(unique):
    """(host, container) namespace names, removed after the test."""
    host, box = f"{unique}-h", f"{unique}-c"
    netns.create(host)
    netns.create(box)
    try:
        yield host, box
    finally:
        netns.remove(box)
        netns.remove(host)


def plan(box: str, mtu: int = 1400) -> veth.Attachment:
    return veth.Attachment("10.255.7.9", "eth0", netns.path(box), mtu)


def link_names(name: str) -> list[str]:
    return [link["ifname"] for link in ip_json(name, "link", "show")]


def test_attach_builds_a_pair_that_inspects_clean(spaces):
    host, box = spaces
    att = plan(box)
    in_netns(host, veth.attach, att)
    assert link_names(host) == ["lo", "s-010255007009"]
    assert link_names(box) == ["lo", "eth0"]
    assert in_netns(host, veth.differences, att, 1400) == []
    assert in_netns(host, veth.differences, att, None) == []


def test_differences_names_mtu_mac_and_address_when_they_drift(spaces):
    host, box = spaces
    att = plan(box)
    in_netns(host, veth.attach, att)
    netns.run(box, ["ip", "link", "set", "eth0", "mtu", "1300"])
    netns.run(box, ["ip", "link", "set", "eth0", "address", "02:00:00:00:00:01"])
    netns.run(host, ["ip", "addr", "flush", "dev", "s-010255007009"])
    problems = in_netns(host, veth.differences, att, 1400)
    assert "eth0: MTU is 1300, expected 1400" in problems
    assert "eth0: MAC is 02:00:00:00:00:01, expected ee:ee:0a:ff:07:09" in problems
    assert (
        "s-010255007009: addresses are [], expected 169.254.0.1 peer 10.255.7.9/32 "
        "scope link"
    ) in problems


def test_differences_reports_missing_links_and_netns(spaces):
    host, box = spaces
    att = plan(box)
    assert in_netns(host, veth.differences, att, 1400) == [
        "host interface s-010255007009 is missing",
        "container interface eth0 is missing",
    ]
    gone = veth.Attachment(att.ip, "eth0", netns.path(box) + "-gone", 1400)
    assert in_netns(host, veth.differences, gone, 1400)[-1].startswith("open netns")


def test_attach_leaves_an_existing_host_link_alone_when_the_name_is_taken(spaces):
    host, box = spaces
    netns.run(
        host,
        [
            "ip",
            "link",
            "add",
            "s-010255007009",
            "type",
            "veth",
            "peer",
            "name",
            "other",
        ],
    )
    with pytest.raises(
        KernelError, match="create veth s-010255007009 peer eth0: File exists"
    ):
        in_netns(host, veth.attach, plan(box))
    assert link_names(host) == ["lo", "other", "s-010255007009"]
    assert link_names(box) == ["lo"]


def test_attach_removes_the_pair_when_a_later_step_fails(spaces):
    host, box = spaces
    netns.run(box, ["ip", "route", "add", "default", "dev", "lo"])
    with pytest.raises(KernelError, match="set up container eth0: add default route"):
        in_netns(host, veth.attach, plan(box))
    assert link_names(host) == ["lo"]
    assert link_names(box) == ["lo"]


def test_attach_raises_netns_missing_when_namespace_is_gone(spaces):
    host, box = spaces
    gone = veth.Attachment("10.255.7.9", "eth0", netns.path(box) + "-gone", 1400)
    with pytest.raises(veth.NetnsMissing, match="open netns"):
        in_netns(host, veth.attach, gone)
    assert link_names(host) == ["lo"]


def test_open_netns_refuses_the_callers_own_namespace(spaces):
    host, _ = spaces
    with pytest.raises(KernelError, match="host's own namespace"):
        in_netns(host, veth.open_netns, netns.path(host))


def test_remove_host_end_reports_whether_it_removed_something(spaces):
    host, box = spaces
    in_netns(host, veth.attach, plan(box))
    assert in_netns(host, veth.remove_host_end, "10.255.7.9") is True
    assert link_names(box) == ["lo"]
    assert in_netns(host, veth.remove_host_end, "10.255.7.9") is False


def test_remove_container_end_returns_false_when_netns_or_link_is_gone(spaces):
    host, box = spaces
    in_netns(host, veth.attach, plan(box))
    assert in_netns(host, veth.remove_container_end, netns.path(box), "eth0") is True
    assert link_names(host) == ["lo"]
    assert in_netns(host, veth.remove_container_end, netns.path(box), "eth0") is False
    assert (
        in_netns(host, veth.remove_container_end, netns.path(box) + "-x", "eth0")
        is False
    )


def test_entered_returns_the_thread_home_when_the_block_raises(spaces):
    host, box = spaces

    def probe():
        home = os.stat("/proc/thread-self/ns/net").st_ino
        fd = os.open(netns.path(box), os.O_RDONLY)
        try:
            with pytest.raises(RuntimeError), veth.entered(fd):
                inside = os.stat("/proc/thread-self/ns/net").st_ino
                raise RuntimeError("inside")
        finally:
            os.close(fd)
        return home, inside, os.stat("/proc/thread-self/ns/net").st_ino

    home, inside, after = in_netns(host, probe)
    assert inside != home
    assert after == home == os.stat(netns.path(host)).st_ino


def test_sysctl_writes_in_the_thread_namespace(spaces):
    host, _ = spaces
    in_netns(host, veth.sysctl, "net/ipv4/ip_forward", "1")
    assert (
        netns.run(host, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
    )
    with pytest.raises(KernelError, match="sysctl net.ipv4.conf.nope.rp_filter=1"):
        in_netns(host, veth.sysctl, "net/ipv4/conf/nope/rp_filter", "1")
