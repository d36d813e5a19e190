"""Times in Coviu bodies: RFC 1123 or ISO 8601 in, RFC 1123 at second precision out."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import T0
from tests.emulator.api import Coviu, EmulatorControls, iso, rfc1123

pytestmark = pytest.mark.anyio

RFC1123 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)
# T0 is Monday 2026-11-30 08:00 UTC; these are the next day.
START_RFC = "Tue, 01 Dec 2026 09:30:00 GMT"
END_RFC = "Tue, 01 Dec 2026 10:15:00 GMT"
START_SPELLINGS = {
    "rfc1123": START_RFC,
    "iso-z": "2026-12-01T09:30:00Z",
    "iso-offset": "2026-12-01T20:30:00+11:00",
    "iso-negative-offset": "2026-12-01T04:30:00-05:00",
    "iso-millis": "2026-12-01T09:30:00.000Z",
    "iso-offset-millis": "2026-12-01T20:30:00.000+11:00",
}


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def refused(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str)
    return message


async def create(coviu: Coviu, start: Any, end: Any = END_RFC, **fields: Any) -> httpx.Response:
    body = {"session_name": "Times", "start_time": start, "end_time": end, **fields}
    return await coviu.call("POST", "/sessions", json=body)


@pytest.mark.parametrize("start", START_SPELLINGS.values(), ids=START_SPELLINGS.keys())
async def test_body_times_are_read_in_either_format_and_answered_as_rfc1123(
    coviu: Coviu, start: str
) -> None:
    session = ok(await create(coviu, start))
    assert session["start_time"] == START_RFC
    assert session["end_time"] == END_RFC
    fetched = ok(await coviu.call("GET", f"/sessions/{session['session_id']}"))
    assert (fetched["start_time"], fetched["end_time"]) == (START_RFC, END_RFC)


async def test_an_offset_time_and_its_z_spelling_are_the_same_instant(coviu: Coviu) -> None:
    offset = ok(await create(coviu, "2026-12-01T20:30:00+11:00"))
    zulu = ok(await create(coviu, "2026-12-01T09:30:00Z"))
    assert offset["start_time"] == zulu["start_time"]
    listed = ok(
        await coviu.call(
            "GET", "/sessions", params={"start_time": "2026-12-01T09:30:00Z", "end_time": END_RFC}
        )
    )
    assert {s["session_id"] for s in listed["content"]} == {
        offset["session_id"],
        zulu["session_id"],
    }


async def test_fractions_of_a_second_are_not_answered(coviu: Coviu) -> None:
    session = ok(await create(coviu, "2026-12-01T09:30:00.250Z", "2026-12-01T10:15:00.250Z"))
    assert session["start_time"] == START_RFC
    assert session["end_time"] == END_RFC


async def test_every_answered_time_is_rfc1123(coviu: Coviu, controls: EmulatorControls) -> None:
    session = ok(await create(coviu, "2026-12-01T20:30:00.123+11:00", participants=[{}]))
    participant_id = session["participants"][0]["participant_id"]
    await controls.advance(timedelta(seconds=90, milliseconds=500))
    ok(await coviu.call("DELETE", f"/participants/{participant_id}"))
    listed = ok(await coviu.call("GET", "/sessions", params={"deleted_participants": "1"}))
    shown = listed["content"][0]
    for value in (shown["start_time"], shown["end_time"], shown["participants"][0]["deleted_at"]):
        assert RFC1123.fullmatch(value), value
    assert shown["participants"][0]["deleted_at"] == rfc1123(T0 + timedelta(seconds=90))


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ("start_time", "Mon, 30 Nov 2026 09:00:07 GMT"),
        ("end_time", "Mon, 30 Nov 2026 12:05:09 GMT"),
    ],
)
async def test_an_update_sending_rfc1123_gets_exactly_that_string_back(
    coviu: Coviu, field: str, sent: str
) -> None:
    session = ok(await create(coviu, iso(T0 + timedelta(hours=3)), iso(T0 + timedelta(hours=4))))
    path = f"/sessions/{session['session_id']}"
    updated = ok(await coviu.call("PUT", path, json={field: sent}))
    assert updated[field] == sent
    assert ok(await coviu.call("GET", path))[field] == sent


async def test_an_update_with_an_offset_time_is_answered_in_gmt(coviu: Coviu) -> None:
    session = ok(await create(coviu, START_RFC))
    path = f"/sessions/{session['session_id']}"
    updated = ok(await coviu.call("PUT", path, json={"end_time": "2026-12-01T23:45:00+11:00"}))
    assert updated["end_time"] == "Tue, 01 Dec 2026 12:45:00 GMT"
    assert updated["start_time"] == START_RFC


BAD_TIMES = {
    "naive-iso": "2026-12-01T09:30:00",
    "naive-rfc1123": "Tue, 01 Dec 2026 09:30:00",
    "garbage": "half past nine",
    "date-only-words": "tomorrow",
    "empty": "",
}


@pytest.mark.parametrize("bad", BAD_TIMES.values(), ids=BAD_TIMES.keys())
@pytest.mark.parametrize("field", ["start_time", "end_time"])
async def test_unreadable_body_times_are_refused_naming_the_field(
    coviu: Coviu, field: str, bad: str
) -> None:
    times = {"start_time": START_RFC, "end_time": END_RFC, field: bad}
    assert field in refused(await coviu.call("POST", "/sessions", json=times))
    assert ok(await coviu.call("GET", "/sessions"))["content"] == []
    session = ok(await create(coviu, START_RFC))
    path = f"/sessions/{session['session_id']}"
    assert field in refused(await coviu.call("PUT", path, json={field: bad}))
    assert ok(await coviu.call("GET", path)) == session


async def test_non_string_times_are_refused(coviu: Coviu) -> None:
    refused(await create(coviu, 1764581400))
    refused(await create(coviu, START_RFC, {"at": END_RFC}))
