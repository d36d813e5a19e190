"""The session lifecycle rules of DESIGN.md §5, tested over HTTP at their boundaries.

Every refusal is a 400 naming the rule, and a refused call changes nothing: each test
re-reads the object after a refusal. Time moves only by moving the emulator's clock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.emulator import make_app
from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Coviu, EmulatorControls, iso, rfc1123

pytestmark = pytest.mark.anyio

SECOND = timedelta(seconds=1)
# Close enough to T0 that the fixture's one-hour token outlives every clock move here.
START = T0 + timedelta(minutes=10)
END = START + timedelta(minutes=30)
MID = START + timedelta(minutes=5)

# Moments around a session's window, and whether it can still be changed then.
EDITABLE_MOMENTS = [
    pytest.param(START - SECOND, True, id="1s-before-start"),
    pytest.param(START + SECOND, True, id="1s-after-start"),
    pytest.param(END - SECOND, True, id="1s-before-end"),
    pytest.param(END, False, id="at-end"),
    pytest.param(END + SECOND, False, id="1s-after-end"),
]


def assert_allowed(response: httpx.Response) -> None:
    assert response.is_success, response.text


def assert_refused(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert rule in message, message


async def read_session(coviu: Coviu, session_id: str) -> dict[str, Any]:
    """The session as listed, whatever its phase (a cancelled one answers GET with 401)."""
    params = {"include_canceled": "true", "deleted_participants": "true"}
    response = await coviu.call("GET", "/sessions", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = [
        s for s in response.json()["content"] if s["session_id"] == session_id
    ]
    assert len(found) == 1, response.text
    return found[0]


async def scheduled_session(coviu: Coviu) -> dict[str, Any]:
    """A session from START to END with one participant, created at T0."""
    return await coviu.create_session(
        START, minutes=30, participants=[{"display_name": "Pat", "role": "guest"}]
    )


async def attempt(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, method: str, path: str, body: Any
) -> tuple[dict[str, Any], httpx.Response, dict[str, Any]]:
    """Create a scheduled session, move the clock to `moment`, then make one call to `path`
    (formatted with `sid` and `pid`, its participant's id): the session before, the answer,
    and the session after."""
    session = await scheduled_session(coviu)
    sid, pid = session["session_id"], session["participants"][0]["participant_id"]
    await controls.set(moment)
    before = await read_session(coviu, sid)
    response = await coviu.call(method, path.format(sid=sid, pid=pid), json=body)
    return before, response, await read_session(coviu, sid)


def assert_outcome(
    response: httpx.Response,
    rule: str,
    allowed: bool,
    before: dict[str, Any],
    after: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    """Allowed: 2xx and the session is now `expected`; refused: 400 and nothing changed."""
    if allowed:
        assert_allowed(response)
        assert after == expected
    else:
        assert_refused(response, rule)
        assert after == before


# --- create session: start > now and end > start ------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [
        pytest.param(T0 + SECOND, T0 + timedelta(minutes=30), True, id="start-1s-after-now"),
        pytest.param(T0, T0 + timedelta(minutes=30), False, id="start-at-now"),
        pytest.param(T0 - SECOND, T0 + timedelta(minutes=30), False, id="start-1s-before-now"),
        pytest.param(START, START + SECOND, True, id="end-1s-after-start"),
        pytest.param(START, START, False, id="end-at-start"),
        pytest.param(START, START - SECOND, False, id="end-before-start"),
    ],
)
async def test_create_session_needs_a_future_start_and_a_later_end(
    coviu: Coviu, start: datetime, end: datetime, allowed: bool
) -> None:
    body = {"session_name": "Intake", "start_time": iso(start), "end_time": iso(end)}
    response = await coviu.call("POST", "/sessions", json=body)
    listed = await coviu.call("GET", "/sessions", params={"include_canceled": "true"})
    if allowed:
        assert_allowed(response)
        assert response.json()["start_time"] == rfc1123(start)
        assert [s["session_id"] for s in listed.json()["content"]] == [
            response.json()["session_id"]
        ]
    else:
        assert_refused(response, "create session")
        assert listed.json()["content"] == []


# --- update session name/picture: scheduled or in progress --------------------------------


@pytest.mark.parametrize("field", ["session_name", "picture"])
@pytest.mark.parametrize(("moment", "allowed"), EDITABLE_MOMENTS)
async def test_name_and_picture_change_only_until_the_end(
    coviu: Coviu, controls: EmulatorControls, field: str, moment: datetime, allowed: bool
) -> None:
    before, response, after = await attempt(
        coviu, controls, moment, "PUT", "/sessions/{sid}", {field: "New"}
    )
    expected = {**before, field: "New"}
    assert_outcome(response, "update session name/picture", allowed, before, after, expected)


# --- update start_time: scheduled only, to a future time ----------------------------------


@pytest.mark.parametrize(
    ("moment", "new_start", "allowed"),
    [
        pytest.param(T0, T0 + SECOND, True, id="new-start-1s-after-now"),
        pytest.param(T0, T0, False, id="new-start-at-now"),
        pytest.param(T0, T0 - SECOND, False, id="new-start-in-the-past"),
        pytest.param(START - SECOND, START + timedelta(minutes=1), True, id="1s-before-start"),
        pytest.param(START, START + timedelta(minutes=1), False, id="at-start"),
        pytest.param(START + SECOND, START + timedelta(minutes=1), False, id="1s-after-start"),
    ],
)
async def test_start_time_moves_only_before_the_start_and_into_the_future(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, new_start: datetime, allowed: bool
) -> None:
    body = {"start_time": iso(new_start)}
    before, response, after = await attempt(coviu, controls, moment, "PUT", "/sessions/{sid}", body)
    expected = {**before, "start_time": rfc1123(new_start)}
    assert_outcome(response, "update start_time", allowed, before, after, expected)


# --- update end_time: scheduled or in progress, new end > max(start, now) -----------------


@pytest.mark.parametrize(
    ("moment", "new_end", "allowed"),
    [
        pytest.param(T0, END + timedelta(minutes=10), True, id="scheduled-later-end"),
        pytest.param(T0, START + SECOND, True, id="scheduled-1s-after-start"),
        pytest.param(T0, START, False, id="scheduled-at-start"),
        pytest.param(START + SECOND, END + timedelta(minutes=10), True, id="in-progress-later"),
        pytest.param(MID, MID + SECOND, True, id="in-progress-1s-after-now"),
        pytest.param(MID, MID, False, id="in-progress-at-now"),
        pytest.param(MID, MID - SECOND, False, id="in-progress-1s-before-now"),
        pytest.param(END - SECOND, END + timedelta(minutes=10), True, id="1s-before-end"),
        pytest.param(END, END + timedelta(minutes=10), False, id="at-end"),
        pytest.param(END + SECOND, END + timedelta(minutes=10), False, id="1s-after-end"),
    ],
)
async def test_end_time_moves_until_the_end_to_after_start_and_now(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, new_end: datetime, allowed: bool
) -> None:
    body = {"end_time": iso(new_end)}
    before, response, after = await attempt(coviu, controls, moment, "PUT", "/sessions/{sid}", body)
    expected = {**before, "end_time": rfc1123(new_end)}
    assert_outcome(response, "update end_time", allowed, before, after, expected)


# --- cancel session: scheduled only; irreversible -----------------------------------------


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        pytest.param(START - SECOND, True, id="1s-before-start"),
        pytest.param(START, False, id="at-start"),
        pytest.param(START + SECOND, False, id="1s-after-start"),
        pytest.param(END + SECOND, False, id="finished"),
    ],
)
async def test_cancel_allowed_only_before_the_start(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, allowed: bool
) -> None:
    before, response, after = await attempt(
        coviu, controls, moment, "DELETE", "/sessions/{sid}", None
    )
    expected = {**before, "canceled_at": rfc1123(moment)}
    assert_outcome(response, "cancel session", allowed, before, after, expected)


# --- participants: scheduled or in progress; removal irreversible -------------------------


@pytest.mark.parametrize(("moment", "allowed"), EDITABLE_MOMENTS)
async def test_add_participant_only_until_the_end(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, allowed: bool
) -> None:
    body = {"display_name": "Dr Lee", "role": "host"}
    before, response, after = await attempt(
        coviu, controls, moment, "POST", "/sessions/{sid}/participants", body
    )
    expected = {**before, "participants": [*before["participants"], response.json()]}
    assert_outcome(response, "add participant", allowed, before, after, expected)


@pytest.mark.parametrize(("moment", "allowed"), EDITABLE_MOMENTS)
async def test_update_participant_only_until_the_end(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, allowed: bool
) -> None:
    body = {"display_name": "Patricia"}
    before, response, after = await attempt(
        coviu, controls, moment, "PUT", "/participants/{pid}", body
    )
    [participant] = before["participants"]
    expected = {**before, "participants": [{**participant, "display_name": "Patricia"}]}
    assert_outcome(response, "update participant", allowed, before, after, expected)


@pytest.mark.parametrize(("moment", "allowed"), EDITABLE_MOMENTS)
async def test_cancel_participant_only_until_the_end(
    coviu: Coviu, controls: EmulatorControls, moment: datetime, allowed: bool
) -> None:
    before, response, after = await attempt(
        coviu, controls, moment, "DELETE", "/participants/{pid}", None
    )
    [participant] = before["participants"]
    expected = {**before, "participants": [{**participant, "deleted_at": rfc1123(moment)}]}
    assert_outcome(response, "cancel participant", allowed, before, after, expected)


@pytest.mark.parametrize(
    ("method", "body", "rule"),
    [
        pytest.param("DELETE", None, "cancel participant", id="second-delete"),
        pytest.param("PUT", {"display_name": "Back"}, "update participant", id="update"),
    ],
)
async def test_removed_participant_stays_removed(
    coviu: Coviu, controls: EmulatorControls, method: str, body: Any, rule: str
) -> None:
    session = await scheduled_session(coviu)
    participant_id = session["participants"][0]["participant_id"]
    assert_allowed(await coviu.call("DELETE", f"/participants/{participant_id}"))
    before = await read_session(coviu, session["session_id"])
    await controls.advance(SECOND)
    response = await coviu.call(method, f"/participants/{participant_id}", json=body)
    assert_refused(response, rule)
    assert await read_session(coviu, session["session_id"]) == before


# --- nothing cancelled comes back ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "rule"),
    [
        ("PUT", "/sessions/{sid}", {"session_name": "Again"}, "update session name/picture"),
        ("PUT", "/sessions/{sid}", {"picture": "p.png"}, "update session name/picture"),
        ("PUT", "/sessions/{sid}", {"start_time": iso(START + SECOND)}, "update start_time"),
        ("PUT", "/sessions/{sid}", {"end_time": iso(END + SECOND)}, "update end_time"),
        ("POST", "/sessions/{sid}/participants", {"display_name": "Dr Lee"}, "add participant"),
        ("PUT", "/participants/{pid}", {"display_name": "Patricia"}, "update participant"),
        ("DELETE", "/participants/{pid}", None, "cancel participant"),
        ("DELETE", "/sessions/{sid}", None, "cancel session"),
    ],
)
async def test_canceled_session_refuses_every_change(
    coviu: Coviu, controls: EmulatorControls, method: str, path: str, body: Any, rule: str
) -> None:
    session = await scheduled_session(coviu)
    pid = session["participants"][0]["participant_id"]
    assert_allowed(await coviu.call("DELETE", f"/sessions/{session['session_id']}"))
    before = await read_session(coviu, session["session_id"])
    await controls.advance(SECOND)  # a second cancel would show as a new canceled_at
    url = path.format(sid=session["session_id"], pid=pid)
    response = await coviu.call(method, url, json=body)
    assert_refused(response, rule)
    assert await read_session(coviu, session["session_id"]) == before


async def test_canceled_session_cannot_be_rescheduled_back(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    session = await scheduled_session(coviu)
    session_id = session["session_id"]
    assert_allowed(await coviu.call("DELETE", f"/sessions/{session_id}"))
    before = await read_session(coviu, session_id)
    await controls.advance(timedelta(minutes=1))
    new_start = T0 + timedelta(hours=2)
    body = {"start_time": iso(new_start), "end_time": iso(new_start + timedelta(minutes=30))}
    response = await coviu.call("PUT", f"/sessions/{session_id}", json=body)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "update start_time" in message or "update end_time" in message, message
    assert await read_session(coviu, session_id) == before  # still canceled, times kept
    assert "canceled_at" in before
    listed = await coviu.call("GET", "/sessions")
    assert session_id not in [s["session_id"] for s in listed.json()["content"]]


# --- property: cancel iff now < start, rename iff now < end --------------------------------

HOUR = 3600


@st.composite
def windows(draw: st.DrawFn) -> tuple[int, int, int]:
    """(start offset, duration, clock offset) in seconds from the creation time; the clock
    often lands within a second of the start or the end."""
    start = draw(st.integers(1, 3 * HOUR))
    duration = draw(st.integers(1, 3 * HOUR))
    near = st.sampled_from([start, start + duration]).flatmap(
        lambda edge: st.integers(max(0, edge - 1), edge + 1)
    )
    clock = draw(st.one_of(st.integers(0, 7 * HOUR), near))
    return start, duration, clock


async def _try_rename_and_cancel(start: int, duration: int, clock: int) -> tuple[int, int]:
    app = make_app(db=":memory:", initial_clock=T0, clients=[CLINIC_A], token_ttl_seconds=HOUR * 24)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http:
            coviu = await Coviu.login(http, CLINIC_A)
            begins = T0 + timedelta(seconds=start)
            body = {"start_time": iso(begins), "end_time": iso(begins + duration * SECOND)}
            created = await coviu.call("POST", "/sessions", json=body)
            assert_allowed(created)
            await EmulatorControls(http).set(T0 + timedelta(seconds=clock))
            path = f"/sessions/{created.json()['session_id']}"
            rename = await coviu.call("PUT", path, json={"session_name": "Renamed"})
            cancel = await coviu.call("DELETE", path)
            return rename.status_code, cancel.status_code
    finally:
        app.state.emulator.store.close()


@settings(max_examples=40, deadline=None)
@given(windows())
def test_cancel_iff_before_start_and_rename_iff_before_end(window: tuple[int, int, int]) -> None:
    start, duration, clock = window
    rename, cancel = asyncio.run(_try_rename_and_cancel(start, duration, clock))
    assert rename == (200 if clock < start + duration else 400)
    assert cancel == (200 if clock < start else 400)
