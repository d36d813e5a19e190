"""Runs that race each other, as real processes against a served emulator, on both
inventory backends: two applies at once, round after round of manifest changes; a plan
made while an apply is mid-way; and the emulator's clock passing a session's start (or
end) between a plan and its apply, or between an apply's plan and its calls.

Nothing here waits for wall-clock time. A run is mid-apply by construction: the served
emulator holds its writes at a gate (its injected `sleep`) until the test opens it. Time
moves only when the test moves the emulator's clock (`POST /_emulator/clock`). What each
test checks is read from the live API, the inventory and the runs' own output, and its
evidence is counted from those observations once its assertions have passed.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reconciler.clients import LiveSession
from reconciler.inventory import Inventory, PostgresLocation
from tests.applying import served
from tests.applying.served import (
    FIRST_START,
    Gate,
    Query,
    Rows,
    Run,
    Wanted,
    World,
    converged,
    count,
    gated_world,
    holder,
    journal,
    live_sessions,
    reading,
    runs,
    sqlite_rows,
    wait_for,
    write_tree,
)
from tests.evidence import Evidence

pytestmark = pytest.mark.network
__all__ = ["runs"]  # the fixture, used by name

CLAIM = "No duplicate or loss"


def backend_of(world: World) -> str:
    return "postgresql" if isinstance(world.location, PostgresLocation) else "sqlite"


def traceback_free(run: Run) -> bool:
    out, err = run.output()
    return "Traceback" not in out + err


def live(world: World) -> list[LiveSession]:
    """Every session of the team, cancelled ones and removed participants too."""
    return asyncio.run(live_sessions(world))


def set_clock(world: World, now: datetime) -> None:
    """Move the served emulator's clock, as its control endpoint does."""
    url = world.env["AUVIOUS_API_URL"]
    answer = httpx.post(f"{url}/_emulator/clock", json={"now": now.isoformat()})
    assert answer.status_code == 200, answer.text
    assert datetime.fromisoformat(answer.json()["now"]) == now


def set_faults(world: World, faults: dict[str, object]) -> None:
    answer = httpx.post(f"{world.env['AUVIOUS_API_URL']}/_emulator/faults", json=faults)
    assert answer.status_code == 200, answer.text


# 1. Two applies at once on one inventory, round after round

ROUNDS = 3
"""Rounds of two applies at once per `--soak`; the first makes the sessions."""
FIRST_SESSIONS = 6
SESSION_WRITES = {"latency_ms": 1, "methods": ["POST", "PUT", "DELETE"], "path_prefix": "/v1/s"}
"""Every write on a session goes to the gate: a create, an update, a cancel, an added
participant (not the token: that is /v1/auth)."""


def changed(wanted: Sequence[Wanted], rng: random.Random, round_: int) -> list[Wanted]:
    """The manifests of the next round: two sessions renamed (so every round writes to a
    session, and meets the gate), one moved, one's people changed, maybe one removed, one
    added."""
    sessions = list(wanted)
    for index in rng.sample(range(len(sessions)), k=2):
        sessions[index] = replace(sessions[index], name=f"{sessions[index].key} round {round_}")
    index = rng.randrange(len(sessions))
    later = timedelta(minutes=rng.choice((15, 45, 90)))
    sessions[index] = replace(
        sessions[index], start=sessions[index].start + later, end=sessions[index].end + later
    )
    index = rng.randrange(len(sessions))
    people = sessions[index].people
    if people:
        people = rng.choice(((), people[:1], (f"{people[0]} (locum)", *people[1:])))
    else:
        people = (f"Dr Round {round_}", f"Patient Round {round_}")
    sessions[index] = replace(sessions[index], people=people)
    if len(sessions) > 4 and rng.random() < 0.7:
        sessions.pop(rng.randrange(len(sessions)))
    start = FIRST_START + timedelta(days=2, minutes=30 * round_)
    added = Wanted(
        key=f"added-in-round-{round_}",
        name=f"Added in round {round_}",
        start=start,
        end=start + timedelta(minutes=30),
        people=rng.choice(((), (f"Dr Added {round_}", f"Patient Added {round_}"))),
    )
    return [*sessions, added]


@dataclass
class Tally:
    """What the rounds came to, counted from the runs and the live API."""

    duplicates: int = 0
    """Copies beyond the first of a live session (by name, start and end)."""
    lost: int = 0
    """Wanted sessions not live."""
    both_proceeded: int = 0
    refused: int = 0

    def count_live(self, world: World, wanted: Sequence[Wanted]) -> None:
        active = [found for found in live(world) if found.canceled_at is None]
        keys = Counter((found.session_name, found.start_time, found.end_time) for found in active)
        self.duplicates += sum(times - 1 for times in keys.values())
        self.lost += sum(1 for w in wanted if (w.name, w.start, w.end) not in keys)


@pytest.fixture
def round_gate() -> Gate:
    return Gate(holds=1)


@pytest.fixture
def round_world(tmp_path: Path, state_text: str, round_gate: Gate) -> Iterator[World]:
    with gated_world(
        tmp_path, state_text, round_gate, sessions=FIRST_SESSIONS, faults=SESSION_WRITES
    ) as world:
        yield world


def race(
    world: World, gate: Gate, name: str, rng: random.Random, runs: list[Run]
) -> tuple[Run, Run]:
    """Start two applies at once; the one that proceeds and the one that ended first."""
    gate.close(holds=1)
    pair = [
        Run.start(world, f"{name}-{which}", "apply", "--auto-approve")
        for which in rng.sample(["a", "b"], k=2)  # which is started first
    ]
    runs.extend(pair)
    # The run holding the lock cannot end while its first write waits at the gate: the
    # first to end is the one the lock turned away, and it ended before any write.
    wait_for(lambda: any(run.ended() for run in pair), "one of the two applies to end")
    refused = next(run for run in pair if run.ended())
    proceeding = next(run for run in pair if run is not refused)
    assert not proceeding.ended()
    gate.open()
    return proceeding, refused


def test_of_two_applies_at_once_round_after_round_one_proceeds_and_nothing_is_made_twice(
    round_world: World, round_gate: Gate, runs: list[Run], soak: int, evidence: Evidence
) -> None:
    world, gate = round_world, round_gate
    wanted: list[Wanted] = list(world.wanted)
    tally, cancelled = Tally(), 0
    for round_ in range(ROUNDS * soak):
        rng = random.Random(20261130 + round_)
        if round_:
            before = {w.key for w in wanted}
            wanted = changed(wanted, rng, round_)
            cancelled += len(before - {w.key for w in wanted})
            write_tree(world.folder, wanted)
        written = len(journal(world)) if round_ else 0
        proceeding, refused = race(world, gate, f"round-{round_}", rng, runs)
        codes = (proceeding.wait(), refused.wait())
        tally.both_proceeded += codes == (0, 0)
        tally.refused += codes[1] == 1

        assert codes == (0, 1), (round_, proceeding.output(), refused.output())
        out, err = refused.output()
        assert f"locked by {holder(proceeding)}" in err
        assert out == ""  # it stopped at once: no plan, no result
        assert traceback_free(refused)
        assert traceback_free(proceeding)
        assert "took over" not in proceeding.output()[1]
        converged(world, wanted, cancelled=cancelled)
        # Every write of the round was the proceeding run's.
        assert len({entry.run for entry in journal(world)[written:]}) == 1
        after = served.run(world, "plan", "--detailed-exitcode")
        assert after.returncode == 0, after.stdout + after.stderr
        tally.count_live(world, wanted)

    assert (tally.duplicates, tally.lost, tally.both_proceeded) == (0, 0, 0)
    evidence.record(
        CLAIM,
        f"two applies at once on one inventory ({backend_of(world)})",
        runs=ROUNDS * soak,
        **{
            "duplicates": tally.duplicates,
            "lost": tally.lost,
            "both proceeded": tally.both_proceeded,
            "refused at once": tally.refused,
        },
    )


# 2. A plan made while an apply is mid-way

RACED_SESSIONS = 12
PASSES = 4
"""Creates the gate lets through before it holds the apply's next ones."""
PARALLELISM = 3


@dataclass(frozen=True)
class Footprint:
    """What a run that writes would change: the inventory's serial, journal and lock, the
    sessions the emulator holds, and the creates that reached it."""

    serial: int | None
    journal: int | None
    lock: Rows | None
    sessions: int | None
    creates: int

    @classmethod
    def of(cls, world: World, rows: Query, gate: Gate) -> Footprint:
        return cls(
            serial=count(rows("SELECT value FROM meta WHERE key = 'serial'")),
            journal=count(rows("SELECT count(*) FROM journal")),
            lock=rows("SELECT holder, pid, host, acquired_at FROM lock"),
            sessions=count(sqlite_rows(world.emulator_db, "SELECT count(*) FROM sessions")),
            creates=gate.arrived,
        )


def recorded_keys(rows: Query) -> set[str]:
    return {str(row[0]) for row in rows("SELECT key FROM sessions") or []}


def test_a_plan_made_while_an_apply_is_mid_way_changes_nothing_and_its_saved_plan_is_refused(
    tmp_path: Path, state_text: str, runs: list[Run], evidence: Evidence
) -> None:
    gate = Gate(holds=PARALLELISM, passes=PASSES)
    with (
        gated_world(tmp_path, state_text, gate, sessions=RACED_SESSIONS) as world,
        reading(world.location) as rows,
    ):
        apply = Run.start(
            world, "apply", "apply", "--auto-approve", "--parallelism", str(PARALLELISM)
        )
        runs.append(apply)

        def mid_way() -> bool:
            """PASSES sessions made and recorded; the next creates, journaled, wait at the
            gate: the apply can go no further until it opens."""
            pending = count(rows("SELECT count(*) FROM journal WHERE state = 'pending'"))
            made = count(rows("SELECT count(*) FROM sessions"))
            return gate.waiting == PARALLELISM and (made, pending) == (PASSES, PARALLELISM)

        wait_for(mid_way, "the apply to be mid-way, its next creates at the gate")
        before = Footprint.of(world, rows, gate)
        saved = world.folder.parent / "plan.json"
        shown = Run.start(world, "plan-json", "plan", "--format", "json")
        saving = Run.start(world, "plan-out", "plan", "--out", str(saved))
        runs.extend([shown, saving])
        codes = (shown.wait(), saving.wait())
        during = Footprint.of(world, rows, gate)
        still_running = not apply.ended()
        recorded = recorded_keys(rows)
        gate.open()
        assert apply.wait() == 0, apply.output()
        finished = Footprint.of(world, rows, gate)
        converged(world)

        stale = served.run(world, "apply", saved=saved)
        refused = Footprint.of(world, rows, gate)
        converged(world)
        fresh = served.run(world, "plan", "--detailed-exitcode")

    assert codes == (0, 0), (shown.output(), saving.output())
    assert still_running
    assert traceback_free(shown)
    assert traceback_free(saving)
    # The plans wrote nothing, took no lock and sent no create: the apply still holds it.
    assert during == before
    assert before.lock is not None
    assert [row[1] for row in before.lock] == [apply.pid]
    for plan in (shown, saving):
        note = f"note: {holder(apply)} since "
        assert note in plan.output()[1]
        assert (
            "holds the inventory: changes it is making now are not in this plan"
            in (plan.output()[1].partition(note)[2])
        )
    # A consistent picture: the sessions recorded so far are left alone, every other
    # one is to be created, once; made from the records of one serial.
    document = json.loads(shown.output()[0])
    targets = [item["target"] for item in document["actions"]]
    assert {item["kind"] for item in document["actions"]} == {"create_session"}
    assert sorted(targets) == sorted(
        f"Session/{w.key}" for w in world.wanted if w.key not in recorded
    )
    assert len(targets) == RACED_SESSIONS - PASSES
    assert document["blocked"] == document["unreconcilable"] == []
    assert document["inventory_serial"] == before.serial
    assert f"Plan: {RACED_SESSIONS - PASSES} to create" in saving.output()[0]

    # The plan saved mid-way is refused whole afterwards: nothing is sent or written.
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert stale.stderr.startswith(
        f"error: {saved}: refused: the inventory changed since the plan was made"
        f" (serial {document['inventory_serial']}, now "
    ), stale.stderr
    assert "Traceback" not in stale.stdout + stale.stderr
    assert refused == finished
    assert finished.creates == RACED_SESSIONS  # each session was sent once, by the apply
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    writes = sum(a != b for a, b in zip(vars(before).values(), vars(during).values(), strict=True))
    evidence.record(
        CLAIM,
        f"a plan racing an apply ({backend_of(world)})",
        runs=2,
        **{
            "changes made by the plans": writes,
            "stale plans applied": int(refused != finished),
            "duplicates": finished.creates - RACED_SESSIONS,
        },
    )


# 3. The clock passing a session's start or end between a plan and its calls

PARTICIPANT_CANCELS = {"latency_ms": 1, "methods": ["DELETE"], "path_prefix": "/v1/participants"}


def clinic_day(start: datetime) -> dict[str, Wanted]:
    """A day's sessions, by the change each is to get: `long` loses its guest, `gone` is
    cancelled, `renamed` and `kept` are renamed, `moved` starts two hours later."""

    def at(minutes: int, length: int, role: str, people: tuple[str, ...] = ()) -> Wanted:
        begins = start + timedelta(minutes=minutes)
        key = f"{role}-{begins:%m%d}"
        return Wanted(
            key, f"{role.title()} {begins:%m%d}", begins, begins + timedelta(minutes=length), people
        )

    return {
        "long": at(0, 180, "long", ("Dr Long", "Patient Long")),
        "renamed": at(20, 20, "renamed"),
        "gone": at(30, 60, "gone"),
        "moved": at(45, 30, "moved"),
        "kept": at(0, 180, "kept"),
    }


def with_changes(day: dict[str, Wanted]) -> list[Wanted]:
    """The day as the next plan wants it: `gone` removed, every other session changed."""
    later = timedelta(hours=2)
    moved = day["moved"]
    return [
        replace(day["long"], people=day["long"].people[:1]),
        replace(day["renamed"], name=f"{day['renamed'].name} renamed"),
        replace(moved, start=moved.start + later, end=moved.end + later),
        replace(day["kept"], name=f"{day['kept'].name} renamed"),
    ]


Facts = dict[str, tuple[object, ...]]


def facts(world: World) -> Facts:
    """Each recorded session as the live API has it: name, start, end, whether it is
    cancelled, and the people still in it."""
    found = {session.session_id: session for session in live(world)}
    with Inventory.open(world.location) as inventory:
        records = inventory.sessions()
    return {
        record.key: (
            (s := found[record.session_id]).session_name,
            s.start_time,
            s.end_time,
            s.canceled_at is not None,
            sorted(p.display_name or "" for p in s.participants if not p.removed),
        )
        for record in records
    }


def planned(saved: Path) -> set[tuple[str, str]]:
    """The actions of a saved plan, by kind and target (read, never written by hand)."""
    return {(item["kind"], item["target"]) for item in json.loads(saved.read_text())["actions"]}


def result_line(output: str, target: str) -> str:
    """The line an apply printed as the action on `target` ended."""
    ended = ("applied ", "skipped ", "failed ", "not started ")
    (line,) = (
        line for line in output.splitlines() if line.startswith(ended) and f" {target} (" in line
    )
    return line


def test_the_clock_passing_a_start_or_an_end_after_the_plan_never_cancels_or_edits_what_it_forbids(
    tmp_path: Path, state_text: str, runs: list[Run], evidence: Evidence
) -> None:
    gate = Gate(holds=1)
    first, second = clinic_day(FIRST_START), clinic_day(FIRST_START + timedelta(days=1))
    with gated_world(tmp_path, state_text, gate, sessions=0, faults={}) as world:
        write_tree(world.folder, [*first.values(), *second.values()])
        made = served.run(world, "apply", "--auto-approve")
        assert made.returncode == 0, made.stdout + made.stderr
        baseline, written = facts(world), len(journal(world))

        # A saved plan that cancels `gone` and moves `moved` (and more), made while all of
        # it is legal; the clock then passes both their starts: refused whole.
        write_tree(world.folder, [*with_changes(first), *second.values()])
        saved = [world.folder.parent / f"plan-{n}.json" for n in (1, 2)]
        assert served.run(world, "plan", "--out", str(saved[0])).returncode == 0
        set_clock(world, FIRST_START + timedelta(minutes=50))
        past_start = served.run(world, "apply", saved=saved[0])
        after_start = facts(world)

        # A saved plan that renames `kept`, takes `long`'s guest out and moves the end of
        # `moved` (the rest is blocked by now); the clock then passes their ends.
        assert served.run(world, "plan", "--out", str(saved[1])).returncode == 0
        set_clock(world, FIRST_START + timedelta(hours=3, minutes=5))
        past_end = served.run(world, "apply", saved=saved[1])
        after_end, unwritten = facts(world), len(journal(world))

        # A fresh apply of the next day's changes, one call at a time: its first call (the
        # guest taken out of `long`) waits at the gate while the clock passes the starts of
        # `gone` and `moved` and the end of `renamed`; every later call is checked again.
        write_tree(world.folder, [*first.values(), *with_changes(second)])
        set_faults(world, PARTICIPANT_CANCELS)
        crossing = Run.start(world, "crossing", "apply", "--auto-approve", "--parallelism", "1")
        runs.append(crossing)
        wait_for(lambda: gate.waiting == 1, "the apply's first call to wait at the gate")
        set_clock(world, FIRST_START + timedelta(days=1, minutes=50))
        gate.open()
        code = crossing.wait()
        crossed = facts(world)
        shown = served.run(world, "plan", "--detailed-exitcode")

    assert planned(saved[0]) == {
        ("cancel_participant", f"Session/{first['long'].key}/participants/guest-person"),
        ("cancel_session", f"Session/{first['gone'].key}"),
        ("update_session", f"Session/{first['renamed'].key}"),
        ("update_session", f"Session/{first['moved'].key}"),
        ("update_session", f"Session/{first['kept'].key}"),
    }
    assert planned(saved[1]) == {
        ("cancel_participant", f"Session/{first['long'].key}/participants/guest-person"),
        ("update_session", f"Session/{first['kept'].key}"),
        ("update_session", f"Session/{first['moved'].key}"),  # its end, still movable
    }
    for refused in (past_start, past_end):
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused: the plan expired at " in refused.stderr
        assert "Traceback" not in refused.stdout + refused.stderr
        assert refused.stdout == ""
    assert after_start == after_end == baseline  # nothing was sent
    assert unwritten == written  # nor journaled

    out, err = crossing.output()
    assert code == 0, (out, err)
    assert traceback_free(crossing)
    skipped = {
        role: result_line(out, f"Session/{second[role].key}")
        for role in ("gone", "renamed", "moved")
    }
    assert skipped["gone"].startswith("skipped     - "), out
    assert "started" in skipped["gone"]
    assert skipped["renamed"].startswith("skipped     ~ "), out
    assert "finished" in skipped["renamed"]
    assert skipped["moved"].startswith("skipped     ~ "), out
    assert "started" in skipped["moved"]
    applied = [
        result_line(out, f"Session/{second['long'].key}/participants/guest-person"),
        result_line(out, f"Session/{second['kept'].key}"),
    ]
    assert all(line.startswith("applied ") for line in applied), out
    changed_keys = {key for key in baseline if crossed[key] != baseline[key]}
    assert changed_keys == {second["long"].key, second["kept"].key}
    assert crossed[second["long"].key][4] == ["Dr Long"]
    assert "Traceback" not in shown.stdout + shown.stderr
    assert shown.returncode == 3, shown.stdout + shown.stderr  # what is left is blocked

    started_cancelled = sum(1 for fact in crossed.values() if fact[3])
    edited_after_end = sum(
        1
        for key in (*(w.key for w in first.values()), second["renamed"].key)
        if crossed[key] != baseline[key]
    )
    assert (started_cancelled, edited_after_end) == (0, 0)
    evidence.record(
        CLAIM,
        f"the clock crossing a start time between plan and apply ({backend_of(world)})",
        runs=3,
        **{
            "started sessions cancelled": started_cancelled,
            "finished sessions edited": edited_after_end,
            "refused or skipped": sum(r.returncode == 1 for r in (past_start, past_end))
            + sum(line.startswith("skipped") for line in skipped.values()),
        },
    )
