"""Auvious's OAuth2 token endpoint: client credentials in a form body or the query."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.emulator.http import ApiError
from reconciler.emulator.state import Emulator, caller, emulator_of
from reconciler.emulator.store import Client

AUDIENCE = "auvious"


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


def auvious_caller(request: Request, emulator: Emulator) -> Client:
    """The client whose Auvious token came with the request; 401 if none."""
    return caller(request, emulator, audience=AUDIENCE)
