"""Make a plan: the one entry point of the planning package, and a pure function.

It reads no clock, no file and no network: the desired state, the inventory's records,
what the refresh observed and the server's time all come in as values, so the same
inputs always give the same plan, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

from reconciler.planning import sessions, snapshots
from reconciler.planning.ownership import in_scope, owned_and_removed
from reconciler.planning.plan import SAFETY_MARGIN, Ignored, Item, Plan, Status
from reconciler.planning.state import Desired, DesiredSession, Observation, SessionRecord


def make_plan(
    desired: Desired,
    records: Sequence[SessionRecord],
    observation: Observation,
    *,
    now: datetime,
    simulated: bool = False,
    inventory_serial: int = 0,
    margin: timedelta = SAFETY_MARGIN,
) -> Plan:
    """Everything that would change to make live match `desired`, as of `now`."""
    by_key = {record.key: record for record in records}
    items = list(_desired_sessions(desired, by_key, observation, now))
    items += _removed_sessions(desired, records, observation, now)
    items += _approvals(desired, observation)
    ordered = sorted(items, key=lambda item: item.sort_key)
    actions = tuple(item for item in ordered if item.status is Status.ACTION)
    return Plan(
        created_at=now,
        valid_until=_valid_until(actions, margin),
        manifest_digest=desired.digest,
        actions=actions,
        blocked=tuple(item for item in ordered if item.status is Status.BLOCKED),
        unreconcilable=tuple(item for item in ordered if item.status is Status.UNRECONCILABLE),
        ignored=_ignored(desired, records, observation, now),
        simulated=simulated,
        inventory_serial=inventory_serial,
        considered=len(desired.sessions) + len(desired.approvals),
        zone=_usual_zone(desired),
        selector=dict(desired.selector),
        only=tuple(sorted(desired.only)),
    )


def worth_reading(
    sessions: Sequence[DesiredSession], records: Sequence[SessionRecord], now: datetime
) -> frozenset[str]:
    """Ids of recorded sessions that are history by their recorded end but whose manifest
    changed since it was applied: read them live, since someone may have extended them
    by hand (then the change is still legal). Only those: history stays unread."""
    by_key = {record.key: record for record in records}
    wanted: set[str] = set()
    for session in sessions:
        record = by_key.get(session.key)
        if record is None or record.canceled or not record.is_history(now):
            continue
        if record.applied is not None and record.applied.differs_from(session):
            wanted.add(record.session_id)
    return frozenset(wanted)


def _desired_sessions(
    desired: Desired,
    by_key: dict[str, SessionRecord],
    observation: Observation,
    now: datetime,
) -> Iterable[Item]:
    for session in desired.sessions:
        record = by_key.get(session.key)
        live = observation.sessions.get(record.session_id) if record is not None else None
        if record is None:
            yield sessions.create(session, now)
        elif (
            record.canceled
            or record.session_id in observation.canceled
            or (live is not None and live.canceled)
        ):
            yield sessions.canceled(session, record, now)
        elif record.is_history(now) and live is None:
            yield from sessions.history(session, record, now)
        else:  # active, or history by its record but read live (see worth_reading)
            yield from sessions.recorded(session, record, live, now)


def _removed_sessions(
    desired: Desired, records: Sequence[SessionRecord], observation: Observation, now: datetime
) -> Iterable[Item]:
    for record in records:
        if not owned_and_removed(desired, record) or record.is_history(now):
            continue
        live = observation.sessions.get(record.session_id)
        if live is not None:
            item = sessions.removed(record, live, now)
            if item is not None:
                yield item


def _approvals(desired: Desired, observation: Observation) -> Iterable[Item]:
    decisions: dict[tuple[str, str], set[tuple[str, str | None, str]]] = {}
    for approval in desired.approvals:
        wanted = decisions.setdefault((approval.interaction_id, approval.snapshot_id), set())
        wanted.add((approval.decision, approval.snapshot_type, approval.reviewer_endpoint_id))
    planned: set[tuple[str, str]] = set()
    for approval in desired.approvals:
        snapshot = (approval.interaction_id, approval.snapshot_id)
        if len(decisions[snapshot]) > 1:
            yield snapshots.conflict(approval)
        elif snapshot not in planned:  # the same decision twice is planned once
            planned.add(snapshot)
            item = snapshots.decide(approval, observation.snapshots)
            if item is not None:
                yield item


def _usual_zone(desired: Desired) -> tzinfo | None:
    """The offset most sessions are written in (the earliest such session's, on a tie)."""
    offsets = Counter(session.start.utcoffset() for session in desired.sessions)
    if not offsets:
        return None
    most = max(offsets.values())
    for session in sorted(desired.sessions, key=lambda session: session.start):
        if offsets[session.start.utcoffset()] == most:
            return session.start.tzinfo
    return None


def _ignored(
    desired: Desired, records: Sequence[SessionRecord], observation: Observation, now: datetime
) -> Ignored:
    history = sum(
        1
        for record in records
        if record.is_history(now) and record.session_id not in observation.sessions
    )
    out_of_scope = sum(
        1 for record in records if not record.is_history(now) and not in_scope(desired, record)
    )
    unmanaged_participants = 0
    for record in records:
        live = observation.sessions.get(record.session_id)
        if live is None or record.is_history(now):
            continue
        known = {participant.id_hash for participant in record.participants}
        unmanaged_participants += sum(
            1 for found in live.participants if not found.removed and found.id_hash not in known
        )
    return Ignored(
        unmanaged_sessions=observation.unmanaged,
        unmanaged_participants=unmanaged_participants,
        history=history,
        out_of_scope=out_of_scope,
    )


def _valid_until(actions: Sequence[Item], margin: timedelta) -> datetime | None:
    deadlines = [item.expires_at for item in actions if item.expires_at is not None]
    return min(deadlines) - margin if deadlines else None
