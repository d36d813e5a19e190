"""`reconciler apply` killed with SIGKILL, again and again, in the middle of a 200-session
apply against a served emulator: every re-run must pick up where the dead one stopped,
and the end result is exactly the manifests, with no duplicate and nothing lost.

Each kill waits for a moment in the run (its lock taken, its journal grown by a random
number of writes, a create committed by the API but not yet recorded, the recovery of the
previous run's writes under way) read from the inventory and the emulator's file, never
for a length of wall-clock time. Four of the twenty runs kill themselves instead, inside a
journal write: after its statement, before its commit (`dying.py`), where no kill from
outside can be aimed. The emulator answers a few milliseconds late, so the kills land
with requests in flight.

It runs on both inventory backends. A killed run leaves its lock row behind on both; on
SQLite that row holds until a run on the same host sees its pid is gone, while on
PostgreSQL the server frees the lock with the dead run's connection, so the row is no
lock from then on; either way the next run takes it over and says whose it was.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from reconciler.inventory import Inventory, PostgresLocation
from tests.applying import served
from tests.applying.served import (
    DEADLINE_SECONDS,
    Query,
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
from tests.evidence import Evidence

pytestmark = pytest.mark.network

SESSIONS = 200
SEED = 20261130
ROOT = Path(__file__).parents[2]
"""The repository, for `python -m tests.reliability.dying`."""


@pytest.fixture
def world(tmp_path: Path, state_text: str) -> Iterator[World]:
    # A few milliseconds per request, so that kills land with calls in flight.
    faults = {"latency_ms": 4, "seed": SEED}
    with served_world(tmp_path, state_text, sessions=SESSIONS, faults=faults) as world:
        yield world


@pytest.fixture
def inventory_rows(world: World) -> Iterator[Query]:
    with reading(world.location) as rows:
        yield rows


@dataclass(frozen=True)
class Probe:
    """The counts a kill moment is chosen by."""

    inventory: Query
    emulator: Query

    def journal(self) -> int:
        return count(self.inventory("SELECT count(*) FROM journal")) or 0

    def pending(self) -> int:
        return count(self.inventory("SELECT count(*) FROM journal WHERE state = 'pending'")) or 0

    def lock_pid(self) -> int | None:
        """The pid the lock row names: on PostgreSQL too, where the row of a dead run
        stays until the next run takes it over, though it is no longer a lock."""
        rows = self.inventory("SELECT pid FROM lock")
        return int(str(rows[0][0])) if rows else None

    def unrecorded_create(self) -> bool:
        """Whether a session exists in the API that the inventory does not record yet: a
        create has been committed by the server and its answer not yet written down."""
        # The emulator first: what it has only grows, so if the inventory, read after
        # it, records fewer, at that moment a create was made and not recorded.
        live = count(self.emulator("SELECT count(*) FROM sessions"))
        recorded = count(self.inventory("SELECT count(*) FROM sessions"))
        return live is not None and recorded is not None and live > recorded


@dataclass
class Kill:
    moment: str
    steps: int
    pid: int
    returncode: int
    journal_before: int
    journal_after: int
    pending_after: int
    output: str


def apply_command(world: World) -> list[str]:
    return reconciler(world, "apply", "--auto-approve")


INSIDE_WRITES = ("intent", "outcome")
"""The moments inside a journal write, where the run kills itself (see `dying.py`)."""


def dying_command(world: World, which: str, nth: int) -> list[str]:
    """The apply, set to kill itself inside its `nth` journal write of kind `which`."""
    python, dash_m, _, *arguments = apply_command(world)
    return [python, dash_m, "tests.reliability.dying", which, str(nth), *arguments]


def run_and_kill(world: World, probe: Probe, moment: str, rng: random.Random) -> Kill:
    """Start an apply and SIGKILL it at `moment`, read from the stores it writes."""
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
    if moment in INSIDE_WRITES:
        command = dying_command(world, moment, steps)
        conditions[moment] = lambda pid: False  # it dies by its own hand
    else:
        command = apply_command(world)
    reached = conditions[moment]
    # Its output goes to a file, not a pipe nobody reads yet: a full pipe would stall it.
    log = world.folder.parent / f"apply-{time.monotonic_ns()}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            env={**world.env, "PYTHONPATH": str(ROOT)},
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
        steps=steps,
        pid=process.pid,
        returncode=process.returncode,
        journal_before=journal_before,
        journal_after=probe.journal(),
        pending_after=probe.pending(),
        output=output,
    )


def kill_moments(rng: random.Random) -> list[str]:
    """The first kill lands before anything exists; the others in a random order."""
    rest = ["locked"] * 3 + ["journal"] * 4 + ["unrecorded"] * 5 + ["recovering"] * 3
    rest += ["intent"] * 2 + ["outcome"] * 2
    rng.shuffle(rest)
    return ["locked", *rest]


def left_behind(world: World, probe: Probe, pid: int) -> None:
    """Check that the dead run `pid` left its lock row behind, and what that row means."""
    assert probe.lock_pid() == pid
    if isinstance(world.location, PostgresLocation):
        # The server frees the lock with the connection: once it has seen the
        # connection close, the row is no lock, and the next run will not wait for it.
        wait_for(lambda: lock_info(world.location) is None, f"the server to free pid {pid}'s lock")
    else:
        # The row is all there is: it holds until a run on this host sees the pid is gone.
        held = lock_info(world.location)
        assert held is not None
        assert held.pid == pid


def journal_states(world: World) -> Counter[tuple[str, str]]:
    with Inventory.open(world.location) as inventory:
        entries = inventory.journal(limit=100_000)
    return Counter((entry.kind, entry.state.value) for entry in entries)


def test_apply_killed_at_20_random_moments_converges_with_no_duplicate(
    world: World, inventory_rows: Query, backend: str, lap: int, evidence: Evidence
) -> None:
    probe = Probe(inventory_rows, partial(sqlite_rows, world.emulator_db))
    rng = random.Random(SEED + lap)
    kills: list[Kill] = []
    for moment in kill_moments(rng):
        kill = run_and_kill(world, probe, moment, rng)
        kills.append(kill)
        assert kill.returncode == -signal.SIGKILL, (
            f"run {len(kills)} ({moment}) ended by itself before it was killed:\n{kill.output}"
        )
        assert "Traceback" not in kill.output
        if moment == "intent":
            # It died with its `steps`-th intent written and not committed: only the
            # ones before it are in the journal.
            assert f"dying inside journal write: intent #{kill.steps}" in kill.output
            assert kill.journal_after == kill.journal_before + kill.steps - 1
        elif moment == "outcome":
            # It died settling an entry: that entry is still pending.
            assert f"dying inside journal write: outcome #{kill.steps}" in kill.output
            assert kill.pending_after >= 1
        left_behind(world, probe, kill.pid)  # its pid, now reaped

    final = served.run(world, "apply", "--auto-approve", timeout=180)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Traceback" not in final.stdout + final.stderr
    assert f"took over the lock of reconciler apply (pid {kills[-1].pid} " in final.stderr

    shown = served.run(world, "plan", timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "+ create" not in shown.stdout
    assert "No changes" in shown.stdout, shown.stdout

    # The live API: exactly the 200 sessions of the manifests, each once.
    wanted = {session.key: session for session in world.wanted}
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
    with Inventory.open(world.location) as inventory:
        records = inventory.sessions()
        inventory_pending = inventory.pending()
        assert inventory_pending == ()
        assert inventory.lock_info() is None
        assert sorted(record.key for record in records) == sorted(wanted)
        assert duplicates([record.session_id for record in records]) == []
        assert {record.session_id for record in records} == set(by_id)
        agreeing = []
        for record in records:
            session = by_id[record.session_id]
            live_hashes = {
                inventory.hash_id(p.participant_id.get_secret_value()) for p in session.participants
            }
            agreeing.append(
                (session.session_name, session.start_time, session.end_time)
                == (wanted[record.key].name, wanted[record.key].start, wanted[record.key].end)
                and {p.id_hash for p in record.participants} == live_hashes
            )
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
            assert {p.id_hash for p in record.participants} == live_hashes
            assert len(record.participants) == len(wanted[record.key].people)

    # The kills did interrupt work: they left writes pending, and later runs resolved
    # them both ways (made before the kill, and never made) and said so.
    interrupted = [kill for kill in kills if kill.pending_after > 0]
    assert len(interrupted) >= 5, [(k.moment, k.pending_after) for k in kills]
    states = journal_states(world)
    assert states[("create_session", "pending")] == 0
    assert states[("create_session", "recovered")] >= 1, states
    assert states[("create_session", "not_applied")] >= 1, states
    told = "\n".join([*(kill.output for kill in kills), final.stdout])
    resolved = "(create session, interrupted earlier): it was {} before the run stopped"
    assert resolved.format("created") in told
    assert resolved.format("not created") in told

    wanted_keys = {(w.name, w.start, w.end) for w in wanted.values()}
    evidence.record(
        "No duplicate or loss",
        f"kill -9 of apply at seeded moments, inside journal writes too ({backend} inventory)",
        runs=len(kills),
        **{f"killed {moment}": n for moment, n in sorted(Counter(k.moment for k in kills).items())},
        duplicates=len(natural_keys) - len(set(natural_keys)),
        lost=len(wanted_keys - set(natural_keys)),
        disagreeing=len(inventory_pending) + sum(not agree for agree in agreeing),
    )
