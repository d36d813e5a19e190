"""`reconciler apply` killed with SIGKILL, again and again, in the middle of a 200-session
apply against a served emulator: every re-run must pick up where the dead one stopped,
and the end result is exactly the manifests, with no duplicate and nothing lost.

Each kill waits for a moment in the run (its lock taken, its journal grown by a random
number of writes, a create committed by the API but not yet recorded, the recovery of the
previous run's writes under way) read from the inventory and the emulator's files, never
for a length of wall-clock time. The emulator answers a few milliseconds late, so the
kills land with requests in flight.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reconciler import engine
from reconciler.clients import LiveSession, SessionFilter, Urls, connect
from reconciler.emulator import make_app
from reconciler.emulator.server import serve_in_background
from reconciler.inventory import Inventory
from tests.conftest import CLINIC_A, T0

pytestmark = pytest.mark.network

SESSIONS = 200
KILLS = 20
SEED = 20261130
FIRST_START = T0 + timedelta(days=1)
"""Every session is a day or more after the emulator's clock, which never moves here."""
DEADLINE_SECONDS = 90.0
"""How long a run may take to reach the moment it is killed at before the test gives up
(a safety net against a hang; no assertion is about speed)."""


@dataclass(frozen=True)
class Wanted:
    """What the manifest of `Session/<key>` asks for."""

    key: str
    name: str
    start: datetime
    end: datetime
    people: tuple[str, ...]
    """Display names of its participants."""


def wanted_sessions() -> list[Wanted]:
    """200 sessions, 30 minutes each, one after another; every third has two people."""
    sessions = []
    for number in range(SESSIONS):
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


@dataclass(frozen=True)
class World:
    """A served emulator, a manifest folder and the environment that points at both."""

    folder: Path
    state: Path
    emulator_db: Path
    base_url: str
    env: dict[str, str]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    emulator_db = tmp_path / "emulator.db"
    app = make_app(db=emulator_db, initial_clock=T0, clients=[CLINIC_A], token_ttl_seconds=3600)
    folder = tmp_path / "manifests"
    # Several files in nested folders, as a clinic's repository would have them.
    for clinic in range(4):
        part = [s for i, s in enumerate(wanted_sessions()) if i % 4 == clinic]
        target = folder / f"clinic-{clinic}" / "sessions.yaml"
        target.parent.mkdir(parents=True)
        target.write_text("---\n".join(manifest(session) for session in part))
    state = tmp_path / "inventory" / "state.db"
    try:
        with serve_in_background(app) as server:
            # A few milliseconds per request, so that kills land with calls in flight.
            answer = httpx.post(
                f"{server.base_url}/_emulator/faults", json={"latency_ms": 4, "seed": SEED}
            )
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
                RECONCILER_STATE=str(state),
                PYTHONUNBUFFERED="1",  # what a killed run printed is not lost in a buffer
                NO_COLOR="1",
            )
            yield World(folder, state, emulator_db, server.base_url, env)
    finally:
        app.state.emulator.store.close()


# Reading the files of the running programs, read-only, as they write them.


def query(db: Path, sql: str) -> list[tuple[object, ...]] | None:
    """Rows of `sql` on the SQLite file `db`, read-only; None while it cannot be read (not
    created yet, not migrated yet, or busy)."""
    if not db.exists():
        return None
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return None
    try:
        return connection.execute(sql).fetchall()
    except sqlite3.Error:
        return None
    finally:
        connection.close()


def count(db: Path, sql: str) -> int | None:
    rows = query(db, sql)
    return None if rows is None else int(str(rows[0][0]))


@dataclass(frozen=True)
class Probe:
    """The counts a kill moment is chosen by."""

    state: Path
    emulator_db: Path

    def journal(self) -> int:
        return count(self.state, "SELECT count(*) FROM journal") or 0

    def pending(self) -> int:
        return count(self.state, "SELECT count(*) FROM journal WHERE state = 'pending'") or 0

    def lock_pid(self) -> int | None:
        rows = query(self.state, "SELECT pid FROM lock")
        return int(str(rows[0][0])) if rows else None

    def unrecorded_create(self) -> bool:
        """Whether a session exists in the API that the inventory does not record yet: a
        create has been committed by the server and its answer not yet written down."""
        # The emulator first: what it has only grows, so if the inventory, read after
        # it, records fewer, at that moment a create was made and not recorded.
        live = count(self.emulator_db, "SELECT count(*) FROM sessions")
        recorded = count(self.state, "SELECT count(*) FROM sessions")
        return live is not None and recorded is not None and live > recorded


@dataclass
class Kill:
    moment: str
    pid: int
    returncode: int
    journal_before: int
    journal_after: int
    pending_after: int
    output: str


def apply_command(world: World) -> list[str]:
    return [sys.executable, "-m", "reconciler", "apply", "--auto-approve", str(world.folder)]


def run_and_kill(world: World, moment: str, rng: random.Random) -> Kill:
    """Start an apply and SIGKILL it at `moment`, read from the files it writes."""
    probe = Probe(world.state, world.emulator_db)
    journal_before, pending_before = probe.journal(), probe.pending()
    if moment == "recovering" and pending_before == 0:
        moment = "journal"  # nothing to recover: kill it among its creates instead
    steps = rng.randint(1, 12)
    conditions: dict[str, Callable[[int], bool]] = {
        # Its lock is taken: recovery and planning are under way, nothing is created yet.
        "locked": lambda pid: probe.lock_pid() == pid,
        # It has journaled `steps` writes of its own (the last ones still in flight).
        "journal": lambda pid: probe.journal() >= journal_before + steps,
        # It has made some writes, and one create is made but not yet recorded (or, if
        # that moment is missed, a few writes later).
        "unrecorded": lambda pid: (
            probe.journal() >= journal_before + steps
            and (probe.unrecorded_create() or probe.journal() >= journal_before + steps + 8)
        ),
        # It has resolved some, not necessarily all, of the dead run's pending writes.
        "recovering": lambda pid: probe.pending() < pending_before,
    }
    reached = conditions[moment]
    # Its output goes to a file, not a pipe nobody reads yet: a full pipe would stall it.
    log = world.folder.parent / f"apply-{time.monotonic_ns()}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            apply_command(world),
            env=world.env,
            cwd=world.folder.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while process.poll() is None and not reached(process.pid):
            if time.monotonic() > deadline:
                pytest.fail(f"the apply never reached the moment {moment!r}")
            time.sleep(0.002)  # poll again: waiting for a condition, not for time to pass
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)  # reaps the pid: it is not running any more
    output = log.read_text()
    return Kill(
        moment=moment,
        pid=process.pid,
        returncode=process.returncode,
        journal_before=journal_before,
        journal_after=probe.journal(),
        pending_after=probe.pending(),
        output=output,
    )


def kill_moments(rng: random.Random) -> list[str]:
    """The first kill lands before anything exists; the others in a random order."""
    rest = ["locked"] * 3 + ["journal"] * 6 + ["unrecorded"] * 6 + ["recovering"] * 4
    rng.shuffle(rest)
    return ["locked", *rest]


async def live_sessions(world: World) -> list[LiveSession]:
    targets = engine.targets_for([world.folder], flags=Urls(), environ=world.env)
    async with connect(targets) as clients:
        return await clients.coviu.list_sessions(
            SessionFilter(include_canceled=True, deleted_participants=True)
        )


def journal_states(state: Path) -> Counter[tuple[str, str]]:
    rows = query(state, "SELECT kind, state FROM journal") or []
    return Counter((str(kind), str(where)) for kind, where in rows)


def duplicates(values: Sequence[object]) -> list[object]:
    return [value for value, times in Counter(values).items() if times > 1]


def test_apply_killed_at_20_random_moments_converges_with_no_duplicate(world: World) -> None:
    rng = random.Random(SEED)
    kills: list[Kill] = []
    for moment in kill_moments(rng):
        kill = run_and_kill(world, moment, rng)
        kills.append(kill)
        assert kill.returncode == -signal.SIGKILL, (
            f"run {len(kills)} ({moment}) ended by itself before it was killed:\n{kill.output}"
        )
        assert "Traceback" not in kill.output
        # The dead run left its lock behind, naming its (now reaped) pid.
        with Inventory.open(world.state) as inventory:
            held = inventory.lock_info()
        assert held is not None
        assert held.pid == kill.pid

    final = subprocess.run(
        apply_command(world),
        env=world.env,
        cwd=world.folder.parent,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Traceback" not in final.stdout + final.stderr
    assert f"took over the lock of reconciler apply (pid {kills[-1].pid} " in final.stderr

    shown = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(world.folder)],
        env=world.env,
        cwd=world.folder.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "+ create" not in shown.stdout
    assert "No changes" in shown.stdout, shown.stdout

    # The live API: exactly the 200 sessions of the manifests, each once.
    wanted = {session.key: session for session in wanted_sessions()}
    found = asyncio.run(live_sessions(world))
    live = [session for session in found if session.canceled_at is None]
    assert len(found) == len(live), "no run had anything to cancel"
    natural_keys = [(s.session_name, s.start_time, s.end_time) for s in live]
    assert duplicates(natural_keys) == []
    assert sorted(natural_keys, key=str) == sorted(
        ((w.name, w.start, w.end) for w in wanted.values()), key=str
    )
    assert len(live) == SESSIONS

    # The inventory: one record per manifest key, each naming a different live session,
    # with its participants' hashes; no write left pending, and the lock released.
    by_id = {session.session_id: session for session in live}
    with Inventory.open(world.state) as inventory:
        records = inventory.sessions()
        assert inventory.pending() == ()
        assert inventory.lock_info() is None
        assert sorted(record.key for record in records) == sorted(wanted)
        assert duplicates([record.session_id for record in records]) == []
        assert {record.session_id for record in records} == set(by_id)
        for record in records:
            session = by_id[record.session_id]
            assert (session.session_name, session.start_time, session.end_time) == (
                wanted[record.key].name,
                wanted[record.key].start,
                wanted[record.key].end,
            )
            assert not record.canceled
            # Each participant once, never cancelled, and recorded by its own hash.
            assert sorted(p.display_name or "" for p in session.participants) == sorted(
                wanted[record.key].people
            )
            assert all(not p.removed for p in session.participants)
            live_hashes = {
                inventory.hash_id(p.participant_id.get_secret_value()) for p in session.participants
            }
            assert {p.id_hash for p in record.participants} == live_hashes
            assert len(record.participants) == len(wanted[record.key].people)

    # The kills did interrupt work: they left writes pending, and later runs resolved
    # them both ways (made before the kill, and never made) and said so.
    interrupted = [kill for kill in kills if kill.pending_after > 0]
    assert len(interrupted) >= 5, [(k.moment, k.pending_after) for k in kills]
    states = journal_states(world.state)
    assert states[("create_session", "pending")] == 0
    assert states[("create_session", "recovered")] >= 1, states
    assert states[("create_session", "not_applied")] >= 1, states
    told = "\n".join([*(kill.output for kill in kills), final.stdout])
    resolved = "(create session, interrupted earlier): it was {} before the run stopped"
    assert resolved.format("created") in told
    assert resolved.format("not created") in told
