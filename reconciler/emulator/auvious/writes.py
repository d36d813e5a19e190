"""Auvious writes: atomic, and replayed for a retry that carries the same transaction id.

A write whose answer was lost can be retried with the same `X-Auvious-TransactionId`
and gets the first answer again instead of being carried out twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.emulator.auvious.auth import auvious_caller
from reconciler.emulator.http import ApiError
from reconciler.emulator.state import Emulator, emulator_of
from reconciler.emulator.store import Client

Reader = Callable[[Request], Awaitable[Any]]
Handler = Callable[[Request, Any, Emulator, Client], Response]


def write(reader: Reader, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run a write atomically, honouring `X-Auvious-TransactionId` for safe retries.

    The body is read before the transaction opens, so no await happens inside it.
    """

    async def endpoint(request: Request) -> Response:
        emulator = emulator_of(request)
        client = auvious_caller(request, emulator)
        transaction_id = request.headers.get("x-auvious-transactionid")
        payload = await reader(request)
        fingerprint = _fingerprint(request.url.path, payload)
        with emulator.store.transaction():
            if transaction_id:
                done = emulator.store.row(
                    "SELECT request_sha256, status, body FROM auvious_transactions"
                    " WHERE organization_id = ? AND transaction_id = ?",
                    (client.team_id, transaction_id),
                )
                if done is not None:
                    return _replay(done, fingerprint)
            response = handler(request, payload, emulator, client)
            if transaction_id:
                emulator.store.execute(
                    "INSERT INTO auvious_transactions"
                    " (organization_id, transaction_id, request_sha256, status, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        client.team_id,
                        transaction_id,
                        fingerprint,
                        response.status_code,
                        response.body or None,
                    ),
                )
            return response

    endpoint.__doc__ = handler.__doc__
    return endpoint


def _fingerprint(path: str, payload: Any) -> str:
    """What identifies a request for replay: its endpoint and its parsed content.

    Parsed, not raw: a retried multipart upload has a new boundary but is the same request.
    """
    digest = hashlib.sha256(path.encode() + b"\0")
    if isinstance(payload, tuple):
        form, image = payload
        fields = sorted((key, value) for key, value in form.multi_items() if isinstance(value, str))
        digest.update(json.dumps(fields).encode() + b"\0" + image)
    else:
        digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()


def _replay(done: sqlite3.Row, fingerprint: str) -> Response:
    if done["request_sha256"] != fingerprint:
        raise ApiError(409, "X-Auvious-TransactionId was already used for a different request")
    if done["body"] is None:
        return Response(status_code=done["status"])
    return JSONResponse(json.loads(done["body"]), status_code=done["status"])
