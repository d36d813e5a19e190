"""Coviu participant endpoints: list and add (under a session), get, update, cancel.

A participant id is the secret part of its join link, so no answer or message here
ever repeats one that the caller could not already see.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.emulator import lifecycle
from reconciler.emulator.coviu.auth import coviu_caller
from reconciler.emulator.coviu.records import (
    insert_participant,
    parse_role,
    participant_bodies,
    participant_json,
    participant_row,
    participants_of,
    session_row,
    window_of,
)
from reconciler.emulator.http import ApiError, json_object, optional_str, query_bool
from reconciler.emulator.state import Emulator, emulator_of
from reconciler.emulator.store import Client
from reconciler.emulator.times import to_millis

_PARTICIPANT_FIELDS = ("display_name", "picture", "role", "state")


async def list_participants(request: Request) -> JSONResponse:
    """GET /sessions/{id}/participants: a bare JSON array."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    deleted = query_bool(request, "deleted_participants")
    with emulator.store.transaction():
        row = session_row(emulator, client, request.path_params["session_id"])
        rows = participants_of(emulator, [row["session_id"]], deleted=deleted)
    return JSONResponse([participant_json(p, emulator) for p in rows[row["session_id"]]])


async def add_participant(request: Request) -> JSONResponse:
    """POST /sessions/{id}/participants: add one, while the session is not over."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    body = await json_object(request)
    with emulator.store.transaction():
        row = session_row(emulator, client, request.path_params["session_id"])
        lifecycle.check_editable(window_of(row), emulator.store.now(), "add participant")
        participant_bodies({"participants": [body]})
        participant_id = insert_participant(emulator, client, row["session_id"], body)
        return JSONResponse(
            participant_json(participant_row(emulator, client, participant_id), emulator)
        )


async def get_participant(request: Request) -> JSONResponse:
    """GET /participants/{id}, removed ones included (with deleted_at)."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        client = coviu_caller(request, emulator)
        row = participant_row(emulator, client, request.path_params["participant_id"])
    return JSONResponse(participant_json(row, emulator))


def _editable_participant(
    request: Request, emulator: Emulator, client: Client, rule: str
) -> sqlite3.Row:
    row = participant_row(emulator, client, request.path_params["participant_id"])
    if row["deleted_ms"] is not None:
        raise lifecycle.refuse(rule, "the participant was removed, and removal is irreversible")
    session = session_row(emulator, client, row["session_id"])
    lifecycle.check_editable(window_of(session), emulator.store.now(), rule)
    return row


async def update_participant(request: Request) -> JSONResponse:
    """PUT /participants/{id}: partial update of display name, picture, role and state."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    body = await json_object(request)
    with emulator.store.transaction():
        row = _editable_participant(request, emulator, client, "update participant")
        updates: dict[str, Any] = {}
        for field in _PARTICIPANT_FIELDS:
            if field in body:
                updates[field] = (
                    parse_role(body, default=None) if field == "role" else optional_str(body, field)
                )
        if updates.get("role", "") is None:
            raise ApiError(400, "role must be host or guest, not null")
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in updates)
            emulator.store.execute(
                f"UPDATE participants SET {assignments} WHERE participant_id = ?",  # noqa: S608
                [*updates.values(), row["participant_id"]],
            )
        fresh = participant_row(emulator, client, row["participant_id"])
    return JSONResponse(participant_json(fresh, emulator))


async def cancel_participant(request: Request) -> JSONResponse:
    """DELETE /participants/{id}: remove, while the session is not over; irreversible."""
    emulator = emulator_of(request)
    client = coviu_caller(request, emulator)
    with emulator.store.transaction():
        row = _editable_participant(request, emulator, client, "cancel participant")
        emulator.store.execute(
            "UPDATE participants SET deleted_ms = ? WHERE participant_id = ?",
            (to_millis(emulator.store.now()), row["participant_id"]),
        )
    return JSONResponse({"ok": True})
