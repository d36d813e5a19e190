"""Two `reconciler apply` runs on one inventory: the inventory's lock lets exactly one
proceed, the other stops at once naming the holder, and nothing is made twice. With
PostgreSQL the lock is the server's: a run killed with SIGKILL loses it with its
connection, and the next run proceeds at once, takes over the dead run's lock row, and
resolves the dead run's interrupted creates from the journal.

Nothing waits for wall-clock time. The served emulator holds the first creates it gets at
a gate (its injected `sleep`) until the test opens it, so the run holding the lock is still
mid-apply, by construction, while the other one tries to take it; the killed run's creates
are held there for good, so they are known never to have been made.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from signal import SIGKILL
from urllib.parse import urlsplit

import anyio.to_thread
import pytest

from reconciler import engine
from reconciler.inventory import Entry, Inventory, PostgresLocation
from tests.applying import served
from tests.applying.served import (
    DEADLINE_SECONDS,
    World,
    count,
    duplicates,
    live_sessions,
    lock_info,
    reading,
    reconciler,
    served_world,
    sqlite_rows,
    wait_for,
)
from tests.postgres import postgres_url

pytestmark = pytest.mark.network

SESSIONS = 24
PARALLELISM = 3
CREATES = {"latency_ms": 1, "methods": ["POST"], "path_prefix": "/v1/sessions"}
"""The fault settings that send creates (of sessions and participants) to the gate."""


class Gate:
    """The emulator's `sleep`: the first `holds` delayed requests wait until the gate
    opens, however long their delay was to be; later ones pass at once. An apply sends
    at most `--parallelism` creates before one is answered, so one that meets a gate
    holding as many goes no further."""

    def __init__(self, holds: int) -> None:
        self._open = threading.Event()
        self.holds = holds
        # Both written by the server's event loop only, one request at a time.
        self.arrived = 0
        self.waiting = 0
        """Requests at the gate now."""

    async def __call__(self, seconds: float) -> None:
        self.arrived += 1
        if self.arrived > self.holds:
            return
        self.waiting += 1
        try:
            await anyio.to_thread.run_sync(self._open.wait)
        finally:
            self.waiting -= 1

    def open(self) -> None:
        """Let the requests at the gate through."""
        self._open.set()


@contextmanager
def gated_world(tmp_path: Path, state: str, gate: Gate) -> Iterator[World]:
    with served_world(tmp_path, state, sessions=SESSIONS, faults=CREATES, sleep=gate) as world:
        try:
            yield world
        finally:
            gate.open()  # no request is left waiting while the server stops


@pytest.fixture
def gate() -> Gate:
    return Gate(holds=PARALLELISM)


@pytest.fixture
def world(tmp_path: Path, state_text: str, gate: Gate) -> Iterator[World]:
    """On each backend in turn."""
    with gated_world(tmp_path, state_text, gate) as world:
        yield world


@pytest.fixture
def postgres_world(tmp_path: Path, gate: Gate) -> Iterator[World]:
    with postgres_url() as url, gated_world(tmp_path, url, gate) as world:
        yield world


@dataclass
class Run:
    """An apply running as a process of its own, its output going to files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @classmethod
    def start(cls, world: World, name: str) -> Run:
        stdout, stderr = (world.folder.parent / f"{name}.{part}" for part in ("out", "err"))
        # Files, not pipes nobody reads yet: a full pipe would stall the run.
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [*reconciler(world, "apply", "--auto-approve"), "--parallelism", str(PARALLELISM)],
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


def converged(world: World) -> None:
    """Check the live API holds each wanted session exactly once, with its participants,
    each recorded under its own key; no write is left pending and no lock held."""
    found = asyncio.run(live_sessions(world))
    assert all(session.canceled_at is None for session in found), "nothing was to cancel"
    assert duplicates([(s.session_name, s.start_time, s.end_time) for s in found]) == []
    live = [
        (
            s.session_name,
            s.start_time,
            s.end_time,
            sorted(p.display_name or "" for p in s.participants),
        )
        for s in found
    ]
    wanted = [(w.name, w.start, w.end, sorted(w.people)) for w in world.wanted]
    assert sorted(live, key=str) == sorted(wanted, key=str)
    by_id = {session.session_id: session for session in found}
    with Inventory.open(world.location) as inventory:
        records = inventory.sessions()
        assert sorted(record.session_id for record in records) == sorted(by_id)
        assert {record.key: by_id[record.session_id].session_name for record in records} == {
            w.key: w.name for w in world.wanted
        }
        assert inventory.pending() == ()
        assert inventory.lock_info() is None


def journal(world: World) -> tuple[Entry, ...]:
    with Inventory.open(world.location) as inventory:
        return inventory.journal(limit=100_000)


def test_of_two_applies_started_at_once_one_proceeds_and_the_other_names_it(
    world: World, gate: Gate, runs: list[Run]
) -> None:
    runs.extend([Run.start(world, "first"), Run.start(world, "second")])
    # Whichever takes the lock plans, then waits at the gate with its first creates: it
    # cannot end before the gate opens, so the first to end is the one that was refused.
    wait_for(lambda: any(run.ended() for run in runs), "one of the two applies to end")
    refused = next(run for run in runs if run.ended())
    proceeding = next(run for run in runs if run is not refused)
    assert not proceeding.ended()
    gate.open()
    assert proceeding.wait() == 0, proceeding.output()
    assert refused.wait() == 1, refused.output()

    out, err = refused.output()
    assert f"locked by {holder(proceeding)}" in err
    if isinstance(world.location, PostgresLocation):
        assert "the database frees the lock when that run's connection ends" in err
        password = urlsplit(world.state).password
        assert password is None or password not in err
    else:
        assert "`reconciler state unlock`" in err
    assert "Traceback" not in out + err
    assert "Consultation" not in out, "the refused run showed a plan"
    out, err = proceeding.output()
    assert "Traceback" not in out + err
    assert "took over" not in err

    converged(world)
    # Every write was the proceeding run's: the refused one journaled nothing.
    entries = journal(world)
    assert len({entry.run for entry in entries}) == 1
    assert Counter(entry.kind for entry in entries)["create_session"] == SESSIONS


def test_a_killed_apply_loses_the_lock_with_its_connection_and_the_next_run_takes_over(
    postgres_world: World, gate: Gate, runs: list[Run]
) -> None:
    world = postgres_world
    killed = Run.start(world, "killed")
    runs.append(killed)

    def stalled_at_the_gate() -> bool:
        """It holds the lock, and each of its parallel creates is journaled and waiting at
        the gate: the run can go no further until the gate opens."""
        held = lock_info(world.location)
        if held is None or held.pid != killed.pid:
            return False
        with Inventory.open(world.location) as inventory:
            pending = len(inventory.pending())
        return pending == gate.waiting == PARALLELISM

    wait_for(stalled_at_the_gate, "the apply to hold the lock with its creates in flight")
    killed.process.send_signal(SIGKILL)
    assert killed.wait() == -SIGKILL
    with Inventory.open(world.location) as inventory:
        interrupted = [entry.target for entry in inventory.pending()]
    assert len(interrupted) == PARALLELISM

    # The server frees the lock when it sees the connection close; the row naming the
    # dead run stays, and is no lock any more.
    wait_for(lambda: lock_info(world.location) is None, "the server to free the lock")
    with reading(world.location) as rows:
        assert rows("SELECT pid FROM lock") == [(killed.pid,)]
    # Its creates stay at the gate: they are never made, and the next run's pass.
    assert gate.waiting == PARALLELISM
    assert count(sqlite_rows(world.emulator_db, "SELECT count(*) FROM sessions")) == 0

    after = served.run(world, "apply", "--auto-approve")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "Traceback" not in after.stdout + after.stderr
    took_over = f"note: took over the lock of {holder(killed)} since "
    assert took_over in after.stderr
    assert "its connection to the inventory ended" in after.stderr
    for target in interrupted:
        assert (
            f"recovered   {target} (create session, interrupted earlier): it was not created"
            " before the run stopped"
        ) in after.stdout

    converged(world)
    states = Counter((entry.kind, entry.state.value) for entry in journal(world))
    assert states[("create_session", "not_applied")] == PARALLELISM
    assert states[("create_session", "applied")] == SESSIONS
    assert states[("create_session", "pending")] == 0
