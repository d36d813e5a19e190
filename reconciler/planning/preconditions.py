"""What must still hold for an action, right before the applier makes its call.

A plan is made from live objects at one moment and applied at a later one. Right before
each call the applier reads the object again and asks `check`: is it still the object
the plan was computed from (its fingerprint), and does the lifecycle table still allow
the action at the server's time now? Any other answer skips the action, with the reason:
never overwrite a change someone made since, never ask the API for what it forbids.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.planning import fingerprint, rules
from reconciler.planning.plan import Item, Kind
from reconciler.planning.snapshots import DECIDABLE
from reconciler.planning.state import LiveParticipant, LiveSession, LiveSnapshot

_CHANGED = "changed since the plan was made; make a new plan to see how"


def check_create(start: datetime, now: datetime) -> str | None:
    """Why a create of a session starting at `start` may not go ahead at `now`, or None."""
    verdict = rules.may_create(start, now.astimezone(start.tzinfo))
    return None if verdict.allowed else verdict.reason


def check_session(
    item: Item, live: LiveSession, now: datetime, *, expected: str | None
) -> str | None:
    """Why an action on session `live` (an update, a cancel, or a participant change)
    may not go ahead at `now`, or None. `expected` is the session's fingerprint the
    action was computed from, after any update this run made to it."""
    if live.canceled:
        return "the session was cancelled since the plan was made"
    if item.kind in (Kind.UPDATE_SESSION, Kind.CANCEL_SESSION, Kind.ADD_PARTICIPANT) and (
        fingerprint.of_session(live) != expected
    ):
        return f"the session {_CHANGED}"
    verdict = _verdict(item, live, now)
    if not verdict.allowed:
        return verdict.reason
    if item.kind in (Kind.UPDATE_PARTICIPANT, Kind.CANCEL_PARTICIPANT):
        return _participant(item, live)
    return None


def check_snapshot(item: Item, live: LiveSnapshot) -> str | None:
    """Why a snapshot decision may not go ahead, or None."""
    if fingerprint.of_snapshot(live) != item.fingerprint:
        return f"the snapshot {_CHANGED}"
    if live.state not in DECIDABLE:
        return f"the snapshot is {live.state or 'without its image'}"
    return None


def participant_of(item: Item, live: LiveSession) -> LiveParticipant | None:
    """The live participant an item is about, found by its id hash."""
    if item.participant_hash is None:
        return None
    return live.participant(item.participant_hash)


def _participant(item: Item, live: LiveSession) -> str | None:
    found = participant_of(item, live)
    if found is None:
        return "the participant no longer exists"
    if found.removed:
        return "the participant was removed since the plan was made"
    if fingerprint.of_participant(found) != item.fingerprint:
        return f"the participant {_CHANGED}"
    return None


def _verdict(item: Item, live: LiveSession, now: datetime) -> rules.Verdict:
    now = now.astimezone(live.start.tzinfo)
    if item.kind is Kind.CANCEL_SESSION:
        return rules.may_cancel(live, now)
    if item.kind is not Kind.UPDATE_SESSION:
        return rules.may_edit(live, now)
    changes = {change.field: change.new for change in item.changes}
    start = changes.get("start_time")
    if start is not None:
        verdict = rules.may_move_start(live, start, now)
        if not verdict.allowed:
            return verdict
    end = changes.get("end_time")
    if end is not None:
        return rules.may_move_end(live, start or live.start, end, now)
    return rules.may_edit(live, now)
