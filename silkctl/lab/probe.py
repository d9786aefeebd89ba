"""Proves the lab's fabric: every container reaches every other by ICMP and TCP.

Each container runs a tiny TCP listener; one probe process per source
container (inside its namespace) pings and connects to every target,
retrying until a deadline so a fabric still converging gets its chance.
"""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from silkctl.backends import netns
from silkctl.errors import SilkError

PROBE_PORT = 7777

LISTENER = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])), backlog=64)
while True:
    conn, _ = server.accept()
    try:
        conn.sendall(b"silk\\n")
    finally:
        conn.close()
"""

PROBER = """
import json, socket, subprocess, sys, time
targets, port, deadline = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + deadline
results = {}
for ip in targets:
    icmp = tcp = False
    while True:
        if not icmp:
            icmp = subprocess.run(["ping", "-c1", "-W1", "-n", "-q", ip],
                                  capture_output=True).returncode == 0
        if not tcp:
            try:
                with socket.create_connection((ip, port), timeout=1) as conn:
                    tcp = conn.recv(16).startswith(b"silk")
            except OSError:
                pass
        if (icmp and tcp) or time.monotonic() > end:
            break
        time.sleep(0.2)
    results[ip] = {"icmp": icmp, "tcp": tcp}
print(json.dumps(results))
"""


@dataclass(frozen=True)
class PairResult:
    source: str
    target: str
    icmp: bool
    tcp: bool

    @property
    def ok(self) -> bool:
        return self.icmp and self.tcp


def listener_argv(port: int = PROBE_PORT) -> list[str]:
    return [sys.executable, "-S", "-c", LISTENER, str(port)]


def probe_all(
    containers, deadline: float = 15.0, port: int = PROBE_PORT
) -> list[PairResult]:
    """Probe every ordered pair of distinct containers; returns one result per pair."""
    by_ip = {c.ip: c.name for c in containers}

    def from_source(source):
        targets = [c.ip for c in containers if c.name != source.name]
        argv = [
            sys.executable,
            "-S",
            "-c",
            PROBER,
            json.dumps(targets),
            str(port),
            str(deadline),
        ]
        try:
            done = netns.run(source.netns, argv, timeout=deadline * len(targets) + 30)
            answers = json.loads(done.stdout)
        except (SilkError, json.JSONDecodeError, subprocess.SubprocessError):
            answers = {}
        return [
            PairResult(
                source.name,
                by_ip[ip],
                bool(answers.get(ip, {}).get("icmp")),
                bool(answers.get(ip, {}).get("tcp")),
            )
            for ip in targets
        ]

    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        results = [
            pair for batch in pool.map(from_source, containers) for pair in batch
        ]
    return results
