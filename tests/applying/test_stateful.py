"""`apply` converges, whatever happens between runs: a Hypothesis state machine.

It keeps a clinic's manifest tree in a scratch folder (a reconciler.yaml that sets the
embedded emulator's clock, one file per Session) and, in random order, edits the
manifests (adds, removes and restores sessions; renames them; moves their start and end
either way, into the past of the clock too; adds, removes and edits participants; writes
the same instants in another offset), changes the live sessions behind the
reconciler's back (cancels or renames a managed session, removes a participant, makes
an unmanaged session), and moves the emulator's clock (by seconds to hours, or onto a
session's start or end, or one second either side of it).

After every `apply`, at the same emulator time:

- no action failed, was skipped or was left unstarted (nothing injects faults, and the
  emulator's clock does not move inside a run, so every precondition the plan saw holds);
- a new plan has no actions left: only blocked or unreconcilable items;
- read back from the API by this test, every session is what its manifest says but for
  what the new plan's blocked and unreconcilable items name, and every session whose
  manifest was removed is cancelled unless it had already started.

A refused apply is the one exception, and is checked as such: when an action of the plan
stops being legal within the plan's safety margin, the whole plan is refused unchanged.

At every step: each live session that apply made is recorded by exactly one inventory
key, no two keys record the same session, and apply never made two live sessions with
the same name, start and end; sessions made elsewhere are never touched nor adopted.

Everything runs in-process on the embedded emulator (no API URL anywhere): the engine is
given an empty `environ`, so no API setting of the machine running the tests can leak in.
The machine runs once per inventory backend, each example on an inventory of its own: the
default SQLite file in its scratch folder, or a fresh PostgreSQL schema passed as `state`
(as `--state` passes it), dropped when the example ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic import SecretStr

from reconciler import engine
from reconciler.applying import Outcome, PlanRefusedError
from reconciler.clients import (
    Clients,
    LiveSession,
    ParticipantDraft,
    RetryPolicy,
    SessionChanges,
    SessionDraft,
    SessionFilter,
    Tuning,
    Urls,
    connect,
)
from reconciler.emulator.embedded import DEFAULT_DB, move_clock
from reconciler.inventory import Inventory, Location, parse_location
from reconciler.planning import Item, Kind, Plan, SessionRecord, Status
from tests.postgres import postgres_url

SYDNEY = timezone(timedelta(hours=11))
ZONES: tuple[tzinfo, ...] = (SYDNEY, UTC, timezone(timedelta(hours=-5)))
CLOCK = datetime(2026, 12, 4, 9, 0, tzinfo=SYDNEY)
"""The embedded emulator's clock when its database is made (reconciler.yaml sets it)."""
STATE = Path(".reconciler/state.db")
"""The SQLite inventory when nothing names one, in the working (scratch) folder."""
HERE = [Path(".")]
TUNING = Tuning(policy=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05))
MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

TITLES = ("Follow-up", "Cardiology review", "Wound check", "Telehealth intake")
PEOPLE = ("ada", "bo", "cy", "di", "ed")
DISPLAY = ("Ada Lovelace", "Bo Peep", "Cy Young", "Di Prince", "Ed Nash")
ROLES: tuple[Literal["host", "guest"], ...] = ("host", "guest")
STATES = (None, "s-1", "s-2", "40213")

T = TypeVar("T")

ANCHOR = "anchor"
"""A manifest never edited, far ahead: a tree with no manifests at all is an error, and
the machine may remove every session it adds."""


@dataclass(frozen=True)
class Person:
    display_name: str
    role: Literal["host", "guest"]
    state: str | None


@dataclass(frozen=True)
class Wanted:
    """One Session manifest, as this test wrote it."""

    title: str
    start: datetime
    end: datetime
    people: tuple[tuple[str, Person], ...] = ()

    def person(self, name: str) -> Person | None:
        return dict(self.people).get(name)

    def yaml(self, key: str) -> str:
        lines = [
            "apiVersion: reconciler/v1",
            "kind: Session",
            "metadata:",
            f"  name: {key}",
            "  labels: {clinic: cardiology}",
            "spec:",
            f"  session_name: {json.dumps(self.title)}",
            f"  start_time: {self.start.isoformat()}",
            f"  end_time: {self.end.isoformat()}",
        ]
        if self.people:
            lines.append("  participants:")
        for name, person in self.people:
            lines += [
                f"    - name: {name}",
                f"      display_name: {json.dumps(person.display_name)}",
                f"      role: {person.role}",
            ]
            if person.state is not None:
                lines.append(f"      state: {json.dumps(person.state)}")
        return "\n".join(lines) + "\n"


def run(work: Callable[[Clients], Awaitable[T]]) -> T:
    """Do `work` with clients of the working folder's embedded emulator."""

    async def go() -> T:
        targets = engine.targets_for(HERE, flags=Urls(), environ={})
        async with connect(targets, tuning=TUNING) as clients:
            return await work(clients)

    return asyncio.run(go())


async def _everything(clients: Clients) -> list[LiveSession]:
    where = SessionFilter(include_canceled=True, deleted_participants=True)
    return await clients.coviu.list_sessions(where)


def people_strategy() -> st.SearchStrategy[tuple[tuple[str, Person], ...]]:
    return st.lists(
        st.tuples(st.sampled_from(PEOPLE), person_strategy()),
        max_size=3,
        unique_by=lambda pair: pair[0],
    ).map(tuple)


def person_strategy() -> st.SearchStrategy[Person]:
    return st.builds(
        Person, st.sampled_from(DISPLAY), st.sampled_from(ROLES), st.sampled_from(STATES)
    )


SECONDS_AHEAD = st.one_of(
    st.integers(1, 3 * DAY // MINUTE).map(lambda minutes: minutes * MINUTE),
    st.integers(MINUTE, 3 * DAY),
)
SOON = st.integers(2, 12 * HOUR // MINUTE).map(lambda minutes: minutes * MINUTE)
"""Where the first sessions start: within the hours the clock moves in one example."""
DURATION = st.integers(1, 4 * HOUR // MINUTE).map(lambda minutes: minutes * MINUTE)
SHIFT = st.one_of(
    st.integers(-2 * DAY // MINUTE, 2 * DAY // MINUTE).map(lambda minutes: minutes * MINUTE),
    st.integers(-3 * HOUR, 3 * HOUR),
).filter(bool)
AFTER = st.booleans()
"""Whether to apply right after a step: Hypothesis turns whole rules off at random, and
the checks are in apply, so every step may end with one."""
ADVANCE = st.one_of(st.integers(1, 59), st.integers(MINUTE, 6 * HOUR))


NewSession = tuple[int, int, str, tuple[tuple[str, Person], ...]]
"""Seconds ahead of the clock, duration in seconds, title, participants."""


def summary(items: Iterable[Item]) -> list[str]:
    return [f"{item.kind.value} {item.target}: {item.reason}" for item in items]


class Held:
    """What a plan's blocked and unreconcilable items keep from matching the manifests."""

    def __init__(self, plan: Plan) -> None:
        self.items = (*plan.blocked, *plan.unreconcilable)

    def whole(self, target: str) -> bool:
        """The item stands for all of `target`: a cancelled or vanished session, a create
        that cannot be made."""
        return any(
            item.target == target
            and (item.status is Status.UNRECONCILABLE or item.kind is Kind.CREATE_SESSION)
            for item in self.items
        )

    def fields(self, target: str) -> set[str]:
        """The fields of `target` whose changes are blocked."""
        return {
            change.field for item in self.items if item.target == target for change in item.changes
        }

    def anything_of(self, target: str) -> bool:
        """Any item about `target` or what lies under it."""
        return any(
            item.target == target or item.target.startswith(f"{target}/") for item in self.items
        )


class ApplyConverges(RuleBasedStateMachine):
    """Random manifest edits, out-of-band changes and clock moves; apply after any of them."""

    backend: ClassVar[str] = "sqlite"
    """The inventory's backend; `on_backend` makes the machine of each."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = ExitStack()
        self.state: str | None = None
        """The inventory as `--state` names it; None on SQLite: the default file here."""
        self.location: Location = STATE
        if self.backend == "postgresql":
            self.state = self.closing.enter_context(postgres_url())
            self.location = parse_location(self.state)
        self.reader: Inventory | None = None
        self.home = Path.cwd()
        self.root = Path(tempfile.mkdtemp(prefix="reconciler-stateful-"))
        (self.root / ".git").mkdir()
        (self.root / "sessions").mkdir()
        (self.root / "reconciler.yaml").write_text(f"emulator:\n  clock: {CLOCK.isoformat()}\n")
        self.wanted: dict[str, Wanted] = {}
        start = CLOCK + timedelta(days=365)
        self.anchor = Wanted(f"Annual review {ANCHOR}", start, start + timedelta(hours=1))
        (self.root / f"{ANCHOR}.yaml").write_text(self.anchor.yaml(ANCHOR))
        self.removed: dict[str, Wanted] = {}
        self.zones: dict[str, tzinfo] = {}
        self.unmanaged: set[str] = set()
        self.made = 0
        self.now = CLOCK
        os.chdir(self.root)

    def teardown(self) -> None:
        os.chdir(self.home)
        if self.reader is not None:
            self.reader.close()
        shutil.rmtree(self.root, ignore_errors=True)
        self.closing.close()

    @initialize(
        sessions=st.lists(
            st.tuples(SOON, DURATION, st.sampled_from(TITLES), people_strategy()),
            min_size=1,
            max_size=3,
        )
    )
    def some_sessions_applied(self, sessions: list[NewSession]) -> None:
        """The emulator starts at reconciler.yaml's clock; a first apply makes sessions."""

        async def clock(clients: Clients) -> datetime | None:
            return await clients.coviu.server_time()

        assert run(clock) == CLOCK
        for ahead, duration, title, people in sessions:
            self.add(SYDNEY, ahead, duration, title, people)
        self.apply_and_check()

    # Helpers

    def write(self, key: str, wanted: Wanted) -> None:
        zone = self.zones.setdefault(key, SYDNEY)
        shown = replace(
            wanted, start=wanted.start.astimezone(zone), end=wanted.end.astimezone(zone)
        )
        (self.root / "sessions" / f"{key}.yaml").write_text(shown.yaml(key))
        self.wanted[key] = wanted

    def inventory(self) -> Inventory:
        """The inventory, for this test's reads: kept open once an apply has made it (each
        read sees the latest commit), an empty stand-in until then."""
        if self.reader is None or not self.reader.exists:
            if self.reader is not None:
                self.reader.close()
            self.reader = Inventory.open(self.location)
        return self.reader

    def records(self) -> tuple[SessionRecord, ...]:
        return self.inventory().sessions()

    def serial(self) -> int:
        return self.inventory().serial

    def live(self) -> list[LiveSession]:
        return run(_everything)

    def managed_live(self) -> list[tuple[SessionRecord, LiveSession]]:
        by_id = {session.session_id: session for session in self.live()}
        return [
            (record, by_id[record.session_id])
            for record in self.records()
            if record.session_id in by_id
        ]

    def advance(self, seconds: int) -> None:
        assert seconds > 0
        self.now = move_clock(DEFAULT_DB, advance=timedelta(seconds=seconds))

    # Manifest edits

    def add(
        self,
        zone: tzinfo,
        ahead: int,
        duration: int,
        title: str,
        people: tuple[tuple[str, Person], ...],
    ) -> None:
        self.made += 1
        key = f"visit-{self.made}"
        self.zones[key] = zone
        start = self.now + timedelta(seconds=ahead)
        self.write(
            key, Wanted(f"{title} {key}", start, start + timedelta(seconds=duration), people)
        )

    @rule(
        zone=st.sampled_from(ZONES),
        ahead=SECONDS_AHEAD,
        duration=DURATION,
        title=st.sampled_from(TITLES),
        people=people_strategy(),
        apply_after=AFTER,
    )
    def add_session(
        self,
        zone: tzinfo,
        ahead: int,
        duration: int,
        title: str,
        people: tuple[tuple[str, Person], ...],
        apply_after: bool,
    ) -> None:
        self.add(zone, ahead, duration, title, people)
        self.then(apply_after)

    @precondition(lambda self: bool(self.wanted))
    @rule(data=st.data(), apply_after=AFTER)
    def remove_session(self, data: st.DataObject, apply_after: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.wanted)), label="key")
        (self.root / "sessions" / f"{key}.yaml").unlink()
        self.removed[key] = self.wanted.pop(key)
        self.then(apply_after)

    @precondition(lambda self: bool(self.removed))
    @rule(data=st.data(), apply_after=AFTER)
    def restore_session(self, data: st.DataObject, apply_after: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.removed)), label="key")
        self.write(key, self.removed.pop(key))
        self.then(apply_after)

    @precondition(lambda self: bool(self.wanted))
    @rule(data=st.data(), title=st.sampled_from(TITLES), apply_after=AFTER)
    def rename_session(self, data: st.DataObject, title: str, apply_after: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.wanted)), label="key")
        self.write(key, replace(self.wanted[key], title=f"{title} {key}"))
        self.then(apply_after)

    @precondition(lambda self: bool(self.wanted))
    @rule(data=st.data(), zone=st.sampled_from(ZONES), apply_after=AFTER)
    def write_times_in_another_offset(
        self, data: st.DataObject, zone: tzinfo, apply_after: bool
    ) -> None:
        """The same instants in another offset: no change at all."""
        key = data.draw(st.sampled_from(sorted(self.wanted)), label="key")
        self.zones[key] = zone
        self.write(key, self.wanted[key])
        self.then(apply_after)

    @precondition(lambda self: bool(self.wanted))
    @rule(
        data=st.data(),
        which=st.sampled_from(("start", "end", "both", "start from now")),
        apply_after=AFTER,
    )
    def move_session(self, data: st.DataObject, which: str, apply_after: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.wanted)), label="key")
        wanted = self.wanted[key]
        shift = timedelta(seconds=data.draw(SHIFT, label="shift"))
        start, end = wanted.start, wanted.end
        if which == "start from now":
            start = self.now + shift
        elif which in ("start", "both"):
            start += shift
        if which in ("end", "both"):
            end += shift
        if end <= start:  # a manifest's end is after its start: keep the duration then
            end = start + (wanted.end - wanted.start)
        self.write(key, replace(wanted, start=start, end=end))
        self.then(apply_after)

    @precondition(lambda self: bool(self.wanted))
    @rule(data=st.data(), name=st.sampled_from(PEOPLE), person=person_strategy(), apply_after=AFTER)
    def add_participant(
        self, data: st.DataObject, name: str, person: Person, apply_after: bool
    ) -> None:
        key = data.draw(st.sampled_from(sorted(self.wanted)), label="key")
        wanted = self.wanted[key]
        people = (*(pair for pair in wanted.people if pair[0] != name), (name, person))
        self.write(key, replace(wanted, people=people))
        self.then(apply_after)

    @precondition(lambda self: any(wanted.people for wanted in self.wanted.values()))
    @rule(data=st.data(), apply_after=AFTER)
    def remove_participant(self, data: st.DataObject, apply_after: bool) -> None:
        key = data.draw(
            st.sampled_from(sorted(key for key, wanted in self.wanted.items() if wanted.people)),
            label="key",
        )
        wanted = self.wanted[key]
        gone = data.draw(st.sampled_from([name for name, _ in wanted.people]), label="name")
        people = tuple(pair for pair in wanted.people if pair[0] != gone)
        self.write(key, replace(wanted, people=people))
        self.then(apply_after)

    @precondition(lambda self: any(wanted.people for wanted in self.wanted.values()))
    @rule(
        data=st.data(), field=st.sampled_from(("display_name", "role", "state")), apply_after=AFTER
    )
    def edit_participant(self, data: st.DataObject, field: str, apply_after: bool) -> None:
        key = data.draw(
            st.sampled_from(sorted(key for key, wanted in self.wanted.items() if wanted.people)),
            label="key",
        )
        wanted = self.wanted[key]
        name = data.draw(st.sampled_from([name for name, _ in wanted.people]), label="name")
        person = dict(wanted.people)[name]
        if field == "display_name":
            person = replace(person, display_name=data.draw(st.sampled_from(DISPLAY)))
        elif field == "role":
            person = replace(person, role=data.draw(st.sampled_from(ROLES)))
        else:
            person = replace(person, state=data.draw(st.sampled_from(STATES)))
        people = tuple((n, person if n == name else p) for n, p in wanted.people)
        self.write(key, replace(wanted, people=people))
        self.then(apply_after)

    # Changes made behind the reconciler's back, through the API

    @rule(
        data=st.data(),
        which=st.sampled_from(("cancel", "rename", "remove participant")),
        apply_after=AFTER,
    )
    def change_live_by_hand(self, data: st.DataObject, which: str, apply_after: bool) -> None:
        now = self.now
        candidates = [
            (record, found)
            for record, found in self.managed_live()
            if found.canceled_at is None
            and (now < found.start_time if which == "cancel" else now < found.end_time)
            and (
                which != "remove participant"
                or any(not person.removed for person in found.participants)
            )
        ]
        if candidates:
            _, found = data.draw(
                st.sampled_from(sorted(candidates, key=lambda pair: pair[0].key)), label="session"
            )
            self.by_hand(data, which, found)
        else:
            event(f"by hand: nothing to {which}")
        self.then(apply_after)

    def by_hand(self, data: st.DataObject, which: str, found: LiveSession) -> None:
        event(f"by hand: {which}")
        if which == "cancel":
            run(lambda clients: clients.coviu.cancel_session(found.session_id))
        elif which == "rename":
            changes = SessionChanges(session_name="Renamed by hand")
            run(lambda clients: clients.coviu.update_session(found.session_id, changes))
        else:
            present = [person for person in found.participants if not person.removed]
            person = data.draw(st.sampled_from(present), label="participant")
            secret = SecretStr(person.participant_id.get_secret_value())
            run(lambda clients: clients.coviu.cancel_participant(secret))

    @rule(ahead=SECONDS_AHEAD, duration=DURATION, people=people_strategy(), apply_after=AFTER)
    def make_unmanaged_session(
        self, ahead: int, duration: int, people: tuple[tuple[str, Person], ...], apply_after: bool
    ) -> None:
        start = self.now + timedelta(seconds=ahead)
        draft = SessionDraft(
            session_name="Booked by phone",
            start_time=start,
            end_time=start + timedelta(seconds=duration),
            participants=tuple(
                ParticipantDraft(display_name=p.display_name, role=p.role, state=p.state)
                for _, p in people
            ),
        )
        made = run(lambda clients: clients.coviu.create_session(draft))
        self.unmanaged.add(made.session_id)
        self.then(apply_after)

    # The clock

    @rule(seconds=ADVANCE, apply_after=AFTER)
    def advance_clock(self, seconds: int, apply_after: bool) -> None:
        self.advance(seconds)
        self.then(apply_after)

    @rule(data=st.data(), around=st.sampled_from((-1, 0, 1)), apply_after=AFTER)
    def land_on_a_boundary(self, data: st.DataObject, around: int, apply_after: bool) -> None:
        """Move the clock onto a live or wanted session's start or end, or a second off."""
        moments = {
            moment + timedelta(seconds=around)
            for _, found in self.managed_live()
            for moment in (found.start_time, found.end_time)
        }
        moments |= {
            moment + timedelta(seconds=around)
            for wanted in self.wanted.values()
            for moment in (wanted.start, wanted.end)
        }
        soon = self.now + timedelta(days=30)  # not the anchor's: it stays ahead
        ahead = sorted(moment for moment in moments if self.now < moment < soon)
        if ahead:
            target = data.draw(st.sampled_from(ahead), label="moment")
            self.advance(int((target - self.now).total_seconds()))
            assert self.now == target
        else:
            event("clock: no boundary ahead")
        self.then(apply_after)

    # Apply, and what must hold after it

    def then(self, apply_after: bool) -> None:
        if apply_after:
            self.apply_and_check()

    @rule()
    def apply(self) -> None:
        self.apply_and_check()

    def apply_and_check(self) -> None:
        before = (self.serial(), self.live())
        try:
            applied = engine.apply(
                HERE,
                flags=Urls(),
                state=self.state,
                environ={},
                hooks=None,
                tuning=TUNING,
                budget=engine.Budget(allow_mass_cancel=True),  # removals come in any number
            )
        except PlanRefusedError as refused:
            self.refused_as_expired(str(refused), before)
            return
        report = applied.report
        assert report.recovered == ()
        not_applied = [
            f"{result.outcome.value} {result.item.kind.value} {result.item.target}: "
            f"{result.message}"
            for result in report.results
            if result.outcome is not Outcome.APPLIED
        ]
        assert not_applied == [], not_applied
        assert report.plan.created_at == self.now
        for result in report.results:
            event(f"applied: {result.item.kind.value}")

        planned = engine.plan(HERE, flags=Urls(), state=self.state, environ={})
        after = planned.plan
        assert after.created_at == self.now
        assert planned.recovered == ()
        assert summary(after.actions) == [], "a plan made right after apply still has actions"
        for item in (*after.blocked, *after.unreconcilable):
            event(f"left: {item.status.value} {item.kind.value}")
        assert self.inventory().pending() == ()
        self.live_is_what_the_manifests_say(after)

    def refused_as_expired(self, message: str, before: tuple[int, list[LiveSession]]) -> None:
        """Legal: an action of the plan stops being legal within the plan's safety margin
        (a create or cancel a minute before the start, an edit a minute before the end).
        Then nothing was changed, and a new plan says the same."""
        assert "expired" in message, message
        assert (self.serial(), self.live()) == before, "a refused apply changed something"
        again = engine.plan(HERE, flags=Urls(), state=self.state, environ={}).plan
        assert again.actions, "refused an expired plan, yet a new plan has no actions"
        assert again.expired_on_arrival, (again.created_at, again.valid_until)
        event("apply: refused, the plan expires within its safety margin")

    def live_is_what_the_manifests_say(self, plan: Plan) -> None:
        """Read back by this test: every session matches its manifest but for what the
        plan's blocked and unreconcilable items name; every removed manifest's session
        is cancelled, or has started (when nothing can cancel it)."""
        held = Held(plan)
        records = {record.key: record for record in self.records()}
        by_id = {session.session_id: session for session in self.live()}
        hash_id = self.inventory().hash_id
        for key, wanted in {**self.wanted, ANCHOR: self.anchor}.items():
            if held.whole(f"Session/{key}"):
                continue
            record = records.get(key)
            assert record is not None, f"{key} has no record and nothing blocks its create"
            if record.end <= self.now:
                self.history_is_what_the_manifest_says(key, wanted, record, held)
            else:
                found = by_id[record.session_id]
                self.session_is_what_the_manifest_says(key, wanted, record, found, held, hash_id)
        for key in self.removed:
            record = records.get(key)
            if record is None:
                continue
            found = by_id[record.session_id]
            assert found.canceled_at is not None or found.start_time <= self.now, (
                f"{key}'s manifest is gone, yet its session is neither cancelled nor started"
            )

    def history_is_what_the_manifest_says(
        self, key: str, wanted: Wanted, record: SessionRecord, held: Held
    ) -> None:
        """A finished session is never read again (a cancel by hand that no plan saw before
        its end stays unknown): what was last applied must be what the manifest says,
        unless the plan blocks the difference."""
        if held.anything_of(f"Session/{key}"):
            return
        applied = record.applied
        assert applied is not None
        assert (
            applied.session_name,
            applied.start,
            applied.end,
            [(p.name, p.display_name, p.role, p.state) for p in applied.participants],
        ) == (
            wanted.title,
            wanted.start,
            wanted.end,
            [(n, p.display_name, p.role, p.state) for n, p in wanted.people],
        ), f"{key} finished, unlike its manifest, and the plan does not say so"

    def session_is_what_the_manifest_says(
        self,
        key: str,
        wanted: Wanted,
        record: SessionRecord,
        found: LiveSession,
        held: Held,
        hash_id: Callable[[str], str],
    ) -> None:
        target = f"Session/{key}"
        assert found.canceled_at is None, f"{key}'s session is cancelled, and no plan says so"
        fields = {
            "session_name": (found.session_name, wanted.title),
            "start_time": (found.start_time, wanted.start),
            "end_time": (found.end_time, wanted.end),
        }
        differ = {
            name: values
            for name, values in fields.items()
            if values[0] != values[1] and name not in held.fields(target)
        }
        assert differ == {}, f"{key} differs from its manifest, and no plan says so"
        hashed = {hash_id(p.participant_id.get_secret_value()): p for p in found.participants}
        recorded = {entry.name: entry.id_hash for entry in record.participants}
        for name, person in wanted.people:
            if held.anything_of(f"{target}/participants/{name}"):
                continue
            assert name in recorded, f"{key}/{name} is not recorded"
            live = hashed.get(recorded[name])
            assert live is not None, f"{key}/{name}'s recorded participant is not live"
            assert not live.removed, f"{key}/{name} was removed, and no plan says so"
            assert (live.display_name, live.role, live.state) == (
                person.display_name,
                person.role,
                person.state,
            ), f"{key}/{name} differs from its manifest, and no plan says so"
        for name, id_hash in recorded.items():
            if wanted.person(name) is None and not held.anything_of(
                f"{target}/participants/{name}"
            ):
                gone = hashed.get(id_hash)
                assert gone is None or gone.removed, f"{key}/{name} is still invited"

    @invariant()
    def apply_made_each_live_session_once_and_records_it_under_one_key(self) -> None:
        records = self.records()
        owners = Counter(record.session_id for record in records)
        assert [sid for sid, count in owners.items() if count > 1] == [], "shared session ids"
        live = self.live()
        made = [
            session
            for session in live
            if session.canceled_at is None and session.session_id not in self.unmanaged
        ]
        orphans = [session.session_id for session in made if owners[session.session_id] != 1]
        assert orphans == [], "live sessions apply made that no inventory key records"
        twins = Counter(
            (session.session_name, session.start_time, session.end_time)
            for session in made
            if session.session_name != "Renamed by hand"
        )
        assert [what for what, count in twins.items() if count > 1] == [], "made twice"
        # Sessions made elsewhere are never touched, nor adopted.
        untouched = {
            session.session_id
            for session in live
            if session.session_id in self.unmanaged
            and session.canceled_at is None
            and session.session_name == "Booked by phone"
        }
        assert untouched == self.unmanaged
        assert not self.unmanaged & set(owners)


def on_backend(name: str) -> type[ApplyConverges]:
    """The machine whose examples each keep an inventory of their own on backend `name`."""

    class OnBackend(ApplyConverges):
        backend = name

    OnBackend.__name__ = OnBackend.__qualname__ = f"ApplyConvergesOn{name.capitalize()}"
    return OnBackend


def test_apply_converges(backend: str) -> None:
    run_state_machine_as_test(
        on_backend(backend),
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
