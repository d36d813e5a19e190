"""Reading, validating and rendering Auvious snapshots; each belongs to one organization."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from reconciler.emulator.http import ApiError
from reconciler.emulator.state import Emulator
from reconciler.emulator.store import Client
from reconciler.emulator.times import format_iso, from_millis, parse_time, to_millis

MAX_IMAGE_BYTES = 10 * 1024 * 1024
SESSION_TYPES = ("UNKNOWN", "CALL", "CONFERENCE")
UPLOADED, APPROVED, DISCARDED = "UPLOADED", "APPROVED", "DISCARDED"


def snapshot_json(row: sqlite3.Row) -> dict[str, Any]:
    timestamp = row["timestamp_ms"]
    return {
        "id": row["id"],
        "relatedSnapshotId": row["related_snapshot_id"],
        "organizationId": row["organization_id"],
        "applicationId": row["application_id"],
        "requesterUserId": row["requester_user_id"],
        "requesterUserEndpointId": row["requester_user_endpoint_id"],
        "userId": row["user_id"],
        "userEndpointId": row["user_endpoint_id"],
        "sessionType": row["session_type"],
        "sessionId": row["session_id"],
        "timestamp": None if timestamp is None else format_iso(from_millis(timestamp)),
        "interactionId": row["interaction_id"],
        "type": row["type"],
        "path": row["path"],
        "state": row["state"],
        "suffix": row["suffix"],
        "mimeType": row["mime_type"],
        "createdAt": format_iso(from_millis(row["created_ms"])),
        "version": row["version"],
        "approved": row["state"] == APPROVED,
    }


def snapshot_row(emulator: Emulator, client: Client, snapshot_id: str) -> sqlite3.Row:
    row = emulator.store.row(
        "SELECT * FROM snapshots WHERE id = ? AND organization_id = ?",
        (snapshot_id, client.team_id),
    )
    if row is None:
        raise ApiError(404, f"snapshot {snapshot_id} not found")
    return row


def session_type(raw: str | None) -> str:
    value = (raw or "UNKNOWN").upper()
    if value not in SESSION_TYPES:
        raise ApiError(400, f"sessionType must be one of {', '.join(SESSION_TYPES)}")
    return value


def timestamp_ms(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return to_millis(parse_time(raw))
    except ValueError:
        raise ApiError(400, f"timestamp is not an ISO 8601 time: {raw!r}") from None


def storage_path(client: Client, interaction_id: str, snapshot_id: str, suffix: str | None) -> str:
    return f"{client.team_id}/{interaction_id}/{snapshot_id}.{suffix or 'png'}"


async def image_form(request: Request) -> tuple[FormData, bytes]:
    form = await request.form(max_files=1, max_fields=32, max_part_size=MAX_IMAGE_BYTES)
    image = form.get("image")
    if not isinstance(image, UploadFile):
        raise ApiError(400, "image is required (a multipart file part)")
    data = await image.read()
    if not data:
        raise ApiError(400, "image is empty")
    return form, data


def form_str(form: FormData, field: str) -> str | None:
    value = form.get(field)
    return value if isinstance(value, str) and value else None
