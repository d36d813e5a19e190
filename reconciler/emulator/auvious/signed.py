"""Signed download URLs: an HMAC over snapshot id and expiry is the only credential."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.emulator.auvious.records import (
    APPROVED,
    snapshot_row,
)
from reconciler.emulator.http import ApiError, required_str
from reconciler.emulator.state import Emulator, emulator_of
from reconciler.emulator.store import Client
from reconciler.emulator.times import format_iso, to_millis

SIGNED_URL_LIFETIME = timedelta(minutes=15)
INTERNAL_SIGNED_URL_LIFETIME = timedelta(hours=1)


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
    row = snapshot_row(emulator, client, required_str(body, "snapshotId"))
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
    raw_expiration = request.path_params["expiration"]
    try:
        expiration = int(raw_expiration)
    except ValueError:
        raise ApiError(403, "malformed signed URL") from None
    if str(expiration) != raw_expiration:
        # `int` also reads "+E", "0E" and "E_…": only the spelling that was signed opens.
        raise ApiError(403, "malformed signed URL")
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
