"""Instants as the planner writes and reads them, and as people see them.

Coviu keeps whole seconds, so instants are compared at second precision: a manifest
that says `09:00:00.250` would otherwise differ from the live `09:00:00` forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def whole_seconds(moment: datetime) -> datetime:
    """`moment` without its fraction of a second (same offset)."""
    return moment.replace(microsecond=0)


def write_instant(moment: datetime, *, keep_offset: bool = False) -> str:
    """ISO 8601: in UTC with `Z`, or in `moment`'s own offset."""
    if not keep_offset:
        moment = moment.astimezone(UTC)
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def read_instant(text: str) -> datetime:
    """An aware instant written by `write_instant` (offset kept)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment


def shown_in(moment: datetime, zone: tzinfo | None) -> datetime:
    """`moment` in `zone` (the manifest's offset), or as it is when there is none."""
    return moment.astimezone(zone) if zone is not None else moment
