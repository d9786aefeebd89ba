"""Lease policy: acquire, renew, release and list subnet leases (SPEC §1.6-1.8).

Acquire reuses a host's in-pool lease untouched, replaces an out-of-pool
one, then picks a random free entry of the requested kind or reclaims the
oldest expired lease of that kind, in up to `ACQUIRE_ATTEMPTS` tries: the
database's UNIQUE constraints settle races between controllers and a lost
race simply tries again. Renew inserts a lease it has never seen and
refuses (409) one that differs from the stored row. Release is idempotent.
Expired leases are hidden from the routable list but stay until reclaimed.
Time always comes from the database server's clock. An underlay address
must be a host's unicast IPv4 address: 0.0.0.0/8, loopback, multicast,
240.0.0.0/4 and broadcast are refused (400, or 409 on renew as §1.7 says).
"""

import functools
import ipaddress
import logging
import re

from silkctl.cidr_pool import CidrPool
from silkctl.client import Lease
from silkctl.db import LeaseStore, Row, UniqueViolation, WriteConflict
from silkctl.errors import BadRequest, Conflict, DatabaseError, NonRetriable
from silkctl.hwaddr import vtep_mac

log = logging.getLogger(__name__)

ACQUIRE_ATTEMPTS = 10
# Renew and release retry only lost races (deadlocks).
WRITE_ATTEMPTS = 5
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def parse_underlay_ip(value) -> str:
    """The canonical text of a host's IPv4 underlay address; BadRequest otherwise."""
    if not isinstance(value, str):
        raise BadRequest(f"underlay_ip: expected a string, got {_kind(value)}")
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise BadRequest(f"invalid ipv4 address: {value}") from None
    reason = _unusable(address)
    if reason:
        raise BadRequest(f"invalid underlay_ip {address}: {reason}")
    return str(address)


def _unusable(address: ipaddress.IPv4Address) -> str:
    """Why `address` cannot be a host's unicast underlay address ("" if it can)."""
    if address.is_unspecified:
        return "unspecified address"
    if address in _THIS_NETWORK:
        return "this-network address (0.0.0.0/8)"
    if address == _BROADCAST:
        return "broadcast address"
    if address.is_loopback:
        return "loopback address"
    if address.is_multicast:
        return "multicast address"
    if address.is_reserved:
        return "reserved address (240.0.0.0/4)"
    return ""


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _cause(err: ValueError) -> str:
    text = str(err)
    return text[:1].lower() + text[1:]


@functools.lru_cache(maxsize=16384)
def _check_lease(lease: Lease) -> Lease:
    """A lease as renew accepts it, normalised; NonRetriable (409) when invalid.
    Cached: every host renews the same lease over and over."""
    try:
        underlay = ipaddress.IPv4Address(lease.underlay_ip)
    except ValueError as err:
        raise NonRetriable(
            f"renew-subnet-lease: invalid underlay_ip {lease.underlay_ip!r}: "
            f"{_cause(err)}"
        ) from None
    reason = _unusable(underlay)
    if reason:
        raise NonRetriable(
            f"renew-subnet-lease: invalid underlay_ip {lease.underlay_ip!r}: {reason}"
        )
    try:
        network = ipaddress.IPv4Network(lease.overlay_subnet)
    except ValueError as err:
        raise NonRetriable(
            f"renew-subnet-lease: invalid overlay_subnet {lease.overlay_subnet!r}: "
            f"{_cause(err)}"
        ) from None
    if "/" not in lease.overlay_subnet:
        raise NonRetriable(
            f"renew-subnet-lease: overlay_subnet "
            f"{lease.overlay_subnet!r} has no prefix length"
        )
    mac = lease.overlay_hardware_addr.lower()
    if not _MAC.match(mac):
        raise NonRetriable(
            f"renew-subnet-lease: invalid overlay_hardware_addr "
            f"{lease.overlay_hardware_addr!r}"
        )
    return Lease(str(underlay), str(network), mac)


def _lease(row: Row) -> Lease:
    return Lease(row.underlay_ip, row.overlay_subnet, row.overlay_hwaddr)


class Leaser:
    """Lease policy over one `LeaseStore` and one pool."""

    def __init__(self, store: LeaseStore, pool: CidrPool, expiration_seconds: int):
        self.store = store
        self.pool = pool
        self.expiration = expiration_seconds

    # -- acquire ---------------------------------------------------------------

    def acquire(self, underlay_ip: str, single: bool = False) -> Lease:
        """The host's lease: its current in-pool one, or a new one (SPEC §1.6)."""
        underlay_ip = parse_underlay_ip(underlay_ip)
        last_error: Exception | None = None
        for attempt in range(1, ACQUIRE_ATTEMPTS + 1):
            try:
                with self.store.session() as store:
                    lease = self._existing(store, underlay_ip)
                    if lease is None:
                        lease = self._try_new(store, underlay_ip, single)
            except WriteConflict as err:
                log.debug(
                    "acquire-attempt-lost",
                    extra={
                        "underlay_ip": underlay_ip,
                        "attempt": attempt,
                        "error": str(err),
                    },
                )
                last_error = err
                continue
            if lease is not None:
                return lease
            last_error = None
        if last_error is not None:
            raise DatabaseError(f"acquire lease {underlay_ip}: {last_error}")
        raise Conflict("no lease available")

    def _existing(self, store: LeaseStore, underlay_ip: str) -> Lease | None:
        row = store.get(underlay_ip, self.expiration)
        if row is None:
            return None
        if self.pool.is_member(row.overlay_subnet):
            return _lease(row)
        with store.write():
            if store.delete(row):
                log.info(
                    "lease-out-of-pool-deleted",
                    extra={
                        "underlay_ip": underlay_ip,
                        "overlay_subnet": row.overlay_subnet,
                    },
                )
        return None

    def _try_new(
        self, store: LeaseStore, underlay_ip: str, single: bool
    ) -> Lease | None:
        subnet = self.pool.pick_free(store.taken(single), single)
        reclaimed = None
        if subnet is None:
            reclaimed = store.oldest_expired(single, self.expiration)
            if reclaimed is None:
                return None
            subnet = reclaimed.overlay_subnet
        lease = Lease(underlay_ip, subnet, vtep_mac(subnet))
        with store.write():
            if reclaimed is not None and not store.delete(reclaimed):
                raise WriteConflict(f"expired lease {subnet} was taken meanwhile")
            store.insert(
                lease.underlay_ip, lease.overlay_subnet, lease.overlay_hardware_addr
            )
        if reclaimed is not None:
            log.info(
                "lease-reclaimed",
                extra={
                    "underlay_ip": underlay_ip,
                    "overlay_subnet": subnet,
                    "previous_underlay_ip": reclaimed.underlay_ip,
                },
            )
        log.info("lease-acquired", extra=lease.to_json())
        return lease

    # -- renew, release ----------------------------------------------------------

    def renew(self, lease: Lease) -> None:
        """Keep `lease` routable; insert it if unknown; 409 if it differs (§1.7)."""
        lease = _check_lease(lease)
        with self.store.session() as store:
            if store.touch_active(
                lease.underlay_ip,
                lease.overlay_subnet,
                lease.overlay_hardware_addr,
                self.expiration,
            ):
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("lease-renewed", extra=lease.to_json())
                return
        try:
            self._write(self._renew_slow, lease)
        except UniqueViolation as err:
            raise NonRetriable(f"renew-subnet-lease: {err}") from err

    def _write(self, step, *args):
        """Run `step(store, *args)` in a write transaction; again after a lost race."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.store.session() as store, store.write():
                    return step(store, *args)
            except UniqueViolation:
                raise
            except WriteConflict as err:
                if attempt == WRITE_ATTEMPTS:
                    raise DatabaseError(f"database: {err}") from err

    def _renew_slow(self, store: LeaseStore, lease: Lease) -> None:
        row = store.get(lease.underlay_ip, self.expiration)
        if row is None:
            store.insert(
                lease.underlay_ip, lease.overlay_subnet, lease.overlay_hardware_addr
            )
            log.info("lease-inserted-on-renew", extra=lease.to_json())
            return
        if _lease(row) != lease:
            raise NonRetriable("renew-subnet-lease: lease mismatch")
        if store.touch(row, self.expiration):
            log.info("lease-revived", extra=lease.to_json())
        else:
            log.debug("lease-renewed", extra=lease.to_json())

    def release(self, underlay_ip: str) -> None:
        """Forget the host's lease; releasing an unknown host is not an error."""
        underlay_ip = parse_underlay_ip(underlay_ip)
        if self._write(LeaseStore.delete_underlay, underlay_ip):
            log.info("lease-released", extra={"underlay_ip": underlay_ip})
        else:
            log.debug("lease-not-found", extra={"underlay_ip": underlay_ip})

    # -- listing -------------------------------------------------------------------

    def routable_tag(self) -> str:
        """The ETag of the routable set, without reading lease rows."""
        with self.store.session() as store:
            return store.routable_tag(self.expiration)

    def routable(self) -> tuple[str, list[tuple[str, str, str]]]:
        """(ETag, routable leases as (underlay_ip, overlay_subnet, overlay_hwaddr))."""
        with self.store.session() as store:
            return store.routable(self.expiration)

    def all_leases(self) -> tuple[int, list[Row]]:
        """(database now, every row including expired ones), for operators."""
        with self.store.session() as store:
            return store.all_rows(self.expiration)
