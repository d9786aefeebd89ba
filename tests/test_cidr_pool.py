"""Tests of silkctl/cidr_pool.py: pool layout, membership, random free pick."""

import ipaddress

import pytest

from silkctl.cidr_pool import CidrPool


@pytest.mark.parametrize(
    ("network", "prefix", "blocks", "singles"),
    [
        ("10.255.0.0/16", 24, 255, 255),
        ("10.255.0.0/16", 20, 15, 4095),
        ("10.255.0.0/16", 25, 511, 127),
        ("10.255.0.0/16", 26, 1023, 63),
        ("10.255.0.0/16", 27, 2047, 31),
        ("10.255.0.0/29", 30, 1, 3),
    ],
)
def test_pool_sizes_match_the_reference(network, prefix, blocks, singles):
    pool = CidrPool(network, prefix)
    assert (pool.block_count, pool.single_count) == (blocks, singles)
    assert len(pool.entries(single=False)) == blocks
    assert len(pool.entries(single=True)) == singles


def test_pool_refuses_a_prefix_not_longer_than_the_network():
    with pytest.raises(ValueError, match="holds no block"):
        CidrPool("10.255.0.0/16", 16)


def test_pool_uses_the_network_address_when_host_bits_are_set():
    pool = CidrPool("10.255.255.255/12", 24)
    assert pool.entry(0, single=False) == "10.240.1.0/24"


def test_pool_never_hands_out_block_zero_as_a_block():
    pool = CidrPool("10.255.0.0/16", 24)
    assert "10.255.0.0/24" not in pool.entries(single=False)
    assert pool.entries(single=False)[-1] == "10.255.255.0/24"


def test_pool_singles_come_from_the_first_block_without_its_first_address():
    pool = CidrPool("10.255.0.0/29", 30)
    assert pool.entries(single=True) == [
        "10.255.0.1/32",
        "10.255.0.2/32",
        "10.255.0.3/32",
    ]
    pool = CidrPool("10.0.0.0/24", 29)
    assert pool.entries(single=True) == [f"10.0.0.{i}/32" for i in range(1, 8)]


@pytest.mark.parametrize(
    ("subnet", "member"),
    [
        ("10.255.1.0/24", True),
        ("10.255.255.0/24", True),
        ("10.255.0.0/24", False),  # block 0 is not a block lease
        ("10.255.1.0/25", False),  # another prefix
        ("10.255.1.5/24", False),  # not the canonical text
        ("10.254.1.0/24", False),  # another network
        ("10.255.0.7/32", True),
        ("10.255.0.0/32", False),  # the network address itself
        ("10.255.1.7/32", False),  # a /32 outside block 0
        ("garbage", False),
        ("10.255.1.0", False),
    ],
)
def test_pool_membership_is_by_canonical_entry(subnet, member):
    assert CidrPool("10.255.0.0/16", 24).is_member(subnet) is member


def test_pool_pick_free_avoids_taken_entries_when_the_pool_is_nearly_full():
    pool = CidrPool("10.255.0.0/16", 24)
    entries = pool.entries(single=False)
    taken = set(entries) - {entries[7], entries[99]}
    picks = {pool.pick_free(taken, single=False) for _ in range(200)}
    assert picks == {entries[7], entries[99]}


def test_pool_pick_free_is_spread_over_the_pool_when_it_is_mostly_free():
    pool = CidrPool("10.255.0.0/16", 24)
    picks = [pool.pick_free(set(), single=False) for _ in range(300)]
    assert all(pool.is_member(p) for p in picks)
    assert len(set(picks)) > 100


def test_pool_pick_free_returns_none_when_exhausted():
    pool = CidrPool("10.255.0.0/29", 30)
    assert pool.pick_free(set(pool.entries(single=False)), single=False) is None
    assert pool.pick_free(set(pool.entries(single=True)), single=True) is None


def test_pool_pick_free_ignores_taken_subnets_of_other_networks():
    pool = CidrPool("10.255.0.0/29", 30)
    taken = {f"10.1.{i}.0/30" for i in range(50)}
    assert pool.pick_free(taken, single=False) == "10.255.0.4/30"


def test_pool_single_entries_are_slash_32_inside_the_network():
    pool = CidrPool("10.255.0.0/16", 24)
    for entry in pool.entries(single=True):
        assert ipaddress.IPv4Network(entry).subnet_of(
            ipaddress.IPv4Network("10.255.0.0/24")
        )
