"""Benchmark: silk-cni ADD/DEL for N containers beside Debian's Go ptp + host-local.

Run as root: `.venv/bin/python bench/cni.py [--count 50] [--json]`.

Builds a throw-away host namespace and N container namespaces, serves the
CNI socket in the host namespace (the same server the daemon runs, with a
fixed subnet), installs silk-cni as `silkctl cni install` does, then times,
from inside the host namespace, N ADDs then N DELs with silk-cni and with
the reference `ptp` plugin (IPAM: `host-local`) from /usr/lib/cni, the two
taking turns call by call, each on its own N container namespaces. Prints
per-verb median and p95 and the silk/ptp ratio. Then it runs N ADDs at once
and N DELs at once per plugin: wall time, and how many distinct addresses
the N concurrent ADDs got (the target: all N succeed, all distinct).
Nothing outside its own namespaces and temporary directory is touched.

Runs here (2 cores, Debian's Python 3.11): ADD median silk/ptp 1.64x-1.73x
over nine runs on a quiet machine (e.g. 15.7 ms against 9.1 ms), 1.45x with a
busy loop on one core; DEL 0.99x-1.15x; 50 concurrent ADDs all succeed with
distinct addresses (0.51-0.65 s, ptp 0.29-0.37 s). Of a silk-cni ADD, about
6 ms is interpreter start-up, 1.5 ms importing and parsing, 7.5 ms the
daemon's work (5 ms of it netlink, 1.2 ms of that creating the veth pair)
and 0.5 ms the socket round trip.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from silkctl.backends import netns  # noqa: E402
from silkctl.commands.cni_cmd import launcher_text  # noqa: E402

REFERENCE_PLUGINS = "/usr/lib/cni"
SUBNET = "10.255.30.0/24"
READY_TIMEOUT_SECONDS = 15.0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _invoke(
    plugin: str, command: str, conf: dict, container: str, cni_path: str
) -> float:
    return _call(plugin, command, conf, container, cni_path)[0]


def _call(
    plugin: str, command: str, conf: dict, container: str, cni_path: str
) -> tuple[float, str]:
    """(seconds, stdout) of one plugin call; exits naming the call when it fails."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container,
        "CNI_NETNS": netns.path(container),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": cni_path,
    }
    data = json.dumps(conf)
    start = time.perf_counter()
    done = subprocess.run(
        [plugin], input=data, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{os.path.basename(plugin)} {command} {container} failed: "
            f"{done.stdout.strip()} {done.stderr.strip()}"
        )
    return elapsed, done.stdout


def _burst(plugin, conf, containers, cni_path) -> dict:
    """All ADDs at once, then all DELs at once: wall time and distinct addresses."""
    figures = {}
    with ThreadPoolExecutor(max_workers=len(containers)) as pool:
        for verb in ("ADD", "DEL"):
            start = time.perf_counter()
            outputs = list(
                pool.map(
                    lambda box, verb=verb: _call(plugin, verb, conf, box, cni_path)[1],
                    containers,
                )
            )
            figures[f"{verb}_wall_s"] = round(time.perf_counter() - start, 2)
            if verb == "ADD":
                addresses = {json.loads(out)["ips"][0]["address"] for out in outputs}
                figures["distinct_addresses"] = len(addresses)
    return figures


def _measure(plugins: list[tuple], count: int) -> list[dict]:
    """Warm up once, then N ADDs followed by N DELs per plugin; seconds per call.

    The plugins take turns call by call, so a change in machine load during
    the run weighs on all of them alike.
    """
    for plugin, conf, containers, cni_path in plugins:
        _invoke(plugin, "ADD", conf, containers[0], cni_path)
        _invoke(plugin, "DEL", conf, containers[0], cni_path)
    series = [{"ADD": [], "DEL": []} for _ in plugins]
    for verb in ("ADD", "DEL"):
        for index in range(count):
            for times, (plugin, conf, containers, cni_path) in zip(
                series, plugins, strict=True
            ):
                times[verb].append(
                    _invoke(plugin, verb, conf, containers[index], cni_path)
                )
    return series


def inner(options) -> None:
    """Runs inside the host namespace: time both plugins, print the figures."""
    names = options.containers.split(",")
    count = len(names) // 2
    silk_conf = {
        "cniVersion": "1.0.0",
        "name": "silkbench",
        "type": "silk-cni",
        "cniSocket": os.path.join(options.work, "cni.sock"),
        "dataDir": os.path.join(options.work, "state"),
        "datastore": os.path.join(options.work, "store.json"),
    }
    ptp_conf = {
        "cniVersion": "1.0.0",
        "name": "ptpbench",
        "type": "ptp",
        "ipMasq": False,
        "mtu": 1450,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.254.0.0/24"}]],
            "dataDir": os.path.join(options.work, "ptp-ipam"),
        },
    }
    bin_dir = os.path.join(options.work, "bin")
    plugins = [
        (
            os.path.join(bin_dir, "silk-cni"),
            silk_conf,
            names[:count],
            f"{bin_dir}:{REFERENCE_PLUGINS}",
        ),
        (
            os.path.join(REFERENCE_PLUGINS, "ptp"),
            ptp_conf,
            names[count:],
            REFERENCE_PLUGINS,
        ),
    ]
    silk, ptp = _measure(plugins, count)
    report = {"count": count}
    report["concurrent"] = {
        name: _burst(*plugin)
        for name, plugin in (("silk-cni", plugins[0]), ("ptp+host-local", plugins[1]))
    }
    for verb in ("ADD", "DEL"):
        row = {}
        for name, series in (("silk-cni", silk), ("ptp+host-local", ptp)):
            row[name] = {
                "median_ms": round(statistics.median(series[verb]) * 1000, 2),
                "p95_ms": round(_percentile(series[verb], 0.95) * 1000, 2),
            }
        row["ratio_median"] = round(
            row["silk-cni"]["median_ms"] / row["ptp+host-local"]["median_ms"], 2
        )
        row["ratio_p95"] = round(
            row["silk-cni"]["p95_ms"] / row["ptp+host-local"]["p95_ms"], 2
        )
        report[verb] = row
    if options.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{count} containers per plugin, one call at a time, ms per call")
    print(f"{'verb':<5} {'plugin':<16} {'median':>8} {'p95':>8}")
    for verb in ("ADD", "DEL"):
        for name in ("silk-cni", "ptp+host-local"):
            figures = report[verb][name]
            print(
                f"{verb:<5} {name:<16} {figures['median_ms']:>8.2f} "
                f"{figures['p95_ms']:>8.2f}"
            )
        print(
            f"{verb:<5} {'ratio silk/ptp':<16} {report[verb]['ratio_median']:>8.2f} "
            f"{report[verb]['ratio_p95']:>8.2f}"
        )
    print(f"{count} concurrent ADDs, then {count} concurrent DELs, per plugin")
    for name, figures in report["concurrent"].items():
        print(
            f"{name:<16} ADD {figures['ADD_wall_s']:.2f} s, "
            f"{figures['distinct_addresses']}/{count} distinct addresses; "
            f"DEL {figures['DEL_wall_s']:.2f} s"
        )


def _write_daemon_config(work: str) -> str:
    path = os.path.join(work, "daemon.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "underlay_ip": "10.0.0.1",
                "plaintext": True,
                "health_check_port": 23954,
                "cni_socket": os.path.join(work, "cni.sock"),
                "state_dir": os.path.join(work, "state"),
                "datastore": os.path.join(work, "store.json"),
            },
            handle,
        )
    return path


def _wait_for_socket(path: str, service: subprocess.Popen) -> None:
    """Return once the service accepts connections on `path`."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            return
        except OSError:
            if service.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"cni service did not come up on {path}") from None
            time.sleep(0.05)
        finally:
            probe.close()


def outer(options) -> None:
    """Build namespaces and the service, run `inner` in the host namespace, clean up."""
    prefix = f"skb{os.getpid() % 0xFFFF:04x}"
    host = f"{prefix}-h"
    containers = [f"{prefix}-c{i}" for i in range(2 * options.count)]
    work = tempfile.mkdtemp(prefix="silk-cni-bench-")
    service = None
    try:
        netns.create(host)
        for name in containers:
            netns.create(name)
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir)
        plugin = os.path.join(bin_dir, "silk-cni")
        with open(plugin, "w", encoding="utf-8") as handle:
            handle.write(launcher_text())
        os.chmod(plugin, 0o755)
        config = _write_daemon_config(work)
        service = netns.popen(
            host,
            [
                sys.executable,
                "-m",
                "silkctl.cni_service",
                "--config",
                config,
                "--subnet",
                SUBNET,
                "--mtu",
                "1450",
            ],
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        _wait_for_socket(os.path.join(work, "cni.sock"), service)
        argv = [
            sys.executable,
            os.path.abspath(__file__),
            "--inner",
            "--work",
            work,
            "--containers",
            ",".join(containers),
        ] + (["--json"] if options.json else [])
        subprocess.run(netns.command(host, argv), check=True)
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=10)
        for name in [host, *containers]:
            netns.remove(name)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="containers (default 50)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--containers", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inner:
        inner(options)
    else:
        outer(options)


if __name__ == "__main__":
    main()
