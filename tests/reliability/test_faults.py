"""The fault matrix: an apply of 300 creates, 100 updates and 50 cancels against a
served emulator with one kind of fault on at a time (10% 503, 5% 429 with Retry-After,
2% of answers dropped after the write was committed, 50 ms latency), then all of them
at once, then tokens expiring mid-apply; each repeated until a plan has nothing left to
do. The live API must end exactly as the manifests say, with no session or participant
made twice and none lost, and the inventory must name each one as it is live.

Then the single writes whose every answer is lost: the service did them, so the
inventory must end up saying so.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import engine
from reconciler.applying import Outcome
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
from reconciler.emulator.faults import Decision
from reconciler.emulator.server import serve_in_background
from reconciler.emulator.store import Store
from reconciler.errors import ReconcilerError
from reconciler.inventory import Inventory
from reconciler.planning import Kind
from tests.conftest import CLINIC_A, T0
from tests.evidence import Evidence

pytestmark = pytest.mark.network

SEED = 3006
ROUNDS = 8
TOKEN_TTL_SECONDS = 600
EXPIRE_EVERY = 60
"""With tokens expiring, the clock jumps past their expiry every 60th request."""
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


@dataclass(frozen=True)
class Profile:
    """One row of the fault matrix: the emulator's fault settings (less the seed)."""

    label: str
    settings: dict[str, Any]
    expiring: bool = False
    """Whether the emulator's clock also jumps past every token's expiry, again and again."""


ALL_AT_ONCE = {
    "error_rate": 0.10,
    "status": 503,
    "rate_limit_rate": 0.05,
    "retry_after": 1,
    "drop_after_commit_rate": 0.02,
    "latency_ms": 50,
}
PROFILES = [
    Profile("10% 503", {"error_rate": 0.10, "status": 503}),
    # Beyond the matrix: a 500 or 502 may come after the write was made, so a
    # create that met one is looked for, never blindly sent again.
    Profile("8% 500", {"error_rate": 0.08, "status": 500}),
    Profile("8% 502", {"error_rate": 0.08, "status": 502}),
    Profile("5% 429 with Retry-After: 1", {"rate_limit_rate": 0.05, "retry_after": 1}),
    Profile("2% answers dropped after the commit", {"drop_after_commit_rate": 0.02}),
    Profile("50 ms latency", {"latency_ms": 50}),
    Profile("all of these at once", ALL_AT_ONCE),
    Profile("tokens expiring mid-apply", {"latency_ms": 1}, expiring=True),
]


@dataclass
class Tally:
    """The faults the emulator injected, counted as it decides them."""

    decide: Callable[[str, str], Decision]
    counts: Counter[str] = field(default_factory=Counter)

    def __call__(self, method: str, path: str) -> Decision:
        decision = self.decide(method, path)
        self.counts["requests"] += 1
        self.counts["429"] += decision.rate_limited
        self.counts["5xx"] += decision.error_status is not None and not decision.rate_limited
        self.counts["answers dropped"] += (
            decision.drop_after_commit and not decision.rate_limited
        ) and decision.error_status is None
        return decision


@dataclass
class Expiry:
    """The emulator's `sleep`: every `every`-th delayed request moves the clock past the
    expiry of every token issued so far, so calls in flight find their token expired."""

    store: Store
    every: int
    jumps: int = 0
    seen: int = 0

    async def __call__(self, seconds: float) -> None:
        self.seen += 1
        if self.seen % self.every == 0:
            with self.store.transaction():
                self.store.advance(timedelta(seconds=TOKEN_TTL_SECONDS + 1))
            self.jumps += 1
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Damage:
    """What a converged run left: each count must be 0."""

    duplicates: int
    lost: int
    disagreeing: int


def check(world: World, before: dict[str, str]) -> Damage:
    """Count what is wrong with the live API and the inventory once faults are off:
    sessions or participants made twice, desired ones missing or not as the manifests
    say, and inventory records that do not name their live session as it is."""
    found = world.live()
    live = [session for session in found if session.canceled_at is None]
    by_id = {session.session_id: session for session in found}
    naturals = Counter((s.session_name, s.start_time, s.end_time) for s in live)
    wanted = {each.key: each for each in DESIRED}
    made_twice = sum(times - 1 for times in naturals.values())
    made_twice += sum(
        times - 1
        for session in live
        for times in Counter(p.display_name for p in session.participants if not p.removed).values()
    )
    # Anything beyond the desired sessions and the cancelled removed ones was made in
    # excess, even if it was cancelled since.
    made_twice += max(0, len(found) - len(DESIRED) - len(REMOVED))
    lost = sum(1 for each in DESIRED if naturals[each.natural] == 0)
    lost += sum(1 for each in REMOVED if by_id[before[each.key]].canceled_at is None)
    disagreeing = 0
    with Inventory.open(world.state) as inventory:
        records = {record.key: record for record in inventory.sessions()}
        disagreeing += len(inventory.pending()) + (inventory.lock_info() is not None)
        disagreeing += len(set(records) ^ {*wanted, *(each.key for each in REMOVED)})
        disagreeing += sum(
            1 for each in REMOVED if each.key in records and not records[each.key].canceled
        )
        disagreeing += sum(
            1
            for each in UPDATED + UNTOUCHED
            if each.key in records and records[each.key].session_id != before[each.key]
        )
        for key, each in wanted.items():
            record = records.get(key)
            session = by_id.get(record.session_id) if record else None
            if record is None or session is None or record.canceled:
                disagreeing += 1
                continue
            hashes = {
                inventory.hash_id(p.participant_id.get_secret_value())
                for p in session.participants
                if not p.removed
            }
            disagreeing += (
                (session.session_name, session.start_time, session.end_time) != each.natural
                or (record.start, record.end) != (each.start, each.end)
                or sorted(p.display_name or "" for p in session.participants if not p.removed)
                != sorted(each.people)
                or {p.id_hash for p in record.participants} != hashes
            )
    return Damage(made_twice, lost, disagreeing)


@contextmanager
def served(
    root: Path, monkeypatch: pytest.MonkeyPatch, *, expiring: bool = False
) -> Iterator[tuple[World, Tally, Expiry | None]]:
    """A served emulator, its faults counted (and, if `expiring`, its clock jumping past
    every token's expiry now and then), and a manifest folder under `root`."""
    # Run from the repository's root, as a user does: its manifests are the project's,
    # so a manifest removed from them is this run's to cancel.
    monkeypatch.chdir(root)

    async def sleep(seconds: float) -> None:
        await (expiry or asyncio.sleep)(seconds)

    app = make_app(
        db=root / "emulator.db",
        initial_clock=T0,
        clients=[CLINIC_A],
        token_ttl_seconds=TOKEN_TTL_SECONDS,
        sleep=sleep,
    )
    emulator = app.state.emulator
    expiry = Expiry(emulator.store, every=EXPIRE_EVERY) if expiring else None
    tally = Tally(emulator.faults.decide)
    emulator.faults.decide = tally
    grant = emulator.tokens.grant

    def granting(*args: Any, **kwargs: Any) -> Any:
        tally.counts["tokens issued"] += 1
        return grant(*args, **kwargs)

    emulator.tokens.grant = granting
    folder = root / "manifests"
    folder.mkdir()
    try:
        with (
            serve_in_background(app) as server,
            httpx.Client(base_url=server.base_url, timeout=10) as http,
        ):
            urls = Urls(coviu=f"{server.base_url}/v1", auvious=server.base_url)
            yield World(folder, root / "state.db", urls, http), tally, expiry
    finally:
        emulator.store.close()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with served(tmp_path, monkeypatch) as (world, _, _):
        yield world


@pytest.mark.parametrize("profile", PROFILES, ids=[profile.label for profile in PROFILES])
def test_apply_under_each_fault_converges_with_no_duplicate_and_nothing_lost(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    profile: Profile,
    lap: int,
    evidence: Evidence,
) -> None:
    seed = SEED + 1000 * lap + PROFILES.index(profile)
    with served(tmp_path, monkeypatch, expiring=profile.expiring) as (world, tally, expiry):
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

        tally.counts.clear()
        world.faults(**profile.settings, seed=seed)
        runs, errors = 0, []
        converged = False
        for _ in range(ROUNDS):
            runs += 1
            try:
                applied = world.apply()
            except ReconcilerError as error:
                # A whole run may give up under faults (it says why); the next goes on.
                errors.append(str(error))
                continue
            if not applied.report.plan.actions:
                converged = True
                break
        world.faults()
        assert converged, errors

        # The faults fired: the runs met what the profile injects, and nothing else.
        met = Counter(tally.counts)
        for setting, name in (
            ("error_rate", "5xx"),
            ("rate_limit_rate", "429"),
            ("drop_after_commit_rate", "answers dropped"),
        ):
            assert (met[name] > 0) == (setting in profile.settings), met
        if profile.expiring:
            # The clock passed every token's expiry again and again, and the runs took
            # new tokens as they went (not just the two each run starts with).
            assert expiry is not None
            assert expiry.jumps >= 3, expiry.jumps
            assert met["tokens issued"] > 2 * runs, met
            met["token expiries"] = expiry.jumps

        # Nothing left to do, faults off; then nothing wrong anywhere.
        again = world.plan()
        assert again.plan.actions == ()
        assert again.plan.problems == ()
        assert again.recovered == ()
        damage = check(world, before)
        assert damage == Damage(duplicates=0, lost=0, disagreeing=0)
    faults = ("requests", "5xx", "429", "answers dropped", "token expiries")
    evidence.record(
        "No duplicate or loss",
        f"faults: {profile.label} (300 creates, 100 updates, 50 cancels)",
        **{"apply runs": runs},
        **{name: met[name] for name in faults if met[name]},
        **asdict(damage),
    )


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
