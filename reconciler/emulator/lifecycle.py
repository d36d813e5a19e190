"""The session lifecycle, as the emulated Coviu service enforces it (DESIGN.md §5).

The planner anticipates these same rules in its own code; the two are kept apart on
purpose so that each is a witness against the other's mistakes. Every refusal names the
rule it applies, as the service's 400 messages do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.emulator.http import ApiError
from reconciler.emulator.times import format_iso


class Phase(StrEnum):
    """Where a session stands at a given instant."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Window:
    """A session's times and whether it was cancelled."""

    start: datetime
    end: datetime
    canceled: bool

    def phase(self, now: datetime) -> Phase:
        """The phase at `now`: scheduled before start, in progress until end, then finished."""
        if self.canceled:
            return Phase.CANCELED
        if now < self.start:
            return Phase.SCHEDULED
        if now < self.end:
            return Phase.IN_PROGRESS
        return Phase.FINISHED


def refuse(rule: str, detail: str) -> ApiError:
    """A 400 naming the lifecycle rule that forbids the call."""
    return ApiError(400, f"lifecycle rule '{rule}': {detail}")


def check_create(start: datetime, end: datetime, now: datetime) -> None:
    """A session may be created only to start in the future and end after it starts."""
    if start <= now:
        raise refuse(
            "create session",
            f"start_time {format_iso(start)} must be after the server's time {format_iso(now)}",
        )
    if end <= start:
        raise refuse("create session", "end_time must be after start_time")


def check_editable(window: Window, now: datetime, rule: str) -> None:
    """Sessions can be changed (and their participants) only while scheduled or in progress."""
    phase = window.phase(now)
    if phase is Phase.CANCELED:
        raise refuse(rule, "the session is canceled, and cancellation is irreversible")
    if phase is Phase.FINISHED:
        raise refuse(rule, f"the session finished at {format_iso(window.end)}")


def check_times_update(
    window: Window, now: datetime, *, new_start: datetime | None, new_end: datetime | None
) -> None:
    """start_time may change only before the start, to a future time; end_time until the end."""
    if new_start is not None:
        check_editable(window, now, "update start_time")
        if window.phase(now) is not Phase.SCHEDULED:
            raise refuse(
                "update start_time",
                f"the session already started at {format_iso(window.start)}",
            )
        if new_start <= now:
            raise refuse(
                "update start_time",
                f"the new start_time {format_iso(new_start)} is not after the server's time "
                f"{format_iso(now)}",
            )
    start = new_start or window.start
    end = new_end or window.end
    if new_end is not None:
        check_editable(window, now, "update end_time")
        if new_end <= now:
            raise refuse(
                "update end_time",
                f"the new end_time {format_iso(new_end)} is not after the server's time "
                f"{format_iso(now)}",
            )
    if end <= start:
        rule = "update end_time" if new_end is not None else "update start_time"
        raise refuse(rule, "end_time must be after start_time")


def check_cancel(window: Window, now: datetime) -> None:
    """A session can be cancelled only before it starts, and only once."""
    phase = window.phase(now)
    if phase is Phase.CANCELED:
        raise refuse("cancel session", "the session is already canceled")
    if phase is not Phase.SCHEDULED:
        raise refuse(
            "cancel session",
            f"the session started at {format_iso(window.start)}; "
            "only sessions that have not started can be canceled",
        )
