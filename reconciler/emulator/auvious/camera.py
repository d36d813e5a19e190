"""Camera-access requests, and the endpoint's one answer to each."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.emulator.http import ApiError, required_str
from reconciler.emulator.state import Emulator
from reconciler.emulator.store import Client


def camera_request(
    request: Request, body: dict[str, Any], emulator: Emulator, client: Client
) -> Response:
    """POST /cameraRequest: ask an endpoint for camera access; answers the request id."""
    request_id = str(uuid.uuid4())
    emulator.store.execute(
        "INSERT INTO camera_requests (id, organization_id, interaction_id, user_endpoint_id)"
        " VALUES (?, ?, ?, ?)",
        (
            request_id,
            client.team_id,
            required_str(body, "interactionId"),
            required_str(body, "userEndpointId"),
        ),
    )
    return JSONResponse({"cameraRequestId": request_id})


def camera_request_respond(
    request: Request, body: dict[str, Any], emulator: Emulator, client: Client
) -> Response:
    """POST /cameraRequestRespond: the endpoint accepts or declines, once."""
    request_id = required_str(body, "cameraRequestId")
    row = emulator.store.row(
        "SELECT answered FROM camera_requests WHERE id = ? AND organization_id = ?",
        (request_id, client.team_id),
    )
    if row is None:
        raise ApiError(404, f"camera request {request_id} not found")
    if row["answered"]:
        raise ApiError(400, "camera request was already answered")
    emulator.store.execute("UPDATE camera_requests SET answered = 1 WHERE id = ?", (request_id,))
    return Response(status_code=204)
