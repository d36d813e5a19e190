"""Session records to and from their rows.

A record is written only when it differs from the one stored, so a batch that puts back
what is already there changes nothing and does not move the serial. Times are stored as
ISO 8601 in UTC; the last-applied spec as the JSON `DesiredSession.to_json` writes, which
keeps the manifest's own offsets for display. None of these functions opens a
transaction: the caller's transaction makes a batch all-or-nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from reconciler.inventory.connection import InventoryError
from reconciler.planning.state import DesiredSession, ParticipantRecord, SessionRecord
from reconciler.planning.times import read_instant, write_instant

_KIND = "Session"

_SELECT_SESSIONS = "SELECT key, session_id, start_time, end_time, canceled, applied FROM sessions"
_SELECT_PARTICIPANTS = "SELECT session_key, name, id_hash FROM participants"


def session_key(text: str) -> str:
    """The manifest name in `name` or `Session/name`."""
    kind, slash, name = text.rpartition("/")
    if slash and kind != _KIND:
        raise InventoryError(
            f"{text!r}: the inventory records Sessions only; name one as NAME or Session/NAME"
        )
    if not name or not name.isprintable() or name != name.strip():
        raise InventoryError(f"{text!r}: not a session name; name one as NAME or Session/NAME")
    return name


def read_all(connection: sqlite3.Connection, *, path: Path) -> tuple[SessionRecord, ...]:
    """Every record, sorted by key."""
    rows = connection.execute(_SELECT_SESSIONS + " ORDER BY key").fetchall()
    participants = connection.execute(
        _SELECT_PARTICIPANTS + " ORDER BY session_key, position"
    ).fetchall()
    by_key: dict[str, list[tuple[object, ...]]] = {}
    for participant in participants:
        by_key.setdefault(participant[0], []).append(tuple(participant))
    return tuple(_decode(row, by_key.get(row[0], []), path=path) for row in rows)


def read_one(connection: sqlite3.Connection, key: str, *, path: Path) -> SessionRecord | None:
    """The record of `key`, if there is one."""
    row = connection.execute(_SELECT_SESSIONS + " WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    participants = connection.execute(
        _SELECT_PARTICIPANTS + " WHERE session_key = ? ORDER BY position",
        (key,),
    ).fetchall()
    return _decode(row, participants, path=path)


def write(
    connection: sqlite3.Connection, record: SessionRecord, *, now: datetime, path: Path
) -> bool:
    """Store `record` in place of the one of its key; False if it was already so."""
    if read_one(connection, record.key, path=path) == record:
        return False
    try:
        _upsert(connection, record, now=now)
    except sqlite3.IntegrityError as error:
        raise InventoryError(_conflict(connection, record, path=path)) from error
    connection.execute("DELETE FROM participants WHERE session_key = ?", (record.key,))
    try:
        connection.executemany(
            "INSERT INTO participants (session_key, name, id_hash, position) VALUES (?, ?, ?, ?)",
            [
                (record.key, participant.name, participant.id_hash, position)
                for position, participant in enumerate(record.participants)
            ],
        )
    except sqlite3.IntegrityError as error:
        raise InventoryError(
            f"{path}: Session/{record.key}: two participants are named alike; nothing was written"
        ) from error
    return True


def delete(connection: sqlite3.Connection, key: str) -> bool:
    """Remove the record of `key` and its participants; False if there was none."""
    cursor = connection.execute("DELETE FROM sessions WHERE key = ?", (key,))
    return cursor.rowcount > 0


def _upsert(connection: sqlite3.Connection, record: SessionRecord, *, now: datetime) -> None:
    # An upsert, not INSERT OR REPLACE: REPLACE would silently delete another key's row
    # that holds the same session id, where this must fail instead.
    applied = None if record.applied is None else json.dumps(record.applied.to_json())
    connection.execute(
        "INSERT INTO sessions (key, session_id, start_time, end_time, canceled, applied,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET session_id = excluded.session_id,"
        " start_time = excluded.start_time, end_time = excluded.end_time,"
        " canceled = excluded.canceled, applied = excluded.applied,"
        " updated_at = excluded.updated_at",
        (
            record.key,
            record.session_id,
            write_instant(record.start),
            write_instant(record.end),
            int(record.canceled),
            applied,
            write_instant(now),
        ),
    )


def _conflict(connection: sqlite3.Connection, record: SessionRecord, *, path: Path) -> str:
    row = connection.execute(
        "SELECT key FROM sessions WHERE session_id = ?", (record.session_id,)
    ).fetchone()
    owner = f"Session/{row[0]}" if row else "another record"
    return (
        f"{path}: Session/{record.key}: live session {record.session_id} is already recorded"
        f" for {owner}; nothing was written"
    )


def _decode(
    row: Sequence[object], participants: Sequence[Sequence[object]], *, path: Path
) -> SessionRecord:
    key = str(row[0])
    try:
        applied = None if row[5] is None else DesiredSession.from_json(json.loads(str(row[5])))
        return SessionRecord(
            key=key,
            session_id=str(row[1]),
            start=read_instant(str(row[2])),
            end=read_instant(str(row[3])),
            canceled=bool(row[4]),
            participants=tuple(
                ParticipantRecord(name=str(name), id_hash=str(id_hash))
                for _, name, id_hash in participants
            ),
            applied=applied,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise InventoryError(
            f"{path}: Session/{key}: the record cannot be read ({error}); forget it with"
            f" `reconciler state forget {key}` and adopt the session again with"
            " `reconciler import`"
        ) from error
