"""Tokens: renewed at half-life or after a refusal, once, without the caller noticing.

The emulator's tokens live an hour (tests/conftest.py). Moving the emulator's clock makes
the service refuse a token the client still trusts (a 401 with a Bearer challenge);
moving the client's `ManualTimer` past half of `expires_in` makes the client renew before
sending. `Wire` (wire.py) shows every grant's form, so a test can tell a refresh-token
grant from a fresh client-credentials one.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from reconciler.clients import (
    AuthenticationError,
    Clients,
    Credentials,
    ManualTimer,
    SessionCanceledError,
    Tuning,
)
from tests.clients.wire import (
    Exchange,
    Hook,
    Wire,
    create_many,
    draft,
    error_answer,
    wired_clients,
)
from tests.conftest import CLINIC_A, TARGETS
from tests.emulator.api import Auvious, EmulatorControls

pytestmark = pytest.mark.anyio

COVIU_TOKEN = "/v1/auth/token"
HALF_LIFE = 1800  # half of the emulator's 3600 s expires_in
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def coviu_grants(wire: Wire, since: int = 0) -> list[str]:
    """The grant types of Coviu token requests sent after exchange number `since`."""
    return [
        e.form["grant_type"]
        for e in wire.exchanges[since:]
        if e.method == "POST" and e.path == COVIU_TOKEN
    ]


def statuses(wire: Wire, method: str, path_prefix: str, since: int = 0) -> list[int | None]:
    return [
        e.status
        for e in wire.exchanges[since:]
        if e.method == method and e.path.startswith(path_prefix)
    ]


def expire_after(controls: EmulatorControls, *, pages: int) -> Hook:
    """A hook moving the emulator's clock 2 hours on, once, after the `pages`-th listing
    page was answered: every token issued before then is expired from there on."""
    answered = 0

    async def hook(exchange: Exchange) -> None:
        nonlocal answered
        if exchange.method == "GET" and exchange.path == "/v1/sessions" and exchange.status:
            answered += 1
            if answered == pages:
                await controls.advance(timedelta(hours=2))

    return hook


# 2. A token that expires mid-run


@pytest.mark.parametrize("parallelism", [1, 4])
async def test_token_expiring_mid_listing_is_renewed_once_with_the_refresh_grant(
    parallelism: int,
    wire: Wire,
    timer: ManualTimer,
    tuning: Tuning,
    controls: EmulatorControls,
) -> None:
    async with wired_clients(wire, timer, replace(tuning, page_parallelism=parallelism)) as c:
        created = await create_many(c, 1000)
        first_grant = wire.grants()[0]
        assert first_grant.form["grant_type"] == "client_credentials"
        before = len(wire.exchanges)
        # After page 0 (parallelism 4: pages 1 and 2 then share the expired token) or
        # after page 1 (parallelism 1: page 2 meets it alone).
        wire.hooks.append(expire_after(controls, pages=1 if parallelism > 1 else 2))
        listed = await c.coviu.list_sessions()

    assert [s.session_id for s in listed] == [s.session_id for s in created]
    sent = wire.exchanges[before:]
    renewals = [e for e in sent if e.method == "POST" and e.path == COVIU_TOKEN]
    assert len(renewals) == 1
    assert renewals[0].form["grant_type"] == "refresh_token"
    assert renewals[0].form["refresh_token"] == json.loads(first_grant.answer)["refresh_token"]
    gets = [e for e in sent if e.method == "GET"]
    refused = [e for e in gets if e.status == 401]
    assert refused  # the premise: the service did refuse the old token
    assert all(e.headers["authorization"] == refused[0].headers["authorization"] for e in refused)
    after = gets[gets.index(refused[-1]) + 1 :]
    assert after
    assert all(e.status == 200 for e in after)  # each refused page was fetched again
    assert {e.headers["authorization"] for e in after}.isdisjoint(
        {refused[0].headers["authorization"]}
    )
    print(
        f"\n[acceptance 2] page_parallelism={parallelism}: listing with a token expiring"
        f" mid-run took {len(sent)} requests: {len(gets)} GETs ({len(refused)} refused"
        f" with 401), {len(renewals)} renewal (refresh_token grant)"
    )


async def test_expired_auvious_token_is_replaced_by_a_new_client_credentials_grant(
    wire: Wire, wired: Clients, auvious: Auvious, controls: EmulatorControls
) -> None:
    snapshot_id = await auvious.upload("conv-3")
    await wired.auvious.get_snapshot(snapshot_id)
    await controls.advance(timedelta(hours=2))
    before = len(wire.exchanges)
    assert (await wired.auvious.get_snapshot(snapshot_id)).id == snapshot_id

    sent = [(e.method, e.path, e.status) for e in wire.exchanges[before:]]
    path = f"/rtc-api/snapshots/{snapshot_id}"
    assert sent == [
        ("GET", path, 401),
        ("POST", "/security/oauth/token", 200),
        ("GET", path, 200),
    ]
    assert wire.exchanges[before + 1].form["grant_type"] == "client_credentials"


async def test_token_past_half_life_is_renewed_before_sending(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    await wired.coviu.list_sessions()
    assert coviu_grants(wire) == ["client_credentials"]
    assert timer.now == 0  # the grant's half-life is counted from 0

    timer.advance(HALF_LIFE - 1)
    before = len(wire.exchanges)
    await wired.coviu.list_sessions()
    assert coviu_grants(wire, before) == []  # not yet

    timer.advance(2)
    before = len(wire.exchanges)
    await wired.coviu.list_sessions()
    sent = [(e.method, e.path, e.status) for e in wire.exchanges[before:]]
    assert sent == [("POST", COVIU_TOKEN, 200), ("GET", "/v1/sessions", 200)]  # no 401
    assert coviu_grants(wire, before) == ["refresh_token"]


async def test_concurrent_calls_past_half_life_renew_once(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    session = await wired.coviu.create_session(draft(1))
    timer.advance(HALF_LIFE + 1)
    before = len(wire.exchanges)
    await asyncio.gather(*(wired.coviu.get_session(session.session_id) for _ in range(6)))
    assert coviu_grants(wire, before) == ["refresh_token"]
    assert 401 not in statuses(wire, "GET", "/v1/sessions", before)


async def test_concurrent_calls_sharing_an_expired_token_renew_it_once(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(draft(1))
    expired = wired.coviu.tokens.secrets()
    await controls.advance(timedelta(hours=2))
    callers = 6
    refusals = 0

    async def hold_refusals(exchange: Exchange) -> None:
        # Hold each 401 until every caller has met one, so all of them try to renew
        # the same token at once.
        nonlocal refusals
        if exchange.status == 401:
            refusals += 1
            for _ in range(1000):
                if refusals >= callers:
                    break
                await asyncio.sleep(0)

    wire.hooks.append(hold_refusals)
    before = len(wire.exchanges)
    found = await asyncio.gather(
        *(wired.coviu.get_session(session.session_id) for _ in range(callers))
    )

    assert {s.session_id for s in found} == {session.session_id}
    assert refusals == callers  # the premise: all of them met the expired token
    assert coviu_grants(wire, before) == ["refresh_token"]
    assert statuses(wire, "GET", "/v1/sessions", before).count(200) == callers
    assert wired.coviu.tokens.secrets() != expired


async def test_refused_refresh_token_falls_back_to_client_credentials(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(draft(1))

    def refuse_refresh(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == COVIU_TOKEN and b"grant_type=refresh_token" in request.content:
            return httpx.Response(
                400, json={"error": {"message": "refresh_token is invalid, used or expired"}}
            )
        return None

    wire.forgers.append(refuse_refresh)
    await controls.advance(timedelta(hours=2))
    before = len(wire.exchanges)
    found = await wired.coviu.get_session(session.session_id)

    assert found.session_id == session.session_id
    assert coviu_grants(wire, before) == ["refresh_token", "client_credentials"]
    assert statuses(wire, "POST", COVIU_TOKEN, before) == [400, 200]
    assert statuses(wire, "GET", "/v1/sessions", before) == [401, 200]


async def test_used_refresh_token_falls_back_to_client_credentials(
    wire: Wire, wired: Clients, timer: ManualTimer, http: httpx.AsyncClient
) -> None:
    await wired.coviu.list_sessions()
    # Someone else redeems the client's refresh token first (refresh tokens are single-use).
    refresh = wired.coviu.tokens.secrets()[-1]
    redeemed = await http.post(
        COVIU_TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=(CLINIC_A.key, CLINIC_A.secret),
    )
    assert redeemed.status_code == 200
    timer.advance(HALF_LIFE + 1)
    before = len(wire.exchanges)
    await wired.coviu.list_sessions()

    assert coviu_grants(wire, before) == ["refresh_token", "client_credentials"]
    assert statuses(wire, "POST", COVIU_TOKEN, before) == [400, 200]
    assert statuses(wire, "GET", "/v1/sessions", before) == [200]


@pytest.mark.parametrize(
    ("call", "path"),
    [("get_session", "/v1/sessions/"), ("list_sessions", "/v1/sessions")],
)
async def test_a_second_401_after_renewal_raises_authentication_error(
    call: str, path: str, wire: Wire, wired: Clients
) -> None:
    session = await wired.coviu.create_session(draft(1))

    refusals = 0

    def refuse_every_token(request: httpx.Request) -> httpx.Response | None:
        nonlocal refusals
        if request.method == "GET" and request.url.path.startswith(path):
            refusals += 1
            if refusals > 5:  # a client in a renewal loop: end it, and the test fails
                return error_answer(400, "renewal loop")()
            return error_answer(401, "token revoked", **BEARER_CHALLENGE)()
        return None

    wire.forgers.append(refuse_every_token)
    before = len(wire.exchanges)
    reading = (
        wired.coviu.get_session(session.session_id)
        if call == "get_session"
        else wired.coviu.list_sessions()
    )
    with pytest.raises(AuthenticationError) as caught:
        await reading

    assert not isinstance(caught.value, SessionCanceledError)
    assert "even after renewing the token" in str(caught.value)
    assert statuses(wire, "GET", path, before) == [401, 401]
    assert coviu_grants(wire, before) == ["refresh_token"]


@pytest.mark.parametrize(
    ("service", "names"),
    [("coviu", "COVIU_API_KEY"), ("auvious", "AUVIOUS_CLIENT_ID")],
)
async def test_bad_credentials_raise_authentication_error_naming_the_setting(
    service: str, names: str, wire: Wire, timer: ManualTimer, tuning: Tuning
) -> None:
    wrong = Credentials(CLINIC_A.key, "not-the-secret-42")
    targets = (
        replace(TARGETS, coviu=wrong) if service == "coviu" else replace(TARGETS, auvious=wrong)
    )
    async with wired_clients(wire, timer, tuning, targets) as clients:
        first_call = (
            clients.coviu.list_sessions()
            if service == "coviu"
            else clients.auvious.list_snapshots("conv-1")
        )
        with pytest.raises(AuthenticationError) as caught:
            await first_call

    message = str(caught.value)
    assert names in message
    assert wrong.secret not in message
    basic = base64.b64encode(f"{wrong.client_id}:{wrong.secret}".encode()).decode()
    assert basic not in message
    assert [e.status for e in wire.grants()] == [401]  # asked once, not retried
    assert [e for e in wire.exchanges if e not in wire.grants()] == []  # nothing else sent


@pytest.mark.parametrize(
    ("service", "path", "names"),
    [
        ("coviu", COVIU_TOKEN, "COVIU_API_KEY"),
        ("auvious", "/security/oauth/token", "AUVIOUS_CLIENT_ID"),
    ],
)
async def test_credentials_refused_with_a_400_raise_authentication_error_without_the_secret(
    service: str, path: str, names: str, wire: Wire, wired: Clients
) -> None:
    # OAuth servers commonly refuse a client with 400 invalid_client, not 401.
    def refuse_client(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == path:
            body = {"error": "invalid_client", "error_description": "Bad client credentials"}
            return httpx.Response(400, json=body)
        return None

    wire.forgers.append(refuse_client)
    first_call = (
        wired.coviu.list_sessions()
        if service == "coviu"
        else wired.auvious.list_snapshots("conv-1")
    )
    with pytest.raises(AuthenticationError) as caught:
        await first_call

    message = str(caught.value)
    assert names in message
    assert "Bad client credentials" in message
    assert CLINIC_A.secret not in message
    assert [e.path for e in wire.exchanges] == [path]


# 4. A cancelled session is not an authentication failure


async def test_cancelled_session_is_reported_as_such_and_renews_no_token(
    wire: Wire, wired: Clients
) -> None:
    session = await wired.coviu.create_session(draft(1))
    await wired.coviu.cancel_session(session.session_id)
    before = len(wire.exchanges)
    with pytest.raises(SessionCanceledError) as caught:
        await wired.coviu.get_session(session.session_id)

    assert not isinstance(caught.value, AuthenticationError)
    assert caught.value.status == 401
    assert [(e.method, e.status) for e in wire.exchanges[before:]] == [("GET", 401)]
    assert coviu_grants(wire, before) == []


async def test_cancelled_session_read_with_an_expired_token_renews_once_then_says_cancelled(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(draft(1))
    await wired.coviu.cancel_session(session.session_id)
    await controls.advance(timedelta(hours=2))
    before = len(wire.exchanges)
    with pytest.raises(SessionCanceledError):
        await wired.coviu.get_session(session.session_id)

    assert statuses(wire, "GET", "/v1/sessions", before) == [401, 401]
    assert coviu_grants(wire, before) == ["refresh_token"]
