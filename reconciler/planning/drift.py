"""Drift: what a person or another tool changed in the live API since reconciler last
applied, and what the next plan will do about each change.

A plan compares live with the manifests; drift compares live with what was last applied
(the inventory's `applied` spec), so a change made by hand in Coviu is told apart from a
change made in git. What the next plan does about it is not guessed: the planner itself is
asked, with the same inputs, so the two commands never disagree. A session adopted by
`reconciler import` and not applied since has no applied spec: it is compared with its
manifest instead, and each item says so.

Pure, like the planner: the records, the refresh's observation and the server's time come
in as values. Participants are named by manifest key; one added by hand has none, and is
shown by display name and role only (its id is a join link).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Final

from reconciler.planning.diff import field_changes
from reconciler.planning.ownership import in_scope
from reconciler.planning.planner import make_plan
from reconciler.planning.state import (
    Desired,
    DesiredSession,
    LiveSession,
    Observation,
    SessionRecord,
)
from reconciler.planning.upcoming import Next, Upcoming

DRIFT_FORMAT: Final = "reconciler-drift"
DRIFT_VERSION: Final = 1


class DriftKind(StrEnum):
    """What changed out of band. Closed: the renderers and the exit code switch on it."""

    SESSION_CHANGED = "session_changed"
    PARTICIPANT_CHANGED = "participant_changed"
    PARTICIPANT_ADDED = "participant_added"
    PARTICIPANT_REMOVED = "participant_removed"
    SESSION_CANCELED = "session_canceled"
    SESSION_GONE = "session_gone"

    @property
    def final(self) -> bool:
        """Cannot be undone by anyone: a cancel, a removal, a session gone."""
        return self in _FINAL

    @property
    def symbol(self) -> str:
        """`~` changed, `+` added by hand, `-` removed by hand, `!` cancelled or gone."""
        return _SYMBOLS[self]


_FINAL: Final = frozenset(
    {DriftKind.SESSION_CANCELED, DriftKind.SESSION_GONE, DriftKind.PARTICIPANT_REMOVED}
)
_SYMBOLS: Final = {
    DriftKind.SESSION_CANCELED: "!",
    DriftKind.SESSION_GONE: "!",
    DriftKind.SESSION_CHANGED: "~",
    DriftKind.PARTICIPANT_CHANGED: "~",
    DriftKind.PARTICIPANT_REMOVED: "-",
    DriftKind.PARTICIPANT_ADDED: "+",
}


@dataclass(frozen=True, kw_only=True)
class DriftItem:
    """One change made out of band, and what the next plan does about it."""

    kind: DriftKind
    target: str
    """`Session/<key>`, or `Session/<key>/participants/<name>` for a recorded participant."""
    session_id: str
    compared_with: str
    """`applied` (the spec last applied), or `manifest` for a session adopted by import and
    not applied since."""
    next: Next
    says: str
    """What the next plan does about it, for people. Code never branches on it."""
    field: str | None = None
    """The field that changed (for `session_changed` and `participant_changed`)."""
    applied: Any = None
    """The field's value last applied (the manifest's, when `compared_with` says so)."""
    live: Any = None
    manifest: Any = None
    """The field's value in the manifest now (None if the run has no manifest for it)."""
    display_name: str | None = None
    """A participant added by hand: shown by display name and role, never by id."""
    role: str | None = None
    starts_at: datetime
    """When the session starts (live, else as recorded), in the manifest's offset: the
    order of items, and how times show."""


@dataclass(frozen=True)
class Drift:
    """Everything changed out of band in this run's sessions, checked at `checked_at`."""

    checked_at: datetime
    items: tuple[DriftItem, ...] = ()
    unmanaged: tuple[LiveSession, ...] = ()
    """Live sessions, not cancelled or finished, that no record names: never touched."""
    checked: int = 0
    """How many recorded sessions (in this run's scope, not history) were compared."""
    history: int = 0
    """Recorded sessions in scope that are finished or cancelled: not read."""
    zone: tzinfo | None = None
    paths: tuple[str, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)
    only: tuple[str, ...] = ()
    """The --only targets the check was narrowed to, sorted."""

    @property
    def counts(self) -> dict[str, int]:
        """Items per kind, in `DriftKind` order."""
        by_kind = Counter(item.kind for item in self.items)
        return {kind.value: by_kind[kind] for kind in DriftKind}

    @property
    def final(self) -> int:
        """How many items cannot be undone."""
        return sum(1 for item in self.items if item.kind.final)

    @property
    def drifted(self) -> int:
        """How many sessions have at least one item."""
        return len({item.target.split("/participants/")[0] for item in self.items})

    def exit_code(self) -> int:
        """For `--detailed-exitcode`: 3 if anything cannot be undone (wins), 2 drift, 0."""
        if self.final:
            return 3
        return 2 if self.items else 0


def find_drift(
    desired: Desired,
    records: Sequence[SessionRecord],
    observation: Observation,
    *,
    now: datetime,
) -> Drift:
    """What changed out of band in the recorded sessions this run is about, as of `now`."""
    # Snapshot decisions are not drift: the plan is asked about sessions only.
    plan = make_plan(replace(desired, approvals=()), records, observation, now=now)
    upcoming = Upcoming.of(plan)
    manifests = {session.key: session for session in desired.sessions}
    items: list[DriftItem] = []
    checked = history = 0
    for record in sorted(records, key=lambda record: (record.start, record.key)):
        if not in_scope(desired, record):
            continue
        manifest = manifests.get(record.key)
        if record.is_history(now) or _settled(record, manifest, observation):
            history += 1
            continue
        checked += 1
        items += _session(record, manifest, observation, upcoming)
    # In the order of the starts they show (live, if moved by hand); stable, so each
    # session's items stay together and in their order.
    items.sort(key=lambda item: (item.starts_at, item.session_id))
    return Drift(
        checked_at=now,
        items=tuple(items),
        unmanaged=observation.unmanaged_sessions,
        checked=checked,
        history=history,
        zone=plan.zone,
        selector=dict(desired.selector),
        only=plan.only,
    )


@dataclass(frozen=True)
class _Context:
    """What every item of one recorded session shares."""

    record: SessionRecord
    manifest: DesiredSession | None
    baseline: DesiredSession
    upcoming: Upcoming
    starts_at: datetime

    @property
    def target(self) -> str:
        return f"Session/{self.record.key}"

    def item(self, kind: DriftKind, next_: tuple[Next, str], **values: Any) -> DriftItem:
        return DriftItem(
            kind=kind,
            target=values.pop("target", self.target),
            session_id=self.record.session_id,
            compared_with="applied" if self.record.applied is not None else "manifest",
            next=next_[0],
            says=next_[1],
            starts_at=self.starts_at,
            **values,
        )


def _session(
    record: SessionRecord,
    manifest: DesiredSession | None,
    observation: Observation,
    upcoming: Upcoming,
) -> Iterator[DriftItem]:
    baseline = record.applied or manifest
    if baseline is None:  # adopted, and no manifest: no run is about it (see ownership)
        return
    zone = baseline.start.tzinfo
    live = observation.sessions.get(record.session_id)
    start = (live.start if live is not None else record.start).astimezone(zone)
    context = _Context(record, manifest, baseline, upcoming, start)
    if _canceled(record, observation):
        yield context.item(DriftKind.SESSION_CANCELED, upcoming.canceled())
    elif live is None:
        yield context.item(
            DriftKind.SESSION_GONE, upcoming.gone(context.target, manifest is not None)
        )
    else:
        yield from _fields(context, _in_zone(live, zone))
        yield from _participants(context, live)


def _canceled(record: SessionRecord, observation: Observation) -> bool:
    live = observation.sessions.get(record.session_id)
    return record.session_id in observation.canceled or (live is not None and live.canceled)


def _settled(
    record: SessionRecord, manifest: DesiredSession | None, observation: Observation
) -> bool:
    """Cancelled by hand, and its manifest deleted since, as the report advised: nothing
    is left to do, so it is history (the next plan is silent about it too)."""
    return manifest is None and _canceled(record, observation)


def _fields(context: _Context, live: LiveSession) -> Iterator[DriftItem]:
    wanted = context.manifest.fields() if context.manifest is not None else None
    for change in field_changes(context.baseline.fields(), live.fields()):
        yield context.item(
            DriftKind.SESSION_CHANGED,
            context.upcoming.field(
                context.target,
                change,
                wanted,
                session=context.target,
                adopted=context.record.applied is None,
            ),
            field=change.field,
            applied=change.old,
            live=change.new,
            manifest=wanted.get(change.field) if wanted is not None else None,
        )


def _participants(context: _Context, live: LiveSession) -> Iterator[DriftItem]:
    before = {participant.name: participant for participant in context.baseline.participants}
    wanted = (
        {participant.name: participant for participant in context.manifest.participants}
        if context.manifest is not None
        else {}
    )
    for entry in context.record.participants:  # in the manifest's order, as applied
        target = f"{context.target}/participants/{entry.name}"
        found = live.participant(entry.id_hash)
        if found is None or found.removed:
            # Once the manifest no longer lists them (as the report advises), nothing
            # is left to do: settled, like a plan that is silent about them.
            if entry.name in wanted:
                next_ = context.upcoming.removed_participant()
                yield context.item(DriftKind.PARTICIPANT_REMOVED, next_, target=target)
            continue
        old = before.get(entry.name)
        if old is None:
            continue  # nothing was applied (or declared) for it: nothing to compare with
        now_wanted = wanted[entry.name].fields() if entry.name in wanted else None
        for change in field_changes(old.fields(), found.fields()):
            next_ = context.upcoming.field(
                target,
                change,
                now_wanted,
                session=context.target,
                adopted=context.record.applied is None,
            )
            manifest = now_wanted.get(change.field) if now_wanted is not None else None
            yield context.item(
                DriftKind.PARTICIPANT_CHANGED,
                next_,
                target=target,
                field=change.field,
                applied=change.old,
                live=change.new,
                manifest=manifest,
            )
    known = {entry.id_hash for entry in context.record.participants}
    strangers = [found for found in live.participants if not found.removed]
    strangers = [found for found in strangers if found.id_hash not in known]
    for found in sorted(strangers, key=lambda found: (found.display_name or "", found.role)):
        yield context.item(
            DriftKind.PARTICIPANT_ADDED,
            context.upcoming.added_participant(),
            display_name=found.display_name,
            role=found.role,
        )


def _in_zone(live: LiveSession, zone: tzinfo | None) -> LiveSession:
    return replace(live, start=live.start.astimezone(zone), end=live.end.astimezone(zone))
