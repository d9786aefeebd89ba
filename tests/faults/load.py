"""Renewing clients for the fault scenarios: N threads, each holding one lease.

`RenewLoad(make_client, n).start()` acquires a lease per client (underlay
172.20.x.y) and renews it in a loop, retrying any error after a short
pause, until `.stop()`. Afterwards every client's first lease, error count
and successes after a mark are there to check.
"""

import threading
import time

from silkctl.client import Lease


class RenewClient:
    def __init__(self, index: int, client):
        self.underlay_ip = f"172.20.{index // 250}.{index % 250 + 1}"
        self.client = client
        self.lease: Lease | None = None
        self.leases_seen: set[str] = set()
        self.errors = 0
        self.ok = 0
        self.last_ok = 0.0

    def step(self) -> None:
        try:
            if self.lease is None:
                lease = self.client.acquire(self.underlay_ip)
                self.lease = lease
            else:
                self.client.renew(self.lease)
                # The lease the controller holds for this host is still ours.
                lease = self.client.acquire(self.underlay_ip)
            self.leases_seen.add(lease.overlay_subnet)
        except Exception:  # noqa: BLE001 - every failure is retried and counted
            self.errors += 1
            self.client.close()
            time.sleep(0.1)
            return
        self.ok += 1
        self.last_ok = time.monotonic()


class RenewLoad:
    """`count` clients renewing in parallel threads until stopped."""

    def __init__(self, make_client, count: int = 50, pause: float = 0.05):
        self.clients = [RenewClient(n, make_client()) for n in range(count)]
        self.pause = pause
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(c,), daemon=True)
            for c in self.clients
        ]

    def _run(self, client: RenewClient) -> None:
        while not self._stop.is_set():
            client.step()
            time.sleep(self.pause)

    def start(self) -> "RenewLoad":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        for client in self.clients:
            client.client.close()

    def all_ok_since(self, mark: float) -> bool:
        return all(c.last_ok > mark for c in self.clients)

    def errors(self) -> int:
        return sum(c.errors for c in self.clients)


def lease_table_problems(leases: list[dict], clients: list[RenewClient]) -> list[str]:
    """Duplicates and losses in `GET /leases?all=1` against what the clients hold."""
    problems = []
    by_ip: dict[str, list[str]] = {}
    by_subnet: dict[str, list[str]] = {}
    for lease in leases:
        by_ip.setdefault(lease["underlay_ip"], []).append(lease["overlay_subnet"])
        by_subnet.setdefault(lease["overlay_subnet"], []).append(lease["underlay_ip"])
    for subnet, owners in by_subnet.items():
        if len(owners) > 1:
            problems.append(f"subnet {subnet} leased to {owners}")
    for client in clients:
        held = by_ip.get(client.underlay_ip, [])
        if len(held) != 1:
            problems.append(f"{client.underlay_ip} holds {held}")
        elif client.lease is not None and held[0] != client.lease.overlay_subnet:
            problems.append(
                f"{client.underlay_ip} moved from {client.lease.overlay_subnet} "
                f"to {held[0]}"
            )
        if len(client.leases_seen) > 1:
            problems.append(f"{client.underlay_ip} saw {sorted(client.leases_seen)}")
    return problems


def lost_leases(leases: list[dict], clients: list[RenewClient]) -> int:
    """Clients whose first lease is no longer theirs in the table."""
    held = {(lease["underlay_ip"], lease["overlay_subnet"]) for lease in leases}
    return sum(
        1
        for c in clients
        if c.lease is None or (c.underlay_ip, c.lease.overlay_subnet) not in held
    )
