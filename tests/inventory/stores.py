"""The inventory's store seen from outside the inventory's code, on either backend: whether
it exists, everything it holds, and raw SQL as a hand edit or another program runs it.

A SQLite inventory is a file; a PostgreSQL one is a schema. The tests that run on both
backends ask these questions through here, so each asks them the same way of both.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from psycopg import sql

from reconciler.inventory import Location, PostgresLocation
from reconciler.inventory.connection import Database, SqliteDatabase
from reconciler.inventory.postgres import PostgresDatabase
from tests.postgres import raw_connection, schema_exists


def exists(location: Location) -> bool:
    """Whether anything was created at `location`: the file, or the schema."""
    if isinstance(location, PostgresLocation):
        return schema_exists(location)
    return location.exists()


def make_empty(location: Location) -> None:
    """An empty store where the inventory would be: an empty file, or an empty schema
    (as a database administrator makes one for a role that may not create schemas)."""
    if isinstance(location, PostgresLocation):
        with raw_connection(location) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(location.schema)))
        return
    location.parent.mkdir(parents=True, exist_ok=True)
    location.touch()


def run_sql(location: Location, statement: str, params: tuple[object, ...] = ()) -> list[Any]:
    """The rows `statement` answers (`?` placeholders), run and committed on a connection
    of the test's own."""
    if isinstance(location, PostgresLocation):
        with raw_connection(location) as server:
            cursor = server.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
    with closing(sqlite3.connect(location)) as file, file:
        return file.execute(statement, params).fetchall()


def tables(location: Location) -> set[str]:
    """The names of the tables the store holds."""
    if isinstance(location, PostgresLocation):
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
        return {str(row[0]) for row in run_sql(location, query, (location.schema,))}
    query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {str(row[0]) for row in run_sql(location, query)}


def footprint(location: Location) -> dict[str, bytes]:
    """Everything the store holds, to compare before and after or search for a secret.

    A file: its bytes, and those of whatever journal SQLite keeps beside it. A schema:
    each table's rows as text, each with its row version (`xmin`), which every insert,
    update or delete changes, even one that writes back the same values.
    """
    if not isinstance(location, PostgresLocation):
        return _files_of(location)
    found: dict[str, bytes] = {}
    with raw_connection(location) as connection:
        for table in sorted(tables(location)):
            rows = connection.execute(
                sql.SQL("SELECT t.xmin::text || ' ' || t::text FROM {} AS t ORDER BY 1").format(
                    sql.Identifier(table)
                )
            ).fetchall()
            found[table] = "\n".join(str(row[0]) for row in rows).encode("utf-8")
    return found


def open_database(location: Location) -> Database:
    """A bare connection to the store, below `Inventory`: for building old layouts."""
    if isinstance(location, PostgresLocation):
        return PostgresDatabase(location, timeout=1)
    return SqliteDatabase(location, timeout=1)


def _files_of(path: Path) -> dict[str, bytes]:
    if not path.parent.exists():
        return {}
    return {
        candidate.name: candidate.read_bytes()
        for candidate in path.parent.iterdir()
        if candidate.name.startswith(path.name)
    }
