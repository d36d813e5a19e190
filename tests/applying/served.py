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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import psycopg
import pytest

from reconciler import engine
from reconciler.clients import LiveSession, SessionFilter, Urls, connect
from reconciler.emulator import make_app
from reconciler.emulator.server import serve_in_background
from reconciler.emulator.state import Sleep
from reconciler.inventory import (
    Entry,
    Inventory,
    Location,
    LockInfo,
    PostgresLocation,
    parse_location,
)
from reconciler.manifests.cache import CACHE_VARIABLE
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
    """Display names of its participants: the host's, then the guest's."""


ROLES = ("host", "guest")


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
        f"  end_time: {session.end.isoformat()}",
    ]
    if session.people:
        lines.append("  participants:")
        assert len(session.people) <= len(ROLES), "a host and a guest at most"
        for role, display in zip(ROLES, session.people, strict=False):
            lines += [
                f"    - name: {role}-person",
                f"      display_name: {display}",
                f"      role: {role}",
            ]
    return "\n".join(lines) + "\n"


def write_tree(folder: Path, sessions: Sequence[Wanted]) -> None:
    """Several files in nested folders, as a clinic's repository would have them (written
    anew, each of them, when the tree is there already)."""
    for clinic in range(4):
        part = [session for number, session in enumerate(sessions) if number % 4 == clinic]
        target = folder / f"clinic-{clinic}" / "sessions.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
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
                or name == CACHE_VARIABLE  # the test's own cache, never the user's
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


def reconciler(world: World, command: str, *options: str, saved: Path | None = None) -> list[str]:
    """The command line of `reconciler COMMAND` on the world's manifests and inventory (or
    on the plan saved in `saved`, which is applied alone)."""
    return [
        sys.executable,
        "-m",
        "reconciler",
        command,
        *options,
        "--state",
        world.state,
        str(world.folder if saved is None else saved),
    ]


def run(
    world: World,
    command: str,
    *options: str,
    saved: Path | None = None,
    timeout: float = DEADLINE_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run `reconciler COMMAND` on the world to its end, its output captured."""
    return subprocess.run(
        reconciler(world, command, *options, saved=saved),
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


# Holding a run mid-way, and watching runs as processes of their own.

CREATES = {"latency_ms": 1, "methods": ["POST"], "path_prefix": "/v1/sessions"}
"""The fault settings that send creates (of sessions and participants) to the gate."""


class Gate:
    """The emulator's `sleep`: of the delayed requests (those the fault settings give a
    latency), the first `passes` go at once, the next `holds` wait until the gate opens,
    however long their delay was to be, and later ones go at once. An apply sends at most
    `--parallelism` writes before one is answered, so one that meets a gate holding as
    many goes no further; one held write is enough to keep a run from ending."""

    def __init__(self, holds: int, *, passes: int = 0) -> None:
        self._open = threading.Event()
        self.passes = passes
        self.holds = holds
        # Both written by the server's event loop only, one request at a time.
        self.arrived = 0
        """Delayed requests so far, held or not."""
        self.waiting = 0
        """Requests at the gate now."""

    async def __call__(self, seconds: float) -> None:
        self.arrived += 1
        if not self.passes < self.arrived <= self.passes + self.holds:
            return
        self.waiting += 1
        try:
            await anyio.to_thread.run_sync(self._open.wait)
        finally:
            self.waiting -= 1

    def open(self) -> None:
        """Let the requests at the gate through, and any that were to be held."""
        self._open.set()

    def close(self, holds: int) -> None:
        """Hold the next `holds` delayed requests again (while none waits)."""
        assert self.waiting == 0, "requests are at the gate"
        self.passes, self.holds = self.arrived, holds
        self._open.clear()


@contextmanager
def gated_world(
    tmp_path: Path, state: str, gate: Gate, *, sessions: int, faults: dict[str, Any] = CREATES
) -> Iterator[World]:
    """A served world whose emulator sends the requests `faults` delays to `gate`."""
    with served_world(tmp_path, state, sessions=sessions, faults=faults, sleep=gate) as world:
        try:
            yield world
        finally:
            gate.open()  # no request is left waiting while the server stops


@dataclass
class Run:
    """A command running as a process of its own, its output going to files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @classmethod
    def start(
        cls, world: World, name: str, command: str, *options: str, saved: Path | None = None
    ) -> Run:
        stdout, stderr = (world.folder.parent / f"{name}.{part}" for part in ("out", "err"))
        # Files, not pipes nobody reads yet: a full pipe would stall the run.
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                reconciler(world, command, *options, saved=saved),
                env=world.env,
                cwd=world.folder.parent,
                stdout=out,
                stderr=err,
            )
        return cls(process, stdout, stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    def ended(self) -> bool:
        return self.process.poll() is not None

    def wait(self) -> int:
        return self.process.wait(timeout=DEADLINE_SECONDS)

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(), self.stderr.read_text()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """The runs a test starts; any still running when it ends is killed."""
    started: list[Run] = []
    yield started
    for run in started:
        if not run.ended():
            run.process.kill()
            run.process.wait(timeout=60)


def holder(run: Run) -> str:
    """How the inventory's lock names `run` (every run here is on this host)."""
    return f"reconciler apply (pid {run.pid} on {engine.this_host()})"


# What came of it


def converged(world: World, wanted: Sequence[Wanted] | None = None, *, cancelled: int = 0) -> None:
    """Check the live API holds each wanted session (default: the world's) exactly once,
    with its participants, each recorded under its own key, and besides them `cancelled`
    cancelled sessions; no write is left pending and no lock held."""
    wanted = world.wanted if wanted is None else wanted
    found = asyncio.run(live_sessions(world))
    active = [session for session in found if session.canceled_at is None]
    assert len(found) - len(active) == cancelled
    assert duplicates([(s.session_name, s.start_time, s.end_time) for s in active]) == []
    live = [
        (
            s.session_name,
            s.start_time,
            s.end_time,
            sorted(p.display_name or "" for p in s.participants if not p.removed),
        )
        for s in active
    ]
    assert sorted(live, key=str) == sorted(
        ((w.name, w.start, w.end, sorted(w.people)) for w in wanted), key=str
    )
    by_id = {session.session_id: session for session in active}
    with Inventory.open(world.location) as inventory:
        records = [record for record in inventory.sessions() if not record.canceled]
        assert sorted(record.session_id for record in records) == sorted(by_id)
        assert {record.key: by_id[record.session_id].session_name for record in records} == {
            w.key: w.name for w in wanted
        }
        assert inventory.pending() == ()
        assert inventory.lock_info() is None


def journal(world: World) -> tuple[Entry, ...]:
    with Inventory.open(world.location) as inventory:
        return inventory.journal(limit=100_000)
