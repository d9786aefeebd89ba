"""A daemon SIGKILLed in the middle of converging 2,000 peers, then restarted.

2,000 remote leases are written straight into the controller's SQLite
database (as bench/converge.py does), the daemon is started and killed as
soon as its first routes appear. While it is down the lease table changes
(some peers gone, some new). After a restart the VTEP's routes, ARP and FDB
entries must be exactly the desired ones: silkctl.backends.converge's diff
between desired_state and read_kernel_state is empty.
"""

import signal
import time

import pytest

from silkctl import hwaddr
from silkctl.backends import converge, netns
from silkctl.backends.netlink import Netlink
from silkctl.client import Lease
from silkctl.db import LeaseStore
from tests.fixtures.hosts import VTEP, vtep_routes, wait_for

pytestmark = pytest.mark.kernel

OVERLAY = "10.0.0.0/8"
PEERS = 2000
CHURN = 50


def _peer(n: int) -> Lease:
    subnet = f"10.{n // 256}.{n % 256}.0/24"
    return Lease(f"172.16.{n // 250}.{n % 250 + 1}", subnet, hwaddr.vtep_mac(subnet))


def _route_count(namespace: str) -> int:
    done = netns.run(namespace, ["ip", "-4", "route", "show", "dev", VTEP], check=False)
    return done.stdout.count("\n") if done.returncode == 0 else 0


def _kernel_diff(host, client) -> converge.Diff | None:
    leases, _ = client.list_leases()
    local = [lease for lease in leases if lease.underlay_ip == host.underlay_ip]
    if len(local) != 1:
        return None
    desired = converge.desired_state(leases, local[0], OVERLAY)
    with Netlink(host.netns) as nl:
        index = nl.link_index(VTEP)
        if index is None:
            return None
        return converge.diff(desired, converge.read_kernel_state(nl, index))


def test_kernel_state_is_exact_after_daemon_sigkilled_mid_convergence(
    underlay, controller_factory, start_daemon, fault_report
):
    report = fault_report(f"daemon SIGKILL while converging {PEERS} peers")
    ctl = controller_factory(network=OVERLAY, lease_expiration_seconds=3600)
    store = LeaseStore.open(f"sqlite:///{ctl.db_path}")
    with store.session(), store.write():
        for n in range(1, PEERS + 1):
            lease = _peer(n)
            store.insert(*lease.to_json().values())
    host = underlay.add_host(2)
    daemons = []
    try:
        daemon = start_daemon(host, wait=False, overlay_network=OVERLAY)
        daemons.append(daemon)
        # More than the kernel's connected route: peers are being written.
        partial = wait_for(
            lambda: max(_route_count(host.netns) - 1, 0), 30, 0.002, "the first peers"
        )
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(10)
        at_kill = len(vtep_routes(host.netns))
        report.fault(f"SIGKILL daemon with {partial}..{at_kill} of {PEERS} peer routes")
        report.check(daemon.proc.returncode == -signal.SIGKILL, "daemon died")
        report.check(at_kill < PEERS, f"killed mid-convergence ({at_kill} routes)")

        # Peers come and go while it is down.
        with store.session(), store.write():
            for n in range(1, CHURN + 1):
                row = store.get(_peer(n).underlay_ip, 3600)
                store.delete(row)
            for n in range(PEERS + 1, PEERS + CHURN + 1):
                store.insert(*_peer(n).to_json().values())
        report.fault(f"{CHURN} peers released and {CHURN} new while down")

        client = ctl.client()
        restarted = start_daemon(host, overlay_network=OVERLAY)
        daemons.append(restarted)
        deadline = time.monotonic() + 60
        while True:
            diff = _kernel_diff(host, client)
            if diff is not None and not diff:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"kernel never converged: {diff and diff.summary()}")
            time.sleep(0.5)
        report.check(not diff, "desired vs kernel diff is empty after restart")
        report.check(restarted.alive(), "restarted daemon is running")
        routes = len(vtep_routes(host.netns))
        report.check(routes == PEERS, f"{PEERS} peer routes, kernel has {routes}")
        report.lost(PEERS - routes, "peer routes")
    finally:
        store.close()
        for one in daemons:
            one.stop()
        # An emptied namespace goes away much faster than one with 2,000 routes.
        netns.run(host.netns, ["ip", "link", "del", VTEP], check=False)
