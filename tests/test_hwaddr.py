"""Names and MACs derived from container addresses, and back."""

import pytest

from silkctl import hwaddr


@pytest.mark.parametrize("ip", ["10.255.30.2", "0.0.0.1", "255.255.255.254"])
def test_host_end_address_reads_back_the_address_the_name_encodes(ip):
    host_end, _ = hwaddr.veth_names(ip)
    assert hwaddr.host_end_address(host_end) == ip


@pytest.mark.parametrize(
    "name",
    [
        "eth0",
        "s-",
        "s-01025503000",
        "s-0102550300021",
        "s-256000000001",
        "c-010255030002",
        "s-01025503000x",
    ],
)
def test_host_end_address_is_none_when_the_name_is_not_a_host_end(name):
    assert hwaddr.host_end_address(name) is None


def test_veth_macs_carry_the_container_address():
    assert hwaddr.container_mac("10.255.30.2") == "ee:ee:0a:ff:1e:02"
    assert hwaddr.host_veth_mac("10.255.30.2") == "aa:aa:0a:ff:1e:02"
