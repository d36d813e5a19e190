"""The lifecycle table of DESIGN.md §5, as the planner anticipates it.

The emulator enforces the same table in its own code, written apart on purpose: each
is a witness against the other's mistakes (a differential test compares them). Every
rule answers with a `Verdict`: allowed until a moment, or refused with a reason, a hint
and whether it can ever become legal. Time only moves forward, so once a session has
started or finished, what that forbids is forbidden for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.planning.state import LiveSession
from reconciler.planning.times import write_instant


class Phase(StrEnum):
    """Where a session stands at an instant."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    CANCELED = "canceled"


def phase_of(session: LiveSession, now: datetime) -> Phase:
    """Scheduled before its start, in progress until its end, then finished."""
    if session.canceled:
        return Phase.CANCELED
    if now < session.start:
        return Phase.SCHEDULED
    return Phase.IN_PROGRESS if now < session.end else Phase.FINISHED


@dataclass(frozen=True)
class Verdict:
    """Whether an action is legal now; if so until when, if not why."""

    allowed: bool
    expires_at: datetime | None = None
    reason: str = ""
    hint: str = ""
    never: bool = True


def allow(until: datetime | None) -> Verdict:
    return Verdict(True, expires_at=until)


def refuse(reason: str, hint: str) -> Verdict:
    return Verdict(False, reason=reason, hint=hint)


def may_create(start: datetime, now: datetime) -> Verdict:
    """A session may be created only to start after now (the manifest ensures end > start)."""
    if start > now:
        return allow(start)
    return refuse(
        f"its start {_at(start)} is not after now ({_at(now)})",
        "a session can only be created to start in the future: move start_time, or delete"
        " the manifest",
    )


def may_edit(session: LiveSession, now: datetime) -> Verdict:
    """Name, picture and participants may change while scheduled or in progress."""
    if phase_of(session, now) is Phase.FINISHED:
        return refuse(
            f"the session finished at {_at(session.end)}",
            "a finished session is history: revert the change in the manifest",
        )
    return allow(session.end)


def may_move_start(session: LiveSession, new_start: datetime, now: datetime) -> Verdict:
    """start_time may change only before the start, and only to a time after now."""
    edit = may_edit(session, now)
    if not edit.allowed:
        return edit
    if phase_of(session, now) is not Phase.SCHEDULED:
        return refuse(
            f"the session already started at {_at(session.start)}",
            "a started session cannot be moved: revert start_time (end_time can still change)",
        )
    if new_start <= now:
        return refuse(
            f"the new start {_at(new_start)} is not after now ({_at(now)})",
            "choose a start_time in the future",
        )
    return allow(min(session.start, new_start))


def may_move_end(
    session: LiveSession, start: datetime, new_end: datetime, now: datetime
) -> Verdict:
    """end_time may change until the end, to a time after both the start and now."""
    edit = may_edit(session, now)
    if not edit.allowed:
        return edit
    if new_end <= now:
        return refuse(
            f"the new end {_at(new_end)} is not after now ({_at(now)})",
            "choose an end_time in the future",
        )
    if new_end <= start:
        return refuse(
            f"the new end {_at(new_end)} is not after the start it would keep, {_at(start)}",
            "end_time must be after the start the session keeps (its start_time change is"
            " blocked, or it has started)",
        )
    return allow(min(session.end, new_end))


def may_cancel(session: LiveSession, now: datetime) -> Verdict:
    """A session may be cancelled only before it starts."""
    if phase_of(session, now) is Phase.SCHEDULED:
        return allow(session.start)
    if phase_of(session, now) is Phase.FINISHED:
        return refuse(f"the session finished at {_at(session.end)}", "nothing to do: it is history")
    return refuse(
        f"the session started at {_at(session.start)}: only sessions that have not started"
        " can be cancelled",
        "nothing can cancel a session once it has started: put the manifest back to keep"
        " managing it until it ends",
    )


def _at(moment: datetime) -> str:
    return write_instant(moment, keep_offset=True)
