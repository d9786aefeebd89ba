"""Benchmark of the lease controller: renew throughput, GET /leases latency, RSS.

Run from the repository: `.venv/bin/python bench/controller.py` (about two
minutes; `--seconds 3` for a quicker run, `--databases sqlite` for one).
It needs the test extras (it reuses tests/fixtures/db.py) and, for
PostgreSQL, the server on 127.0.0.1:5432 (a `silk_*` database is made and
dropped).

1. The ceiling: a bare Bottle app answering `{}` without a database, on the
   same WSGI server, thread count and mutual TLS as the controller.
2. Per database (SQLite, PostgreSQL): `silkctl serve controller` with
   5,000 leases loaded through `PUT /leases/acquire`, then
   - renew: `PUT /leases/renew` of random loaded leases, req/s, p50, p99;
   - `GET /leases` with the full 5,000-lease body: p50, p99;
   - `GET /leases` with a matching If-None-Match (304): p50, p99;
   - the controller's peak RSS (VmHWM).

Load comes from client processes on the same machine, each with threads
holding one keep-alive mTLS connection: `--clients` connections for the
ceiling and renew (throughput under saturation), `--get-clients` for the
two GET latencies (a polling fleet is light load). Targets: renew >= 0.7 x
the ceiling with p99 <= 50 ms; full GET p50 <= 25 ms; 304 p50 <= 3 ms;
RSS <= 120 MB.

Reference run (2 cores shared with the load generator and with other work,
load average about 5; Python 3.11; 8 server threads; CPU is per request):

    sqlite:   ceiling 1735 req/s (0.51 ms CPU); renew 1278 req/s = 0.74 x,
              p50 12.3 ms, p99 23.9 ms (0.76 ms); GET full p50 2.6 ms, p99 7.8 ms;
              304 p50 1.05 ms, p99 2.4 ms; peak RSS 88 MB
    postgres: ceiling 1827 req/s (0.37 ms); renew 1173 req/s = 0.64 x,
              p50 12.3 ms, p99 35.7 ms (0.57 ms + 0.27 ms in PostgreSQL);
              GET full p50 4.3 ms, p99 17 ms; 304 p50 1.7 ms, p99 8.3 ms
              (0.20 ms in PostgreSQL); peak RSS 87 MB

Runs vary by +-15% with the machine's other load; the ceiling and renew
rounds are interleaved so that their ratio varies less.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from silkctl import certs as silk_certs  # noqa: E402
from silkctl.client import client_tls_context  # noqa: E402
from silkctl.config import ControllerConfig  # noqa: E402

LEASES = 5000
NETWORK = "10.0.0.0/8"
WARMUP = 1.0
TARGETS = {
    "renew_ratio": 0.7,
    "renew_p99_ms": 50,
    "full_p50_ms": 25,
    "not_modified_p50_ms": 3,
    "rss_mb": 120,
}


# -- the bare ceiling server (run as `controller.py bare ...` in its own process) ------


def serve_bare(port: int, certs_dir: str, threads: int) -> None:
    import bottle

    from silkctl.server.wsgi import WsgiServer

    paths = silk_certs.CertPaths(certs_dir)
    app = bottle.Bottle()
    app.config["json.enable"] = False

    @app.route("/leases/renew", "PUT")
    def renew():
        bottle.request.body.read()
        bottle.response.content_type = "application/json"
        return b"{}"

    tls = silk_certs.server_tls_context(
        paths.ca_cert, paths.server_cert, paths.server_key
    )
    WsgiServer(
        app, "127.0.0.1", port, tls=tls, threads=threads, name="bare"
    ).serve_forever()


# -- load generation ------------------------------------------------------------


def _thread_loop(spec, deadline, warm_until, out):
    conn = http.client.HTTPSConnection(
        "127.0.0.1", spec["port"], context=spec["tls"], timeout=30
    )
    rng = random.Random()
    bodies = spec["bodies"]
    headers = spec["headers"]
    latencies, errors = [], 0
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        body = bodies[rng.randrange(len(bodies))] if bodies else None
        try:
            conn.request(spec["method"], spec["path"], body, headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            errors += 1
            continue
        done = time.perf_counter()
        if status not in spec["ok"]:
            errors += 1
        elif now >= warm_until:
            latencies.append(done - now)
    conn.close()
    out.append((latencies, errors))


def _process_worker(args):
    import threading

    spec, threads, start_at, seconds = args
    paths = silk_certs.CertPaths(spec.pop("certs_dir"))
    spec["tls"] = client_tls_context(paths.ca_cert, paths.client_cert, paths.client_key)
    time.sleep(max(0.0, start_at - time.time()))
    begin = time.perf_counter()
    warm_until, deadline = begin + WARMUP, begin + WARMUP + seconds
    out: list = []
    workers = [
        threading.Thread(target=_thread_loop, args=(spec, deadline, warm_until, out))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [lat for lats, _ in out for lat in lats], sum(err for _, err in out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float:
    """CPU time used so far by the PostgreSQL and MariaDB server processes."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in ("postgres", "mariadbd"):
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue
    return total


def drive(
    port,
    certs_dir,
    method,
    path,
    *,
    bodies=(),
    headers=None,
    ok=(200,),
    clients=16,
    seconds=5.0,
    server_pid=None,
) -> dict:
    """Closed-loop load from `clients` keep-alive connections spread over processes;
    with `server_pid`, also the server's CPU time per request."""
    processes = min(clients, max(2, os.cpu_count() or 2))
    per = [clients // processes + (i < clients % processes) for i in range(processes)]
    spec = {
        "port": port,
        "method": method,
        "path": path,
        "bodies": list(bodies),
        "headers": headers or {},
        "ok": ok,
        "certs_dir": certs_dir,
    }
    start_at = time.time() + 0.3
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    db_before = database_cpu_seconds()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(
            _process_worker, [(dict(spec), n, start_at, seconds) for n in per if n]
        )
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")
    db_cpu = database_cpu_seconds() - db_before
    latencies = sorted(lat for lats, _ in results for lat in lats)
    errors = sum(err for _, err in results)
    if not latencies:
        raise RuntimeError(f"{method} {path}: no successful request ({errors} errors)")
    total = (
        len(latencies) * (seconds + WARMUP) / seconds
    )  # warm-up requests used CPU too
    return _stats(
        latencies, errors, seconds, clients, cpu / total * 1000, db_cpu / total * 1000
    )


def _stats(latencies, errors, seconds, clients, cpu_ms, db_cpu_ms) -> dict:
    return {
        "rps": len(latencies) / seconds,
        "p50": _pct(latencies, 50) * 1000,
        "p99": _pct(latencies, 99) * 1000,
        "n": len(latencies),
        "errors": errors,
        "clients": clients,
        "cpu_ms": cpu_ms,
        "db_cpu_ms": db_cpu_ms,
        "latencies": latencies,
        "seconds": seconds,
    }


def merge(runs: list[dict]) -> dict:
    """Several rounds of one measurement as one."""
    latencies = sorted(lat for run in runs for lat in run["latencies"])
    return _stats(
        latencies,
        sum(r["errors"] for r in runs),
        sum(r["seconds"] for r in runs),
        runs[0]["clients"],
        statistics.mean(r["cpu_ms"] for r in runs),
        statistics.mean(r["db_cpu_ms"] for r in runs),
    )


def _pct(values, pct):
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


# -- setting up -----------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_leases(ctl, count: int) -> list[bytes]:
    """Acquire `count` leases concurrently; their JSON bodies for renew."""
    from concurrent.futures import ThreadPoolExecutor

    client = ctl.client(timeout=60)
    hosts = [
        f"172.{16 + i // 65000}.{i // 250 % 256}.{i % 250 + 1}" for i in range(count)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        leases = list(pool.map(client.acquire, hosts))
    elapsed = time.perf_counter() - started
    print(
        f"  loaded {count} leases by acquire in {elapsed:.1f} s "
        f"({count / elapsed:.0f} acquires/s, 16 clients)"
    )
    return [json.dumps(lease.to_json()).encode() for lease in leases]


def start_bare(certs_dir: str, threads: int):
    from tests.fixtures.db import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "bare",
            "--port",
            str(port),
            "--certs",
            certs_dir,
            "--threads",
            str(threads),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("bare server did not start")


def bench_database(backend, workdir: Path, certs, args, bare) -> dict:
    """Measure one database; the ceiling is measured in rounds interleaved with
    the renew rounds, so that both see the same background load."""
    from tests.fixtures.db import ControllerProcess, TestDatabase

    database = TestDatabase(backend, workdir)
    ctl = ControllerProcess(
        database.url,
        certs,
        workdir / f"ctl-{backend}",
        network=NETWORK,
        subnet_prefix_length=24,
        lease_expiration_seconds=3600,
        server_threads=args.threads,
    )
    bare_proc, bare_port = bare
    port = None
    try:
        ctl.start()
        port = ctl.config["listen_port"]
        print(f"{backend}: controller pid {ctl.proc.pid}")
        bodies = load_leases(ctl, args.leases)
        ceiling, renew = [], []
        for _ in range(args.rounds):
            ceiling.append(
                drive(
                    bare_port,
                    certs.directory,
                    "PUT",
                    "/leases/renew",
                    bodies=[b"{}"],
                    clients=args.clients,
                    seconds=args.seconds,
                    server_pid=bare_proc.pid,
                )
            )
            renew.append(
                drive(
                    port,
                    certs.directory,
                    "PUT",
                    "/leases/renew",
                    bodies=bodies,
                    clients=args.clients,
                    seconds=args.seconds,
                    server_pid=ctl.proc.pid,
                )
            )
        _, tag = ctl.client().list_leases()
        full = drive(
            port,
            certs.directory,
            "GET",
            "/leases",
            clients=args.get_clients,
            seconds=args.seconds,
            server_pid=ctl.proc.pid,
        )
        not_modified = drive(
            port,
            certs.directory,
            "GET",
            "/leases",
            headers={"If-None-Match": tag},
            ok=(304,),
            clients=args.get_clients,
            seconds=args.seconds,
            server_pid=ctl.proc.pid,
        )
        listed, _ = ctl.client().list_leases()
        assert len(listed) == args.leases, len(listed)
        return {
            "ceiling": merge(ceiling),
            "renew": merge(renew),
            "full": full,
            "not_modified": not_modified,
            "leases": args.leases,
            "rss_mb": peak_rss_mb(ctl.proc.pid),
        }
    finally:
        code = ctl.stop()
        database.drop()
        if code != 0:
            print(f"  controller exited {code}; log tail:\n{ctl.log()[-2000:]}")


def _row(name, result):
    return (
        f"  {name:<22} {result['rps']:8.0f} req/s   p50 {result['p50']:6.2f} ms   "
        f"p99 {result['p99']:6.2f} ms   CPU/req server {result['cpu_ms']:.2f} ms, "
        f"database server {result['db_cpu_ms']:.2f} ms   "
        f"({result['clients']} clients, {result['n']} requests, "
        f"{result['errors']} errors)"
    )


def report(results) -> bool:
    met = True
    for backend, result in results.items():
        ceiling = result["ceiling"]
        ratio = result["renew"]["rps"] / ceiling["rps"]
        checks = {
            "renew >= 0.7 x ceiling": ratio >= TARGETS["renew_ratio"],
            "renew p99 <= 50 ms": result["renew"]["p99"] <= TARGETS["renew_p99_ms"],
            "full GET p50 <= 25 ms": result["full"]["p50"] <= TARGETS["full_p50_ms"],
            "304 p50 <= 3 ms": result["not_modified"]["p50"]
            <= TARGETS["not_modified_p50_ms"],
            "RSS <= 120 MB": result["rss_mb"] <= TARGETS["rss_mb"],
        }
        met &= all(checks.values())
        print(f"\n{backend} ({result['leases']} leases):")
        print(_row("ceiling: bare {}", ceiling))
        print(
            _row("PUT /leases/renew", result["renew"]) + f"   = {ratio:.2f} x ceiling"
        )
        print(_row("GET /leases (full)", result["full"]))
        print(_row("GET /leases (304)", result["not_modified"]))
        print(f"  peak RSS               {result['rss_mb']:8.1f} MB")
        print(
            "  targets: "
            + ", ".join(
                f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks.items()
            )
        )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    bare = sub.add_parser("bare", help=argparse.SUPPRESS)
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--certs", required=True)
    bare.add_argument("--threads", type=int, required=True)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved ceiling/renew rounds per database",
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--get-clients", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=ControllerConfig().server_threads,
        help="server worker threads (default: the controller's default)",
    )
    parser.add_argument("--leases", type=int, default=LEASES)
    args = parser.parse_args()
    if args.mode == "bare":
        serve_bare(args.port, args.certs, args.threads)
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="silkctl-bench-controller-"))
    certs = silk_certs.init_certs(str(workdir / "certs"))
    print(
        f"{os.cpu_count()} cores; server threads {args.threads}; {args.rounds} x "
        f"{args.seconds:g} s renew and ceiling rounds, interleaved; {args.seconds:g} s "
        f"per GET measurement; {WARMUP:g} s warm-up each; work dir {workdir}"
    )
    bare = start_bare(certs.directory, args.threads)
    results = {}
    try:
        for backend in [
            name.strip() for name in args.databases.split(",") if name.strip()
        ]:
            results[backend] = bench_database(backend, workdir, certs, args, bare)
    finally:
        bare[0].terminate()
        bare[0].wait(10)
    met = report(results)
    print(f"\nall targets {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
