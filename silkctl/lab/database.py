"""Makes and drops the lab's database: a SQLite file or a database on the
local PostgreSQL or MariaDB server, reached through its Unix socket (TCP
ports do not reach into the lab's namespaces; Unix sockets do)."""

import os

from silkctl.errors import ConfigError, DatabaseError

PG_SOCKET_DIR = "/var/run/postgresql"
MYSQL_SOCKET = "/run/mysqld/mysqld.sock"
KINDS = ("sqlite", "postgres", "mysql")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"--db: {kind!r} is not one of {', '.join(KINDS)}")


def create(kind: str, lab_name: str, directory: str) -> tuple[str, str]:
    """Make an empty database for the lab; returns (url, database name)."""
    check_kind(kind)
    if kind == "sqlite":
        path = os.path.join(directory, "leases.db")
        return f"sqlite:///{path}", path
    name = f"silklab_{lab_name}"
    if kind == "postgres":
        _postgres(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@/{name}?host={PG_SOCKET_DIR}", name
    _mysql(f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    return f"mysql://root@localhost/{name}?unix_socket={MYSQL_SOCKET}", name


def drop(kind: str, name: str) -> None:
    """Drop the lab's database; a missing one is fine."""
    if not name:
        return
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(name + suffix)
            except FileNotFoundError:
                pass
    elif kind == "postgres":
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    elif kind == "mysql":
        _mysql(f"DROP DATABASE IF EXISTS `{name}`")


def _postgres(*statements: str) -> None:
    import psycopg2

    try:
        conn = psycopg2.connect(host=PG_SOCKET_DIR, user="postgres", dbname="postgres")
    except psycopg2.Error as err:
        raise DatabaseError(
            f"connect to PostgreSQL at {PG_SOCKET_DIR}: {str(err).strip()}"
        ) from err
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def _mysql(*statements: str) -> None:
    import pymysql

    try:
        conn = pymysql.connect(unix_socket=MYSQL_SOCKET, user="root")
    except pymysql.Error as err:
        raise DatabaseError(f"connect to MariaDB at {MYSQL_SOCKET}: {err}") from err
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        conn.commit()
    finally:
        conn.close()
