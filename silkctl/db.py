"""The lease database, opened from a URL or the reference's object; the leaser's SQL.

Accepted `database` values (config key of the same name):

    sqlite:///var/lib/silkctl/leases.db[?timeout=5]        embedded, WAL mode
    postgresql://user:pass@host:5432/db[?sslmode=...]       also postgres://
    postgresql://postgres@/db?host=/var/run/postgresql      over the Unix socket
    mysql://user:pass@host:3306/db[?ssl_ca=...]             MySQL or MariaDB
    mysql://root@localhost/db?unix_socket=/run/mysqld/mysqld.sock
    {"type": "postgres"|"mysql", "user", "password", "host", "port",
     "database_name", "timeout", "require_ssl", "ca_cert",
     "skip_hostname_validation"}                            the reference's object

Tables (see `silkctl.migrations`): `leases` with UNIQUE underlay_ip,
overlay_subnet and overlay_hwaddr, and `last_renewed_at` in unix seconds of
the database server's clock; `lease_revision`, one row whose `value` is
bumped in the same transaction as every write that adds rows to or removes
rows from the routable set. Between bumps the set can only shrink, by
expiry, so (epoch, value, number of expired rows) names the set: that is
the ETag of `GET /leases`, counted from the `last_renewed_at` index without
reading a routable row.

Every thread of the server keeps its own connection to PostgreSQL or MySQL;
with SQLite the threads share one connection and take turns. Any database
failure discards the connection, so the next request reconnects; that is
how the controller rides out a database restart.
"""

import itertools
import logging
import os
import re
import sqlite3
import ssl
import threading
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
import psycopg2.extensions
from peewee import SQL, Table

from silkctl.errors import ConfigError, DatabaseError

log = logging.getLogger(__name__)

LEASES = "leases"
REVISION = "lease_revision"
SINGLE_PATTERN = "%/32"
DEFAULT_TIMEOUT = 5


class WriteConflict(DatabaseError):
    """A write lost a race (a deadlock); another attempt may win."""


class UniqueViolation(WriteConflict):
    """A write broke a UNIQUE constraint: another row holds that IP, subnet or MAC."""


@dataclass(frozen=True)
class Row:
    """One row of `leases`."""

    id: int
    underlay_ip: str
    overlay_subnet: str
    overlay_hwaddr: str
    last_renewed_at: int
    expired: bool = False


# -- opening -------------------------------------------------------------------

_NOW_SQL = {
    "sqlite": "CAST(strftime('%s','now') AS INTEGER)",
    "postgres": "CAST(FLOOR(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP)) AS BIGINT)",
    "mysql": "UNIX_TIMESTAMP()",
}


class _Timed:
    """Records when each thread's connection was opened, to retire old ones;
    counts open connections and reports each statement to `observer(seconds, ok)`
    when one is set (the controller's metrics)."""

    observer = None
    open_connections = 0
    _count_lock = threading.Lock()

    def _connect(self):
        conn = super()._connect()
        self._opened = getattr(self, "_opened", threading.local())
        self._opened.at = time.monotonic()
        self._count(1)
        return conn

    def _close(self, conn):
        self._count(-1)
        super()._close(conn)

    def _count(self, step: int) -> None:
        with self._count_lock:
            self.open_connections = max(0, self.open_connections + step)

    def execute_sql(self, sql, params=None):
        observer = self.observer
        if observer is None:
            return super().execute_sql(sql, params)
        started = time.perf_counter()
        try:
            cursor = super().execute_sql(sql, params)
        except Exception:
            observer(time.perf_counter() - started, False)
            raise
        observer(time.perf_counter() - started, True)
        return cursor

    def connection_age(self) -> float:
        opened = getattr(self, "_opened", None)
        return time.monotonic() - getattr(opened, "at", time.monotonic())


class _Sqlite(_Timed, peewee.SqliteDatabase):
    kind = "sqlite"

    def _connect(self):
        # A missing directory becomes the DatabaseError of the first request.
        os.makedirs(os.path.dirname(self.database) or ".", mode=0o700, exist_ok=True)
        deadline = time.monotonic() + self.connect_params.get("timeout", 5)
        while True:
            try:
                return super()._connect()
            except sqlite3.OperationalError as err:
                # Two processes opening a new file race to switch it to WAL, a
                # lock SQLite does not wait for: try again within the timeout.
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


class _Postgres(_Timed, peewee.PostgresqlDatabase):
    kind = "postgres"

    def _connect(self):
        conn = super()._connect()
        conn.prepared = set()  # names of the statements prepared on it (see _Prepared)
        return conn


class _MySQL(_Timed, peewee.MySQLDatabase):
    kind = "mysql"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe(spec: str | dict) -> str:
    """The database as safe to log: a URL without its password."""
    if isinstance(spec, dict):
        return (
            f"{spec.get('type')}://{spec.get('user')}@{spec.get('host')}:"
            f"{spec.get('port')}/{spec.get('database_name', '')}"
        )
    return _redact(spec)


def _sqlite(path: str, timeout: float) -> peewee.Database:
    if not path or path == "/" or ":memory:" in path:
        raise ConfigError(
            "database: sqlite needs a file path, e.g. sqlite:///var/lib/"
            "silkctl/leases.db"
        )
    # One connection for the whole process (see LeaseStore): one page cache that
    # no other connection of ours invalidates on every write.
    return _Sqlite(
        path,
        timeout=timeout,
        lock_type="IMMEDIATE",
        thread_safe=False,
        check_same_thread=False,
        pragmas={
            "journal_mode": "wal",
            "synchronous": "normal",
            "busy_timeout": int(timeout * 1000),
            "cache_size": -16384,
            "mmap_size": 64 << 20,
            # Checkpoint rarely: renewals rewrite the same few hundred
            # pages, so a long WAL folds many writes into one copy.
            "wal_autocheckpoint": 10000,
        },
    )


class _PgConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that can carry the names it has prepared."""


def _postgres(name, user, password, host, port, options, timeout) -> peewee.Database:
    kwargs = {
        "user": user or None,
        "password": password or None,
        "host": host or None,
        "port": port or None,
        "connect_timeout": max(1, int(timeout)),
        "application_name": "silkctl-controller",
        # Renewals commit without waiting for the WAL flush (see LeaseStore.write).
        "options": "-c synchronous_commit=off",
        "connection_factory": _PgConnection,
    }
    kwargs.update(options)
    return _Postgres(name, **{k: v for k, v in kwargs.items() if v is not None})


def _mysql(name, user, password, host, port, options, timeout) -> peewee.Database:
    from pymysql.constants import CLIENT

    kwargs = {
        "user": user or "root",
        "password": password or "",
        "host": host or None,
        "port": port or 3306,
        "connect_timeout": timeout,
        "read_timeout": timeout,
        "write_timeout": timeout,
        "charset": "utf8mb4",
        # UPDATE reports matched rows, not only changed ones.
        "client_flag": CLIENT.FOUND_ROWS,
        # Fewer gap locks: concurrent acquires conflict only on real duplicates.
        "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    }
    kwargs.update(options)
    return _MySQL(name, **{k: v for k, v in kwargs.items() if v is not None})


_MYSQL_OPTION_TYPES = {
    "unix_socket": str,
    "connect_timeout": float,
    "read_timeout": float,
    "write_timeout": float,
    "ssl_ca": str,
    "ssl_cert": str,
    "ssl_key": str,
    "ssl_verify_cert": "bool",
    "ssl_verify_identity": "bool",
    "charset": str,
}


def _mysql_options(query: dict) -> dict:
    options = {}
    for key, value in query.items():
        kind = _MYSQL_OPTION_TYPES.get(key)
        if kind is None:
            raise ConfigError(
                f"database: unknown mysql option {key!r}; known: "
                f"{', '.join(sorted(_MYSQL_OPTION_TYPES))}"
            )
        if kind == "bool":
            options[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            try:
                options[key] = kind(value)
            except ValueError:
                raise ConfigError(
                    f"database: mysql option {key}={value!r} is not a number"
                ) from None
    return options


def _from_url(url: str, timeout: float) -> peewee.Database:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path, _, query = url[len("sqlite://") :].partition("?")
        busy = dict(parse_qsl(query)).get("timeout", timeout)
        try:
            return _sqlite(unquote(path), float(busy))
        except ValueError:
            raise ConfigError(
                f"database: sqlite timeout {busy!r} is not a number"
            ) from None
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"database: {_redact(url)!r} has an invalid port") from None
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigError(f"database: {_redact(url)!r} names no database")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    query = dict(parse_qsl(parts.query))
    if scheme in ("postgresql", "postgres"):
        return _postgres(name, user, password, parts.hostname, port, query, timeout)
    if scheme == "mysql":
        return _mysql(
            name, user, password, parts.hostname, port, _mysql_options(query), timeout
        )
    raise ConfigError(
        f"database: {_redact(url)!r} is not a sqlite://, postgresql:// or mysql:// URL"
    )


def _is_int(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isdigit()


def _from_object(spec: dict) -> peewee.Database:
    kind = spec.get("type")
    problems = [
        f"database.{key}: required"
        for key in ("user", "host", "port")
        if not spec.get(key)
    ]
    if kind not in ("postgres", "mysql"):
        problems.insert(0, f"database.type: {kind!r} is not postgres or mysql")
    port = spec.get("port")
    if port and not (_is_int(port) and 1 <= int(port) <= 65535):
        problems.append(f"database.port: {port!r} is not a port number (1-65535)")
    timeout = spec.get("timeout")
    if timeout is not None and not (_is_int(timeout) and int(timeout) >= 1):
        problems.append(f"database.timeout: {timeout!r} must be whole seconds >= 1")
    if problems:
        raise ConfigError("; ".join(problems))
    timeout = int(timeout) if timeout else DEFAULT_TIMEOUT
    name = spec.get("database_name") or ""
    ca_cert = spec.get("ca_cert") or None
    verify_name = not spec.get("skip_hostname_validation", False)
    if kind == "postgres":
        options = {"sslmode": "disable"}
        if spec.get("require_ssl"):
            options = (
                {
                    "sslmode": "verify-full" if verify_name else "verify-ca",
                    "sslrootcert": ca_cert,
                }
                if ca_cert
                else {"sslmode": "require"}
            )
        return _postgres(
            name,
            spec["user"],
            spec.get("password"),
            spec["host"],
            int(spec["port"]),
            options,
            timeout,
        )
    options = {}
    if spec.get("require_ssl") and ca_cert:
        options = {
            "ssl_ca": ca_cert,
            "ssl_verify_cert": True,
            "ssl_verify_identity": verify_name,
        }
    elif spec.get("require_ssl"):
        # TLS required but nothing to verify the server with, as PostgreSQL's
        # sslmode=require: PyMySQL falls back to plain text unless given a context.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        options = {"ssl": context}
    return _mysql(
        name,
        spec["user"],
        spec.get("password"),
        spec["host"],
        int(spec["port"]),
        options,
        timeout,
    )


def open_database(
    spec: str | dict, timeout: float = DEFAULT_TIMEOUT
) -> peewee.Database:
    """A peewee database for a URL or the reference's object; not yet connected."""
    if isinstance(spec, dict):
        return _from_object(spec)
    if not isinstance(spec, str) or not spec:
        raise ConfigError("database: expected a URL string or an object")
    return _from_url(spec, timeout)


# -- the queries ---------------------------------------------------------------


class _Slot:
    """A named placeholder in a query rendered once by `_Prepared`."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Prepared:
    """A query rendered to SQL once and run with fresh values for its `_Slot`s.

    Building SQL through peewee costs more than running it on the hot paths
    (renew, the ETag), so every query of the store is rendered at start-up.
    On PostgreSQL each is also a server-side prepared statement, prepared
    once per connection, which spares the server parsing and planning it.
    """

    _names = itertools.count(1)

    def __init__(self, database: peewee.Database, query):
        self.database = database
        self.sql, self.params = database.get_sql_context().sql(query).query()
        self.name = None
        if database.kind == "postgres":
            self.name = f"silkctl_{next(self._names)}"
            numbered = iter(range(1, len(self.params) + 1))
            body = re.sub(r"%s", lambda _: f"${next(numbered)}", self.sql)
            self.prepare_sql = f"PREPARE {self.name} AS {body}"
            args = ", ".join(["%s"] * len(self.params))
            self.execute_sql = (
                f"EXECUTE {self.name}({args})" if args else f"EXECUTE {self.name}"
            )

    def __call__(self, **values):
        params = [values[p.name] if isinstance(p, _Slot) else p for p in self.params]
        if self.name is None:
            return self.database.execute_sql(self.sql, params)
        prepared = self.database.connection().prepared
        if self.name not in prepared:
            self.database.execute_sql(self.prepare_sql)
            prepared.add(self.name)
        return self.database.execute_sql(self.execute_sql, params)

    def rowcount(self, **values) -> int:
        return self(**values).rowcount


class LeaseStore:
    """The SQL behind lease policy, on one database; safe to share between threads.

    `expiration` arguments are the lease expiry in seconds: a row is routable
    while `last_renewed_at > now - expiration` by the database's clock.
    """

    def __init__(self, database: peewee.Database, max_lifetime: float = 0):
        self.db = database
        self.kind = database.kind
        self.max_lifetime = max_lifetime
        # SQLite: one connection shared by all threads, one unit of work at a time
        # (SQLite has one writer anyway). Others: a connection per thread.
        self._serial = threading.RLock() if self.kind == "sqlite" else nullcontext()
        self._prepare(database)

    def _prepare(self, database) -> None:
        leases = Table(
            LEASES,
            (
                "id",
                "underlay_ip",
                "overlay_subnet",
                "overlay_hwaddr",
                "last_renewed_at",
            ),
            _database=database,
        )
        revision = Table(REVISION, ("id", "epoch", "value"), _database=database)
        now = SQL(_NOW_SQL[self.kind])
        cutoff = now - _Slot("expiration")
        single = leases.overlay_subnet**SINGLE_PATTERN
        row = (
            leases.id,
            leases.underlay_ip,
            leases.overlay_subnet,
            leases.overlay_hwaddr,
            leases.last_renewed_at,
            leases.last_renewed_at <= cutoff,
        )
        gone = leases.alias("gone")
        expired_count = gone.select(peewee.fn.COUNT(SQL("*"))).where(
            gone.last_renewed_at <= cutoff
        )

        def prepared(query):
            return _Prepared(database, query)

        self._get = prepared(
            leases.select(*row).where(leases.underlay_ip == _Slot("underlay_ip"))
        )
        self._all = prepared(leases.select(*row).order_by(leases.id))
        self._counts = prepared(
            leases.select(
                peewee.fn.COUNT(SQL("*")),
                peewee.fn.SUM(
                    peewee.Case(
                        None,
                        [(leases.last_renewed_at <= now - _Slot("stale"), SQL("1"))],
                        SQL("0"),
                    )
                ),
            )
        )
        self._now = prepared(revision.select(now).where(revision.id == 1))
        self._taken = {
            kind: prepared(leases.select(leases.overlay_subnet).where(where))
            for kind, where in ((True, single), (False, ~single))
        }
        self._oldest_expired = {
            kind: prepared(
                leases.select(*row)
                .where(where & (leases.last_renewed_at <= cutoff))
                .order_by(leases.last_renewed_at, leases.id)
                .limit(1)
            )
            for kind, where in ((True, single), (False, ~single))
        }
        self._tag = prepared(
            revision.select(revision.epoch, revision.value, expired_count).where(
                revision.id == 1
            )
        )
        self._routable = prepared(
            revision.select(
                revision.epoch,
                revision.value,
                expired_count,
                leases.underlay_ip,
                leases.overlay_subnet,
                leases.overlay_hwaddr,
            )
            .join(leases, peewee.JOIN.LEFT_OUTER, on=leases.last_renewed_at > cutoff)
            .where(revision.id == 1)
            .order_by(leases.id)
        )
        self._bump = prepared(
            revision.update(value=revision.value + 1).where(revision.id == 1)
        )
        self._insert = prepared(
            leases.insert(
                underlay_ip=_Slot("underlay_ip"),
                overlay_subnet=_Slot("overlay_subnet"),
                overlay_hwaddr=_Slot("overlay_hwaddr"),
                last_renewed_at=now,
            )
        )
        self._delete = prepared(
            leases.delete().where(
                (leases.id == _Slot("id"))
                & (leases.last_renewed_at == _Slot("renewed"))
            )
        )
        self._delete_underlay = prepared(
            leases.delete().where(leases.underlay_ip == _Slot("underlay_ip"))
        )
        self._touch_active = prepared(
            leases.update(last_renewed_at=now).where(
                (leases.underlay_ip == _Slot("underlay_ip"))
                & (leases.overlay_subnet == _Slot("overlay_subnet"))
                & (leases.overlay_hwaddr == _Slot("overlay_hwaddr"))
                & (leases.last_renewed_at > cutoff)
            )
        )
        self._revive = prepared(
            leases.update(last_renewed_at=now).where(
                (leases.id == _Slot("id")) & (leases.last_renewed_at <= cutoff)
            )
        )
        self._touch = prepared(
            leases.update(last_renewed_at=now).where(leases.id == _Slot("id"))
        )

    @classmethod
    def open(
        cls,
        spec: str | dict,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_lifetime: float = 0,
    ) -> "LeaseStore":
        return cls(open_database(spec, timeout), max_lifetime)

    # -- connection handling ---------------------------------------------------

    @contextmanager
    def session(self):
        """Wrap one unit of work: database failures become `DatabaseError` and drop
        this thread's connection; lost races become `WriteConflict`."""
        with self._serial:
            if (
                self.max_lifetime > 0
                and not self.db.is_closed()
                and self.db.connection_age() > self.max_lifetime
            ):
                self.discard()
            try:
                yield self
            except peewee.IntegrityError as err:
                raise UniqueViolation(_first_line(err)) from err
            except (peewee.OperationalError, peewee.InternalError) as err:
                if _is_lock_conflict(err):
                    raise WriteConflict(_first_line(err)) from err
                self.discard()
                raise DatabaseError(f"database: {_first_line(err)}") from err
            except (
                peewee.PeeweeException,
                peewee.DatabaseError,
                peewee.InterfaceError,
                OSError,
            ) as err:
                self.discard()
                raise DatabaseError(f"database: {_first_line(err)}") from err

    def discard(self) -> None:
        """Drop this thread's connection without asking the (maybe gone) server."""
        state = self.db._state
        conn = state.conn
        state.reset()
        if conn is not None:
            self.db._count(-1)
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the connection is broken anyway
                pass

    def close(self) -> None:
        """Close this thread's connection (at shutdown)."""
        self.discard()

    def ping(self) -> None:
        """`SELECT 1`; raises DatabaseError when the database does not answer."""
        with self.session():
            self.db.execute_sql("SELECT 1").fetchone()

    @contextmanager
    def write(self):
        """A write transaction that changes the set of leases, durably committed.

        BEGIN IMMEDIATE on SQLite, so writers queue. On PostgreSQL the session
        commits asynchronously, which only the renew fast path relies on: a
        renewal lost in a database crash is redone by the next one, and renew
        re-inserts a missing lease. Everything here waits for the flush.
        """
        with self.db.atomic():
            if self.kind == "postgres":
                self.db.execute_sql("SET LOCAL synchronous_commit = on")
            yield

    # -- reads -----------------------------------------------------------------

    def get(self, underlay_ip: str, expiration: int) -> Row | None:
        found = self._get(underlay_ip=underlay_ip, expiration=expiration).fetchone()
        return _row(found) if found else None

    def taken(self, single: bool) -> set[str]:
        """Subnets of every row of the kind (block or /32), whatever the network."""
        return {subnet for (subnet,) in self._taken[single]().fetchall()}

    def oldest_expired(self, single: bool, expiration: int) -> Row | None:
        found = self._oldest_expired[single](expiration=expiration).fetchone()
        return _row(found) if found else None

    def routable_tag(self, expiration: int) -> str:
        """The ETag of the routable set: the revision row and the number of expired
        rows (an index range over expired rows only; routable rows are not read)."""
        found = self._tag(expiration=expiration).fetchone()
        if found is None:
            raise DatabaseError("database: lease_revision is empty; was it migrated?")
        return _tag(*found)

    def routable(self, expiration: int) -> tuple[str, list[tuple[str, str, str]]]:
        """(ETag, [(underlay_ip, overlay_subnet, overlay_hwaddr)]) of the routable
        leases, read in one statement so that tag and rows agree."""
        rows = self._routable(expiration=expiration).fetchall()
        if not rows:
            raise DatabaseError("database: lease_revision is empty; was it migrated?")
        items = [tuple(row[3:]) for row in rows if row[3] is not None]
        return _tag(*rows[0][:3]), items

    def all_rows(self, expiration: int) -> tuple[int, list[Row]]:
        """(database now, every row) for operators, expired ones included."""
        (now,) = self._now().fetchone()
        return int(now), [
            _row(found) for found in self._all(expiration=expiration).fetchall()
        ]

    def counts(self, stale_seconds: int) -> tuple[int, int]:
        """(rows, rows not renewed for `stale_seconds`), in one aggregate query."""
        total, stale = self._counts(stale=stale_seconds).fetchone()
        return int(total), int(stale or 0)

    # -- writes (inside `write()`; each bumps the revision when it changes the set) --

    def bump(self) -> None:
        """Mark the routable set as changed; call inside the changing transaction."""
        self._bump()

    def insert(
        self, underlay_ip: str, overlay_subnet: str, overlay_hwaddr: str
    ) -> None:
        self._insert(
            underlay_ip=underlay_ip,
            overlay_subnet=overlay_subnet,
            overlay_hwaddr=overlay_hwaddr,
        )
        self.bump()

    def delete(self, row: Row) -> bool:
        """Delete this row as read (same id and timestamp); False if it changed."""
        deleted = self._delete.rowcount(id=row.id, renewed=row.last_renewed_at)
        if deleted:
            self.bump()
        return bool(deleted)

    def delete_underlay(self, underlay_ip: str) -> bool:
        deleted = self._delete_underlay.rowcount(underlay_ip=underlay_ip)
        if deleted:
            self.bump()
        return bool(deleted)

    def touch_active(
        self,
        underlay_ip: str,
        overlay_subnet: str,
        overlay_hwaddr: str,
        expiration: int,
    ) -> bool:
        """Renew the row if it matches and is still routable (no revision change)."""
        return bool(
            self._touch_active.rowcount(
                underlay_ip=underlay_ip,
                overlay_subnet=overlay_subnet,
                overlay_hwaddr=overlay_hwaddr,
                expiration=expiration,
            )
        )

    def touch(self, row: Row, expiration: int) -> bool:
        """Renew `row`; bump the revision when that brings it back from expiry.
        Returns True when it was revived."""
        if self._revive.rowcount(id=row.id, expiration=expiration):
            self.bump()
            return True
        self._touch(id=row.id)
        return False


def _row(values) -> Row:
    return Row(*values[:5], bool(values[5]))


def _tag(epoch: str, value: int, count: int) -> str:
    return f'"{epoch}.{value}.{count}"'


def new_epoch() -> str:
    """A fresh identity for a revision row, so tags from a recreated database differ."""
    return uuid.uuid4().hex


def _first_line(err: Exception) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


# Lost races that fail at once and are worth another attempt. Waits that timed
# out (SQLite "database is locked", MySQL 1205) are not: the wait already happened.
_RACE_CODES = {1213}  # MySQL: deadlock
_RACE_STATES = {"40001", "40P01"}  # PostgreSQL: serialization failure, deadlock


def _is_lock_conflict(err: Exception) -> bool:
    cause = err.__cause__ or err.__context__ or err
    args = getattr(cause, "args", ())
    if args and args[0] in _RACE_CODES:
        return True
    return getattr(cause, "pgcode", None) in _RACE_STATES
