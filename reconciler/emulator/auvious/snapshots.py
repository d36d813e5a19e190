"""Auvious snapshot endpoints and their state machine.

A snapshot is requested (no image), acquired or uploaded (UPLOADED), then reviewed:
approved (again, to change its type) or discarded, which is final. `version` counts
changes.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.emulator.auvious.auth import auvious_caller
from reconciler.emulator.auvious.records import (
    APPROVED,
    DISCARDED,
    UPLOADED,
    form_str,
    session_type,
    snapshot_json,
    snapshot_row,
    storage_path,
    timestamp_ms,
)
from reconciler.emulator.http import ApiError, optional_str, required_str
from reconciler.emulator.state import Emulator, emulator_of
from reconciler.emulator.store import Client
from reconciler.emulator.times import to_millis


def request_snapshot(
    request: Request, body: dict[str, Any], emulator: Emulator, client: Client
) -> Response:
    """POST /request: a snapshot is asked of an endpoint; it exists, without an image."""
    snapshot_id = str(uuid.uuid4())
    emulator.store.execute(
        "INSERT INTO snapshots (id, organization_id, application_id, related_snapshot_id,"
        " requester_user_id, requester_user_endpoint_id, user_id, user_endpoint_id,"
        " session_type, session_id, timestamp_ms, interaction_id, type, state, created_ms,"
        " version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0)",
        (
            snapshot_id,
            client.team_id,
            f"app-{client.team_id}",
            optional_str(body, "relatedSnapshotId"),
            client.user_id,
            optional_str(body, "requesterUserEndpointId"),
            optional_str(body, "userId"),
            required_str(body, "userEndpointId"),
            session_type(optional_str(body, "sessionType")),
            optional_str(body, "sessionId"),
            timestamp_ms(optional_str(body, "timestamp")),
            required_str(body, "interactionId"),
            optional_str(body, "snapshotType") or optional_str(body, "type"),
            to_millis(emulator.store.now()),
        ),
    )
    return JSONResponse({"snapshotId": snapshot_id})


def acquire_snapshot(
    request: Request, upload: tuple[FormData, bytes], emulator: Emulator, client: Client
) -> Response:
    """POST /acquire (multipart): the image of a requested snapshot arrives; UPLOADED."""
    form, image = upload
    snapshot_id = form_str(form, "snapshotId")
    if snapshot_id is None:
        raise ApiError(400, "snapshotId is required")
    row = snapshot_row(emulator, client, snapshot_id)
    if row["state"] is not None:
        raise ApiError(400, f"snapshot is {row['state']}; only a requested snapshot is acquired")
    suffix = form_str(form, "snapshotSuffix") or "png"
    emulator.store.execute(
        "UPDATE snapshots SET state = ?, image = ?, suffix = ?, mime_type = ?, path = ?,"
        " type = COALESCE(?, type), user_endpoint_id = COALESCE(?, user_endpoint_id),"
        " version = version + 1 WHERE id = ?",
        (
            UPLOADED,
            image,
            suffix,
            form_str(form, "snapshotMimeType") or "image/png",
            storage_path(client, row["interaction_id"], snapshot_id, suffix),
            form_str(form, "snapshotType"),
            form_str(form, "userEndpointId"),
            snapshot_id,
        ),
    )
    return Response(status_code=204)


def upload_snapshot(
    request: Request, upload: tuple[FormData, bytes], emulator: Emulator, client: Client
) -> Response:
    """POST /upload (multipart): a new snapshot with its image; UPLOADED."""
    form, image = upload
    interaction_id = form_str(form, "interactionId")
    if interaction_id is None:
        raise ApiError(400, "interactionId is required")
    snapshot_id = str(uuid.uuid4())
    suffix = form_str(form, "snapshotSuffix") or "png"
    emulator.store.execute(
        "INSERT INTO snapshots (id, organization_id, application_id, requester_user_id,"
        " user_id, user_endpoint_id, session_type, session_id, timestamp_ms, interaction_id,"
        " type, path, state, suffix, mime_type, created_ms, version, image)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
        (
            snapshot_id,
            client.team_id,
            f"app-{client.team_id}",
            client.user_id,
            form_str(form, "userId") or client.user_id,
            form_str(form, "userEndpointId"),
            session_type(form_str(form, "sessionType")),
            form_str(form, "sessionId"),
            timestamp_ms(form_str(form, "timestamp")),
            interaction_id,
            form_str(form, "snapshotType"),
            storage_path(client, interaction_id, snapshot_id, suffix),
            UPLOADED,
            suffix,
            form_str(form, "snapshotMimeType") or "image/png",
            to_millis(emulator.store.now()),
            image,
        ),
    )
    return JSONResponse({"snapshotId": snapshot_id})


def _reviewable(emulator: Emulator, client: Client, body: dict[str, Any]) -> sqlite3.Row:
    row = snapshot_row(emulator, client, required_str(body, "snapshotId"))
    required_str(body, "userEndpointId")
    if row["state"] is None:
        raise ApiError(400, "snapshot has no image yet; it cannot be reviewed")
    if row["state"] == DISCARDED:
        raise ApiError(400, "snapshot is DISCARDED")
    return row


def approve_snapshot(
    request: Request, body: dict[str, Any], emulator: Emulator, client: Client
) -> Response:
    """POST /approve: UPLOADED or APPROVED becomes APPROVED, optionally with a new type."""
    row = _reviewable(emulator, client, body)
    new_type = optional_str(body, "snapshotType") or row["type"]
    if row["state"] != APPROVED or new_type != row["type"]:
        emulator.store.execute(
            "UPDATE snapshots SET state = ?, type = ?, version = version + 1 WHERE id = ?",
            (APPROVED, new_type, row["id"]),
        )
    return Response(status_code=204)


def discard_snapshot(
    request: Request, body: dict[str, Any], emulator: Emulator, client: Client
) -> Response:
    """POST /discard: UPLOADED or APPROVED becomes DISCARDED, for good."""
    row = _reviewable(emulator, client, body)
    emulator.store.execute(
        "UPDATE snapshots SET state = ?, image = NULL, version = version + 1 WHERE id = ?",
        (DISCARDED, row["id"]),
    )
    return Response(status_code=204)


async def list_snapshots(request: Request) -> JSONResponse:
    """GET /rtc-api/snapshots?interactionId=…: an interaction's snapshots, oldest first."""
    emulator = emulator_of(request)
    client = auvious_caller(request, emulator)
    interaction_id = request.query_params.get("interactionId")
    if not interaction_id:
        raise ApiError(400, "interactionId is required")
    with emulator.store.transaction():
        rows = emulator.store.rows(
            "SELECT * FROM snapshots WHERE organization_id = ? AND interaction_id = ? ORDER BY seq",
            (client.team_id, interaction_id),
        )
    return JSONResponse([snapshot_json(row) for row in rows])


async def get_snapshot(request: Request) -> JSONResponse:
    """GET /rtc-api/snapshots/{id}."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        client = auvious_caller(request, emulator)
        row = snapshot_row(emulator, client, request.path_params["snapshot_id"])
    return JSONResponse(snapshot_json(row))
