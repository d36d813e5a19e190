"""The `/_emulator` controls (DESIGN.md §8): clock, reset, loopback-only, and persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.emulator import make_app
from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Auvious, Coviu, EmulatorControls, rfc1123

pytestmark = pytest.mark.anyio

OUTSIDER = ("203.0.113.5", 1234)


async def clock_now(http: httpx.AsyncClient) -> datetime:
    response = await http.get("/_emulator/clock")
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["now"])


async def test_clock_shows_now_as_iso_without_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/_emulator/clock")
    assert response.status_code == 200
    assert "authorization" not in response.request.headers
    assert set(response.json()) == {"now"}
    now = datetime.fromisoformat(response.json()["now"])
    assert now.tzinfo is not None
    assert now == T0


async def test_setting_the_clock_with_an_offset_shows_in_the_date_header(
    http: httpx.AsyncClient, coviu: Coviu
) -> None:
    response = await http.post("/_emulator/clock", json={"now": "2026-12-01T08:59:00+11:00"})
    assert response.status_code == 200, response.text
    expected = datetime(2026, 11, 30, 21, 59, tzinfo=UTC)
    assert datetime.fromisoformat(response.json()["now"]) == expected
    assert await clock_now(http) == expected
    answer = await coviu.call("GET", "/sessions")
    assert answer.headers["date"] == rfc1123(expected) == "Mon, 30 Nov 2026 21:59:00 GMT"


async def test_advancing_the_clock_moves_it_by_that_many_seconds(
    http: httpx.AsyncClient, coviu: Coviu
) -> None:
    response = await http.post("/_emulator/clock", json={"advance_seconds": 90})
    assert response.status_code == 200, response.text
    assert await clock_now(http) == T0 + timedelta(seconds=90)
    await http.post("/_emulator/clock", json={"advance_seconds": 3600})
    answer = await coviu.call("GET", "/sessions")
    assert answer.headers["date"] == rfc1123(T0 + timedelta(seconds=3690))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"now": "tomorrow"},
        {"now": "2026-12-01T08:59:00"},
        {"now": 1764489600},
        {"advance_seconds": "90"},
        {"advance_seconds": True},
        {"now": "2026-12-01T08:59:00Z", "advance_seconds": 60},
        [{"advance_seconds": 60}],
        "not json",
    ],
    ids=[
        "empty",
        "not-a-time",
        "no-offset",
        "number-now",
        "string-seconds",
        "boolean-seconds",
        "both",
        "array",
        "not-json",
    ],
)
async def test_bad_clock_bodies_are_refused_and_leave_the_clock(
    http: httpx.AsyncClient, body: Any
) -> None:
    if body == "not json":
        response = await http.post(
            "/_emulator/clock", content=b"{advance", headers={"Content-Type": "application/json"}
        )
    else:
        response = await http.post("/_emulator/clock", json=body)
    assert response.status_code == 400, response.text
    assert await clock_now(http) == T0


async def test_reset_empties_data_but_keeps_clients_and_clock(
    http: httpx.AsyncClient, coviu: Coviu, auvious: Auvious, controls: EmulatorControls
) -> None:
    await coviu.create_session(T0 + timedelta(days=1))
    snapshot_id = await auvious.upload("conv-1")
    moved = T0 + timedelta(hours=5)
    await controls.set(moved)
    await controls.faults(error_rate=1, path_prefix="/v1/participants")
    response = await http.post("/_emulator/reset")
    assert response.status_code == 200, response.text
    assert await clock_now(http) == moved
    coviu_again = await Coviu.login(http, CLINIC_A)
    listed = await coviu_again.call("GET", "/sessions")
    assert (listed.status_code, listed.json()["content"]) == (200, [])
    auvious_again = await Auvious.login(http, CLINIC_A)
    assert (await auvious_again.call("GET", f"/{snapshot_id}")).status_code == 404
    snapshots = await auvious_again.call("GET", "", params={"interactionId": "conv-1"})
    assert snapshots.json() == []
    assert (await http.get("/_emulator/faults")).json()["error_rate"] == 0


async def test_controls_refuse_non_loopback_callers(
    app: Starlette, http: httpx.AsyncClient, coviu: Coviu
) -> None:
    await coviu.create_session(T0 + timedelta(days=1))
    transport = httpx.ASGITransport(app=app, client=OUTSIDER)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as outside:
        assert (await outside.get("/_emulator/clock")).status_code == 403
        moved = await outside.post("/_emulator/clock", json={"advance_seconds": 3600})
        assert moved.status_code == 403
        assert (await outside.get("/_emulator/faults")).status_code == 403
        faulted = await outside.post("/_emulator/faults", json={"error_rate": 1})
        assert faulted.status_code == 403
        assert (await outside.post("/_emulator/reset")).status_code == 403
    assert await clock_now(http) == T0
    listed = await coviu.call("GET", "/sessions")
    assert listed.status_code == 200
    assert len(listed.json()["content"]) == 1


async def test_data_and_clock_survive_a_new_app_on_the_same_database(
    app: Starlette,
    emulator_db: Path,
    coviu: Coviu,
    auvious: Auvious,
    controls: EmulatorControls,
) -> None:
    session = await coviu.create_session(T0 + timedelta(days=1))
    snapshot_id = await auvious.upload("conv-1")
    moved = T0 + timedelta(hours=2, minutes=30)
    await controls.set(moved)
    second = make_app(db=emulator_db, initial_clock=T0 - timedelta(days=365), clients=[CLINIC_A])
    try:
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://e2.test") as http:
            assert await clock_now(http) == moved
            coviu_again = await Coviu.login(http, CLINIC_A)
            got = await coviu_again.call("GET", f"/sessions/{session['session_id']}")
            assert got.status_code == 200, got.text
            assert got.json()["session_name"] == session["session_name"]
            auvious_again = await Auvious.login(http, CLINIC_A)
            snapshot = await auvious_again.call("GET", f"/{snapshot_id}")
            assert snapshot.status_code == 200, snapshot.text
            assert snapshot.json()["state"] == "UPLOADED"
            assert got.headers["date"] == rfc1123(moved)
    finally:
        second.state.emulator.store.close()
