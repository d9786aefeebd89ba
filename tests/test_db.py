"""Tests of silkctl/db.py: opening databases from URLs and objects, the lease SQL."""

import ssl
import threading

import peewee
import pytest

from silkctl import db
from silkctl.errors import ConfigError, DatabaseError
from tests.fixtures.db import selected_backends

# -- opening (no server needed) ------------------------------------------------------


def test_open_sqlite_url_is_an_absolute_path_in_wal_mode(tmp_path):
    database = db.open_database(f"sqlite://{tmp_path}/x/leases.db")
    assert database.kind == "sqlite"
    assert database.database == f"{tmp_path}/x/leases.db"
    database.connect()
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.close()


def test_open_postgres_url_over_the_unix_socket():
    database = db.open_database("postgresql://postgres@/test?host=/var/run/postgresql")
    assert database.kind == "postgres"
    assert database.database == "test"
    assert database.connect_params["host"] == "/var/run/postgresql"
    assert database.connect_params["user"] == "postgres"


def test_open_mysql_url_with_unix_socket_and_password():
    database = db.open_database(
        "mysql://root:s%40cret@localhost/test?unix_socket=/run/mysqld/mysqld.sock"
    )
    assert database.kind == "mysql"
    assert database.connect_params["unix_socket"] == "/run/mysqld/mysqld.sock"
    assert database.connect_params["password"] == "s@cret"


def test_open_reference_object_for_postgres_with_tls():
    database = db.open_database(
        {
            "type": "postgres",
            "user": "u",
            "password": "p",
            "host": "db.example",
            "port": 5432,
            "database_name": "silk",
            "timeout": 7,
            "require_ssl": True,
            "ca_cert": "/ca.pem",
        }
    )
    params = database.connect_params
    assert (database.database, params["sslmode"], params["sslrootcert"]) == (
        "silk",
        "verify-full",
        "/ca.pem",
    )
    assert params["connect_timeout"] == 7


def test_open_reference_object_for_mysql_requires_tls_when_no_ca_is_given():
    database = db.open_database(
        {"type": "mysql", "user": "u", "host": "db", "port": 3306, "require_ssl": True}
    )
    context = database.connect_params["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE and context.check_hostname is False


@pytest.mark.skipif(
    "mysql" not in selected_backends(), reason="SILKCTL_TEST_DBS leaves out mysql"
)
def test_mysql_with_require_ssl_never_talks_plain_text_to_the_local_server():
    database = db.open_database(
        {
            "type": "mysql",
            "user": "root",
            "host": "127.0.0.1",
            "port": 3306,
            "database_name": "test",
            "require_ssl": True,
        }
    )
    try:
        database.connect()
    except peewee.OperationalError as err:
        assert "SSL is required but the server doesn't support it" in str(err)
        return
    try:
        cipher = database.execute_sql("SHOW STATUS LIKE 'Ssl_cipher'").fetchone()[1]
    finally:
        database.close()
    assert cipher, "connected without TLS"


def test_open_reference_object_for_mysql_skipping_hostname_validation():
    database = db.open_database(
        {
            "type": "mysql",
            "user": "u",
            "host": "db",
            "port": 3306,
            "database_name": "silk",
            "require_ssl": True,
            "ca_cert": "/ca.pem",
            "skip_hostname_validation": True,
        }
    )
    params = database.connect_params
    assert params["ssl_ca"] == "/ca.pem"
    assert params["ssl_verify_cert"] is True
    assert params["ssl_verify_identity"] is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("oracle://x/y", "is not a sqlite://, postgresql:// or mysql:// URL"),
        ("postgresql://u@h:5432/", "names no database"),
        ("postgresql://u@h:99999/db", "invalid port"),
        ("mysql://root@h/db?colour=blue", "unknown mysql option 'colour'"),
        ("sqlite://", "sqlite needs a file path"),
        ("", "expected a URL string or an object"),
        ({"type": "oracle", "user": "u", "host": "h", "port": 1}, "database.type"),
        (
            {"type": "mysql", "host": "h"},
            "database.user: required; database.port: required",
        ),
        (
            {"type": "mysql", "user": "u", "host": "h", "port": "abc"},
            "database.port: 'abc' is not a port number",
        ),
        (
            {"type": "postgres", "user": "u", "host": "h", "port": 99999},
            "database.port: 99999 is not a port number",
        ),
        (
            {"type": "postgres", "user": "u", "host": "h", "port": 1, "timeout": 0},
            "database.timeout: 0 must be whole seconds >= 1",
        ),
    ],
)
def test_open_database_names_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        db.open_database(spec)


def test_describe_hides_the_password():
    assert (
        db.describe("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    )


# -- the SQL (each backend) ------------------------------------------------------------


def _insert(store, ip, subnet):
    with store.write():
        store.insert(
            ip, subnet, f"ee:ee:{subnet.split('/')[0].split('.')[-2]:0>2}:00:00:00"
        )


def test_store_insert_get_and_taken_by_kind(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    _insert(store, "10.0.0.2", "10.255.0.5/32")
    row = store.get("10.0.0.1", 60)
    assert (row.overlay_subnet, row.expired) == ("10.255.1.0/24", False)
    assert store.get("10.0.0.9", 60) is None
    assert store.taken(single=False) == {"10.255.1.0/24"}
    assert store.taken(single=True) == {"10.255.0.5/32"}


def test_store_unique_constraints_reject_duplicates(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    for ip, subnet in (("10.0.0.1", "10.255.2.0/24"), ("10.0.0.2", "10.255.1.0/24")):
        with pytest.raises(db.UniqueViolation), store.session(), store.write():
            store.insert(ip, subnet, f"ee:ee:{ip[-1]}0:00:00:00")
    assert len(store.all_rows(60)[1]) == 1


def test_store_tag_changes_with_inserts_deletes_and_expiry(store):
    first = store.routable_tag(60)
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    second = store.routable_tag(60)
    assert second != first
    assert store.routable_tag(60) == second
    # With a zero-second expiry every row is already expired: the count drops.
    assert store.routable_tag(0) != second
    assert store.delete_underlay("10.0.0.1") is True
    assert store.routable_tag(60) not in (first, second)
    assert store.delete_underlay("10.0.0.1") is False


def test_store_routable_reads_tag_and_rows_together(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    _insert(store, "10.0.0.2", "10.255.2.0/24")
    tag, rows = store.routable(60)
    assert tag == store.routable_tag(60)
    assert [ip for ip, _, _ in rows] == ["10.0.0.1", "10.0.0.2"]
    tag, rows = store.routable(0)
    assert rows == [] and tag == store.routable_tag(0)


def test_store_oldest_expired_is_per_kind(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    _insert(store, "10.0.0.2", "10.255.0.5/32")
    assert store.oldest_expired(single=False, expiration=60) is None
    assert store.oldest_expired(single=False, expiration=0).underlay_ip == "10.0.0.1"
    assert store.oldest_expired(single=True, expiration=0).underlay_ip == "10.0.0.2"


def test_store_delete_refuses_a_row_renewed_since_it_was_read(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    row = store.get("10.0.0.1", 60)
    stale = db.Row(
        row.id,
        row.underlay_ip,
        row.overlay_subnet,
        row.overlay_hwaddr,
        row.last_renewed_at - 5,
    )
    assert store.delete(stale) is False
    assert store.delete(row) is True


def test_store_touch_active_only_renews_a_matching_live_row(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    row = store.get("10.0.0.1", 60)
    assert store.touch_active(
        row.underlay_ip, row.overlay_subnet, row.overlay_hwaddr, 60
    )
    assert not store.touch_active(
        row.underlay_ip, "10.255.9.0/24", row.overlay_hwaddr, 60
    )
    assert not store.touch_active(
        row.underlay_ip, row.overlay_subnet, row.overlay_hwaddr, 0
    )


def test_store_ping_and_connection_per_thread(store):
    store.ping()
    errors = []

    def worker():
        try:
            store.ping()
            store.close()
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_store_session_turns_failures_into_database_error_and_reconnects(store):
    with pytest.raises(DatabaseError, match="database: "), store.session():
        store.db.execute_sql("SELECT * FROM no_such_table")
    assert store.db.is_closed()
    store.ping()


def test_store_timestamps_come_from_the_database_clock(store):
    _insert(store, "10.0.0.1", "10.255.1.0/24")
    now, rows = store.all_rows(60)
    assert abs(rows[0].last_renewed_at - now) <= 1
    assert isinstance(store.db, peewee.Database)
