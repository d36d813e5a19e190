"""What `reconciler state …` shows: the inventory's records, its lock, and what a change did.

The inventory is the only link between a manifest and its live session, so people look
into it when a plan surprises them. These views show everything it holds except the
secret salt; participants appear by name and the first 12 hex characters of their id's
keyed hash, never by id (DESIGN.md §9). The JSON documents are versioned and keep their
keys in the documented order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.inventory import Dump, Location, LockInfo
from reconciler.planning.state import DesiredSession, SessionRecord
from reconciler.planning.times import write_instant

JSON_VERSION = 1
HASH_SHOWN = 12
"""Hex characters of a participant's id hash that are shown: enough to tell them apart."""


def status(record: SessionRecord) -> str:
    """`canceled`; else `applied` (written by apply) or `adopted` (by import)."""
    if record.canceled:
        return "canceled"
    return "applied" if record.applied is not None else "adopted"


def missing(path: Location) -> list[str]:
    """What `state list` says where no inventory has been created yet."""
    return [f"no inventory at {path} yet: `reconciler apply` creates it"]


def listing(
    path: Location,
    *,
    serial: int,
    lineage: str,
    records: Sequence[SessionRecord],
    lock: LockInfo | None,
) -> list[str]:
    """A header (where, serial, lineage, lock), then one row per recorded session."""
    lines = [f"inventory {path}  serial {serial}  lineage {lineage[:8]}"]
    if lock is not None:
        lines.append(f"locked by {lock.describe()}")
    if not records:
        return [*lines, "no sessions recorded"]
    rows = [("KEY", "SESSION ID", "START", "END", "STATUS", "PARTICIPANTS")]
    rows += [
        (
            record.key,
            record.session_id,
            write_instant(record.start),
            write_instant(record.end),
            status(record),
            str(len(record.participants)),
        )
        for record in records
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return lines + [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def listing_json(
    path: Location,
    *,
    exists: bool,
    serial: int,
    lineage: str,
    records: Sequence[SessionRecord],
    lock: LockInfo | None,
) -> str:
    """`{version, path, exists, serial, lineage, lock, sessions: [summary…]}`."""
    document = {
        "version": JSON_VERSION,
        "path": str(path),
        "exists": exists,
        "serial": serial,
        "lineage": lineage or None,
        "lock": _lock_json(lock),
        "sessions": [_summary_json(record) for record in records],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def detail(record: SessionRecord) -> list[str]:
    """Everything recorded about one session, the last-applied spec included."""
    lines = [
        f"Session/{record.key}",
        f"  session id    {record.session_id}",
        f"  start         {write_instant(record.start)}",
        f"  end           {write_instant(record.end)}",
        f"  status        {status(record)}",
        f"  participants  {len(record.participants)}",
    ]
    width = max((len(p.name) for p in record.participants), default=0)
    lines += [f"    {p.name.ljust(width)}  {p.id_hash[:HASH_SHOWN]}" for p in record.participants]
    if record.applied is None:
        return [*lines, "  last applied  nothing (adopted, not applied)"]
    return [*lines, "  last applied", *_applied(record.applied)]


def detail_json(record: SessionRecord) -> str:
    """`{version, key, session_id, start_time, end_time, canceled, status,
    participants: [{name, id_hash_prefix}], applied}`."""
    document = {
        "version": JSON_VERSION,
        **_summary_json(record),
        "participants": [
            {"name": p.name, "id_hash_prefix": p.id_hash[:HASH_SHOWN]} for p in record.participants
        ],
        "applied": None if record.applied is None else record.applied.to_json(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def not_recorded(path: Location, key: str, *, exists: bool) -> str:
    """Why there is nothing to show or forget for `key`."""
    if not exists:
        return f"Session/{key}: no inventory at {path} yet, so nothing is recorded"
    return (
        f"Session/{key}: not recorded in the inventory at {path};"
        " `reconciler state list` shows what is"
    )


def forget_prompt(record: SessionRecord) -> str:
    """The question `state forget` asks before it removes a record."""
    return (
        f"Forget Session/{record.key} (live session {record.session_id})?"
        " The live session itself is left as it is"
    )


def forgotten(path: Location, record: SessionRecord) -> list[str]:
    """What forgetting a record did, and what it did not."""
    return [
        f"forgot Session/{record.key} in {path}",
        f"live session {record.session_id} is left untouched: nothing was cancelled",
        "if its manifest is still there, the next plan proposes creating it again",
    ]


def no_lock(path: Location) -> str:
    """What `state unlock` says when there is nothing to remove."""
    return f"the inventory at {path} is not locked"


def unlock_prompt(lock: LockInfo) -> str:
    """The question `state unlock` asks before it removes a lock."""
    return f"Locked by {lock.describe()}. Remove the lock? Only if that run is no longer running"


def unlocked(path: Location, lock: LockInfo) -> str:
    """What removing a lock did."""
    return f"unlocked {path}: removed the lock of {lock.describe()}"


def migrated(
    source: Location, destination: Location, content: Dump, *, resumed: bool, serial: int
) -> list[str]:
    """What `state migrate` did, and what to do next."""
    lines = [
        f"moved the inventory (lineage {content.lineage[:8]}, serial {content.serial}):"
        f" {len(content.sessions)} sessions, {len(content.participants)} participants,"
        f" {len(content.journal)} journal entries",
        f"  from {source}",
        f"  to   {destination}",
    ]
    if resumed and serial > content.serial:
        lines.append(
            f"the copy was already there and has been used since (serial {serial}): it is"
            " the inventory in use, and was kept"
        )
    elif resumed:
        lines.append("the copy was already there (an earlier move was interrupted): kept it")
    return [
        *lines,
        f"{source} is retired: commands that use it are refused and name the new one",
        "point the project at the new inventory: --state, RECONCILER_STATE (from a secret,"
        " with the password) or reconciler.yaml `state` (without it)",
    ]


def _summary_json(record: SessionRecord) -> dict[str, Any]:
    return {
        "key": record.key,
        "session_id": record.session_id,
        "start_time": write_instant(record.start),
        "end_time": write_instant(record.end),
        "canceled": record.canceled,
        "status": status(record),
        "participants": len(record.participants),
    }


def _lock_json(lock: LockInfo | None) -> dict[str, Any] | None:
    if lock is None:
        return None
    return {
        "holder": lock.holder,
        "pid": lock.pid,
        "host": lock.host,
        "acquired_at": write_instant(lock.acquired_at),
    }


def _applied(applied: DesiredSession) -> list[str]:
    lines = [
        f"    session_name  {applied.session_name}",
        f"    start_time    {write_instant(applied.start, keep_offset=True)}",
        f"    end_time      {write_instant(applied.end, keep_offset=True)}",
        f"    picture       {applied.picture or '-'}",
    ]
    if applied.labels:
        labels = ", ".join(f"{key}={value}" for key, value in sorted(applied.labels.items()))
        lines.append(f"    labels        {labels}")
    if applied.source:
        lines.append(f"    source        {applied.source}")
    if applied.prevent_cancel:
        lines.append("    protected     yes (reconciler/prevent-cancel)")
    if not applied.participants:
        return [*lines, "    participants  none"]
    lines.append("    participants")
    lines += [f"      {_participant(p.name, p.fields())}" for p in applied.participants]
    return lines


def _participant(name: str, fields: dict[str, Any]) -> str:
    extra = ", ".join(f"{key} {fields[key]}" for key in ("picture", "state") if fields[key])
    return f"{name}: {fields['display_name']} ({fields['role']}){', ' + extra if extra else ''}"
