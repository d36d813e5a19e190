"""What only the PostgreSQL inventory does: a lock the server frees when its holder's
connection dies, writers from several connections queued one at a time, snapshots that
stay one moment while others write, a password that never shows, and inventories that
share a database without touching each other.

What both backends do is tested once, on both, in the other modules of this folder.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from reconciler.inventory import (
    BUSY_TIMEOUT_SECONDS,
    Inventory,
    InventoryError,
    LockedError,
    LockInfo,
    PostgresLocation,
    parse_location,
    records,
)
from reconciler.inventory.connection import Database
from reconciler.planning.state import SessionRecord
from tests.inventory import stores
from tests.inventory.samples import T0, record
from tests.postgres import lock_waiters, postgres_url, server_url, with_schema

DEADLINE_SECONDS = 30.0
"""How long a test waits for the server to notice something before it fails."""

_HOLDER = """
import os, sys
from datetime import datetime
from reconciler.inventory import Inventory, parse_location

inventory = Inventory.open(parse_location(sys.argv[1]))
inventory.lock("reconciler apply", os.getpid(), "ci-runner-7", datetime.fromisoformat(sys.argv[2]))
print(os.getpid(), flush=True)
sys.stdin.readline()
"""
"""A run that takes the lock, says its pid, and holds on until told to stop (or killed)."""


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail after `DEADLINE_SECONDS`."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"after {DEADLINE_SECONDS:.0f}s, still not: {what}")
        time.sleep(0.02)


@contextmanager
def _process_holding_the_lock(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock of the inventory at `url`."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, T0.isoformat()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the process prints its pid, or exits
        assert line.strip() == str(process.pid), f"the holder did not take the lock: {line!r}"
        yield process
    finally:
        process.kill()
        process.wait(timeout=DEADLINE_SECONDS)


def test_the_lock_is_freed_when_the_holders_connection_dies(postgres_text: str) -> None:
    location = parse_location(postgres_text)
    Inventory.open(location, create=True).close()
    with Inventory.open(location) as inventory, _process_holding_the_lock(postgres_text) as holder:
        held = LockInfo("reconciler apply", holder.pid, "ci-runner-7", T0)
        assert inventory.lock_info() == held
        with pytest.raises(LockedError) as caught:
            inventory.lock("reconciler apply", os.getpid(), "laptop", T0)
        message = str(caught.value)
        assert f"locked by reconciler apply (pid {holder.pid} on ci-runner-7)" in message
        assert "the database frees the lock when that run's connection ends" in message
        with pytest.raises(InventoryError, match="still connected"):
            inventory.unlock()
        assert inventory.lock_info() == held

        holder.send_signal(signal.SIGKILL)  # no chance to unlock, or to say goodbye
        holder.wait(timeout=DEADLINE_SECONDS)
        _wait_until(lambda: inventory.lock_info() is None, "the lock is free")
        taken = inventory.lock("reconciler apply", os.getpid(), "laptop", T0)
        assert taken.taken_over == held
        assert inventory.lock_info() == LockInfo("reconciler apply", os.getpid(), "laptop", T0)


def test_a_write_waits_for_another_connections_batch_then_sees_its_result(
    postgres_location: PostgresLocation,
) -> None:
    Inventory.open(postgres_location, create=True).close()
    with (
        Inventory.open(postgres_location) as first,
        Inventory.open(postgres_location) as second,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):

        def write_second() -> int:
            with second.writing(now=T0) as batch:
                seen = second.serial
                batch.put(record(second, "b"))
            return seen

        with first.writing(now=T0) as batch:
            batch.put(record(first, "a"))
            waiting = pool.submit(write_second)
            _wait_until(lambda: lock_waiters(postgres_location) == 1, "the second writer waits")
            assert not waiting.done()
        assert waiting.result(timeout=DEADLINE_SECONDS) == 1  # it saw the first batch's serial
        assert second.serial == 2
        assert [r.key for r in first.sessions()] == ["a", "b"]


def test_a_writer_that_waits_longer_than_its_timeout_gives_up_changing_nothing(
    postgres_location: PostgresLocation,
) -> None:
    Inventory.open(postgres_location, create=True).close()
    with (
        Inventory.open(postgres_location) as first,
        Inventory.open(postgres_location, timeout=0.2) as impatient,
    ):
        with first.writing(now=T0) as batch:
            batch.put(record(first, "a"))
            started = time.monotonic()
            with (
                pytest.raises(InventoryError, match="another reconciler is using it") as caught,
                impatient.writing(now=T0) as late,
            ):
                late.put(record(impatient, "b"))
            waited = time.monotonic() - started
        assert 0.2 <= waited < BUSY_TIMEOUT_SECONDS
        assert str(caught.value).startswith(f"{postgres_location}: cannot write the inventory")
        assert [r.key for r in impatient.sessions()] == ["a"]
        assert impatient.serial == 1


def test_a_snapshot_read_while_another_connection_commits_is_one_moment(
    postgres_location: PostgresLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    Inventory.open(postgres_location, create=True).close()
    with Inventory.open(postgres_location) as reader, Inventory.open(postgres_location) as writer:
        with writer.writing(now=T0) as batch:
            batch.put(record(writer, "a"))
        read_all = records.read_all
        commits: list[int] = []

        def commit_between_serial_and_records(db: Database) -> tuple[SessionRecord, ...]:
            if not commits:  # an apply's batch lands after the serial was read
                with writer.writing(now=T0) as batch:
                    batch.forget("a")
                    batch.put(record(writer, "b"))
                commits.append(writer.serial)
            return read_all(db)

        monkeypatch.setattr(records, "read_all", commit_between_serial_and_records)
        serial, found = reader.snapshot()
        monkeypatch.undo()
        assert commits == [2]
        assert (serial, [r.key for r in found]) == (1, ["a"])
        serial, found = reader.snapshot()
        assert (serial, [r.key for r in found]) == (2, ["b"])


def _with_password(password: str, *, in_query: bool) -> str:
    """The test server's URL with `password` (in its user part or its query), naming a
    schema of its own."""
    parts = urlsplit(server_url())
    host = parts.netloc.rpartition("@")[2]
    if in_query:
        url = urlunsplit(
            parts._replace(netloc=f"{parts.username}@{host}", query="password=" + password)
        )
    else:
        url = urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{host}"))
    return with_schema(url, f"test_{secrets.token_hex(8)}")


@pytest.mark.parametrize("in_query", [False, True], ids=["user-info", "query"])
def test_a_wrong_password_is_refused_naming_the_location_but_never_the_password(
    in_query: bool,
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    location = parse_location(_with_password(wrong, in_query=in_query))
    with pytest.raises(InventoryError) as caught:
        Inventory.open(location, create=True)
    message = str(caught.value)
    assert message.startswith(f"{location}: cannot connect to the inventory's database: ")
    assert "password authentication failed" in message
    assert wrong not in message
    assert wrong not in repr(caught.value)


def test_neither_the_location_nor_the_inventory_shows_the_password(
    postgres_text: str, postgres_location: PostgresLocation
) -> None:
    password = urlsplit(postgres_text).password
    assert password
    location = postgres_location
    with Inventory.open(location, create=True) as inventory:
        for shown in (str(location), repr(location), str(inventory), repr(inventory)):
            assert password not in shown
            assert location.schema in shown


def test_a_server_that_is_not_there_fails_fast_with_an_inventory_error() -> None:
    password = secrets.token_hex(8)
    location = parse_location(f"postgresql://reconciler:{password}@127.0.0.1:1/db")
    started = time.monotonic()
    with pytest.raises(InventoryError) as caught:
        Inventory.open(location)
    assert time.monotonic() - started < BUSY_TIMEOUT_SECONDS
    assert str(caught.value).startswith(f"{location}: cannot connect to the inventory's database")
    assert password not in str(caught.value)


def test_two_inventories_in_one_database_are_independent(
    postgres_location: PostgresLocation,
) -> None:
    with postgres_url() as other_url:
        other_location = parse_location(other_url)
        with (
            Inventory.open(postgres_location, create=True) as first,
            Inventory.open(other_location, create=True) as other,
            Inventory.open(postgres_location, timeout=0) as impatient,
        ):
            assert first.lineage != other.lineage
            first.lock("reconciler apply", 1, "ci-runner-7", T0)
            assert other.lock_info() is None
            assert other.lock("reconciler apply", 2, "laptop", T0).taken_over is None
            with other.writing(now=T0) as batch:
                batch.put(record(other, "b"))
                with impatient.writing(now=T0) as mine:  # waits for no other schema's writer
                    mine.put(record(impatient, "a"))
            assert [r.key for r in first.sessions()] == ["a"]
            assert [r.key for r in other.sessions()] == ["b"]
            assert (first.serial, other.serial) == (1, 1)
            assert first.unlock() == LockInfo("reconciler apply", 1, "ci-runner-7", T0)
            assert other.lock_info() == LockInfo("reconciler apply", 2, "laptop", T0)


def test_a_schema_marked_by_another_application_is_refused(
    postgres_location: PostgresLocation,
) -> None:
    stores.make_empty(postgres_location)
    stores.run_sql(
        postgres_location,
        "CREATE TABLE inventory_version (application TEXT NOT NULL, version INTEGER NOT NULL)",
    )
    stores.run_sql(postgres_location, "INSERT INTO inventory_version VALUES ('terraform', 1)")
    before = stores.footprint(postgres_location)
    with pytest.raises(InventoryError, match="holds tables, but not a reconciler inventory"):
        Inventory.open(postgres_location, create=True)
    assert stores.footprint(postgres_location) == before


def test_runs_creating_one_inventory_on_a_repeatable_read_server_make_one(
    postgres_text: str,
) -> None:
    # A server whose default isolation is REPEATABLE READ: a writer that waited for the
    # write lock must still see what the writer before it committed.
    separator = "&" if "?" in postgres_text else "?"
    isolation = "options=-c%20default_transaction_isolation%3Drepeatable%5C%20read"
    url = f"{postgres_text}{separator}{isolation}"
    location = parse_location(url)

    def create() -> str:
        with Inventory.open(location, create=True) as inventory:
            return inventory.lineage

    with ThreadPoolExecutor(max_workers=4) as pool:
        lineages = [pool.submit(create) for _ in range(4)]
        assert len({lineage.result() for lineage in lineages}) == 1


def test_a_locked_error_says_how_to_end_a_hung_holders_connection(postgres_text: str) -> None:
    location = parse_location(postgres_text)
    Inventory.open(location, create=True).close()
    with Inventory.open(location) as inventory, _process_holding_the_lock(postgres_text):
        holders = stores.run_sql(
            location,
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 2 AND classid::int8 = 1380142657",  # the apply lock: RCNA
        )
        with pytest.raises(LockedError) as caught:
            inventory.lock("reconciler apply", os.getpid(), "laptop", T0)
    assert len(holders) == 1
    message = str(caught.value)
    assert f"if that run hangs, end it with SELECT pg_terminate_backend({holders[0][0]})" in message


@pytest.mark.parametrize("create", [False, True])
def test_a_role_that_may_not_read_the_inventory_is_told_which_grants_it_lacks(
    postgres_location: PostgresLocation, create: bool
) -> None:
    with (
        Inventory.open(postgres_location, create=True) as inventory,
        inventory.writing(now=T0) as batch,
    ):
        batch.put(record(inventory, "cardiology-0900"))
    schema = postgres_location.schema
    # The owner gives its own rights away: it now stands where a role without grants does.
    stores.run_sql(
        postgres_location, f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM CURRENT_USER'
    )
    stores.run_sql(postgres_location, f'REVOKE ALL ON SCHEMA "{schema}" FROM CURRENT_USER')

    # Never an empty inventory: a plan would propose creating every session again.
    with pytest.raises(InventoryError) as caught:
        Inventory.open(postgres_location, create=create)
    message = str(caught.value)
    assert "permission denied" in message
    assert f"needs USAGE on schema {schema} and SELECT, INSERT, UPDATE, DELETE" in message
