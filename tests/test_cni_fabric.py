"""silk-cni on real hosts: controller, daemons, containers talking across VXLAN."""

import subprocess
import time

import pytest

from silkctl.backends import netns
from tests.fixtures.cni import ip_json

pytestmark = pytest.mark.kernel

PING_TIMEOUT = 15.0


def wait_for_ping(source: str, target: str) -> None:
    """Ping `target` from namespace `source` until one reply comes back (bounded)."""
    deadline = time.monotonic() + PING_TIMEOUT
    while True:
        done = subprocess.run(
            netns.command(source, ["ping", "-c", "1", "-W", "1", target]),
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{source} cannot ping {target}: {done.stdout[-300:]}")


def test_containers_on_two_hosts_ping_each_other_across_vxlan(
    underlay, controller, start_daemon, cni_on_daemon
):
    h1, h2 = underlay.add_host(1), underlay.add_host(2)
    silk1, silk2 = cni_on_daemon(start_daemon(h1)), cni_on_daemon(start_daemon(h2))
    assert silk1.subnet != silk2.subnet

    box1, box2 = silk1.container(), silk2.container()
    ip1 = silk1.add(box1)["ips"][0]["address"].split("/")[0]
    ip2 = silk2.add(box2)["ips"][0]["address"].split("/")[0]
    assert ip1 == silk1.subnet.replace(".0/24", ".2")
    assert ip2 == silk2.subnet.replace(".0/24", ".2")
    # The container MTU is the daemon's: the VTEP's, underlay MTU minus 50.
    assert ip_json(box1.name, "link", "show", "eth0")[0]["mtu"] == 1450

    wait_for_ping(box1.name, ip2)
    wait_for_ping(box2.name, ip1)

    status = silk1.cni("STATUS", conf=silk1.conf())
    assert (status.code, status.stdout) == (0, "")
    assert silk1.cni("DEL", box1).code == 0
    assert silk1.records() == {} and silk1.reservations() == []


def test_del_frees_the_address_when_the_real_daemon_is_stopped(
    underlay, controller, start_daemon, cni_on_daemon
):
    host = underlay.add_host(1)
    daemon = start_daemon(host)
    silk = cni_on_daemon(daemon)
    box = silk.container()
    silk.add(box)
    daemon.stop()

    run = silk.cni("DEL", box)
    assert (run.code, run.stdout) == (0, "")
    assert (
        silk.records() == {} and silk.reservations() == [] and silk.host_links() == []
    )
    add = silk.cni("ADD", silk.container())
    assert (add.code, add.json["code"]) == (1, 11)
    status = silk.cni("STATUS", conf=silk.conf())
    assert (status.code, status.json["code"]) == (1, 50)
