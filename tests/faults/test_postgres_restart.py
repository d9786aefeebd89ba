"""A private PostgreSQL restarted (crash-stop and fast stop) while 50 clients renew.

The test runs its own server: `initdb` and `pg_ctl` from PG_BIN as the
`postgres` user, in its own temp dir, on its own free port, listening on
127.0.0.1 and a socket in that dir only. The machine's shared server is
never touched. The server is stopped and the dir removed after the test.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.faults.load import RenewLoad, lease_table_problems, lost_leases
from tests.fixtures.db import ControllerProcess, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLIENTS = 50

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or os.geteuid() != 0,
    reason="needs root and PostgreSQL 15 server binaries",
)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster owned by this test."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="silk-faults-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.started = False

    def _pg(self, *argv: str, timeout: float = 60) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} {argv[1:3]}: {done.stdout}{done.stderr}")

    def init(self) -> "PrivatePostgres":
        self._pg(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} -c fsync=off"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.dir / "server.log"),
            "start",
        )
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.started = False

    def destroy(self) -> None:
        try:
            if self.started:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    try:
        server.init().start()
        yield server
    finally:
        server.destroy()


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def test_leases_survive_when_postgres_restarts_under_renew_load(
    private_postgres, certs_dir, tmp_path, fault_report
):
    report = fault_report(f"private PostgreSQL restarted, {CLIENTS} renewing clients")
    ctl = ControllerProcess(private_postgres.url, certs_dir, tmp_path / "ctl")
    load = RenewLoad(lambda: ctl.client(timeout=3.0), CLIENTS)
    try:
        ctl.start()
        load.start()
        _wait(lambda: load.all_ok_since(0), 30, "every client to hold a lease")
        for mode in ("immediate", "fast"):
            time.sleep(0.5)
            private_postgres.stop(mode)
            report.fault(f"PostgreSQL stop -m {mode}, 1 s down, start")
            errors_before = load.errors()
            time.sleep(1.0)
            private_postgres.start()
            mark = time.monotonic()
            _wait(
                lambda mark=mark: load.all_ok_since(mark),
                30,
                "every client to renew again",
            )
            report.check(load.errors() > errors_before, "clients saw the outage")
            report.check(ctl.proc.poll() is None, "controller kept running")
            report.check(
                load.all_ok_since(mark),
                f"all {CLIENTS} clients recovered after {mode} stop",
            )
        load.stop()
        leases = ctl.client().list_all()["leases"]
    finally:
        load.stop()
        ctl.stop()

    problems = lease_table_problems(leases, load.clients)
    report.lost(lost_leases(leases, load.clients), "leases")
    report.check(not problems, f"no lease lost, moved or duplicated: {problems[:5]}")
    report.check(len(leases) == CLIENTS, f"{CLIENTS} leases, got {len(leases)}")
