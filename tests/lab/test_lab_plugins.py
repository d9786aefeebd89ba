"""Plugins in a whole lab: policy on VXLAN-GBP tags, and the host-gw backend."""

import json
import os
import struct
import subprocess
import sys
import time

import pytest

from silkctl.backends import netns
from silkctl.lab import fabric, processes
from silkctl.lab.probe import listener_argv
from tests.lab.test_lab import silkctl

pytestmark = pytest.mark.kernel

POLICY = {
    "groups": {"web": 10, "db": 20},
    "rules": [{"from": "web", "to": "db", "protocol": "tcp", "ports": "7777"}],
}
CONNECT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as c:
        print("open" if c.recv(16).startswith(b"silk") else "closed")
except OSError:
    print("refused")
"""


@pytest.fixture
def lab_name(unique):
    yield unique
    silkctl("lab", "down", "--name", unique, check=False)


def connect(state, source, target, port):
    """'open' when `source` gets a TCP answer from `target`:`port`, else 'refused'."""
    src, dst = state.container(source), state.container(target)
    done = netns.run(
        src.netns, [sys.executable, "-S", "-c", CONNECT, dst.ip, str(port)]
    )
    return done.stdout.strip()


def eventually(check, expected, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def gbp_ids(pcap_path):
    """Group policy ids of the VXLAN-GBP packets in a pcap file (Ethernet/IPv4/UDP)."""
    ids = []
    with open(pcap_path, "rb") as handle:
        data = handle.read()
    offset = 24  # global header
    while offset + 16 <= len(data):
        _, _, captured, _ = struct.unpack_from("=IIII", data, offset)
        packet = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        ihl = (packet[14] & 0x0F) * 4
        vxlan = packet[14 + ihl + 8 : 14 + ihl + 16]
        if len(vxlan) == 8 and vxlan[0] & 0x80:  # G bit: a GBP header
            ids.append(struct.unpack("!H", vxlan[2:4])[0])
    return ids


def test_lab_policy_allows_only_the_rule_and_carries_tag_on_the_wire(
    lab_name, tmp_path
):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    silkctl(
        "lab",
        "up",
        "--hosts",
        "2",
        "--containers",
        "2",
        "--name",
        lab_name,
        "--policy",
        str(policy_file),
        "--group",
        "h1c1=web",
        "--group",
        "h2c1=db",
        "--output",
        "json",
    )
    state = fabric.load(lab_name)
    extra = processes.start(
        state.container("h2c1").netns,
        listener_argv(7778) + [state.directory],
        state.sub("logs", "listener-7778.log"),
    )
    assert (
        eventually(lambda: connect(state, "h1c1", "h2c1", 7778), "refused") == "refused"
    )

    capture = tmp_path / "underlay.pcap"
    dump = netns.popen(
        f"{lab_name}-ul",
        [
            "tcpdump",
            "-i",
            "br0",
            "-nn",
            "-U",
            "-c",
            "20",
            "-w",
            str(capture),
            "udp",
            "port",
            "4789",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    assert connect(state, "h1c1", "h2c1", 7777) == "open"  # web → db on the port
    try:
        dump.wait(timeout=5)  # it stops by itself after 20 packets
    except subprocess.TimeoutExpired:
        dump.terminate()
        dump.wait()
    assert 10 in gbp_ids(capture)  # web's tag on the wire

    assert connect(state, "h1c1", "h2c1", 7778) == "refused"  # other port
    assert connect(state, "h1c2", "h2c1", 7777) == "refused"  # no group, no rule
    assert connect(state, "h2c1", "h1c1", 7777) == "refused"  # db → web has no rule

    changed = dict(POLICY, rules=[dict(POLICY["rules"][0], ports="7778")])
    policy_file.write_text(json.dumps(changed))
    assert eventually(lambda: connect(state, "h1c1", "h2c1", 7778), "open") == "open"
    assert connect(state, "h1c1", "h2c1", 7777) == "refused"

    # A new tag for web: the destination expects it at once, the source host
    # re-marks web's egress within a renew interval (5 s in the lab).
    policy_file.write_text(json.dumps(dict(changed, groups={"web": 11, "db": 20})))

    def source_mark():
        rules = netns.run(state.host("h1").netns, ["nft", "list", "ruleset"]).stdout
        return "0x0000000b" if "meta mark set 0x0000000b" in rules else "old"

    assert eventually(source_mark, "0x0000000b") == "0x0000000b"
    assert connect(state, "h1c1", "h2c1", 7778) == "open"
    processes.stop([extra])


def test_lab_runs_end_to_end_when_encapsulation_is_host_gw(lab_name):
    done = silkctl(
        "lab",
        "up",
        "--hosts",
        "2",
        "--containers",
        "2",
        "--name",
        lab_name,
        "--encapsulation",
        "host-gw",
        "--output",
        "json",
    )
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert len(report["pairs"]) == 12
    routes = netns.run(f"{lab_name}-h1", ["ip", "route"]).stdout
    h2 = fabric.load(lab_name).host("h2")
    assert f"{h2.overlay_subnet} via {h2.underlay_ip} dev eth0" in routes
    assert "silk-vtep" not in netns.run(f"{lab_name}-h1", ["ip", "link"]).stdout
    assert os.path.exists(fabric.load(lab_name).directory)
