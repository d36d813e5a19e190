"""Reading, validating and rendering Coviu sessions and participants.

Sessions and participants belong to the team of the API client that made them; lookups
of another team's ids answer 404, never revealing that they exist. Times are always
answered as RFC 1123 at second precision.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse

from reconciler.emulator import lifecycle
from reconciler.emulator.http import ApiError, optional_str, time_value
from reconciler.emulator.state import Emulator
from reconciler.emulator.store import Client
from reconciler.emulator.times import format_rfc1123, from_millis

ROLES = ("host", "guest")


def participant_json(row: sqlite3.Row, emulator: Emulator) -> dict[str, Any]:
    body: dict[str, Any] = {
        "participant_id": row["participant_id"],
        "session_id": row["session_id"],
        "client_id": row["client_id"],
        "display_name": row["display_name"],
        "picture": row["picture"],
        "role": row["role"].upper(),
        "state": row["state"],
        "entry_url": f"{emulator.web_origin}/session/{row['participant_id']}",
    }
    if row["deleted_ms"] is not None:
        body["deleted_at"] = format_rfc1123(from_millis(row["deleted_ms"]))
    return body


def session_json(
    row: sqlite3.Row, participants: Sequence[sqlite3.Row], emulator: Emulator
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session_id": row["session_id"],
        "session_name": row["session_name"],
        "start_time": format_rfc1123(from_millis(row["start_ms"])),
        "end_time": format_rfc1123(from_millis(row["end_ms"])),
        "picture": row["picture"],
        "team_id": row["team_id"],
        "client_id": row["client_id"],
        "participants": [participant_json(p, emulator) for p in participants],
    }
    if row["canceled_ms"] is not None:
        body["canceled_at"] = format_rfc1123(from_millis(row["canceled_ms"]))
    return body


def participants_of(
    emulator: Emulator, session_ids: Sequence[str], *, deleted: bool
) -> dict[str, list[sqlite3.Row]]:
    found: dict[str, list[sqlite3.Row]] = {session_id: [] for session_id in session_ids}
    if not session_ids:
        return found
    marks = ",".join("?" * len(session_ids))
    rows = emulator.store.rows(
        f"SELECT * FROM participants WHERE session_id IN ({marks})"  # noqa: S608 - only marks
        + ("" if deleted else " AND deleted_ms IS NULL")
        + " ORDER BY seq",
        session_ids,
    )
    for row in rows:
        found[row["session_id"]].append(row)
    return found


def render_session(emulator: Emulator, row: sqlite3.Row, *, deleted: bool) -> JSONResponse:
    participants = participants_of(emulator, [row["session_id"]], deleted=deleted)
    return JSONResponse(session_json(row, participants[row["session_id"]], emulator))


def session_row(emulator: Emulator, client: Client, session_id: str) -> sqlite3.Row:
    row = emulator.store.row(
        "SELECT * FROM sessions WHERE session_id = ? AND team_id = ?",
        (session_id, client.team_id),
    )
    if row is None:
        raise ApiError(404, f"session {session_id} not found")
    return row


def participant_row(emulator: Emulator, client: Client, participant_id: str) -> sqlite3.Row:
    row = emulator.store.row(
        "SELECT p.* FROM participants p JOIN sessions s ON s.session_id = p.session_id"
        " WHERE p.participant_id = ? AND s.team_id = ?",
        (participant_id, client.team_id),
    )
    if row is None:
        # The id is a join capability: never echo it back.
        raise ApiError(404, "participant not found")
    return row


def window_of(row: sqlite3.Row) -> lifecycle.Window:
    return lifecycle.Window(
        start=from_millis(row["start_ms"]),
        end=from_millis(row["end_ms"]),
        canceled=row["canceled_ms"] is not None,
    )


# --- validation ---------------------------------------------------------------------------


def parse_role(body: dict[str, Any], *, default: str | None) -> str | None:
    raw = optional_str(body, "role")
    if raw is None:
        return default
    role = raw.strip().lower()
    if role not in ROLES:
        raise ApiError(400, f"role must be host or guest, not {raw!r}")
    return role


def time_field(body: dict[str, Any], field: str) -> datetime | None:
    """A session time from a body, at the whole second the API answers it with.

    Keeping the instant the client sees and the one the lifecycle checks the same means
    a time read back from the API means exactly what the emulator enforces.
    """
    if field in body and body[field] is None:
        raise ApiError(400, f"{field} must be a time, not null")
    raw = optional_str(body, field)
    return None if raw is None else time_value(raw, field).replace(microsecond=0)


def insert_participant(
    emulator: Emulator, client: Client, session_id: str, body: dict[str, Any]
) -> str:
    participant_id = secrets.token_urlsafe(18)
    emulator.store.execute(
        "INSERT INTO participants (participant_id, session_id, client_id, display_name,"
        " picture, role, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            participant_id,
            session_id,
            client.api_key,
            optional_str(body, "display_name"),
            optional_str(body, "picture"),
            parse_role(body, default="guest"),
            optional_str(body, "state"),
        ),
    )
    return participant_id


def participant_bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("participants")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ApiError(400, "participants must be an array of objects")
    for participant in raw:
        parse_role(participant, default="guest")
        for field in ("display_name", "picture", "state"):
            optional_str(participant, field)
    return raw
