"""The apply journal: every write an apply makes, as an intent before its call and an
outcome after it.

An apply records what it is about to do (`begin`) in its own committed transaction
before the API call, and settles it (`end`) in the same transaction that records what
the call made. A run killed in between leaves the row `pending`: the next run finds it
and resolves it by looking at the live API before anything is created again. Intents and
outcomes name participants by manifest key and id hash, never by id (DESIGN.md §9).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from reconciler.inventory.connection import Database, InventoryError
from reconciler.inventory.location import Location
from reconciler.planning.times import read_instant, write_instant


class State(StrEnum):
    """Where a journal entry stands."""

    PENDING = "pending"
    """Recorded before the call; no outcome yet (in flight, or the run was killed)."""
    APPLIED = "applied"
    FAILED = "failed"
    """The call failed and is known to have changed nothing."""
    RECOVERED = "recovered"
    """Found pending by a later run, which found what the call had made and recorded it."""
    NOT_APPLIED = "not_applied"
    """Found pending by a later run, which found the call had not happened."""


@dataclass(frozen=True)
class Entry:
    """One write of an apply."""

    id: int
    run: str
    target: str
    kind: str
    intent: Mapping[str, Any]
    """What the write was to do: enough to find its result if its answer is lost."""
    state: State
    result: Mapping[str, Any] | None
    started_at: datetime
    ended_at: datetime | None


_SELECT = "SELECT id, run, target, kind, intent, state, result, started_at, ended_at FROM journal"


def begin(
    db: Database,
    *,
    run: str,
    target: str,
    kind: str,
    intent: Mapping[str, Any],
    now: datetime,
) -> int:
    """Record an intent as pending; its id."""
    row = db.execute(
        "INSERT INTO journal (run, target, kind, intent, state, started_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (run, target, kind, _dump(intent), State.PENDING.value, write_instant(now)),
    ).fetchone()
    return int(row[0])


def end(
    db: Database,
    entry_id: int,
    *,
    state: State,
    result: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Settle entry `entry_id` with its outcome."""
    db.execute(
        "UPDATE journal SET state = ?, result = ?, ended_at = ? WHERE id = ?",
        (state.value, None if result is None else _dump(result), write_instant(now), entry_id),
    )


def pending(db: Database) -> tuple[Entry, ...]:
    """Entries still pending, oldest first."""
    rows = db.execute(_SELECT + " WHERE state = ? ORDER BY id", (State.PENDING.value,)).fetchall()
    return tuple(_decode(row, location=db.location) for row in rows)


def recent(db: Database, *, limit: int) -> tuple[Entry, ...]:
    """The latest `limit` entries, oldest first."""
    rows = db.execute(_SELECT + " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return tuple(_decode(row, location=db.location) for row in reversed(rows))


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _decode(row: tuple[Any, ...], *, location: Location) -> Entry:
    try:
        return Entry(
            id=int(row[0]),
            run=str(row[1]),
            target=str(row[2]),
            kind=str(row[3]),
            intent=json.loads(row[4]),
            state=State(row[5]),
            result=None if row[6] is None else json.loads(row[6]),
            started_at=read_instant(str(row[7])),
            ended_at=None if row[8] is None else read_instant(str(row[8])),
        )
    except (ValueError, TypeError) as error:
        raise InventoryError(
            f"{location}: journal entry {row[0]} cannot be read ({error}); the inventory is damaged"
        ) from error
