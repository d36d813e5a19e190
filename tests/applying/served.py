"""A clinic's manifest tree and a served emulator, for the tests that run `reconciler
apply` as real processes (killed, or two at once) against an inventory on either backend.

The processes are watched through what they write, never through wall-clock time: the
inventory (a SQLite file read read-only, or the PostgreSQL schema read over a connection
of the test's own) and the emulator's SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from reconciler import engine
from reconciler.clients import LiveSession, SessionFilter, Urls, connect
from reconciler.emulator import make_app
from reconciler.emulator.server import serve_in_background
from reconciler.emulator.state import Sleep
from reconciler.inventory import Inventory, Location, LockInfo, PostgresLocation, parse_location
from tests.conftest import CLINIC_A, T0
from tests.postgres import raw_connection

FIRST_START = T0 + timedelta(days=1)
"""Every session is a day or more after the emulator's clock, which never moves here."""
DEADLINE_SECONDS = 90.0
"""How long a process may take to reach a moment the test waits for before the test gives
up (a safety net against a hang; no assertion is about speed)."""

Rows = list[tuple[object, ...]]
Query = Callable[[str], Rows | None]
"""Rows of a statement, or None while they cannot be read (not created yet, or busy)."""


@dataclass(frozen=True)
class Wanted:
    """What the manifest of `Session/<key>` asks for."""

    key: str
    name: str
    start: datetime
    end: datetime
    people: tuple[str, ...]
    """Display names of its participants."""


def wanted_sessions(count: int) -> list[Wanted]:
    """`count` sessions, 30 minutes each, one after another; every third has two people."""
    sessions = []
    for number in range(count):
        start = FIRST_START + timedelta(minutes=30 * number)
        people = (f"Dr Number {number}", f"Patient Number {number}") if number % 3 == 0 else ()
        sessions.append(
            Wanted(
                key=f"consult-{number:03d}",
                name=f"Consultation {number:03d}",
                start=start,
                end=start + timedelta(minutes=30),
                people=people,
            )
        )
    return sessions


def manifest(session: Wanted) -> str:
    lines = [
        "apiVersion: reconciler/v1",
        "kind: Session",
        "metadata:",
        f"  name: {session.key}",
        "spec:",
        f"  session_name: {session.name}",
        f"  start_time: {session.start.isoformat()}",
        "  duration: 30m",
    ]
    if session.people:
        lines.append("  participants:")
        for role, display in zip(("host", "guest"), session.people, strict=True):
            lines += [
                f"    - name: {role}-person",
                f"      display_name: {display}",
                f"      role: {role}",
            ]
    return "\n".join(lines) + "\n"


def write_tree(folder: Path, sessions: Sequence[Wanted]) -> None:
    """Several files in nested folders, as a clinic's repository would have them."""
    for clinic in range(4):
        part = [session for number, session in enumerate(sessions) if number % 4 == clinic]
        target = folder / f"clinic-{clinic}" / "sessions.yaml"
        target.parent.mkdir(parents=True)
        target.write_text("---\n".join(manifest(session) for session in part))


@dataclass(frozen=True)
class World:
    """A served emulator, a manifest tree, an inventory, and the environment that points
    the CLI at the emulator (the inventory is passed on each command line)."""

    folder: Path
    wanted: tuple[Wanted, ...]
    state: str
    """The inventory as `--state` and RECONCILER_STATE take it."""
    location: Location
    emulator_db: Path
    env: dict[str, str]


@contextmanager
def served_world(
    tmp_path: Path,
    state: str,
    *,
    sessions: int,
    faults: dict[str, Any],
    sleep: Sleep = asyncio.sleep,
) -> Iterator[World]:
    """An emulator served on a loopback port with `faults` on (its delays spent by
    `sleep`), and a tree of `sessions` manifests."""
    emulator_db = tmp_path / "emulator.db"
    app = make_app(
        db=emulator_db, initial_clock=T0, clients=[CLINIC_A], token_ttl_seconds=3600, sleep=sleep
    )
    wanted = tuple(wanted_sessions(sessions))
    folder = tmp_path / "manifests"
    write_tree(folder, wanted)
    try:
        with serve_in_background(app) as server:
            answer = httpx.post(f"{server.base_url}/_emulator/faults", json=faults)
            assert answer.status_code == 200, answer.text
            env = {
                name: value
                for name, value in os.environ.items()
                if not name.startswith(("COVIU_", "AUVIOUS_", "RECONCILER_"))
            }
            env.update(
                COVIU_API_URL=f"{server.base_url}/v1",
                AUVIOUS_API_URL=server.base_url,
                COVIU_API_KEY=CLINIC_A.key,
                COVIU_API_SECRET=CLINIC_A.secret,
                AUVIOUS_CLIENT_ID=CLINIC_A.key,
                AUVIOUS_CLIENT_SECRET=CLINIC_A.secret,
                PYTHONUNBUFFERED="1",  # what a killed run printed is not lost in a buffer
                NO_COLOR="1",
            )
            yield World(folder, wanted, state, parse_location(state), emulator_db, env)
    finally:
        app.state.emulator.store.close()


def reconciler(world: World, command: str, *options: str) -> list[str]:
    """The command line of `reconciler COMMAND` on the world's manifests and inventory."""
    return [
        sys.executable,
        "-m",
        "reconciler",
        command,
        *options,
        "--state",
        world.state,
        str(world.folder),
    ]


def run(
    world: World, command: str, *options: str, timeout: float = DEADLINE_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run `reconciler COMMAND` on the world to its end, its output captured."""
    return subprocess.run(
        reconciler(world, command, *options),
        env=world.env,
        cwd=world.folder.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def live_sessions(world: World) -> list[LiveSession]:
    targets = engine.targets_for([world.folder], flags=Urls(), environ=world.env)
    async with connect(targets) as clients:
        return await clients.coviu.list_sessions(
            SessionFilter(include_canceled=True, deleted_participants=True)
        )


def duplicates(values: Sequence[object]) -> list[object]:
    return [value for value, times in Counter(values).items() if times > 1]


def wait_for(reached: Callable[[], bool], what: str) -> None:
    """Return once `reached()` is true; fail the test if it is not within the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not reached():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.002)  # ask again: waiting for a state, not for time to pass


def lock_info(location: Location) -> LockInfo | None:
    """Who holds the inventory's lock, as the inventory itself says (None before it exists)."""
    with Inventory.open(location) as inventory:
        return inventory.lock_info()


# Reading the stores of running programs as they write them.


def sqlite_rows(db: Path, statement: str) -> Rows | None:
    """Rows of `statement` on the SQLite file `db`, read-only; None while it cannot be read
    (not created yet, not migrated yet, or busy)."""
    if not db.exists():
        return None
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return None
    try:
        return connection.execute(statement).fetchall()
    except sqlite3.Error:
        return None
    finally:
        connection.close()


@contextmanager
def reading(location: Location) -> Iterator[Query]:
    """A reader of the inventory at `location`, beside the programs that write it: the
    same SQL on either backend; on PostgreSQL one connection of the test's own, each
    statement its own transaction, so each sees the latest commit."""
    if not isinstance(location, PostgresLocation):
        yield lambda statement: sqlite_rows(location, statement)
        return
    with raw_connection(location) as connection:

        def rows(statement: str) -> Rows | None:
            try:
                return connection.execute(statement).fetchall()
            except psycopg.errors.UndefinedTable:
                return None  # the schema is not made yet (or not committed)

        yield rows


def count(rows: Rows | None) -> int | None:
    """The number a `SELECT count(*)` read, if it could be read."""
    return None if rows is None else int(str(rows[0][0]))
