"""Controllers SIGKILLed under load: leases survive, clients recover by themselves.

1. One controller, 50 clients acquiring and renewing: SIGKILL, restart on
   the same database and ports. No lease lost, moved or duplicated; every
   client renews again without being restarted.
2. Two controllers on one PostgreSQL database, a burst of acquires spread
   over both: one SIGKILLed mid-burst, its clients fail over to the other.
   No subnet leased twice, every host ends with exactly one lease.
"""

import signal
import threading
import time

import pytest

from tests.faults.load import RenewLoad, lease_table_problems, lost_leases
from tests.fixtures.db import ControllerProcess, TestDatabase

CLIENTS = 50


@pytest.fixture
def database(request, tmp_path):
    db = TestDatabase(request.param, tmp_path)
    try:
        yield db
    finally:
        db.drop()


def _sigkill(process: ControllerProcess) -> None:
    process.proc.send_signal(signal.SIGKILL)
    process.proc.wait(10)


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_leases_survive_when_controller_is_sigkilled_under_load(
    database, certs_dir, tmp_path, fault_report
):
    report = fault_report(
        f"controller SIGKILL+restart, {CLIENTS} renewing clients ({database.backend})"
    )
    ctl = ControllerProcess(database.url, certs_dir, tmp_path / "ctl")
    load = RenewLoad(lambda: ctl.client(timeout=3.0), CLIENTS)
    try:
        ctl.start()
        load.start()
        _wait(lambda: load.all_ok_since(0), 30, "every client to hold a lease")
        for round_ in range(2):
            time.sleep(0.5)
            _sigkill(ctl)
            report.fault("SIGKILL controller")
            report.check(ctl.proc.returncode == -signal.SIGKILL, "controller died")
            time.sleep(0.5)
            errors_before = load.errors()
            ctl.start()
            mark = time.monotonic()
            _wait(
                lambda mark=mark: load.all_ok_since(mark),
                20,
                "every client to renew again",
            )
            report.check(
                load.all_ok_since(mark),
                f"all {CLIENTS} clients renewed after restart {round_}",
            )
            report.check(errors_before > 0, "clients noticed the outage")
        load.stop()
        leases = ctl.client().list_all()["leases"]
    finally:
        load.stop()
        ctl.stop()

    problems = lease_table_problems(leases, load.clients)
    report.lost(lost_leases(leases, load.clients), "leases")
    report.check(not problems, f"no lease lost, moved or duplicated: {problems[:5]}")
    report.check(len(leases) == CLIENTS, f"{CLIENTS} leases, got {len(leases)}")


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_no_duplicate_subnets_when_one_of_two_controllers_dies_mid_acquire(
    database, certs_dir, tmp_path, fault_report
):
    report = fault_report("two controllers, one SIGKILLed mid-acquire burst")
    hosts = 120
    first = ControllerProcess(database.url, certs_dir, tmp_path / "ctl1").start()
    second = ControllerProcess(database.url, certs_dir, tmp_path / "ctl2").start()
    controllers = [first, second]
    results: dict[str, list[str]] = {}
    failed_over = []
    started = threading.Event()
    lock = threading.Lock()

    def acquire_all(worker: int) -> None:
        clients = [c.client(timeout=3.0) for c in controllers]
        for n in range(worker, hosts, 8):
            ip = f"172.21.{n // 250}.{n % 250 + 1}"
            preferred = n % 2
            for attempt in range(50):
                client = clients[preferred if attempt == 0 else 1]
                try:
                    lease = client.acquire(ip)
                except Exception:  # noqa: BLE001 - the killed one; go to the other
                    with lock:
                        failed_over.append(ip)
                    time.sleep(0.05)
                    continue
                with lock:
                    results.setdefault(ip, []).append(lease.overlay_subnet)
                break
            started.set()
        for client in clients:
            client.close()

    workers = [threading.Thread(target=acquire_all, args=(w,)) for w in range(8)]
    try:
        for worker in workers:
            worker.start()
        started.wait(10)
        while len(results) < hosts // 4:
            time.sleep(0.01)
        _sigkill(first)
        report.fault(f"SIGKILL controller 1 after {len(results)} of {hosts} acquires")
        for worker in workers:
            worker.join(60)
        report.check(failed_over, "some acquires hit the killed controller")
        leases = second.client().list_all()["leases"]
    finally:
        for process in controllers:
            process.stop()

    subnets = [lease["overlay_subnet"] for lease in leases]
    per_host: dict[str, int] = {}
    for lease in leases:
        per_host[lease["underlay_ip"]] = per_host.get(lease["underlay_ip"], 0) + 1
    report.check(len(results) == hosts, f"every host got an answer ({len(results)})")
    report.check(len(set(subnets)) == len(subnets), "no subnet leased twice")
    report.check(
        sorted(per_host) == sorted(results) and set(per_host.values()) == {1},
        "every host holds exactly one lease",
    )
    held = {(lease["underlay_ip"], lease["overlay_subnet"]) for lease in leases}
    answered = {(ip, subnets_[-1]) for ip, subnets_ in results.items()}
    report.lost(len(answered - held), "answered leases")
