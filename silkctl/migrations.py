"""Ordered, named schema migrations, each applied once and recorded in a table.

`migrate(database)` applies, in order, every function of `MIGRATIONS` whose
name is not yet in `silkctl_migrations`, so starting on an older schema
upgrades it in place. The same functions run on SQLite, PostgreSQL and
MySQL through peewee (models frozen as they were at that step, and
peewee's schema migrator). Concurrent starters take turns: an advisory lock
on PostgreSQL and MySQL, a write transaction on SQLite.
"""

import logging
import time
from contextlib import contextmanager

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_operations

from silkctl.db import LEASES, REVISION, new_epoch
from silkctl.errors import DatabaseError

log = logging.getLogger(__name__)

TABLE = "silkctl_migrations"
LOCK_NAME = "silkctl-migrations"
LOCK_KEY = 0x51_1C_C7_10  # PostgreSQL advisory lock key for LOCK_NAME
LOCK_TIMEOUT = 60


def _model(database, table: str, **fields) -> type[peewee.Model]:
    meta = type("Meta", (), {"database": database, "table_name": table})
    return type(
        f"m_{table}", (peewee.Model,), {"Meta": meta, "__module__": __name__, **fields}
    )


def m001_create_leases(database) -> None:
    """The reference's `subnets` table, as `leases`: one row per host."""
    lease = _model(
        database,
        LEASES,
        id=peewee.AutoField(),
        underlay_ip=peewee.CharField(max_length=15, unique=True),
        overlay_subnet=peewee.CharField(max_length=18, unique=True),
        overlay_hwaddr=peewee.CharField(max_length=17, unique=True),
        last_renewed_at=peewee.BigIntegerField(),
    )
    lease.create_table(safe=True)


def m002_create_lease_revision(database) -> None:
    """One row counting changes to the routable set, for the `GET /leases` ETag."""
    revision = _model(
        database,
        REVISION,
        id=peewee.IntegerField(primary_key=True),
        epoch=peewee.CharField(max_length=32),
        value=peewee.BigIntegerField(),
    )
    revision.create_table(safe=True)
    revision.insert(id=1, epoch=new_epoch(), value=0).on_conflict_ignore().execute()


def m003_index_last_renewed_at(database) -> None:
    """Index the expiry column: the ETag counts routable rows without reading them."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(migrator.add_index(LEASES, ("last_renewed_at",), False))


MIGRATIONS = [
    m001_create_leases,
    m002_create_lease_revision,
    m003_index_last_renewed_at,
]


@contextmanager
def _exclusive(database):
    kind = getattr(database, "kind", "")
    if kind == "postgres":
        database.execute_sql("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    elif kind == "mysql":
        (got,) = database.execute_sql(
            "SELECT GET_LOCK(%s, %s)", (LOCK_NAME, LOCK_TIMEOUT)
        ).fetchone()
        if got != 1:
            raise DatabaseError(
                f"migrate: lock {LOCK_NAME} not granted in {LOCK_TIMEOUT}s"
            )
        try:
            yield
        finally:
            database.execute_sql("SELECT RELEASE_LOCK(%s)", (LOCK_NAME,))
    else:
        with database.atomic():
            yield


def applied(database) -> list[str]:
    """Names of the migrations already recorded, oldest first."""
    if not database.table_exists(TABLE):
        return []
    rows = database.execute_sql(f"SELECT name FROM {TABLE} ORDER BY name").fetchall()
    return [name for (name,) in rows]


def migrate(database) -> list[str]:
    """Apply every pending migration in order; returns the names applied now."""
    record = _model(
        database,
        TABLE,
        name=peewee.CharField(max_length=100, primary_key=True),
        applied_at=peewee.BigIntegerField(),
    )
    done_now = []
    with database.connection_context(), _exclusive(database):
        record.create_table(safe=True)
        done = set(applied(database))
        for step in MIGRATIONS:
            if step.__name__ in done:
                continue
            with database.atomic():
                step(database)
                record.insert(name=step.__name__, applied_at=int(time.time())).execute()
            log.info("migration-applied", extra={"migration": step.__name__})
            done_now.append(step.__name__)
    return done_now
