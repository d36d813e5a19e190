"""Input that once crashed the emulator, or bent its rules, now gets a clear 4xx.

In the embedded default the emulator runs in-process, so an exception here would be a
traceback in the user's terminal: every case below must be an answer, not a crash.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from reconciler.emulator import ClientCredentials
from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Auvious, Coviu, EmulatorControls, iso

pytestmark = pytest.mark.anyio

FAR_TIMES = [
    "9999-12-31T23:59:59-01:00",
    "Fri, 31 Dec 9999 23:00:00 -0500",
    "0001-01-01T00:00:00+01:00",
]


@pytest.mark.parametrize("far", FAR_TIMES)
async def test_times_outside_the_supported_years_are_refused_in_bodies(
    coviu: Coviu, far: str
) -> None:
    body = {"start_time": far, "end_time": far}
    response = await coviu.call("POST", "/sessions", json=body)
    assert response.status_code == 400
    assert "start_time" in response.json()["error"]["message"]


@pytest.mark.parametrize("far", FAR_TIMES)
async def test_times_outside_the_supported_years_are_refused_in_queries(
    coviu: Coviu, far: str
) -> None:
    response = await coviu.call("GET", "/sessions", params={"start_time": far})
    assert response.status_code == 400


@pytest.mark.parametrize("page", ["10000000000000000000", str(2**62)])
async def test_huge_page_numbers_are_refused(coviu: Coviu, page: str) -> None:
    response = await coviu.call("GET", "/sessions", params={"page": page})
    assert response.status_code == 400
    assert "page" in response.json()["error"]["message"]


async def test_deeply_nested_json_is_refused(coviu: Coviu) -> None:
    response = await coviu.call(
        "POST", "/sessions", content=b"[" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "raw",
    [b'{"advance_seconds": NaN}', b'{"advance_seconds": Infinity}', b'{"advance_seconds": 1e300}'],
)
async def test_clock_refuses_non_finite_or_enormous_advances(
    http: httpx.AsyncClient, controls: EmulatorControls, raw: bytes
) -> None:
    response = await http.post("/_emulator/clock", content=raw)
    assert response.status_code == 400
    assert await controls.now() == T0


async def test_clock_cannot_be_set_or_moved_out_of_the_supported_years(
    http: httpx.AsyncClient, controls: EmulatorControls
) -> None:
    assert (
        await http.post("/_emulator/clock", json={"now": "9999-12-31T23:00:00Z"})
    ).status_code == 400
    assert (
        await http.post("/_emulator/clock", json={"advance_seconds": -60 * 365 * 24 * 3600})
    ).status_code == 400
    assert await controls.now() == T0


async def test_auvious_timestamps_outside_the_supported_years_are_refused(auvious: Auvious) -> None:
    response = await auvious.call(
        "POST",
        "/request",
        json={
            "interactionId": "c",
            "userEndpointId": "e",
            "timestamp": "9999-12-31T23:59:59-01:00",
        },
    )
    assert response.status_code == 400


async def test_sub_second_times_are_kept_at_the_second_the_api_shows(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    start = T0 + timedelta(hours=1)
    end = start + timedelta(minutes=30)
    created = await coviu.call(
        "POST",
        "/sessions",
        json={
            "start_time": iso(start).replace("Z", ".900Z"),
            "end_time": iso(end).replace("Z", ".900Z"),
        },
    )
    assert created.status_code == 200, created.text
    session = created.json()
    # Half a second after the start the API shows: started, so a cancel is refused.
    await controls.set(start + timedelta(milliseconds=500))
    coviu = await Coviu.login(coviu.http, CLINIC_A)  # the clock jump expired its token
    refused = await coviu.call("DELETE", f"/sessions/{session['session_id']}")
    assert refused.status_code == 400
    # The end time read back is the end time a filter matches.
    listed = await coviu.call("GET", "/sessions", params={"end_time": session["end_time"]})
    assert [s["session_id"] for s in listed.json()["content"]] == [session["session_id"]]


async def test_a_transaction_id_reused_for_another_request_is_refused(auvious: Auvious) -> None:
    uploaded = await auvious.call(
        "POST",
        "/upload",
        data={"interactionId": "conv-1", "userEndpointId": "ep"},
        files={"image": ("p.png", b"\x89PNG", "image/png")},
        headers={"X-Auvious-TransactionId": "t-1"},
    )
    snapshot_id = uploaded.json()["snapshotId"]
    response = await auvious.call(
        "POST",
        "/approve",
        json={"snapshotId": snapshot_id, "userEndpointId": "ep"},
        headers={"X-Auvious-TransactionId": "t-1"},
    )
    assert response.status_code == 409
    state = (await auvious.call("GET", f"/{snapshot_id}")).json()["state"]
    assert state == "UPLOADED"


async def test_a_null_time_on_a_cancelled_session_is_refused(coviu: Coviu) -> None:
    session = await coviu.create_session(T0 + timedelta(hours=1))
    await coviu.call("DELETE", f"/sessions/{session['session_id']}")
    response = await coviu.call(
        "PUT", f"/sessions/{session['session_id']}", json={"start_time": None}
    )
    assert response.status_code == 400


async def test_sending_back_the_current_start_while_in_progress_is_no_change(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    start = T0 + timedelta(minutes=10)
    session = await coviu.create_session(start)
    await controls.set(start + timedelta(minutes=1))
    later_end = iso(start + timedelta(hours=1))
    body: dict[str, Any] = {
        "start_time": session["start_time"],
        "end_time": later_end,
        "session_name": session["session_name"],
    }
    response = await coviu.call("PUT", f"/sessions/{session['session_id']}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["start_time"] == session["start_time"]


async def test_rfc1123_without_a_weekday_is_accepted(coviu: Coviu) -> None:
    response = await coviu.call(
        "POST",
        "/sessions",
        json={"start_time": "01 Dec 2026 09:00:00 GMT", "end_time": "01 Dec 2026 09:30:00 GMT"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["start_time"] == "Tue, 01 Dec 2026 09:00:00 GMT"


async def test_oversized_bodies_get_a_coviu_error_with_the_date(coviu: Coviu) -> None:
    response = await coviu.call(
        "POST",
        "/sessions",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(13 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert "error" in response.json()
    assert "date" in response.headers


async def test_a_negative_retry_after_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/_emulator/faults", json={"rate_limit_rate": 1, "retry_after": -5})
    assert response.status_code == 400


async def test_unauthenticated_callers_learn_nothing_from_validation(
    http: httpx.AsyncClient,
) -> None:
    listed = await http.get("/v1/sessions", params={"page": "-1"})
    assert listed.status_code == 401
    snapshots = await http.get("/rtc-api/snapshots")
    assert snapshots.status_code == 401
    created = await http.post("/v1/sessions", content=b"not json")
    assert created.status_code == 401
    for path in ("/v1/sessions/any", "/v1/sessions/any/participants"):
        flagged = await http.get(path, params={"deleted_participants": "maybe"})
        assert flagged.status_code == 401, path


def test_credentials_do_not_show_their_secret_in_repr() -> None:
    assert "s3cret" not in repr(ClientCredentials("k", "s3cret", "t"))


async def test_oversized_streamed_bodies_get_a_coviu_error_too(coviu: Coviu) -> None:
    async def chunks() -> Any:
        for _ in range(14):
            yield b" " * (1024 * 1024)

    response = await coviu.call(
        "POST", "/sessions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "error" in response.json()
