"""Tests of silkctl/leaser.py: acquire, renew, release and listing (SPEC §1.6-1.8)."""

import time

import pytest

from silkctl.cidr_pool import CidrPool
from silkctl.client import Lease
from silkctl.errors import BadRequest, Conflict, NonRetriable
from silkctl.hwaddr import vtep_mac
from silkctl.leaser import Leaser


def make_leaser(store, network="10.255.0.0/16", prefix=24, expiration=60):
    return Leaser(store, CidrPool(network, prefix), expiration)


@pytest.fixture
def leaser(store):
    return make_leaser(store)


def wait_expired(seconds: float) -> None:
    """Sleep past an expiry measured in whole seconds of the database clock."""
    time.sleep(seconds + 1.1)


def test_acquire_gives_an_in_pool_block_with_its_vtep_mac(leaser):
    lease = leaser.acquire("10.0.16.5")
    assert leaser.pool.is_member(lease.overlay_subnet)
    assert lease.overlay_subnet.endswith("/24")
    assert lease.overlay_hardware_addr == vtep_mac(lease.overlay_subnet)


def test_acquire_twice_for_the_same_host_returns_the_same_lease(leaser):
    assert leaser.acquire("10.0.16.5") == leaser.acquire("10.0.16.5")


def test_acquire_keeps_a_block_when_the_host_now_asks_for_a_single_ip(leaser):
    block = leaser.acquire("10.0.16.5")
    assert leaser.acquire("10.0.16.5", single=True) == block


def test_acquire_single_ips_come_from_the_first_block(store):
    leaser = make_leaser(store, "10.255.0.0/29", 30)
    leases = [leaser.acquire(f"10.0.0.{i}", single=True) for i in range(1, 4)]
    assert sorted(lease.overlay_subnet for lease in leases) == [
        "10.255.0.1/32",
        "10.255.0.2/32",
        "10.255.0.3/32",
    ]
    with pytest.raises(Conflict, match="no lease available"):
        leaser.acquire("10.0.0.9", single=True)


def test_acquire_gives_distinct_subnets_until_the_pool_is_exhausted(store):
    leaser = make_leaser(store, "10.255.0.0/16", 20)
    subnets = {leaser.acquire(f"10.0.0.{i}").overlay_subnet for i in range(1, 16)}
    assert len(subnets) == 15
    with pytest.raises(Conflict, match="^no lease available$"):
        leaser.acquire("10.0.0.99")


def test_acquire_reclaims_the_oldest_expired_lease_when_exhausted(store):
    leaser = make_leaser(store, "10.255.0.0/29", 30, expiration=1)
    first = leaser.acquire("10.0.0.1")
    with pytest.raises(Conflict):
        leaser.acquire("10.0.0.2")
    wait_expired(1)
    second = leaser.acquire("10.0.0.2")
    assert second.overlay_subnet == first.overlay_subnet
    assert [row.underlay_ip for row in leaser.all_leases()[1]] == ["10.0.0.2"]
    # The first host's late renew now conflicts with the new owner.
    with pytest.raises(NonRetriable):
        leaser.renew(first)


def test_acquire_replaces_a_lease_outside_a_changed_network(store):
    old = make_leaser(store, "10.255.0.0/16").acquire("10.0.0.1")
    new_leaser = make_leaser(store, "10.254.0.0/16")
    new = new_leaser.acquire("10.0.0.1")
    assert new.overlay_subnet.startswith("10.254.")
    assert new != old
    assert [row.overlay_subnet for row in new_leaser.all_leases()[1]] == [
        new.overlay_subnet
    ]


@pytest.mark.parametrize("bad", ["nope", "10.0.0.256", "::1", "", "10.0.0.1/24"])
def test_acquire_rejects_a_non_ipv4_underlay(leaser, bad):
    with pytest.raises(BadRequest, match="invalid ipv4 address"):
        leaser.acquire(bad)
    assert leaser.all_leases()[1] == []


NOT_HOST_ADDRESSES = [
    ("0.0.0.0", "unspecified address"),
    ("0.255.255.255", "this-network address (0.0.0.0/8)"),
    ("127.0.0.1", "loopback address"),
    ("127.255.0.9", "loopback address"),
    ("224.0.0.1", "multicast address"),
    ("239.255.255.255", "multicast address"),
    ("240.0.0.1", "reserved address (240.0.0.0/4)"),
    ("255.255.255.255", "broadcast address"),
]


@pytest.mark.parametrize(("ip", "reason"), NOT_HOST_ADDRESSES)
def test_acquire_refuses_with_bad_request_when_underlay_is_not_a_host_address(
    leaser, ip, reason
):
    with pytest.raises(BadRequest) as caught:
        leaser.acquire(ip)
    assert str(caught.value) == f"invalid underlay_ip {ip}: {reason}"
    assert leaser.all_leases()[1] == []


@pytest.mark.parametrize(
    "ip", ["1.0.0.1", "126.255.255.255", "128.0.0.1", "169.254.1.1", "223.255.255.254"]
)
def test_acquire_leases_when_underlay_is_a_unicast_address_at_a_range_edge(leaser, ip):
    assert leaser.acquire(ip).underlay_ip == ip


@pytest.mark.parametrize(("ip", "reason"), NOT_HOST_ADDRESSES[:3])
def test_release_refuses_with_bad_request_when_underlay_is_not_a_host_address(
    leaser, ip, reason
):
    # Not the idempotent success of an unknown host: such an address is bad input.
    leaser.acquire("10.0.0.1")
    before = leaser.all_leases()[1]
    with pytest.raises(BadRequest) as caught:
        leaser.release(ip)
    assert str(caught.value) == f"invalid underlay_ip {ip}: {reason}"
    assert leaser.all_leases()[1] == before


@pytest.mark.parametrize(("ip", "reason"), NOT_HOST_ADDRESSES)
def test_renew_refuses_as_non_retriable_when_underlay_is_not_a_host_address(
    leaser, ip, reason
):
    with pytest.raises(NonRetriable) as caught:
        leaser.renew(Lease(ip, "10.255.1.0/24", "ee:ee:0a:ff:01:00"))
    assert str(caught.value) == (
        f"renew-subnet-lease: invalid underlay_ip '{ip}': {reason}"
    )
    assert leaser.all_leases()[1] == []


@pytest.mark.parametrize(
    ("subnet", "cause"),
    [
        ("10.255.0.0/99", "'99' is not a valid netmask"),
        ("10.255.1.7/24", "10.255.1.7/24 has host bits set"),
        ("10.255.1.300/24", "octet 300 (> 255) not permitted in '10.255.1.300'"),
    ],
)
def test_renew_error_names_the_cause_when_overlay_subnet_is_invalid(
    leaser, subnet, cause
):
    with pytest.raises(NonRetriable) as caught:
        leaser.renew(Lease("10.0.0.1", subnet, "ee:ee:0a:ff:01:00"))
    assert str(caught.value) == (
        f"renew-subnet-lease: invalid overlay_subnet '{subnet}': {cause}"
    )
    assert leaser.all_leases()[1] == []


def test_renew_keeps_a_lease_routable_without_changing_the_tag(leaser):
    lease = leaser.acquire("10.0.0.1")
    tag = leaser.routable_tag()
    leaser.renew(lease)
    assert leaser.routable_tag() == tag


def test_renew_inserts_a_valid_lease_it_has_never_seen(leaser):
    lease = Lease("10.0.0.7", "10.200.3.0/24", "ee:ee:0a:c8:03:00")
    leaser.renew(lease)
    _, rows = leaser.routable()
    assert rows == [("10.0.0.7", "10.200.3.0/24", "ee:ee:0a:c8:03:00")]


@pytest.mark.parametrize("field", ["overlay_subnet", "overlay_hardware_addr"])
def test_renew_refuses_a_lease_that_differs_from_the_stored_one(leaser, field):
    lease = leaser.acquire("10.0.0.1")
    changed = {
        "overlay_subnet": "10.255.99.0/24",
        "overlay_hardware_addr": "ee:ee:0a:ff:63:00",
    }[field]
    other = Lease(**{**lease.to_json(), field: changed})
    with pytest.raises(NonRetriable, match="lease mismatch"):
        leaser.renew(other)
    assert leaser.routable()[1] == [tuple(lease.to_json().values())]


@pytest.mark.parametrize(
    "lease",
    [
        Lease("nope", "10.255.1.0/24", "ee:ee:0a:ff:01:00"),
        Lease("10.0.0.1", "10.255.1.0", "ee:ee:0a:ff:01:00"),
        Lease("10.0.0.1", "10.255.1.7/24", "ee:ee:0a:ff:01:00"),
        Lease("10.0.0.1", "10.255.1.0/24", "not-a-mac"),
    ],
)
def test_renew_refuses_an_invalid_lease_as_non_retriable(leaser, lease):
    with pytest.raises(NonRetriable, match="renew-subnet-lease: "):
        leaser.renew(lease)
    assert leaser.all_leases()[1] == []


def test_renew_refuses_a_subnet_held_by_another_host(leaser):
    lease = leaser.acquire("10.0.0.1")
    with pytest.raises(NonRetriable, match="renew-subnet-lease"):
        leaser.renew(
            Lease("10.0.0.2", lease.overlay_subnet, lease.overlay_hardware_addr)
        )


def test_release_forgets_the_lease_and_is_idempotent(leaser):
    leaser.acquire("10.0.0.1")
    leaser.release("10.0.0.1")
    leaser.release("10.0.0.1")
    leaser.release("10.0.0.2")
    assert leaser.all_leases()[1] == []


def test_expired_leases_are_hidden_until_renewed(store):
    # Expiry counts whole seconds: with 2 s a lease renewed just now stays
    # routable even when the listing below crosses into the next second.
    leaser = make_leaser(store, expiration=2)
    kept = leaser.acquire("10.0.0.1")
    leaser.acquire("10.0.0.2")
    tag = leaser.routable_tag()
    wait_expired(2)
    leaser.renew(kept)
    after_expiry = leaser.routable_tag()
    assert after_expiry != tag
    assert [row[0] for row in leaser.routable()[1]] == ["10.0.0.1"]
    rows = {row.underlay_ip: row.expired for row in leaser.all_leases()[1]}
    assert rows == {"10.0.0.1": False, "10.0.0.2": True}


def test_renew_of_an_expired_lease_revives_it_and_changes_the_tag(store):
    leaser = make_leaser(store, expiration=2)
    lease = leaser.acquire("10.0.0.1")
    wait_expired(2)
    expired_tag = leaser.routable_tag()
    assert leaser.routable()[1] == []
    leaser.renew(lease)
    assert leaser.routable_tag() != expired_tag
    assert [row[0] for row in leaser.routable()[1]] == ["10.0.0.1"]


def test_acquire_returns_an_expired_in_pool_lease_as_is(store):
    leaser = make_leaser(store, expiration=1)
    lease = leaser.acquire("10.0.0.1")
    wait_expired(1)
    assert leaser.acquire("10.0.0.1") == lease
    assert leaser.routable()[1] == []
