"""Property tests: whatever happens, leases never overlap, never leave the
network, and a released or expired subnet can be leased again."""

import ipaddress
import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from silkctl.cidr_pool import CidrPool
from silkctl.errors import Conflict
from silkctl.leaser import Leaser
from tests.fixtures.db import migrated_store

EXPIRATION = 3600
_files = itertools.count()
HOSTS = [f"192.0.2.{n}" for n in range(1, 21)]


@st.composite
def pools(draw):
    """(network, prefix): any small IPv4 network, so exhaustion is reached often."""
    length = draw(st.integers(22, 28))
    base = draw(st.integers(0, 2**32 - 1)) >> (32 - length) << (32 - length)
    network = ipaddress.IPv4Network((base, length))
    return str(network), draw(st.integers(length + 1, min(length + 4, 30)))


class LeasingMachine(RuleBasedStateMachine):
    """Random acquire / renew / release / expire sequences on one real SQLite store."""

    def __init__(self):
        super().__init__()
        self.store = None

    @initialize(pool=pools())
    def open_store(self, pool):
        network, prefix = pool
        self.network = ipaddress.IPv4Network(network)
        self.pool = CidrPool(network, prefix)
        self.store = migrated_store(f"sqlite:///{self.tmp}/p{next(_files)}.db")
        self.leaser = Leaser(self.store, self.pool, EXPIRATION)

    @rule(host=st.sampled_from(HOSTS), single=st.booleans())
    def acquire(self, host, single):
        before = self._rows()
        try:
            lease = self.leaser.acquire(host, single)
        except Conflict:
            kind = [
                r for r in before.values() if r.overlay_subnet.endswith("/32") == single
            ]
            assert host not in before
            assert len(kind) == self.pool.size(single)  # truly full
            assert all(not r.expired for r in kind)  # and nothing to reclaim
            return
        if host in before and self.pool.is_member(before[host].overlay_subnet):
            assert lease.overlay_subnet == before[host].overlay_subnet
        assert self.pool.is_member(lease.overlay_subnet)

    @rule(host=st.sampled_from(HOSTS))
    def renew(self, host):
        row = self._rows().get(host)
        if row is not None:
            self.leaser.renew(_lease_of(row))

    @rule(host=st.sampled_from(HOSTS))
    def release(self, host):
        before = self._rows()
        row = before.get(host)
        self.leaser.release(host)
        assert host not in self._rows()
        if row is not None and self.pool.is_member(row.overlay_subnet):
            single = row.overlay_subnet.endswith("/32")
            kind = [
                r for r in before.values() if r.overlay_subnet.endswith("/32") == single
            ]
            newcomer = "198.51.100.7"
            # the freed subnet is available again: the pool cannot be full now,
            # and when it was full, the freed subnet is the one free entry
            lease = self.leaser.acquire(newcomer, single)
            assert self.pool.is_member(lease.overlay_subnet)
            if len(kind) == self.pool.size(single):
                assert lease.overlay_subnet == row.overlay_subnet
            self.leaser.release(newcomer)

    @rule(host=st.sampled_from(HOSTS))
    def expire(self, host):
        with self.store.session():
            self.store.db.execute_sql(
                "UPDATE leases SET last_renewed_at = last_renewed_at - ? "
                "WHERE underlay_ip = ?",
                (EXPIRATION + 10, host),
            )

    @invariant()
    def leases_never_overlap_and_stay_in_network(self):
        if self.store is None:
            return
        networks = [
            ipaddress.IPv4Network(r.overlay_subnet) for r in self._rows().values()
        ]
        for network in networks:
            assert network.subnet_of(self.network)
        for i, a in enumerate(networks):
            for b in networks[i + 1 :]:
                assert not a.overlaps(b), f"{a} overlaps {b}"

    def _rows(self):
        _, rows = self.leaser.all_leases()
        return {row.underlay_ip: row for row in rows}

    def teardown(self):
        if self.store is not None:
            self.store.close()


def _lease_of(row):
    from silkctl.client import Lease

    return Lease(row.underlay_ip, row.overlay_subnet, row.overlay_hwaddr)


def test_leasing_properties_hold_for_any_sequence(tmp_path):
    LeasingMachine.tmp = tmp_path
    runner = LeasingMachine.TestCase
    runner.settings = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner().runTest()
