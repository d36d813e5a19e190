"""An inventory's whole content as rows, to move it to another backend, and the mark
that retires the one it was moved from.

A dump keeps everything that gives the inventory its meaning: its lineage (saved plans
name it), its salt (participant hashes are keyed by it), its serial, every record and the
whole journal with its ids. It is written into an empty inventory in one transaction, so
a move lands whole or not at all. The lock is not moved: it belongs to the runs of one
store.

The inventory moved from is then marked `moved_to`: opening it is refused, naming where it
went, so nobody plans against a copy that no longer sees new sessions (it would propose
them again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.inventory.connection import Database, damaged_value
from reconciler.planning.times import write_instant

# Each table's rows, and how to put them back.
_TABLES = (
    (
        "SELECT key, session_id, start_time, end_time, canceled, applied, updated_at FROM sessions",
        "INSERT INTO sessions (key, session_id, start_time, end_time, canceled, applied,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    (
        "SELECT session_key, position, name, id_hash FROM participants",
        "INSERT INTO participants (session_key, position, name, id_hash) VALUES (?, ?, ?, ?)",
    ),
    (
        "SELECT id, run, target, kind, intent, state, result, started_at, ended_at FROM journal",
        "INSERT INTO journal (id, run, target, kind, intent, state, result, started_at,"
        " ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
)


@dataclass(frozen=True)
class Dump:
    """Everything an inventory holds but its lock; compares equal across backends."""

    lineage: str
    salt: str
    serial: int
    sessions: tuple[tuple[Any, ...], ...]
    participants: tuple[tuple[Any, ...], ...]
    journal: tuple[tuple[Any, ...], ...]

    @property
    def empty(self) -> bool:
        """Nothing recorded, nothing journaled, never written."""
        return self.serial == 0 and not (self.sessions or self.participants or self.journal)

    def __repr__(self) -> str:
        # Never the salt.
        return (
            f"Dump(lineage={self.lineage!r}, serial={self.serial}, sessions={len(self.sessions)},"
            f" participants={len(self.participants)}, journal={len(self.journal)})"
        )


def dump(db: Database) -> Dump:
    """The whole inventory; inside the caller's transaction."""
    rows = db.execute("SELECT key, value FROM meta").fetchall()
    meta = {str(key): str(value) for key, value in rows}
    # Sorted here, not by the database, whose collation may differ between backends.
    sessions, participants, journal = (
        tuple(sorted(tuple(row) for row in db.execute(select).fetchall())) for select, _ in _TABLES
    )
    try:
        identity = meta["lineage"], meta["salt"], int(meta["serial"])
    except (KeyError, ValueError) as error:
        raise damaged_value(db.location, "the inventory's identity", error) from error
    return Dump(*identity, sessions=sessions, participants=participants, journal=journal)


def load(db: Database, content: Dump) -> None:
    """Write `content` into this inventory, which must hold nothing yet; inside the
    caller's write transaction."""
    db.executemany(
        "UPDATE meta SET value = ? WHERE key = ?",
        [(content.lineage, "lineage"), (content.salt, "salt"), (str(content.serial), "serial")],
    )
    rows = (content.sessions, content.participants, content.journal)
    for (_, insert), table in zip(_TABLES, rows, strict=True):
        db.executemany(insert, table)
    if db.dialect == "postgresql":
        # Explicit ids do not move PostgreSQL's identity sequence; the next entry must
        # come after the last one moved.
        db.execute(
            "SELECT setval(pg_get_serial_sequence('journal', 'id'),"
            " COALESCE(MAX(id), 0) + 1, false) FROM journal"
        )


def retire(db: Database, *, moved_to: str, now: datetime) -> None:
    """Mark this inventory as moved to `moved_to` (shown without secrets); inside the
    caller's write transaction."""
    db.execute("DELETE FROM meta WHERE key IN ('moved_to', 'moved_at')")
    db.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("moved_to", moved_to), ("moved_at", write_instant(now))],
    )


def moved(db: Database) -> tuple[str, str] | None:
    """Where this inventory was moved to, and when, if it was."""
    rows = db.execute("SELECT key, value FROM meta WHERE key IN ('moved_to', 'moved_at')")
    return moved_in({str(key): str(value) for key, value in rows.fetchall()})


def moved_in(meta: Mapping[str, str]) -> tuple[str, str] | None:
    """`moved` from the inventory's `meta` rows, already read."""
    if "moved_to" not in meta:
        return None
    return meta["moved_to"], meta.get("moved_at", "an unknown time")
