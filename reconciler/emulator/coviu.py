"""The emulated Coviu session API, mounted under `/v1` (see API-NOTES.md).

Sessions and participants belong to the team of the API client that made them; another
team's ids answer 404, never revealing that they exist. Times are accepted as RFC 1123
or ISO 8601 and always answered as RFC 1123 at second precision.
"""

from __future__ import annotations

import base64
import secrets
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.emulator import lifecycle
from reconciler.emulator.http import (
    ApiError,
    bearer_token,
    json_object,
    optional_str,
    query_bool,
    query_int,
    time_value,
)
from reconciler.emulator.state import Emulator, emulator_of
from reconciler.emulator.store import Client
from reconciler.emulator.times import format_rfc1123, from_millis, to_millis

AUDIENCE = "coviu"
PAGE_SIZE_MAX = 200
ROLES = ("host", "guest")
_SESSION_FIELDS = ("session_name", "start_time", "end_time", "picture")
_PARTICIPANT_FIELDS = ("display_name", "picture", "role", "state")
_WITH_STATE_ANY = "session_id IN (SELECT session_id FROM participants WHERE state = ?)"
_WITH_STATE_PRESENT = (
    "session_id IN (SELECT session_id FROM participants WHERE state = ? AND deleted_ms IS NULL)"
)


# --- tokens -------------------------------------------------------------------------------


def _basic_client(request: Request, emulator: Emulator) -> Client:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise ApiError(401, "client authentication required: send Basic api_key:key_secret")
    try:
        api_key, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(401, "malformed Basic credentials") from None
    client = emulator.store.check_client(api_key, secret)
    if client is None:
        raise ApiError(401, "invalid client credentials")
    return client


async def token(request: Request) -> JSONResponse:
    """OAuth2 token endpoint: client_credentials, refresh_token and authorization_code."""
    emulator = emulator_of(request)
    form = await request.form()
    grant_type = str(form.get("grant_type") or "")
    with emulator.store.transaction():
        client = _basic_client(request, emulator)
        now = emulator.store.now()
        if grant_type == "refresh_token":
            refresh = str(form.get("refresh_token") or "")
            if not refresh or not emulator.tokens.redeem_refresh_token(refresh, client, now=now):
                raise ApiError(400, "refresh_token is invalid, used or expired")
        elif grant_type == "authorization_code":
            if not form.get("code"):
                raise ApiError(400, "code is required for the authorization_code grant")
        elif grant_type != "client_credentials":
            raise ApiError(400, f"unsupported grant_type {grant_type!r}")
        grant = emulator.tokens.grant(client, audience=AUDIENCE, now=now, refresh=True)
    return JSONResponse(
        {
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "expires_in": grant.expires_in,
            "token_type": "Bearer",
            "scope": "sessions participants",
        },
        headers={"Cache-Control": "no-store"},
    )


def _caller(request: Request, emulator: Emulator) -> Client:
    token_text = bearer_token(request)
    client = None
    if token_text is not None:
        client = emulator.tokens.verify(token_text, audience=AUDIENCE, now=emulator.store.now())
    if client is None:
        raise ApiError(
            401,
            "access token is missing, invalid or expired",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return client


# --- rendering ----------------------------------------------------------------------------


def _participant_json(row: sqlite3.Row, emulator: Emulator) -> dict[str, Any]:
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


def _session_json(
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
        "participants": [_participant_json(p, emulator) for p in participants],
    }
    if row["canceled_ms"] is not None:
        body["canceled_at"] = format_rfc1123(from_millis(row["canceled_ms"]))
    return body


def _participants_of(
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


def _render_session(emulator: Emulator, row: sqlite3.Row, *, deleted: bool) -> JSONResponse:
    participants = _participants_of(emulator, [row["session_id"]], deleted=deleted)
    return JSONResponse(_session_json(row, participants[row["session_id"]], emulator))


# --- lookups ------------------------------------------------------------------------------


def _session_row(emulator: Emulator, client: Client, session_id: str) -> sqlite3.Row:
    row = emulator.store.row(
        "SELECT * FROM sessions WHERE session_id = ? AND team_id = ?",
        (session_id, client.team_id),
    )
    if row is None:
        raise ApiError(404, f"session {session_id} not found")
    return row


def _participant_row(emulator: Emulator, client: Client, participant_id: str) -> sqlite3.Row:
    row = emulator.store.row(
        "SELECT p.* FROM participants p JOIN sessions s ON s.session_id = p.session_id"
        " WHERE p.participant_id = ? AND s.team_id = ?",
        (participant_id, client.team_id),
    )
    if row is None:
        # The id is a join capability: never echo it back.
        raise ApiError(404, "participant not found")
    return row


def _window(row: sqlite3.Row) -> lifecycle.Window:
    return lifecycle.Window(
        start=from_millis(row["start_ms"]),
        end=from_millis(row["end_ms"]),
        canceled=row["canceled_ms"] is not None,
    )


# --- validation ---------------------------------------------------------------------------


def _role(body: dict[str, Any], *, default: str | None) -> str | None:
    raw = optional_str(body, "role")
    if raw is None:
        return default
    role = raw.strip().lower()
    if role not in ROLES:
        raise ApiError(400, f"role must be host or guest, not {raw!r}")
    return role


def _time_field(body: dict[str, Any], field: str) -> datetime | None:
    raw = optional_str(body, field)
    return None if raw is None else time_value(raw, field)


def _insert_participant(
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
            _role(body, default="guest"),
            optional_str(body, "state"),
        ),
    )
    return participant_id


def _participant_bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("participants")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ApiError(400, "participants must be an array of objects")
    for participant in raw:
        _role(participant, default="guest")
        for field in ("display_name", "picture", "state"):
            optional_str(participant, field)
    return raw


# --- sessions -----------------------------------------------------------------------------


async def create_session(request: Request) -> JSONResponse:
    """POST /sessions: create a session, with its participants in the same call."""
    emulator = emulator_of(request)
    body = await json_object(request)
    with emulator.store.transaction():
        client = _caller(request, emulator)
        now = emulator.store.now()
        start = _time_field(body, "start_time")
        end = _time_field(body, "end_time")
        if start is None or end is None:
            raise ApiError(400, "start_time and end_time are required")
        lifecycle.check_create(start, end, now)
        participants = _participant_bodies(body)
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
            _insert_participant(emulator, client, session_id, participant)
        return _render_session(emulator, _session_row(emulator, client, session_id), deleted=False)


async def list_sessions(request: Request) -> JSONResponse:
    """GET /sessions (and /session): a page of the team's sessions."""
    emulator = emulator_of(request)
    page = query_int(request, "page", default=0, minimum=0)
    page_size = min(query_int(request, "page_size", default=PAGE_SIZE_MAX, minimum=1), 200)
    deleted = query_bool(request, "deleted_participants")
    include_canceled = query_bool(request, "include_canceled")
    order = request.query_params.get("order", "forward").lower()
    if order not in ("forward", "reverse"):
        raise ApiError(400, f"order must be forward or reverse, not {order!r}")
    where = ["team_id = ?"]
    params: list[Any] = []
    with emulator.store.transaction():
        client = _caller(request, emulator)
        params.append(client.team_id)
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
        participants = _participants_of(
            emulator, [row["session_id"] for row in shown], deleted=deleted
        )
    return JSONResponse(
        {
            "content": [
                _session_json(row, participants[row["session_id"]], emulator) for row in shown
            ],
            "page": page,
            "page_size": page_size,
            "more": len(rows) > page_size,
        }
    )


async def get_session(request: Request) -> JSONResponse:
    """GET /sessions/{id}; a cancelled session answers 401, as the real service does."""
    emulator = emulator_of(request)
    deleted = query_bool(request, "deleted_participants")
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _session_row(emulator, client, request.path_params["session_id"])
        if row["canceled_ms"] is not None:
            # No WWW-Authenticate: this 401 is about the session, not the token.
            raise ApiError(401, f"session {row['session_id']} is canceled")
        return _render_session(emulator, row, deleted=deleted)


async def update_session(request: Request) -> JSONResponse:
    """PUT /sessions/{id}: partial update of name, times and picture, within the lifecycle."""
    emulator = emulator_of(request)
    body = await json_object(request)
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _session_row(emulator, client, request.path_params["session_id"])
        now = emulator.store.now()
        window = _window(row)
        new_start = _time_field(body, "start_time")
        new_end = _time_field(body, "end_time")
        changes = {field: body[field] for field in _SESSION_FIELDS if field in body}
        for field in ("session_name", "picture"):
            if field in changes:
                optional_str(body, field)
                lifecycle.check_editable(window, now, "update session name/picture")
        lifecycle.check_times_update(window, now, new_start=new_start, new_end=new_end)
        if not changes and window.phase(now) is lifecycle.Phase.CANCELED:
            lifecycle.check_editable(window, now, "update session")
        updates: dict[str, Any] = {}
        for field in ("session_name", "picture"):
            if field in changes:
                updates[field] = changes[field]
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
        return _render_session(
            emulator, _session_row(emulator, client, row["session_id"]), deleted=False
        )


async def cancel_session(request: Request) -> JSONResponse:
    """DELETE /sessions/{id}: cancel, only before the session starts; irreversible."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _session_row(emulator, client, request.path_params["session_id"])
        now = emulator.store.now()
        lifecycle.check_cancel(_window(row), now)
        emulator.store.execute(
            "UPDATE sessions SET canceled_ms = ? WHERE session_id = ?",
            (to_millis(now), row["session_id"]),
        )
    return JSONResponse({"ok": True})


# --- participants -------------------------------------------------------------------------


async def list_participants(request: Request) -> JSONResponse:
    """GET /sessions/{id}/participants: a bare JSON array."""
    emulator = emulator_of(request)
    deleted = query_bool(request, "deleted_participants")
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _session_row(emulator, client, request.path_params["session_id"])
        rows = _participants_of(emulator, [row["session_id"]], deleted=deleted)
    return JSONResponse([_participant_json(p, emulator) for p in rows[row["session_id"]]])


async def add_participant(request: Request) -> JSONResponse:
    """POST /sessions/{id}/participants: add one, while the session is not over."""
    emulator = emulator_of(request)
    body = await json_object(request)
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _session_row(emulator, client, request.path_params["session_id"])
        lifecycle.check_editable(_window(row), emulator.store.now(), "add participant")
        _participant_bodies({"participants": [body]})
        participant_id = _insert_participant(emulator, client, row["session_id"], body)
        return JSONResponse(
            _participant_json(_participant_row(emulator, client, participant_id), emulator)
        )


async def get_participant(request: Request) -> JSONResponse:
    """GET /participants/{id}, removed ones included (with deleted_at)."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _participant_row(emulator, client, request.path_params["participant_id"])
    return JSONResponse(_participant_json(row, emulator))


def _editable_participant(request: Request, emulator: Emulator, rule: str) -> sqlite3.Row:
    client = _caller(request, emulator)
    row = _participant_row(emulator, client, request.path_params["participant_id"])
    if row["deleted_ms"] is not None:
        raise lifecycle.refuse(rule, "the participant was removed, and removal is irreversible")
    session = _session_row(emulator, client, row["session_id"])
    lifecycle.check_editable(_window(session), emulator.store.now(), rule)
    return row


async def update_participant(request: Request) -> JSONResponse:
    """PUT /participants/{id}: partial update of display name, picture, role and state."""
    emulator = emulator_of(request)
    body = await json_object(request)
    with emulator.store.transaction():
        row = _editable_participant(request, emulator, "update participant")
        updates: dict[str, Any] = {}
        for field in _PARTICIPANT_FIELDS:
            if field in body:
                updates[field] = (
                    _role(body, default=None) if field == "role" else optional_str(body, field)
                )
        if updates.get("role", "") is None:
            raise ApiError(400, "role must be host or guest, not null")
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in updates)
            emulator.store.execute(
                f"UPDATE participants SET {assignments} WHERE participant_id = ?",  # noqa: S608
                [*updates.values(), row["participant_id"]],
            )
        client = _caller(request, emulator)
        fresh = _participant_row(emulator, client, row["participant_id"])
    return JSONResponse(_participant_json(fresh, emulator))


async def cancel_participant(request: Request) -> JSONResponse:
    """DELETE /participants/{id}: remove, while the session is not over; irreversible."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        row = _editable_participant(request, emulator, "cancel participant")
        emulator.store.execute(
            "UPDATE participants SET deleted_ms = ? WHERE participant_id = ?",
            (to_millis(emulator.store.now()), row["participant_id"]),
        )
    return JSONResponse({"ok": True})


routes = [
    Route("/auth/token", token, methods=["POST"]),
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/session", list_sessions, methods=["GET"]),
    Route("/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/sessions/{session_id}", update_session, methods=["PUT"]),
    Route("/sessions/{session_id}", cancel_session, methods=["DELETE"]),
    Route("/sessions/{session_id}/participants", list_participants, methods=["GET"]),
    Route("/sessions/{session_id}/participants", add_participant, methods=["POST"]),
    Route("/participants/{participant_id}", get_participant, methods=["GET"]),
    Route("/participants/{participant_id}", update_participant, methods=["PUT"]),
    Route("/participants/{participant_id}", cancel_participant, methods=["DELETE"]),
]
