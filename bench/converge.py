"""Benchmark of the data plane: convergence time, netlink messages, RSS, spread.

Run as root from the repository: `.venv/bin/python bench/converge.py` (about
a minute; `--quick` skips the 5,000-lease daemon). Everything happens in
network namespaces named `bench<pid>-*`, removed at the end.

1. In process, on one host namespace: first convergence of N = 1,000 and
   5,000 remote leases (read the VTEP's tables, diff, write), then one
   incremental change with 5,000 present (one host added, one removed):
   time and netlink messages sent.
2. A real controller (SQLite) and a real `silkctl serve daemon` holding
   5,000 leases: its first and incremental convergence as it logs them, and
   its resident memory.
3. Three hosts with a 1 s poll interval: time from a new host's lease being
   acquired (its daemon's `lease-acquired` line) to its route existing on
   every other host, over a few new hosts.

Targets: 5,000 first convergence <= 3 s; one change <= 50 ms with a handful
of messages; RSS <= 100 MB; propagation <= 2 s.

Reference run (2 cores shared with other test runs, load average 1.1;
kernel 6.18, Python 3.11; pyroute2 0.9.7 encodes and decodes every message,
about 100 µs of CPU each, which is most of a first convergence):

    in-process first convergence  N=1000: 0.45 s, 3026 messages (VTEP made too)
    in-process first convergence  N=5000: 2.40 s, 15026 messages (VTEP made too)
    in-process one change (5000 present): 3.2 ms, 6 messages
    in-process unchanged poll (5000 present): 0.48 ms
    propagation (1 s poll), 5 new hosts: mean 0.67 s, max 0.86 s
    daemon first convergence      N=5000: 2.61 s, 15000 messages
    daemon one change             (5000): 9.6 ms, 6 messages
    daemon RSS with 5000 leases: 72 MB (peak 73 MB)

Under load the first convergence stretches with the CPU share: 3.1 to 5.5 s
in process at load average 6 to 9.
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from silkctl import certs, hwaddr  # noqa: E402
from silkctl.backends import converge, netns  # noqa: E402
from silkctl.backends.netlink import Netlink  # noqa: E402
from silkctl.backends.underlay import Underlay  # noqa: E402
from silkctl.backends.vxlan import VxlanBackend  # noqa: E402
from silkctl.client import ControllerClient, Lease, client_tls_context  # noqa: E402
from silkctl.config import DaemonConfig  # noqa: E402

SILKCTL = str(Path(sys.executable).with_name("silkctl"))
BIG_OVERLAY = "10.0.0.0/8"
CONTROLLER_PORT, HEALTH_PORT, DAEMON_PORT = 4103, 19683, 23954


def synthetic_leases(count: int, offset: int = 0) -> list[Lease]:
    """`count` remote /24 leases inside 10.0.0.0/8, on distinct underlay addresses."""
    leases = []
    for n in range(offset + 1, offset + count + 1):
        subnet = f"10.{n // 256}.{n % 256}.0/24"
        leases.append(
            Lease(f"172.16.{n // 250}.{n % 250 + 1}", subnet, hwaddr.vtep_mac(subnet))
        )
    return leases


LOCAL = Lease("172.31.0.11", "10.255.255.0/24", hwaddr.vtep_mac("10.255.255.0/24"))


# -- 1. in process ------------------------------------------------------------------


def bench_in_process(underlay) -> list[str]:
    """The daemon's own path (VxlanBackend) without the HTTP around it."""
    host = underlay.add_host(1)
    config = DaemonConfig(underlay_ip=host.underlay_ip, overlay_network=BIG_OVERLAY)
    lines = []
    with Netlink(host.netns) as nl:
        for count in (1000, 5000):
            converge._peer_entries.cache_clear()
            leases = synthetic_leases(count)
            backend = VxlanBackend(config, nl, host.netns)
            started, sent = time.perf_counter(), nl.messages
            backend.setup(LOCAL)
            result = backend.converge(leases)
            seconds, messages = time.perf_counter() - started, nl.messages - sent
            assert not result.failed and result.added == 3 * count, result
            lines.append(
                f"in-process first convergence  N={count}: {seconds:.2f} s, "
                f"{messages} messages (VTEP made too)"
            )
            assert backend.converge(None) is None  # our own writes' notifications
            if count == 5000:
                changed = leases[1:] + synthetic_leases(1, offset=count)
                started, sent = time.perf_counter(), nl.messages
                result = backend.converge(changed)
                seconds, messages = time.perf_counter() - started, nl.messages - sent
                assert (result.added, result.deleted) == (3, 3), result
                lines.append(
                    f"in-process one change (5000 present): "
                    f"{seconds * 1000:.1f} ms, {messages} messages"
                )
                started = time.perf_counter()
                assert backend.converge(None) is None
                lines.append(
                    f"in-process unchanged poll (5000 present): "
                    f"{(time.perf_counter() - started) * 1000:.2f} ms"
                )
            backend.teardown()
            backend.close()
    underlay.remove_host("h1")
    return lines


# -- 2. and 3. real processes --------------------------------------------------------


class _NsHTTPS(http.client.HTTPSConnection):
    def __init__(self, namespace, host, port, context):
        super().__init__(host, port, context=context, timeout=10)
        self.namespace = namespace

    def connect(self):
        raw = netns.call_in(
            self.namespace, socket.create_connection, (self.host, self.port), 10
        )
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class _NsClient(ControllerClient):
    def __init__(self, namespace, url, tls):
        super().__init__(url, tls)
        self.namespace = namespace

    def _connection(self):
        if getattr(self._local, "conn", None) is None:
            self._local.conn = _NsHTTPS(
                self.namespace, self._host, self._port, self._tls
            )
        return self._local.conn


def _http_ok(namespace: str, port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.sock = netns.call_in(
            namespace, socket.create_connection, ("127.0.0.1", port), 2
        )
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


class Fabric:
    """A controller in the underlay namespace and daemons in host namespaces."""

    def __init__(self, underlay: Underlay, workdir: Path, network: str, poll: float):
        self.underlay, self.workdir, self.network, self.poll = (
            underlay,
            workdir,
            network,
            poll,
        )
        self.tls = certs.init_certs(str(workdir / "certs"), ips=[underlay.gateway_ip])
        self.url = f"https://{underlay.gateway_ip}:{CONTROLLER_PORT}"
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, namespace: str, argv: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                netns.command(namespace, argv), stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def start_controller(self) -> None:
        config = self.workdir / "controller.json"
        config.write_text(
            json.dumps(
                {
                    "listen_host": self.underlay.gateway_ip,
                    "listen_port": CONTROLLER_PORT,
                    "health_check_port": HEALTH_PORT,
                    "network": self.network,
                    "subnet_prefix_length": 24,
                    "lease_expiration_seconds": 86400,
                    "database": f"sqlite:///{self.workdir}/leases.db",
                    "ca_cert_file": self.tls.ca_cert,
                    "server_cert_file": self.tls.server_cert,
                    "server_key_file": self.tls.server_key,
                }
            )
        )
        self._spawn(
            self.underlay.netns,
            [SILKCTL, "serve", "controller", "--config", str(config)],
            self.workdir / "controller.log",
        )
        _wait(
            lambda: _http_ok(self.underlay.netns, HEALTH_PORT, "/health"),
            30,
            "the controller",
        )

    def preload(self, leases: list[Lease]) -> None:
        """Write leases straight into the (not yet served) database, in one transaction.

        Through the API each costs a round trip and a commit (minutes for 5,000).
        """
        from silkctl import db, migrations

        store = db.LeaseStore.open(f"sqlite:///{self.workdir}/leases.db")
        with store.session():
            migrations.migrate(store.db)
            with store.write():
                for lease in leases:
                    store.insert(
                        lease.underlay_ip,
                        lease.overlay_subnet,
                        lease.overlay_hardware_addr,
                    )
        store.close()

    def client(self) -> ControllerClient:
        tls = client_tls_context(
            self.tls.ca_cert, self.tls.client_cert, self.tls.client_key
        )
        return _NsClient(self.underlay.netns, self.url, tls)

    def start_daemon(self, host) -> tuple[subprocess.Popen, Path]:
        config = self.workdir / f"{host.name}.json"
        config.write_text(
            json.dumps(
                {
                    "underlay_ip": host.underlay_ip,
                    "overlay_network": self.network,
                    "subnet_prefix_length": 24,
                    "health_check_port": DAEMON_PORT,
                    "connectivity_server_url": self.url,
                    "ca_cert_file": self.tls.ca_cert,
                    "client_cert_file": self.tls.client_cert,
                    "client_key_file": self.tls.client_key,
                    "poll_interval": self.poll,
                    "renew_interval_seconds": 5,
                    "datastore": str(self.workdir / f"{host.name}.ds"),
                    "cni_socket": str(self.workdir / f"{host.name}.sock"),
                    "state_dir": str(self.workdir / host.name),
                }
            )
        )
        log = self.workdir / f"{host.name}.log"
        proc = self._spawn(
            host.netns, [SILKCTL, "serve", "daemon", "--config", str(config)], log
        )
        _wait(lambda: _http_ok(host.netns, DAEMON_PORT, "/"), 30, f"daemon {host.name}")
        return proc, log

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _route_count(namespace: str) -> int:
    out = netns.run(namespace, ["ip", "-4", "route", "show", "dev", "silk-vtep"]).stdout
    return out.count("\n")


def _converged_lines(log: Path) -> list[dict]:
    found = []
    for line in log.read_text().splitlines():
        if " converged " in line:
            found.append(dict(re.findall(r"(\w+)=(\S+)", line)))
    return found


def _rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {
        k: int(v.split()[0])
        for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)
    }
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def bench_daemon(underlay, workdir: Path, count: int) -> list[str]:
    (workdir / "daemon").mkdir()
    fabric = Fabric(underlay, workdir / "daemon", BIG_OVERLAY, poll=1.0)
    try:
        fabric.preload(synthetic_leases(count))
        fabric.start_controller()
        client = fabric.client()
        host = underlay.add_host(2)
        proc, log = fabric.start_daemon(host)
        _wait(lambda: _route_count(host.netns) >= count + 1, 60, f"{count} routes")
        first = _wait(lambda: _converged_lines(log), 10, "the first convergence")
        time.sleep(1.5)
        client.release(synthetic_leases(1)[0].underlay_ip)
        client.renew(synthetic_leases(1, offset=count)[0])
        _wait(lambda: len(_converged_lines(log)) > len(first), 10, "the change")
        change = _converged_lines(log)[-1]
        rss, peak = _rss_mb(proc.pid)
    finally:
        fabric.stop()
        # Empty the namespace first: the kernel tears a big one down slowly.
        netns.run(host.netns, ["ip", "link", "del", "silk-vtep"], check=False)
        underlay.remove_host("h2")
    total = sum(float(c["duration_ms"]) for c in first) / 1000
    messages = sum(int(c["messages"]) for c in first)
    return [
        f"daemon first convergence      N={count}: {total:.2f} s, {messages} messages",
        f"daemon one change             ({count}): {change['duration_ms']} ms, "
        f"{change['messages']} messages",
        f"daemon RSS with {count} leases: {rss:.0f} MB (peak {peak:.0f} MB)",
    ]


def _log_time(log: Path, event: str) -> float:
    for line in log.read_text().splitlines():
        if f" {event} " in line:
            stamp = line.split(" ", 1)[0].replace("Z", "+00:00")
            return datetime.fromisoformat(stamp).timestamp()
    raise SystemExit(f"no {event} in {log}")


def bench_propagation(underlay, workdir: Path, rounds: int) -> list[str]:
    (workdir / "spread").mkdir()
    fabric = Fabric(underlay, workdir / "spread", "10.255.0.0/16", poll=1.0)
    delays = []
    try:
        fabric.start_controller()
        others = [underlay.add_host(n) for n in (3, 4)]
        for host in others:
            fabric.start_daemon(host)
        for n in range(5, 5 + rounds):
            host = underlay.add_host(n)
            time.sleep(0.37 * (n % 3))  # start at different points of the poll cycle
            _, log = fabric.start_daemon(host)
            acquired = _log_time(log, "lease-acquired")
            subnet = re.search(r"overlay_subnet=(\S+)", log.read_text()).group(1)

            def everywhere(subnet=subnet):
                return all(
                    subnet
                    in netns.run(
                        o.netns, ["ip", "route", "show", "dev", "silk-vtep"]
                    ).stdout
                    for o in others
                )

            _wait(everywhere, 10, f"{subnet} on the other hosts")
            delays.append(time.time() - acquired)
    finally:
        fabric.stop()
    mean = sum(delays) / len(delays)
    each = ", ".join(f"{d:.2f}" for d in delays)
    return [
        f"propagation (1 s poll), {rounds} new hosts: mean {mean:.2f} s, "
        f"max {max(delays):.2f} s ({each})"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="skip the 5,000-lease daemon run"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="new hosts for propagation"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark builds network namespaces")
    underlay = Underlay(f"bench{os.getpid() % 100000}")
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="silkctl-bench-") as workdir:
        try:
            underlay.create()
            lines += bench_in_process(underlay)
            lines += bench_propagation(underlay, Path(workdir), args.rounds)
            if not args.quick:
                lines += bench_daemon(underlay, Path(workdir), 5000)
        finally:
            underlay.destroy()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
