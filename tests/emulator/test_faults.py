"""Injected faults (README "Injecting faults"): errors, rate limits, latency, lost answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from reconciler.emulator import make_app
from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Auvious, Coviu, EmulatorControls, iso

pytestmark = pytest.mark.anyio

START = T0 + timedelta(days=1)


def session_body() -> dict[str, Any]:
    return {
        "session_name": "Follow-up",
        "start_time": iso(START),
        "end_time": iso(START + timedelta(minutes=30)),
    }


async def session_names(coviu: Coviu) -> list[str]:
    response = await coviu.call("GET", "/sessions")
    assert response.status_code == 200, response.text
    return [session["session_name"] for session in response.json()["content"]]


async def statuses(coviu: Coviu, count: int = 20) -> list[int]:
    return [(await coviu.call("GET", "/sessions")).status_code for _ in range(count)]


async def test_error_rate_answers_the_status_with_each_api_error_body_and_does_nothing(
    coviu: Coviu, auvious: Auvious, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1, status=503, seed=1)
    created = await coviu.call("POST", "/sessions", json=session_body())
    assert created.status_code == 503
    assert isinstance(created.json()["error"]["message"], str)
    files = {"image": ("a.png", b"\x89PNG image", "image/png")}
    data = {"interactionId": "conv-1", "userEndpointId": "ep-patient"}
    uploaded = await auvious.call("POST", "/upload", data=data, files=files)
    assert uploaded.status_code == 503
    body = uploaded.json()
    assert isinstance(body["message"], str)
    assert all(isinstance(value, str) for value in body.values())
    assert (await coviu.call("GET", "/sessions")).status_code == 503
    await controls.faults()
    assert await session_names(coviu) == []
    listed = await auvious.call("GET", "", params={"interactionId": "conv-1"})
    assert listed.json() == []


async def test_error_rate_uses_the_configured_status(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1, status=502)
    assert await statuses(coviu, 3) == [502, 502, 502]


async def test_rate_limit_answers_429_with_retry_after(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.faults(rate_limit_rate=1, retry_after=7)
    response = await coviu.call("POST", "/sessions", json=session_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    await controls.faults(rate_limit_rate=1)
    assert (await coviu.call("GET", "/sessions")).headers["retry-after"] == "1"
    await controls.faults()
    assert await session_names(coviu) == []


async def test_latency_awaits_the_injected_sleep() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    app = make_app(db=":memory:", initial_clock=T0, clients=[CLINIC_A], sleep=fake_sleep)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://e.test") as http:
            coviu = await Coviu.login(http, CLINIC_A)
            assert (await coviu.call("GET", "/sessions")).status_code == 200
            assert waits == []
            await EmulatorControls(http).faults(latency_ms=250, seed=3)
            assert (await http.get("/_emulator/clock")).status_code == 200
            assert waits == []
            assert (await coviu.call("GET", "/sessions")).status_code == 200
            assert waits == [0.25]
    finally:
        app.state.emulator.store.close()


async def test_dropped_answer_after_commit_leaves_the_session_created(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.faults(drop_after_commit_rate=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await coviu.call("POST", "/sessions", json=session_body())
    listed = await coviu.call("GET", "/sessions")
    assert listed.status_code == 200
    await controls.faults()
    assert await session_names(coviu) == ["Follow-up"]


async def test_same_seed_meets_the_same_faults_and_another_seed_does_not(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=0.5, seed=7)
    first = await statuses(coviu)
    assert set(first) == {200, 503}
    await controls.faults(error_rate=0.5, seed=7)
    assert await statuses(coviu) == first
    await controls.faults(error_rate=0.5, seed=8)
    assert await statuses(coviu) != first


async def test_methods_limit_which_requests_meet_faults(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1, methods=["POST"])
    assert (await coviu.call("GET", "/sessions")).status_code == 200
    assert (await coviu.call("POST", "/sessions", json=session_body())).status_code == 503


async def test_path_prefix_limits_which_requests_meet_faults(
    coviu: Coviu, auvious: Auvious, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1, path_prefix="/rtc-api")
    assert (await coviu.call("GET", "/sessions")).status_code == 200
    listed = await auvious.call("GET", "", params={"interactionId": "conv-1"})
    assert listed.status_code == 503


async def test_empty_settings_turn_faults_off(
    http: httpx.AsyncClient, coviu: Coviu, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1, rate_limit_rate=1, seed=2)
    assert (await coviu.call("GET", "/sessions")).status_code in {429, 503}
    await controls.faults()
    assert await statuses(coviu, 5) == [200] * 5
    shown = (await http.get("/_emulator/faults")).json()
    assert (shown["error_rate"], shown["rate_limit_rate"]) == (0, 0)


@pytest.mark.parametrize(
    "settings",
    [{"bogus": 1}, {"error_rate": 1.5}, {"status": 200}],
    ids=["unknown-key", "rate-above-one", "success-status"],
)
async def test_bad_settings_are_refused(
    http: httpx.AsyncClient, coviu: Coviu, settings: dict[str, Any]
) -> None:
    response = await http.post("/_emulator/faults", json=settings)
    assert response.status_code == 400
    assert (await coviu.call("GET", "/sessions")).status_code == 200


async def test_controls_are_never_faulted(
    http: httpx.AsyncClient, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1, rate_limit_rate=1, drop_after_commit_rate=1)
    assert (await http.get("/_emulator/clock")).status_code == 200
    moved = await http.post("/_emulator/clock", json={"advance_seconds": 60})
    assert moved.status_code == 200
    assert (await http.get("/_emulator/faults")).status_code == 200
    assert (await http.post("/_emulator/faults", json={})).status_code == 200
