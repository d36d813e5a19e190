"""Scenarios for the differential test: live sessions made at T0, what was done to them
by hand since, what the manifests say now, and the moment of the plan.

Times are whole seconds after T0 (Coviu keeps no fraction); desired sessions are built
directly, normalized as `desired_state()` would give them (roles lower-case, no empty
text), in a random UTC offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone

from hypothesis import strategies as st

from reconciler.planning import Desired, DesiredApproval, DesiredParticipant, DesiredSession
from tests.conftest import T0
from tests.planning.strategies import SECOND, offsets, pictures, text

HOUR = 3600
GHOST = "ghost-0"
"""The key of a recorded session that Coviu no longer has."""


@dataclass(frozen=True)
class Shape:
    """A session's fields, times in seconds after T0."""

    name: str
    start: int
    length: int
    picture: str | None
    people: tuple[tuple[str, DesiredParticipant], ...]
    zone: timezone

    def desired(self, key: str, source: str | None = None) -> DesiredSession:
        start = (T0 + self.start * SECOND).astimezone(self.zone)
        return DesiredSession(
            key=key,
            session_name=self.name,
            start=start,
            end=start + self.length * SECOND,
            picture=self.picture,
            participants=tuple(person for _, person in self.people),
            source=source,
        )


@dataclass(frozen=True)
class Existing:
    """A session the reconciler created at T0, what happened to it by hand since, and what
    its manifest says now (None: the manifest was deleted)."""

    key: str
    created: Shape
    canceled: bool
    removed: frozenset[str]
    """Participants cancelled by hand."""
    renamed: bool
    moved_start: int | None
    """Where someone moved the live start to by hand (seconds after T0)."""
    moved_end: int | None
    """Where someone moved the live end to by hand."""
    walk_in: bool
    """Whether someone added a participant by hand."""
    wanted: Shape | None


@dataclass(frozen=True)
class SnapshotCase:
    key: str
    initial: str | None
    """`missing`, None (requested, no image yet), UPLOADED, APPROVED or DISCARDED."""
    initial_type: str | None
    decision: str
    snapshot_type: str | None


@dataclass(frozen=True)
class Scenario:
    existing: tuple[Existing, ...]
    new: tuple[tuple[str, Shape], ...]
    snapshots: tuple[SnapshotCase, ...]
    clock: int
    """The moment of the plan, in seconds after T0."""
    ghost: Shape | None = None
    """A recorded session that Coviu no longer has, still in the manifests."""

    def desired(self) -> Desired:
        sessions = [
            case.wanted.desired(case.key, source=f"clinic/{case.key}.yaml")
            for case in self.existing
            if case.wanted is not None
        ]
        if self.ghost is not None:
            sessions.append(self.ghost.desired(GHOST, source=f"clinic/{GHOST}.yaml"))
        sessions += [shape.desired(key, source=f"clinic/{key}.yaml") for key, shape in self.new]
        return Desired(
            sessions=tuple(sessions),
            approvals=tuple(
                DesiredApproval(
                    key=case.key,
                    interaction_id="conv-1",
                    snapshot_id=f"missing-{case.key}",
                    decision=case.decision,
                    reviewer_endpoint_id="ep-reviewer",
                    snapshot_type=case.snapshot_type,
                )
                for case in self.snapshots
            ),
            declared=frozenset(session.key for session in sessions),
            scope=(".",),
        )


persons = st.builds(
    DesiredParticipant,
    name=st.just(""),
    display_name=text,
    role=st.sampled_from(["host", "guest"]),
    picture=st.none() | pictures,
    state=st.none() | text,
)


@st.composite
def shapes(draw: st.DrawFn, names: Sequence[str], earliest: int = 1) -> Shape:
    return Shape(
        name=draw(text),
        start=draw(st.integers(earliest, 4 * HOUR)),
        length=draw(st.integers(1, 3 * HOUR)),
        picture=draw(st.none() | pictures),
        people=tuple((name, _named(draw(persons), name)) for name in names),
        zone=draw(offsets),
    )


def _named(person: DesiredParticipant, name: str) -> DesiredParticipant:
    return DesiredParticipant(name, person.display_name, person.role, person.picture, person.state)


@st.composite
def edits(draw: st.DrawFn, created: Shape) -> Shape:
    """The manifest of `created`, edited: each field kept or changed, participants kept,
    changed or dropped, and some added."""
    name = draw(st.just(created.name) | text)
    picture = draw(st.just(created.picture) | st.none() | pictures)
    start = draw(st.just(created.start) | st.integers(0, 5 * HOUR))
    end = created.start + created.length
    if draw(st.booleans()) or end <= start:
        end = start + draw(st.integers(1, 3 * HOUR))
    people = []
    for who, person in created.people:
        fate = draw(st.sampled_from(["same", "changed", "dropped"]))
        if fate == "same":
            people.append((who, person))
        elif fate == "changed":
            people.append((who, _named(draw(persons), who)))
    people += [(who, _named(draw(persons), who)) for who in _names("n", draw(st.integers(0, 2)))]
    return Shape(name, start, end - start, picture, tuple(people), draw(offsets))


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index}" for index in range(count)]


@st.composite
def existing_sessions(draw: st.DrawFn, key: str) -> Existing:
    created = draw(shapes(_names("p", draw(st.integers(0, 3)))))
    names = [who for who, _ in created.people]
    end = created.start + created.length
    moved_end = draw(st.none() | st.integers(created.start + 1, end + HOUR))
    return Existing(
        key=key,
        created=created,
        canceled=draw(st.booleans()) and draw(st.booleans()),
        removed=frozenset(draw(st.lists(st.sampled_from(names), unique=True)) if names else ()),
        renamed=draw(st.booleans()),
        moved_start=draw(st.none() | st.integers(1, (moved_end or end) - 1)),
        moved_end=moved_end,
        walk_in=draw(st.booleans()),
        wanted=draw(st.none() | edits(created)),
    )


@st.composite
def snapshot_cases(draw: st.DrawFn, key: str) -> SnapshotCase:
    return SnapshotCase(
        key=key,
        initial=draw(st.sampled_from(["missing", None, "UPLOADED", "APPROVED", "DISCARDED"])),
        initial_type=draw(st.none() | st.sampled_from(["wound-photo", "rash"])),
        decision=draw(st.sampled_from(["approved", "discarded"])),
        snapshot_type=draw(st.none() | st.sampled_from(["wound-photo", "rash"])),
    )


def boundaries(existing: Sequence[Existing], new: Sequence[tuple[str, Shape]]) -> list[int]:
    """Every start and end, live or wanted: where the rules change their answer."""
    moments = []
    for case in existing:
        moments += [case.created.start, case.created.start + case.created.length]
        moments += [moved for moved in (case.moved_start, case.moved_end) if moved is not None]
        if case.wanted is not None:
            moments += [case.wanted.start, case.wanted.start + case.wanted.length]
    moments += [moment for _, shape in new for moment in (shape.start, shape.start + shape.length)]
    return moments


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    existing = tuple(draw(existing_sessions(key)) for key in _names("old", draw(st.integers(0, 3))))
    new = tuple(
        (key, draw(shapes(_names("p", draw(st.integers(0, 2))), earliest=0)))
        for key in _names("new", draw(st.integers(0, 2)))
    )
    snapshots = tuple(
        draw(snapshot_cases(key)) for key in _names("review", draw(st.integers(0, 2)))
    )
    near = st.sampled_from(boundaries(existing, new) or [0]).flatmap(
        lambda edge: st.integers(max(0, edge - 1), edge + 1)
    )
    # Mostly a second either side of (or exactly at) a start or an end: where the rules
    # change their answer, and where an off-by-one hides.
    clock = draw(near if draw(st.integers(0, 3)) else st.integers(0, 8 * HOUR))
    return Scenario(existing, new, snapshots, clock, draw(st.none() | shapes(["p-0"])))


# --- hand-written scenarios ----------------------------------------------------------------

PAT = ("p-0", DesiredParticipant("p-0", "Pat Lee", "guest"))
ADA = ("p-1", DesiredParticipant("p-1", "Dr Ada", "host", state="ready"))


def shape(
    start: int,
    length: int = 1800,
    *,
    name: str = "Follow-up",
    people: tuple[tuple[str, DesiredParticipant], ...] = (PAT, ADA),
) -> Shape:
    return Shape(name, start, length, None, people, timezone(timedelta(hours=11)))


def old(
    created: Shape,
    wanted: Shape | None,
    *,
    canceled: bool = False,
    removed: frozenset[str] = frozenset(),
    moved_end: int | None = None,
) -> Existing:
    return Existing("old-0", created, canceled, removed, False, None, moved_end, False, wanted)


def at(clock: int, *existing: Existing, new: tuple[tuple[str, Shape], ...] = ()) -> Scenario:
    return Scenario(existing, new, (), clock)


def stale_end(scenario: Scenario) -> bool:
    """Whether a session's end was moved later by hand, its recorded end has passed, and
    its manifest is unchanged since it was applied (or deleted). The planner then leaves
    it as history, unread, by design (DESIGN.md §5: history is never refreshed), so the
    hand edit is neither seen nor reported. A changed manifest makes the planner read
    it live (`test_session_extended_by_hand_is_still_editable`)."""
    return any(
        case.moved_end is not None
        and case.created.start + case.created.length <= scenario.clock < case.moved_end
        and case.wanted in (None, case.created)
        for case in scenario.existing
    )
