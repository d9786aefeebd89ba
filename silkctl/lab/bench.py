"""`lab bench`: overlay vs underlay throughput (iperf3) and latency (ping).

Both paths are measured in the same run, alternately, and medians are
compared, because the machine is shared and noisy: the ratio is what counts.
"""

import json
import re
import statistics
import subprocess
import time
from dataclasses import dataclass

from silkctl.backends import netns
from silkctl.errors import SilkError
from silkctl.lab.state import LabState

IPERF_PORT = 5201


@dataclass
class PathFigures:
    label: str
    source: str
    target_ip: str
    gbits: list[float]
    rtt_ms: list[float]

    @property
    def gbits_median(self) -> float:
        return statistics.median(self.gbits) if self.gbits else 0.0

    @property
    def rtt_median(self) -> float:
        return statistics.median(self.rtt_ms) if self.rtt_ms else 0.0


def _iperf(source_ns: str, target_ns: str, target_ip: str, seconds: int) -> float:
    server = netns.popen(
        target_ns,
        ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            done = netns.run(
                source_ns,
                [
                    "iperf3",
                    "-c",
                    target_ip,
                    "-p",
                    str(IPERF_PORT),
                    "-t",
                    str(seconds),
                    "-J",
                ],
                check=False,
                timeout=seconds + 30,
            )
            try:
                figures = json.loads(done.stdout)
                return figures["end"]["sum_received"]["bits_per_second"] / 1e9
            except (ValueError, KeyError):
                time.sleep(0.1)  # the server may not listen yet
        raise SilkError(f"iperf3 {source_ns} -> {target_ip}: {done.stdout[-200:]}")
    finally:
        server.kill()
        server.wait()


def _rtt(source_ns: str, target_ip: str, count: int = 20) -> float:
    done = netns.run(
        source_ns,
        ["ping", "-n", "-q", "-c", str(count), "-i", "0.05", target_ip],
        timeout=30,
    )
    match = re.search(r"= [\d.]+/([\d.]+)/", done.stdout)
    if not match:
        raise SilkError(f"ping {target_ip}: no round-trip summary")
    return float(match.group(1))


def run(
    state: LabState, runs: int = 3, seconds: int = 3
) -> tuple[PathFigures, PathFigures]:
    """Measure container→container across hosts and host→host on the underlay."""
    by_host: dict[str, list] = {}
    for container in state.containers:
        by_host.setdefault(container.host, []).append(container)
    if len(by_host) < 2:
        raise SilkError("lab bench needs containers on at least two hosts")
    (host_a, (src, *_)), (host_b, (dst, *_)) = list(by_host.items())[:2]
    overlay = PathFigures(f"overlay {src.name} → {dst.name}", src.netns, dst.ip, [], [])
    a, b = state.host(host_a), state.host(host_b)
    underlay = PathFigures(
        f"underlay {a.name} → {b.name}", a.netns, b.underlay_ip, [], []
    )
    targets = {overlay.label: dst.netns, underlay.label: b.netns}
    for _ in range(runs):
        for path in (overlay, underlay):
            path.gbits.append(
                _iperf(path.source, targets[path.label], path.target_ip, seconds)
            )
            path.rtt_ms.append(_rtt(path.source, path.target_ip))
    return overlay, underlay
