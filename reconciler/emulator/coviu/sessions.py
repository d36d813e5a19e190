"""Coviu session endpoints: create (with participants), list, get, update, cancel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.emulator import lifecycle
from reconciler.emulator.coviu.auth import coviu_caller
from reconciler.emulator.coviu.records import (
    insert_participant,
    participant_bodies,
    participants_of,
    render_session,
    session_json,
    session_row,
    time_field,
    window_of,
)
from reconciler.emulator.http import (
    ApiError,
    json_object,
    optional_str,
    query_bool,
    query_int,
    time_value,
)
from reconciler.emulator.state import emulator_of
from reconciler.emulator.times import to_millis

PAGE_SIZE_MAX = 200
_FIELD_RULES = (
    ("session_name", "update session name/picture"),
    ("picture", "update session name/picture"),
    ("start_time", "update start_time"),
    ("end_time", "update end_time"),
)
_WITH_STATE_ANY = "session_id IN (SELECT session_id FROM participants WHERE state = ?)"
_WITH_STATE_PRESENT = (
    "session_id IN (SELECT session_id FROM participants WHERE state = ? AND deleted_ms IS NULL)"
)


async def create_session(request: Request) -> JSONResponse:
    """POST /sessions: create a session, with its participants in the same call."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    body = await json_object(request)
    with emulator.store.transaction():
        now = emulator.store.now()
        start = time_field(body, "start_time")
        end = time_field(body, "end_time")
        if start is None or end is None:
            raise ApiError(400, "start_time and end_time are required")
        lifecycle.check_create(start, end, now)
        participants = participant_bodies(body)
        session_id = str(uuid.uuid4())
        emulator.store.execute(
            "INSERT INTO sessions (session_id, team_id, client_id, session_name, picture,"
            " start_ms, end_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                client.team_id,
                client.api_key,
                optional_str(body, "session_name"),
                optional_str(body, "picture"),
                to_millis(start),
                to_millis(end),
            ),
        )
        for participant in participants:
            insert_participant(emulator, client, session_id, participant)
        return render_session(emulator, session_row(emulator, client, session_id), deleted=False)


async def list_sessions(request: Request) -> JSONResponse:
    """GET /sessions (and /session): a page of the team's sessions."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    page = query_int(request, "page", default=0, minimum=0)
    page_size = min(
        query_int(request, "page_size", default=PAGE_SIZE_MAX, minimum=1), PAGE_SIZE_MAX
    )
    deleted = query_bool(request, "deleted_participants")
    include_canceled = query_bool(request, "include_canceled")
    order = request.query_params.get("order", "forward").lower()
    if order not in ("forward", "reverse"):
        raise ApiError(400, f"order must be forward or reverse, not {order!r}")
    where = ["team_id = ?"]
    params: list[Any] = [client.team_id]
    with emulator.store.transaction():
        if not include_canceled:
            where.append("canceled_ms IS NULL")
        by_start = False
        for name, clause in (("start_time", "start_ms >= ?"), ("end_time", "end_ms <= ?")):
            raw = request.query_params.get(name)
            if raw:
                where.append(clause)
                params.append(to_millis(time_value(raw, name)))
                by_start = True
        state = request.query_params.get("state")
        if state is not None:
            where.append(_WITH_STATE_ANY if deleted else _WITH_STATE_PRESENT)
            params.append(state)
        direction = "DESC" if order == "reverse" else "ASC"
        order_by = f"start_ms {direction}, seq {direction}" if by_start else f"seq {direction}"
        # Every clause is one of the constants above; all values are bound parameters.
        query = f"SELECT * FROM sessions WHERE {' AND '.join(where)} ORDER BY {order_by}"  # noqa: S608
        rows = emulator.store.rows(
            query + " LIMIT ? OFFSET ?",
            [*params, page_size + 1, page * page_size],
        )
        shown = rows[:page_size]
        participants = participants_of(
            emulator, [row["session_id"] for row in shown], deleted=deleted
        )
    return JSONResponse(
        {
            "content": [
                session_json(row, participants[row["session_id"]], emulator) for row in shown
            ],
            "page": page,
            "page_size": page_size,
            "more": len(rows) > page_size,
        }
    )


async def get_session(request: Request) -> JSONResponse:
    """GET /sessions/{id}; a cancelled session answers 401, as the real service does."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    deleted = query_bool(request, "deleted_participants")
    with emulator.store.transaction():
        row = session_row(emulator, client, request.path_params["session_id"])
        if row["canceled_ms"] is not None:
            # No WWW-Authenticate: this 401 is about the session, not the token.
            raise ApiError(401, f"session {row['session_id']} is canceled")
        return render_session(emulator, row, deleted=deleted)


async def update_session(request: Request) -> JSONResponse:
    """PUT /sessions/{id}: partial update of name, times and picture, within the lifecycle.

    A field sent with the value it already has is no change, so clients may send back
    the whole object they read.
    """
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    body = await json_object(request)
    with emulator.store.transaction():
        row = session_row(emulator, client, request.path_params["session_id"])
        now = emulator.store.now()
        window = window_of(row)
        if window.phase(now) is lifecycle.Phase.CANCELED:
            rules = [rule for field, rule in _FIELD_RULES if field in body]
            lifecycle.check_editable(window, now, (rules or ["update session"])[0])
        updates: dict[str, Any] = {}
        for field in ("session_name", "picture"):
            if field in body and optional_str(body, field) != row[field]:
                updates[field] = body[field]
        if updates:
            lifecycle.check_editable(window, now, "update session name/picture")
        new_start = _changed(time_field(body, "start_time"), window.start)
        new_end = _changed(time_field(body, "end_time"), window.end)
        lifecycle.check_times_update(window, now, new_start=new_start, new_end=new_end)
        if new_start is not None:
            updates["start_ms"] = to_millis(new_start)
        if new_end is not None:
            updates["end_ms"] = to_millis(new_end)
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in updates)
            emulator.store.execute(
                f"UPDATE sessions SET {assignments} WHERE session_id = ?",  # noqa: S608
                [*updates.values(), row["session_id"]],
            )
        return render_session(
            emulator, session_row(emulator, client, row["session_id"]), deleted=False
        )


def _changed(new: datetime | None, current: datetime) -> datetime | None:
    return None if new == current else new


async def cancel_session(request: Request) -> JSONResponse:
    """DELETE /sessions/{id}: cancel, only before the session starts; irreversible."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        client = coviu_caller(request, emulator)
        row = session_row(emulator, client, request.path_params["session_id"])
        now = emulator.store.now()
        lifecycle.check_cancel(window_of(row), now)
        emulator.store.execute(
            "UPDATE sessions SET canceled_ms = ? WHERE session_id = ?",
            (to_millis(now), row["session_id"]),
        )
    return JSONResponse({"ok": True})
