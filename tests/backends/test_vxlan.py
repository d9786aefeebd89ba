"""Tests of silkctl/backends/vxlan.py: the VTEP on a real host namespace."""

import logging

import pytest

from silkctl import hwaddr
from silkctl.backends import converge as convergence
from silkctl.backends import netns, vxlan
from silkctl.backends.netlink import RT_SCOPE_LINK
from silkctl.errors import KernelError
from tests.fixtures.hosts import VTEP, link_json, make_vtep

pytestmark = pytest.mark.kernel

SUBNET = "10.255.30.0/24"


def _spec(**changes) -> vxlan.VtepSpec:
    values = dict(
        name=VTEP,
        vni=1,
        port=4789,
        local_ip="172.31.0.11",
        lower_index=2,
        mac="ee:ee:0a:ff:1e:00",
        address="10.255.30.0",
        prefixlen=16,
    )
    values.update(changes)
    return vxlan.VtepSpec(**values)


def _link(**changes) -> dict:
    link = {
        "kind": "vxlan",
        "mac": "ee:ee:0a:ff:1e:00",
        "vxlan": {
            "vni": 1,
            "local": "172.31.0.11",
            "port": 4789,
            "lower": 2,
            "gbp": True,
            "learning": False,
        },
    }
    for key, value in changes.items():
        (link if key in ("kind", "mac") else link["vxlan"])[key] = value
    return link


@pytest.mark.parametrize(
    ("change", "attribute"),
    [
        ({"vni": 7}, "vni"),
        ({"local": "172.31.0.99"}, "local"),
        ({"port": 8472}, "port"),
        ({"lower": 3}, "lower device"),
        ({"gbp": False}, "gbp"),
        ({"learning": True}, "learning"),
        ({"mac": "ee:ee:01:02:03:04"}, "mac"),
        ({"kind": "bridge"}, "kind"),
    ],
)
def test_vxlan_differences_name_the_attribute_when_one_differs(change, attribute):
    assert vxlan.differences(_spec(), _link(**change)) == [attribute]


def test_vxlan_differences_are_empty_when_the_device_matches():
    assert vxlan.differences(_spec(), _link()) == []


def test_vxlan_ensure_builds_the_vtep_when_absent(nl, host):
    vtep = make_vtep(nl, host, SUBNET)

    link = link_json(host.netns, VTEP)
    assert link["address"] == hwaddr.vtep_mac(SUBNET) == vtep.mac
    assert "UP" in link["flags"] and link["mtu"] == vtep.mtu == 1450
    assert [(a.ip, a.prefixlen, a.scope) for a in nl.addresses(vtep.index)] == [
        ("10.255.30.0", 16, RT_SCOPE_LINK)
    ]


def test_vxlan_ensure_keeps_the_device_when_compatible(nl, host, caplog):
    first = make_vtep(nl, host, SUBNET)
    with caplog.at_level(logging.INFO, logger="silkctl"):
        second = make_vtep(nl, host, SUBNET)

    assert second == first
    assert caplog.records == []


def test_vxlan_ensure_recreates_and_names_the_attribute_when_the_mac_was_changed(
    nl, host, caplog
):
    first = make_vtep(nl, host, SUBNET)
    netns.run(host.netns, ["ip", "link", "set", VTEP, "address", "ee:ee:01:02:03:04"])

    with caplog.at_level(logging.WARNING, logger="silkctl"):
        second = make_vtep(nl, host, SUBNET)

    assert second.index != first.index and second.mac == hwaddr.vtep_mac(SUBNET)
    assert [r.differs for r in caplog.records if r.msg == "vtep-incompatible"] == [
        "mac"
    ]


def test_vxlan_ensure_recreates_when_a_device_of_that_name_is_not_ours(
    nl, host, caplog
):
    netns.run(
        host.netns,
        [
            "ip",
            "link",
            "add",
            VTEP,
            "type",
            "vxlan",
            "id",
            "7",
            "dstport",
            "4789",
            "local",
            host.underlay_ip,
            "dev",
            "eth0",
        ],
    )

    with caplog.at_level(logging.WARNING, logger="silkctl"):
        make_vtep(nl, host, SUBNET)

    differs = [r.differs for r in caplog.records if r.msg == "vtep-incompatible"]
    assert differs == ["vni,gbp,learning,mac"]
    data = link_json(host.netns, VTEP)["linkinfo"]["info_data"]
    assert (data["id"], data["learning"], data.get("gbp")) == (1, False, True)


def test_vxlan_ensure_leaves_exactly_the_lease_address_when_addresses_were_changed(
    nl, host
):
    vtep = make_vtep(nl, host, SUBNET)
    netns.run(host.netns, ["ip", "addr", "del", "10.255.30.0/16", "dev", VTEP])
    netns.run(host.netns, ["ip", "addr", "add", "10.255.99.0/16", "dev", VTEP])

    make_vtep(nl, host, SUBNET)

    assert [(a.ip, a.prefixlen) for a in nl.addresses(vtep.index)] == [
        ("10.255.30.0", 16)
    ]


@pytest.mark.parametrize(
    ("single_ip", "expected"),
    [
        (False, "10.255.30.0/24"),
        (True, "10.255.30.7/32"),
    ],
)
def test_vxlan_discover_rebuilds_the_lease_when_the_vtep_exists(
    nl, host, single_ip, expected
):
    subnet = "10.255.30.7/32" if single_ip else SUBNET
    make_vtep(nl, host, subnet)

    found = vxlan.discover(nl, VTEP, 24, single_ip=single_ip)

    assert found == (expected, hwaddr.vtep_mac(subnet))


def test_vxlan_discover_finds_nothing_when_the_vtep_is_absent_or_bare(nl, host):
    assert vxlan.discover(nl, VTEP, 24) is None
    vtep = make_vtep(nl, host, SUBNET)
    nl.delete_address(vtep.index, "10.255.30.0", 16)
    assert vxlan.discover(nl, VTEP, 24) is None


def test_vxlan_delete_removes_the_vtep_and_raises_when_it_is_missing(nl, host):
    make_vtep(nl, host, SUBNET)
    vxlan.delete(nl, VTEP)
    assert link_json(host.netns, VTEP) is None
    with pytest.raises(KernelError, match="delete vtep silk-vtep: no such device"):
        vxlan.delete(nl, VTEP)


def test_vxlan_underlay_device_is_found_by_name_or_address(nl, host):
    eth0 = nl.link_index("eth0")
    assert vxlan.underlay_device(nl, host.underlay_ip) == (eth0, "eth0")
    assert vxlan.underlay_device(nl, "", "eth0") == (eth0, "eth0")
    with pytest.raises(KernelError, match="find underlay device eth9: no such device"):
        vxlan.underlay_device(nl, host.underlay_ip, "eth9")
    with pytest.raises(KernelError, match="no device holds 172.31.0.250"):
        vxlan.underlay_device(nl, "172.31.0.250")


def _backend(nl, host):
    from silkctl.config import DaemonConfig

    config = DaemonConfig(underlay_ip=host.underlay_ip)
    return vxlan.VxlanBackend(config, nl, host.netns)


def _leases(numbers):
    from silkctl.client import Lease

    return [
        Lease(f"172.31.0.{n}", f"10.255.{n}.0/24", hwaddr.vtep_mac(f"10.255.{n}.0/24"))
        for n in numbers
    ]


def test_vxlan_backend_writes_only_changes_when_leases_and_kernel_move(nl, host):
    from silkctl.client import Lease

    backend = _backend(nl, host)
    local = Lease(host.underlay_ip, SUBNET, hwaddr.vtep_mac(SUBNET))
    try:
        assert backend.setup(local).mac == hwaddr.vtep_mac(SUBNET)
        assert backend.converge(_leases(range(40, 50)) + [local]).added == 30
        assert backend.converge(None) is None

        changed = backend.converge(_leases(range(41, 51)))
        assert (changed.added, changed.deleted, changed.messages) == (3, 3, 6)

        moved = _leases(range(41, 51))
        moved[0] = Lease(
            "172.31.0.99", moved[0].overlay_subnet, moved[0].overlay_hardware_addr
        )
        changed = backend.converge(moved)
        assert (changed.replaced, changed.changed, changed.messages) == (1, 1, 1)
        kernel = convergence.read_kernel_state(nl, backend.vtep.index)
        assert backend.mirror.state == kernel
        assert ("ee:ee:0a:ff:29:00", "172.31.0.99") in kernel.fdb

        netns.run(
            host.netns,
            ["ip", "route", "add", "10.255.77.0/24", "via", "10.255.77.0", "dev", VTEP],
        )
        assert backend.converge(None).deleted == 1
        assert backend.converge(None) is None
        assert backend.mtu() == 1450
    finally:
        backend.close()
