"""An apply of 300 creates, 100 updates and 50 cancels against a served emulator whose
faults are on (5xx, 429, answers dropped after the write was committed), repeated until
a plan has nothing left to do: the live API ends exactly as the manifests say, with no
session made twice and none lost, and the inventory names each one once.

Then the single writes whose every answer is lost: the service did them, so the
inventory must end up saying so.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import engine
from reconciler.applying import Outcome, Result
from reconciler.clients import (
    LiveSession,
    RateLimit,
    RetryPolicy,
    SessionChanges,
    SessionFilter,
    Tuning,
    Urls,
    connect,
)
from reconciler.emulator import make_app
from reconciler.emulator.server import serve_in_background
from reconciler.errors import ReconcilerError
from reconciler.inventory import Inventory
from reconciler.planning import Kind
from tests.applying.served import duplicates
from tests.conftest import CLINIC_A, T0

pytestmark = pytest.mark.network

SEED = 3006
ROUNDS = 8
FIRST_START = T0 + timedelta(days=2)
"""Every session starts days after the emulator's clock (moved by one test only)."""
TUNING = Tuning(
    policy=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=2),
    # The default pace (10 calls a second) is for real services; the emulator is local.
    rate_limit=RateLimit(per_second=5000, burst=500, in_flight=16),
)
ENVIRON = {
    "COVIU_API_KEY": CLINIC_A.key,
    "COVIU_API_SECRET": CLINIC_A.secret,
    "AUVIOUS_CLIENT_ID": CLINIC_A.key,
    "AUVIOUS_CLIENT_SECRET": CLINIC_A.secret,
}


@dataclass(frozen=True)
class Spec:
    """One Session manifest."""

    key: str
    name: str
    start: datetime
    minutes: int = 30
    people: tuple[str, ...] = ()
    """Display names of its participants: the first is the host, the others guests."""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def natural(self) -> tuple[str, datetime, datetime]:
        return (self.name, self.start, self.end)

    def manifest(self) -> str:
        lines = [
            "apiVersion: reconciler/v1",
            "kind: Session",
            "metadata:",
            f"  name: {self.key}",
            "spec:",
            f"  session_name: {self.name}",
            f"  start_time: {self.start.isoformat()}",
            f"  duration: {self.minutes}m",
        ]
        if self.people:
            lines.append("  participants:")
        for index, display in enumerate(self.people):
            lines += [
                f"    - name: person-{index}",
                f"      display_name: {display}",
                f"      role: {'host' if index == 0 else 'guest'}",
            ]
        return "\n".join(lines) + "\n"


def spec(prefix: str, number: int, offset: int) -> Spec:
    """A 30-minute session, each at its own time; every fourth has two participants."""
    people = (f"Dr {prefix} {number}", f"Patient {prefix} {number}") if number % 4 == 0 else ()
    start = FIRST_START + timedelta(minutes=15 * (offset + number))
    return Spec(f"{prefix}-{number:03d}", f"{prefix.title()} {number:03d}", start, people=people)


KEPT = [spec("visit", number, 0) for number in range(170)]
"""The sessions of the first apply: 0-99 are then changed, 100-149 removed, 150-169 kept."""
UPDATED = [
    # Renamed, or its end moved, or both.
    replace(
        old,
        name=old.name + " (room 4)" if number % 3 != 1 else old.name,
        minutes=45 if number % 3 != 0 else old.minutes,
    )
    for number, old in enumerate(KEPT[:100])
]
REMOVED = KEPT[100:150]
UNTOUCHED = KEPT[150:]
CREATED = [spec("new", number, 1000) for number in range(300)]
DESIRED = [*UPDATED, *UNTOUCHED, *CREATED]


def write(folder: Path, specs: Sequence[Spec]) -> None:
    """The manifests as files of 50 documents, replacing whatever was there."""
    for old in folder.glob("*.yaml"):
        old.unlink()
    for first in range(0, len(specs), 50):
        chunk = specs[first : first + 50]
        text = "---\n".join(each.manifest() for each in chunk)
        (folder / f"sessions-{first // 50:02d}.yaml").write_text(text)


@dataclass(frozen=True)
class World:
    folder: Path
    state: Path
    urls: Urls
    http: httpx.Client
    """For the emulator's controls."""

    def faults(self, **settings: Any) -> None:
        answer = self.http.post("/_emulator/faults", json=settings)
        assert answer.status_code == 200, answer.text

    def apply(self) -> engine.Applied:
        return engine.apply(
            [self.folder],
            flags=self.urls,
            state=str(self.state),
            environ=ENVIRON,
            parallelism=8,
            tuning=TUNING,
            budget=engine.Budget(allow_mass_cancel=True),  # 50 cancels, meant
        )

    def plan(self) -> engine.Planned:
        return engine.plan([self.folder], flags=self.urls, state=str(self.state), environ=ENVIRON)

    def live(self) -> list[LiveSession]:
        async def listing() -> list[LiveSession]:
            targets = engine.targets_for([self.folder], flags=self.urls, environ=ENVIRON)
            async with connect(targets, tuning=TUNING) as clients:
                return await clients.coviu.list_sessions(
                    SessionFilter(include_canceled=True, deleted_participants=True)
                )

        return asyncio.run(listing())

    def rename(self, session_id: str, name: str) -> None:
        """Rename a session behind the reconciler's back."""

        async def renaming() -> None:
            targets = engine.targets_for([self.folder], flags=self.urls, environ=ENVIRON)
            async with connect(targets, tuning=TUNING) as clients:
                await clients.coviu.update_session(session_id, SessionChanges(session_name=name))

        asyncio.run(renaming())


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Run from the repository's root, as a user does: its manifests are the project's,
    # so a manifest removed from them is this run's to cancel.
    monkeypatch.chdir(tmp_path)
    app = make_app(
        db=tmp_path / "emulator.db", initial_clock=T0, clients=[CLINIC_A], token_ttl_seconds=3600
    )
    folder = tmp_path / "manifests"
    folder.mkdir()
    try:
        with (
            serve_in_background(app) as server,
            httpx.Client(base_url=server.base_url, timeout=10) as http,
        ):
            urls = Urls(coviu=f"{server.base_url}/v1", auvious=server.base_url)
            yield World(folder, tmp_path / "state.db", urls, http)
    finally:
        app.state.emulator.store.close()


def fault_settings(round_number: int, rng: random.Random) -> dict[str, Any]:
    """Each round its own mix: 5xx that may have been handled (500, 502) or surely not
    (503), 429s that ask for no wait or a second's, and answers lost after the write."""
    slow = round_number % 4 == 3
    return {
        "error_rate": 0.08,
        "status": (500, 503, 502)[round_number % 3],
        "rate_limit_rate": 0.005 if slow else 0.04,
        "retry_after": 1 if slow else 0,
        "drop_after_commit_rate": 0.06,
        "seed": rng.randrange(1_000_000),
    }


def test_apply_under_faults_converges_with_no_duplicate_and_nothing_lost(world: World) -> None:
    write(world.folder, KEPT)
    first = world.apply()
    assert first.report.counts["applied"] == len(KEPT), first.report.counts
    with Inventory.open(world.state) as inventory:
        before = {record.key: record.session_id for record in inventory.sessions()}
    assert len(set(before.values())) == len(KEPT)

    write(world.folder, DESIRED)
    planned = world.plan().plan
    assert Counter(item.kind for item in planned.actions) == {
        Kind.CREATE_SESSION: 300,
        Kind.UPDATE_SESSION: 100,
        Kind.CANCEL_SESSION: 50,
    }
    assert planned.blocked == ()
    assert planned.unreconcilable == ()

    rng = random.Random(SEED)
    results: list[Result] = []
    errors: list[str] = []
    converged = False
    for round_number in range(ROUNDS):
        world.faults(**fault_settings(round_number, rng))
        try:
            applied = world.apply()
        except ReconcilerError as error:
            # A whole run may give up under faults (it says why); the next one goes on.
            errors.append(str(error))
            continue
        results += applied.report.results
        if not applied.report.plan.actions:
            converged = True
            break
    world.faults()
    assert converged, (Counter(r.outcome for r in results), errors)

    # The faults fired, and the applier met them both ways: answers lost after the
    # session was made (found again, not made twice) and calls that failed.
    lost = [r for r in results if "answer was lost" in r.message]
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    assert lost, Counter(r.outcome for r in results)
    assert failed, Counter(r.outcome for r in results)
    assert all(r.outcome is Outcome.APPLIED for r in lost)

    # Nothing left to do, faults off.
    again = world.plan()
    assert again.plan.actions == ()
    assert again.plan.blocked == ()
    assert again.plan.unreconcilable == ()
    assert again.recovered == ()

    # The live API: exactly the desired sessions, each once; the removed ones cancelled;
    # nothing else was ever made, not even a duplicate cancelled since.
    found = world.live()
    live = [session for session in found if session.canceled_at is None]
    canceled = [session for session in found if session.canceled_at is not None]
    naturals = [(s.session_name, s.start_time, s.end_time) for s in live]
    assert duplicates(naturals) == []
    assert sorted(naturals, key=str) == sorted((s.natural for s in DESIRED), key=str)
    assert len(found) == len(DESIRED) + len(REMOVED)
    assert sorted(s.session_id for s in canceled) == sorted(before[s.key] for s in REMOVED)

    # The inventory: a record per desired key, naming its live session with the
    # manifest's values; the changed sessions were changed in place, not made again.
    by_id = {session.session_id: session for session in found}
    wanted = {each.key: each for each in DESIRED}
    with Inventory.open(world.state) as inventory:
        records = {record.key: record for record in inventory.sessions()}
        assert inventory.pending() == ()
        assert inventory.lock_info() is None
        assert duplicates([record.session_id for record in records.values()]) == []
        assert {key for key, record in records.items() if not record.canceled} == set(wanted)
        assert {key for key, record in records.items() if record.canceled} == {
            each.key for each in REMOVED
        }
        for each in UPDATED + UNTOUCHED:
            assert records[each.key].session_id == before[each.key]
        for key, each in wanted.items():
            session = by_id[records[key].session_id]
            assert (session.session_name, session.start_time, session.end_time) == each.natural
            assert (records[key].start, records[key].end) == (each.start, each.end)
            assert all(not p.removed for p in session.participants)
            assert sorted(p.display_name or "" for p in session.participants) == sorted(each.people)
            hashes = {
                inventory.hash_id(p.participant_id.get_secret_value()) for p in session.participants
            }
            assert {p.id_hash for p in records[key].participants} == hashes


# A write whose answers are all lost: the service did it, the run could not know.

SOLO = Spec("solo", "Solo visit", FIRST_START)
OTHER = Spec("other", "Other visit", FIRST_START + timedelta(days=1))


def cancel_entries(state: Path, key: str) -> list[str]:
    with Inventory.open(state) as inventory:
        return [
            entry.state.value
            for entry in inventory.journal(limit=100)
            if entry.target == f"Session/{key}" and entry.kind == Kind.CANCEL_SESSION.value
        ]


@pytest.mark.parametrize(
    "answers_lost",
    [False, True],
)
def test_a_cancel_that_happened_is_recorded_as_cancelled(world: World, answers_lost: bool) -> None:
    write(world.folder, [SOLO, OTHER])
    world.apply()
    write(world.folder, [OTHER])  # SOLO's manifest removed: cancel it
    if answers_lost:
        # The service cancels it, and every answer to the DELETE (retries included) is lost.
        world.faults(drop_after_commit_rate=1.0, methods=["DELETE"])
    (result,) = world.apply().report.results
    assert result.outcome is (Outcome.FAILED if answers_lost else Outcome.APPLIED)
    world.faults()
    again = world.apply()
    assert again.report.plan.actions == ()
    (solo,) = [s for s in world.live() if s.session_name == SOLO.name]
    assert solo.canceled_at is not None

    # What `reconciler state list` shows: SOLO is cancelled, and the journal does not
    # claim that its cancel changed nothing.
    with Inventory.open(world.state) as inventory:
        record = inventory.session(SOLO.key)
    assert record is not None
    assert record.canceled
    assert "failed" not in cancel_entries(world.state, SOLO.key)


@pytest.mark.parametrize(
    "answers_lost",
    [False, True],
)
def test_a_session_whose_end_was_moved_is_watched_until_its_new_end(
    world: World, answers_lost: bool
) -> None:
    write(world.folder, [SOLO])
    world.apply()
    longer = replace(SOLO, minutes=60)
    write(world.folder, [longer])
    if answers_lost:
        # The service moves the end, and every answer to the PUT (retries included) is lost.
        world.faults(drop_after_commit_rate=1.0, methods=["PUT"])
    (result,) = world.apply().report.results
    assert result.outcome is (Outcome.FAILED if answers_lost else Outcome.APPLIED)
    world.faults()
    assert world.apply().report.plan.actions == ()  # live has the new end already

    # 45 minutes in, the session is under way live; someone renames it by hand.
    now = SOLO.start + timedelta(minutes=45)
    answer = world.http.post("/_emulator/clock", json={"now": now.isoformat()})
    assert answer.status_code == 200, answer.text
    with Inventory.open(world.state) as inventory:
        record = inventory.session(SOLO.key)
    assert record is not None
    world.rename(record.session_id, "Renamed by hand")

    # A session in progress may be renamed: the plan puts the manifest's name back.
    actions = world.plan().plan.actions
    assert [(item.kind, item.target) for item in actions] == [
        (Kind.UPDATE_SESSION, f"Session/{SOLO.key}")
    ]
    assert [(c.field, c.new) for c in actions[0].changes] == [("session_name", SOLO.name)]
