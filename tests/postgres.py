"""A PostgreSQL server for the tests that run on both inventory backends.

`RECONCILER_TEST_POSTGRES` names the server (`bash .ci/postgres` starts one and prints
the URL). Each test gets a schema of its own, dropped afterwards, so tests never see
each other's inventories. Without the variable the PostgreSQL half of the suite is
skipped, with a reason, on a developer's machine; CI sets
`RECONCILER_REQUIRE_POSTGRES=1`, which turns that skip into a failure, so there the
PostgreSQL tests always run.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from reconciler.inventory import PostgresLocation, parse_location

URL_VARIABLE = "RECONCILER_TEST_POSTGRES"
REQUIRE_VARIABLE = "RECONCILER_REQUIRE_POSTGRES"
BACKENDS = ("sqlite", "postgresql")


def server_url() -> str:
    """The test server's URL, or skip (fail, where CI requires PostgreSQL)."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        return url
    reason = (
        f"PostgreSQL tests need {URL_VARIABLE}=postgresql://…"
        f' (export {URL_VARIABLE}="$(bash .ci/postgres)")'
    )
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1, but: {reason}")
    pytest.skip(reason)


def with_schema(url: str, schema: str) -> str:
    """`url` naming `schema`."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def raw_connection(location: PostgresLocation) -> Iterator[psycopg.Connection[Any]]:
    """A connection of the test's own to `location`'s database, beside the inventory's
    code: autocommit, with the inventory's schema on its search path."""
    with psycopg.connect(location.conninfo, autocommit=True, connect_timeout=10) as connection:
        # A transaction a failed test left open fails the test's cleanup, never hangs it.
        connection.execute("SET lock_timeout = '10s'")
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(location.schema)))
        yield connection


def drop_schema(location: PostgresLocation) -> None:
    """Remove a test's schema and everything in it."""
    with raw_connection(location) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(location.schema))
        )


def schema_exists(location: PostgresLocation) -> bool:
    """Whether `location`'s schema exists, as information_schema tells."""
    with raw_connection(location) as connection:
        row = connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
            (location.schema,),
        ).fetchone()
    return row is not None and row[0] == 1


def lock_waiters(location: PostgresLocation) -> int:
    """How many connections wait for one of the inventory's advisory locks (a writer
    queued behind another): those keyed, as reconciler.inventory.postgres keys them, by
    the CRC-32 of the schema's name."""
    key = zlib.crc32(location.schema.encode("utf-8")) & 0x7FFFFFFF
    with raw_connection(location) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objsubid = 2 AND objid::int8 = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (key,),
        ).fetchone()
    return 0 if row is None else int(row[0])


@contextmanager
def postgres_url() -> Iterator[str]:
    """A URL naming a schema no other test uses; the schema is dropped afterwards."""
    url = with_schema(server_url(), f"test_{uuid.uuid4().hex[:16]}")
    try:
        yield url
    finally:
        location = parse_location(url)
        assert isinstance(location, PostgresLocation)
        drop_schema(location)


@contextmanager
def inventory_text(backend: str, folder: Path, name: str = "state.db") -> Iterator[str]:
    """A fresh inventory location on `backend` (not created yet), as `--state` takes it."""
    if backend == "sqlite":
        yield str(folder / name)
        return
    with postgres_url() as url:
        yield url
