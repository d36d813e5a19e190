"""The emulated Auvious RTC snapshot API, under `/rtc-api/snapshots`, and its token endpoint.

A snapshot is requested (no image), acquired or uploaded (UPLOADED), then reviewed:
approved (possibly again, to change its type) or discarded, which is final. `version`
counts changes. Signed download URLs carry an HMAC over id and expiry and need no token.
Writes that carry `X-Auvious-TransactionId` are answered once and replayed thereafter,
so a client may safely retry them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.emulator.http import ApiError, bearer_token, json_object, optional_str, required_str
from reconciler.emulator.state import Emulator, emulator_of
from reconciler.emulator.store import Client
from reconciler.emulator.times import format_iso, from_millis, parse_time, to_millis

AUDIENCE = "auvious"
SIGNED_URL_LIFETIME = timedelta(minutes=15)
INTERNAL_SIGNED_URL_LIFETIME = timedelta(hours=1)
MAX_IMAGE_BYTES = 10 * 1024 * 1024
SESSION_TYPES = ("UNKNOWN", "CALL", "CONFERENCE")
UPLOADED, APPROVED, DISCARDED = "UPLOADED", "APPROVED", "DISCARDED"


# --- tokens -------------------------------------------------------------------------------


async def token(request: Request) -> JSONResponse:
    """POST /security/oauth/token: client credentials as a form body or query parameters."""
    emulator = emulator_of(request)
    form = await request.form()
    fields = {**dict(request.query_params), **{k: str(v) for k, v in form.items()}}
    if fields.get("grant_type") != "client_credentials":
        raise ApiError(
            400,
            f"unsupported grant_type {fields.get('grant_type')!r}",
            oauth_error="unsupported_grant_type",
        )
    with emulator.store.transaction():
        client = emulator.store.check_client(
            fields.get("client_id", ""), fields.get("client_secret", "")
        )
        if client is None:
            raise ApiError(401, "bad client credentials", oauth_error="invalid_client")
        grant = emulator.tokens.grant(
            client, audience=AUDIENCE, now=emulator.store.now(), refresh=False
        )
    return JSONResponse(
        {
            "access_token": grant.access_token,
            "expires_in": grant.expires_in,
            "token_type": "bearer",
            "scope": "rtc",
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


# --- rendering and lookups ----------------------------------------------------------------


def _snapshot_json(row: sqlite3.Row) -> dict[str, Any]:
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


def _snapshot_row(emulator: Emulator, client: Client, snapshot_id: str) -> sqlite3.Row:
    row = emulator.store.row(
        "SELECT * FROM snapshots WHERE id = ? AND organization_id = ?",
        (snapshot_id, client.team_id),
    )
    if row is None:
        raise ApiError(404, f"snapshot {snapshot_id} not found")
    return row


def _session_type(raw: str | None) -> str:
    value = (raw or "UNKNOWN").upper()
    if value not in SESSION_TYPES:
        raise ApiError(400, f"sessionType must be one of {', '.join(SESSION_TYPES)}")
    return value


def _timestamp_ms(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return to_millis(parse_time(raw))
    except ValueError:
        raise ApiError(400, f"timestamp is not an ISO 8601 time: {raw!r}") from None


def _path(client: Client, interaction_id: str, snapshot_id: str, suffix: str | None) -> str:
    return f"{client.team_id}/{interaction_id}/{snapshot_id}.{suffix or 'png'}"


async def _image_form(request: Request) -> tuple[FormData, bytes]:
    form = await request.form(max_files=1, max_fields=32, max_part_size=MAX_IMAGE_BYTES)
    image = form.get("image")
    if not isinstance(image, UploadFile):
        raise ApiError(400, "image is required (a multipart file part)")
    data = await image.read()
    if not data:
        raise ApiError(400, "image is empty")
    return form, data


def _form_str(form: FormData, field: str) -> str | None:
    value = form.get(field)
    return value if isinstance(value, str) and value else None


# --- transactions -------------------------------------------------------------------------

Reader = Callable[[Request], Awaitable[Any]]
Handler = Callable[[Request, Any, Emulator, Client], Response]


def _write(reader: Reader, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run a write atomically, honouring `X-Auvious-TransactionId` for safe retries.

    The body is read before the transaction opens, so no await happens inside it.
    """

    async def endpoint(request: Request) -> Response:
        emulator = emulator_of(request)
        transaction_id = request.headers.get("x-auvious-transactionid")
        payload = await reader(request)
        with emulator.store.transaction():
            client = _caller(request, emulator)
            if transaction_id:
                done = emulator.store.row(
                    "SELECT status, body FROM auvious_transactions"
                    " WHERE organization_id = ? AND transaction_id = ?",
                    (client.team_id, transaction_id),
                )
                if done is not None:
                    return _replay(done)
            response = handler(request, payload, emulator, client)
            if transaction_id:
                emulator.store.execute(
                    "INSERT INTO auvious_transactions VALUES (?, ?, ?, ?)",
                    (client.team_id, transaction_id, response.status_code, response.body or None),
                )
            return response

    endpoint.__doc__ = handler.__doc__
    return endpoint


def _replay(done: sqlite3.Row) -> Response:
    if done["body"] is None:
        return Response(status_code=done["status"])
    return JSONResponse(json.loads(done["body"]), status_code=done["status"])


# --- snapshot endpoints -------------------------------------------------------------------


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
            _session_type(optional_str(body, "sessionType")),
            optional_str(body, "sessionId"),
            _timestamp_ms(optional_str(body, "timestamp")),
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
    snapshot_id = _form_str(form, "snapshotId")
    if snapshot_id is None:
        raise ApiError(400, "snapshotId is required")
    row = _snapshot_row(emulator, client, snapshot_id)
    if row["state"] is not None:
        raise ApiError(400, f"snapshot is {row['state']}; only a requested snapshot is acquired")
    suffix = _form_str(form, "snapshotSuffix") or "png"
    emulator.store.execute(
        "UPDATE snapshots SET state = ?, image = ?, suffix = ?, mime_type = ?, path = ?,"
        " type = COALESCE(?, type), user_endpoint_id = COALESCE(?, user_endpoint_id),"
        " version = version + 1 WHERE id = ?",
        (
            UPLOADED,
            image,
            suffix,
            _form_str(form, "snapshotMimeType") or "image/png",
            _path(client, row["interaction_id"], snapshot_id, suffix),
            _form_str(form, "snapshotType"),
            _form_str(form, "userEndpointId"),
            snapshot_id,
        ),
    )
    return Response(status_code=204)


def upload_snapshot(
    request: Request, upload: tuple[FormData, bytes], emulator: Emulator, client: Client
) -> Response:
    """POST /upload (multipart): a new snapshot with its image; UPLOADED."""
    form, image = upload
    interaction_id = _form_str(form, "interactionId")
    if interaction_id is None:
        raise ApiError(400, "interactionId is required")
    snapshot_id = str(uuid.uuid4())
    suffix = _form_str(form, "snapshotSuffix") or "png"
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
            _form_str(form, "userId") or client.user_id,
            _form_str(form, "userEndpointId"),
            _session_type(_form_str(form, "sessionType")),
            _form_str(form, "sessionId"),
            _timestamp_ms(_form_str(form, "timestamp")),
            interaction_id,
            _form_str(form, "snapshotType"),
            _path(client, interaction_id, snapshot_id, suffix),
            UPLOADED,
            suffix,
            _form_str(form, "snapshotMimeType") or "image/png",
            to_millis(emulator.store.now()),
            image,
        ),
    )
    return JSONResponse({"snapshotId": snapshot_id})


def _reviewable(emulator: Emulator, client: Client, body: dict[str, Any]) -> sqlite3.Row:
    row = _snapshot_row(emulator, client, required_str(body, "snapshotId"))
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


def _signature(emulator: Emulator, snapshot_id: str, expiration: int) -> str:
    key = emulator.store.meta("signing_key").encode()
    message = f"signed-snapshot:{snapshot_id}:{expiration}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_url(
    request: Request, body: dict[str, Any], emulator: Emulator, client: Client
) -> Response:
    """POST /signedUrl: a time-limited download link for an APPROVED snapshot."""
    if not request.headers.get("referer"):
        raise ApiError(400, "the Referer header is required")
    row = _snapshot_row(emulator, client, required_str(body, "snapshotId"))
    if row["state"] != APPROVED:
        raise ApiError(400, f"snapshot is {row['state'] or 'not uploaded'}; only APPROVED ones")
    internal = body.get("createInternalSignedUrl") is True
    lifetime = INTERNAL_SIGNED_URL_LIFETIME if internal else SIGNED_URL_LIFETIME
    valid_until = emulator.store.now() + lifetime
    expiration = to_millis(valid_until)
    base = str(request.base_url).rstrip("/")
    url = (
        f"{base}/rtc-api/snapshots/signed/{row['id']}/{expiration}"
        f"?signature={_signature(emulator, row['id'], expiration)}"
    )
    return JSONResponse({"url": url, "validUntil": format_iso(valid_until)})


async def signed_download(request: Request) -> Response:
    """GET /signed/{id}/{expiration}?signature=…: the image; the signature is the credential."""
    emulator = emulator_of(request)
    snapshot_id = request.path_params["snapshot_id"]
    try:
        expiration = int(request.path_params["expiration"])
    except ValueError:
        raise ApiError(403, "malformed signed URL") from None
    given = request.query_params.get("signature", "")
    with emulator.store.transaction():
        if not hmac.compare_digest(given, _signature(emulator, snapshot_id, expiration)):
            raise ApiError(403, "signature does not match")
        if to_millis(emulator.store.now()) >= expiration:
            raise ApiError(403, "signed URL has expired")
        row = emulator.store.row("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,))
    if row is None or row["state"] != APPROVED or row["image"] is None:
        raise ApiError(404, "snapshot image not available")
    return Response(row["image"], media_type=row["mime_type"] or "application/octet-stream")


async def list_snapshots(request: Request) -> JSONResponse:
    """GET /rtc-api/snapshots?interactionId=…: an interaction's snapshots, oldest first."""
    emulator = emulator_of(request)
    interaction_id = request.query_params.get("interactionId")
    if not interaction_id:
        raise ApiError(400, "interactionId is required")
    with emulator.store.transaction():
        client = _caller(request, emulator)
        rows = emulator.store.rows(
            "SELECT * FROM snapshots WHERE organization_id = ? AND interaction_id = ? ORDER BY seq",
            (client.team_id, interaction_id),
        )
    return JSONResponse([_snapshot_json(row) for row in rows])


async def get_snapshot(request: Request) -> JSONResponse:
    """GET /rtc-api/snapshots/{id}."""
    emulator = emulator_of(request)
    with emulator.store.transaction():
        client = _caller(request, emulator)
        row = _snapshot_row(emulator, client, request.path_params["snapshot_id"])
    return JSONResponse(_snapshot_json(row))


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


routes = [
    Route("/security/oauth/token", token, methods=["POST"]),
    Route("/rtc-api/snapshots", list_snapshots, methods=["GET"]),
    Route("/rtc-api/snapshots/request", _write(json_object, request_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/acquire", _write(_image_form, acquire_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/upload", _write(_image_form, upload_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/approve", _write(json_object, approve_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/discard", _write(json_object, discard_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/signedUrl", _write(json_object, signed_url), methods=["POST"]),
    Route(
        "/rtc-api/snapshots/cameraRequest", _write(json_object, camera_request), methods=["POST"]
    ),
    Route(
        "/rtc-api/snapshots/cameraRequestRespond",
        _write(json_object, camera_request_respond),
        methods=["POST"],
    ),
    Route("/rtc-api/snapshots/signed/{snapshot_id}/{expiration}", signed_download, methods=["GET"]),
    Route("/rtc-api/snapshots/{snapshot_id}", get_snapshot, methods=["GET"]),
]
