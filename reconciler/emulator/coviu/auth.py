"""Coviu's OAuth2 token endpoint: HTTP Basic client authentication, form body, three grants."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.emulator.http import ApiError
from reconciler.emulator.state import Emulator, caller, emulator_of
from reconciler.emulator.store import Client

AUDIENCE = "coviu"


def coviu_caller(request: Request, emulator: Emulator) -> Client:
    """The client whose Coviu token came with the request; 401 if none."""
    return caller(request, emulator, audience=AUDIENCE)


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
