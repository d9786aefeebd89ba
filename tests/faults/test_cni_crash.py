"""CNI ADD killed (SIGKILL) at each of its steps; the next DEL or GC leaves nothing.

The service that does the ADD work is killed through the test-only hook
SILKCTL_TEST_CNI_KILL_AT in silkctl/cni_service.py, at the point where the
named step has just completed. The cleanup call then runs with the service
down (silk-cni's in-process path) or after the service is restarted.
"""

import json

import pytest

from silkctl import cni
from silkctl.backends import netns

pytestmark = pytest.mark.kernel

STEPS = ("ip-reserved", "veth-made", "datastore-written")


def _leftovers(host, box) -> list[str]:
    found = []
    if host.host_links():
        found.append(f"host veths {host.host_links()}")
    if host.reservations():
        found.append(f"reservations {host.reservations()}")
    if host.records():
        found.append(f"datastore records {sorted(host.records())}")
    links = [
        link["ifname"]
        for link in json.loads(netns.run(box.name, ["ip", "-j", "link"]).stdout)
        if link["ifname"] != "lo"
    ]
    if links:
        found.append(f"container links {links}")
    return found


@pytest.mark.parametrize("cleanup", ["DEL", "GC", "DEL-restarted"])
@pytest.mark.parametrize("step", STEPS)
def test_add_leaves_nothing_after_cleanup_when_killed_at_step(
    step, cleanup, cni_host_factory, monkeypatch, fault_report
):
    report = fault_report(f"CNI ADD SIGKILL at {step}, then {cleanup}")
    monkeypatch.setenv("SILKCTL_TEST_CNI_KILL_AT", step)
    host = cni_host_factory()
    box = host.container()

    run = host.cni("ADD", box)
    report.fault(f"SIGKILL cni service at {step}")
    host.service.wait(10)
    report.check(host.service.returncode == -9, "service died of SIGKILL")
    report.check(run.code != 0, f"ADD reported failure, got {run.stdout!r}")
    evidence = {
        "ip-reserved": bool(host.reservations()),
        "veth-made": bool(host.host_links()),
        "datastore-written": bool(host.records()),
    }
    report.check(evidence[step], f"the crash left the {step} state behind")

    if cleanup == "DEL-restarted":
        host.stop_service()
        monkeypatch.delenv("SILKCTL_TEST_CNI_KILL_AT")
        host.start_service()
    if cleanup == "GC":
        conf = host.conf(**{cni.VALID_ATTACHMENTS: []})
        done = host.cni("GC", None, conf)
    else:
        done = host.cni("DEL", box)
    report.check(done.code == 0, f"{cleanup} succeeded: {done.stdout} {done.stderr}")

    left = _leftovers(host, box)
    report.lost(len(host.reservations()), "reserved IPs")
    report.check(not left, f"nothing left behind, found {left}")

    # The address is free again: a fresh ADD gets the first one.
    if cleanup == "DEL-restarted":
        again = host.add(host.container())
        report.check(
            again["ips"][0]["address"].startswith("10.255.30."), "address reusable"
        )
