"""Tests of silkctl/migrations.py: ordered, recorded, upgrade in place."""

import threading

import pytest

from silkctl import migrations
from silkctl.db import LeaseStore

NAMES = [step.__name__ for step in migrations.MIGRATIONS]


@pytest.fixture
def bare_store(db_url):
    store = LeaseStore.open(db_url)
    yield store
    store.close()


def test_migrations_are_named_and_ordered():
    assert NAMES == sorted(NAMES)
    assert all(name.startswith(f"m{i:03d}_") for i, name in enumerate(NAMES, 1))


def test_migrate_applies_everything_once_on_a_fresh_database(bare_store):
    assert migrations.migrate(bare_store.db) == NAMES
    assert migrations.migrate(bare_store.db) == []
    assert migrations.applied(bare_store.db) == NAMES


def test_migrate_upgrades_an_m001_schema_in_place_keeping_rows(bare_store):
    database = bare_store.db
    with database.connection_context():
        migrations.m001_create_leases(database)
        database.execute_sql(
            "CREATE TABLE silkctl_migrations (name VARCHAR(100) PRIMARY KEY, "
            "applied_at BIGINT NOT NULL)"
        )
        database.execute_sql(
            "INSERT INTO silkctl_migrations VALUES ('m001_create_leases', 0)"
        )
        database.execute_sql(
            "INSERT INTO leases (underlay_ip, overlay_subnet, overlay_hwaddr, "
            "last_renewed_at) VALUES "
            "('10.0.0.1', '10.255.1.0/24', 'ee:ee:0a:ff:01:00', 1)"
        )

    assert migrations.migrate(database) == NAMES[1:]

    with bare_store.session():
        tag, _ = bare_store.routable(10**10)
        rows = bare_store.all_rows(60)[1]
    assert [row.underlay_ip for row in rows] == ["10.0.0.1"]
    assert tag.endswith('.0.0"')  # revision 0, no expired row
    index_columns = {tuple(index.columns) for index in database.get_indexes("leases")}
    assert ("last_renewed_at",) in index_columns


def test_migrate_from_two_threads_applies_each_step_once(db_url):
    results, errors = [], []

    def run():
        store = LeaseStore.open(db_url)
        try:
            with store.session():
                results.append(migrations.migrate(store.db))
        except Exception as err:  # noqa: BLE001
            errors.append(err)
        finally:
            store.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results, key=len) == [[], NAMES]
