"""Session records to and from their rows.

A record is written only when it differs from the one stored, so a batch that puts back
what is already there changes nothing and does not move the serial. Times are stored as
ISO 8601 in UTC; the last-applied spec as the JSON `DesiredSession.to_json` writes, which
keeps the manifest's own offsets for display. None of these functions opens a
transaction: the caller's transaction makes a batch all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from reconciler.inventory.connection import Database, InventoryError
from reconciler.inventory.location import Location
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


def read_all(db: Database) -> tuple[SessionRecord, ...]:
    """Every record, sorted by key."""
    rows = db.execute(_SELECT_SESSIONS).fetchall()
    participants = db.execute(_SELECT_PARTICIPANTS + " ORDER BY session_key, position").fetchall()
    by_key: dict[str, list[tuple[object, ...]]] = {}
    for participant in participants:
        by_key.setdefault(participant[0], []).append(tuple(participant))
    # Sorted here, not by the database: PostgreSQL's collation may order keys otherwise
    # than SQLite does, and both must list them alike.
    rows.sort(key=lambda row: str(row[0]))
    return tuple(_decode(row, by_key.get(row[0], []), location=db.location) for row in rows)


def read_one(db: Database, key: str) -> SessionRecord | None:
    """The record of `key`, if there is one."""
    row = db.execute(_SELECT_SESSIONS + " WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    participants = db.execute(
        _SELECT_PARTICIPANTS + " WHERE session_key = ? ORDER BY position",
        (key,),
    ).fetchall()
    return _decode(row, participants, location=db.location)


def write(db: Database, record: SessionRecord, *, now: datetime) -> bool:
    """Store `record` in place of the one of its key; False if it was already so.

    Refused (nothing written) when another key records the same live session, or two
    participants share a name: checked first, so no backend's constraint error is met.
    """
    if read_one(db, record.key) == record:
        return False
    names = [participant.name for participant in record.participants]
    if len(set(names)) != len(names):
        raise InventoryError(
            f"{db.location}: Session/{record.key}: two participants are named alike;"
            " nothing was written"
        )
    owner = db.execute(
        "SELECT key FROM sessions WHERE session_id = ? AND key <> ?",
        (record.session_id, record.key),
    ).fetchone()
    if owner is not None:
        raise InventoryError(
            f"{db.location}: Session/{record.key}: live session {record.session_id} is"
            f" already recorded for Session/{owner[0]}; nothing was written"
        )
    _upsert(db, record, now=now)
    db.execute("DELETE FROM participants WHERE session_key = ?", (record.key,))
    db.executemany(
        "INSERT INTO participants (session_key, name, id_hash, position) VALUES (?, ?, ?, ?)",
        [
            (record.key, participant.name, participant.id_hash, position)
            for position, participant in enumerate(record.participants)
        ],
    )
    return True


def delete(db: Database, key: str) -> bool:
    """Remove the record of `key` and its participants; False if there was none."""
    return db.execute("DELETE FROM sessions WHERE key = ?", (key,)).rowcount > 0


def _upsert(db: Database, record: SessionRecord, *, now: datetime) -> None:
    applied = None if record.applied is None else json.dumps(record.applied.to_json())
    db.execute(
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


def _decode(
    row: Sequence[object], participants: Sequence[Sequence[object]], *, location: Location
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
            f"{location}: Session/{key}: the record cannot be read ({error}); restore the"
            f" inventory from a backup, or remove the record with `reconciler state forget"
            f" {key}`: the next plan then creates the session again, so cancel live session"
            f" {row[1]} first if it should not stay"
        ) from error
