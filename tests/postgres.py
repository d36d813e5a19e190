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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

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


def drop_schema(location: PostgresLocation) -> None:
    """Remove a test's schema and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(location.conninfo, autocommit=True, connect_timeout=10) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(location.schema))
        )


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
