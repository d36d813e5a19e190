"""Coviu's token endpoint and the Bearer check every API call makes (API-NOTES.md, Tokens)."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import CLINIC_A, CLINIC_B
from tests.emulator.api import Auvious, Coviu, EmulatorControls

pytestmark = pytest.mark.anyio

CHALLENGE = 'Bearer error="invalid_token"'
TTL = 3600  # the fixture's token_ttl_seconds


async def grant(
    http: httpx.AsyncClient, form: dict[str, str], auth: tuple[str, str] | None = None
) -> httpx.Response:
    key_pair = (CLINIC_A.key, CLINIC_A.secret) if auth is None else auth
    return await http.post("/v1/auth/token", data=form, auth=key_pair)


def granted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def error_message(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


def b64url_json(part: str) -> Any:
    assert re.fullmatch(r"[A-Za-z0-9_-]+", part), part
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def sessions_with(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"})


async def test_client_credentials_grant_answers_a_bearer_token_and_a_refresh_token(
    http: httpx.AsyncClient,
) -> None:
    body = granted(await grant(http, {"grant_type": "client_credentials"}))
    assert body["token_type"] == "Bearer"
    assert type(body["expires_in"]) is int
    assert body["expires_in"] == TTL
    assert isinstance(body["scope"], str)
    assert isinstance(body["refresh_token"], str)
    assert body["refresh_token"]
    assert (await sessions_with(http, body["access_token"])).status_code == 200


async def test_access_token_is_a_jwt_whose_payload_carries_a_user_id(
    http: httpx.AsyncClient,
) -> None:
    token = granted(await grant(http, {"grant_type": "client_credentials"}))["access_token"]
    header, payload, signature = token.split(".")
    assert isinstance(b64url_json(header), dict)
    claims = b64url_json(payload)
    assert isinstance(claims, dict)
    assert claims["userId"]
    assert signature


@pytest.mark.parametrize(
    "auth",
    [(CLINIC_A.key, "wrong-secret"), ("no-such-key", CLINIC_A.secret), None],
    ids=["wrong-secret", "unknown-key", "no-basic-header"],
)
async def test_bad_client_credentials_are_refused_with_401(
    http: httpx.AsyncClient, auth: tuple[str, str] | None
) -> None:
    form = {"grant_type": "client_credentials"}
    if auth is None:
        response = await http.post("/v1/auth/token", data=form)
    else:
        response = await http.post("/v1/auth/token", data=form, auth=auth)
    error_message(response, 401)
    assert "access_token" not in response.text


async def test_refresh_grant_answers_a_new_access_token_and_a_new_refresh_token(
    http: httpx.AsyncClient, coviu: Coviu
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": coviu.refresh_token}
    body = granted(await grant(http, form))
    assert body["token_type"] == "Bearer"
    assert type(body["expires_in"]) is int
    assert body["access_token"] != coviu.access_token
    assert body["refresh_token"] != coviu.refresh_token
    assert (await sessions_with(http, body["access_token"])).status_code == 200
    again = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    granted(await grant(http, again))


async def test_a_refresh_token_works_only_once(http: httpx.AsyncClient, coviu: Coviu) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": coviu.refresh_token}
    granted(await grant(http, form))
    second = await grant(http, form)
    error_message(second, 400)
    assert "access_token" not in second.text


async def test_a_refresh_token_is_refused_to_another_client(
    http: httpx.AsyncClient, coviu: Coviu
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": coviu.refresh_token}
    stolen = await grant(http, form, auth=(CLINIC_B.key, CLINIC_B.secret))
    assert stolen.status_code in (400, 401), stolen.text
    assert "access_token" not in stolen.text


async def test_authorization_code_grant_answers_tokens_and_requires_a_code(
    http: httpx.AsyncClient,
) -> None:
    body = granted(await grant(http, {"grant_type": "authorization_code", "code": "abc123"}))
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"]
    assert (await sessions_with(http, body["access_token"])).status_code == 200
    error_message(await grant(http, {"grant_type": "authorization_code"}), 400)


@pytest.mark.parametrize("grant_type", ["password", "implicit", ""])
async def test_unsupported_grant_type_is_refused_with_400(
    http: httpx.AsyncClient, grant_type: str
) -> None:
    error_message(await grant(http, {"grant_type": grant_type}), 400)


ENDPOINTS = [
    ("POST", "/sessions"),
    ("GET", "/sessions"),
    ("GET", "/session"),
    ("GET", "/sessions/s-1"),
    ("PUT", "/sessions/s-1"),
    ("DELETE", "/sessions/s-1"),
    ("GET", "/sessions/s-1/participants"),
    ("POST", "/sessions/s-1/participants"),
    ("GET", "/participants/p-1"),
    ("PUT", "/participants/p-1"),
    ("DELETE", "/participants/p-1"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Bearer a.b.c", f"Basic {CLINIC_A.key}:{CLINIC_A.secret}"],
    ids=["missing", "garbage", "jwt-shaped-garbage", "basic-instead"],
)
async def test_every_api_call_needs_a_valid_bearer_token(
    http: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body: dict[str, str] | None = {} if method in ("POST", "PUT") else None
    response = await http.request(method, f"/v1{path}", headers=headers, json=body)
    error_message(response, 401)
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_token_is_valid_until_expires_in_elapses_on_the_emulator_clock(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.advance(timedelta(seconds=TTL - 1))
    assert (await coviu.call("GET", "/sessions")).status_code == 200
    await controls.advance(timedelta(seconds=1))
    expired = await coviu.call("GET", "/sessions")
    error_message(expired, 401)
    assert expired.headers["www-authenticate"] == CHALLENGE
    await controls.advance(timedelta(days=1))
    assert (await coviu.call("GET", "/sessions")).status_code == 401


async def test_refreshing_after_expiry_gives_a_working_token(
    http: httpx.AsyncClient, coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.advance(timedelta(seconds=TTL))
    form = {"grant_type": "refresh_token", "refresh_token": coviu.refresh_token}
    fresh = granted(await grant(http, form))["access_token"]
    assert (await sessions_with(http, fresh)).status_code == 200


async def test_an_auvious_token_is_not_accepted_by_coviu(
    http: httpx.AsyncClient, auvious: Auvious
) -> None:
    response = await sessions_with(http, auvious.access_token)
    error_message(response, 401)
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_a_token_with_an_edited_payload_is_refused(
    http: httpx.AsyncClient, coviu: Coviu
) -> None:
    header, payload, signature = coviu.access_token.split(".")
    claims = b64url_json(payload)
    claims.update(teamId=CLINIC_B.team, sub=CLINIC_B.key, exp=claims["exp"] + 86400)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = await sessions_with(http, f"{header}.{forged}.{signature}")
    error_message(response, 401)
    assert response.headers["www-authenticate"] == CHALLENGE
