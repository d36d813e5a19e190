"""Every Coviu session and participant endpoint: shapes, errors and team isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import CLINIC_A, CLINIC_A2, T0
from tests.emulator.api import Coviu, EmulatorControls, iso, rfc1123

pytestmark = pytest.mark.anyio

START = T0 + timedelta(days=1, hours=1)
HOUR = timedelta(hours=1)
SESSION_KEYS = {
    "session_id",
    "session_name",
    "start_time",
    "end_time",
    "picture",
    "team_id",
    "client_id",
    "participants",
}
PARTICIPANT_KEYS = {
    "participant_id",
    "session_id",
    "client_id",
    "display_name",
    "picture",
    "role",
    "state",
    "entry_url",
}
PATIENT = {"display_name": "Pat Patient", "role": "guest", "state": "invited"}
DOCTOR = {"display_name": "Dr Who", "role": "host", "picture": "https://pic.example/dr.png"}


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def refused(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


def check_participant(participant: dict[str, Any], session_id: str) -> None:
    assert set(participant) >= PARTICIPANT_KEYS
    assert participant["session_id"] == session_id
    assert participant["client_id"] == CLINIC_A.key
    url = urlsplit(participant["entry_url"])
    assert url.scheme in ("http", "https")
    assert url.netloc
    assert url.path == f"/session/{participant['participant_id']}"


async def a_session(coviu: Coviu) -> dict[str, Any]:
    return await coviu.create_session(START, participants=[PATIENT, DOCTOR])


async def test_create_session_without_participants_answers_the_session(coviu: Coviu) -> None:
    body = {"session_name": "Review", "start_time": iso(START), "end_time": iso(START + HOUR)}
    session = ok(await coviu.call("POST", "/sessions", json={**body, "picture": "p.png"}))
    assert set(session) >= SESSION_KEYS
    assert session["session_id"]
    assert session["session_name"] == "Review"
    assert session["start_time"] == rfc1123(START)
    assert session["end_time"] == rfc1123(START + HOUR)
    assert session["picture"] == "p.png"
    assert session["team_id"] == CLINIC_A.team
    assert session["client_id"] == CLINIC_A.key
    assert session["participants"] == []


async def test_create_session_with_participants_answers_them_with_entry_urls(
    coviu: Coviu,
) -> None:
    session = await a_session(coviu)
    patient, doctor = session["participants"]
    for participant in (patient, doctor):
        check_participant(participant, session["session_id"])
    assert patient["display_name"] == "Pat Patient"
    assert patient["state"] == "invited"
    assert (patient["role"], doctor["role"]) == ("GUEST", "HOST")
    assert doctor["picture"] == DOCTOR["picture"]
    assert patient["participant_id"] != doctor["participant_id"]


async def test_get_session_answers_what_was_created(coviu: Coviu) -> None:
    session = await a_session(coviu)
    assert ok(await coviu.call("GET", f"/sessions/{session['session_id']}")) == session


async def test_update_session_changes_only_the_fields_sent(coviu: Coviu) -> None:
    session = await a_session(coviu)
    path = f"/sessions/{session['session_id']}"
    updated = ok(await coviu.call("PUT", path, json={"session_name": "Renamed"}))
    assert updated == {**session, "session_name": "Renamed"}
    later = {"end_time": iso(START + 2 * HOUR), "picture": "new.png"}
    updated = ok(await coviu.call("PUT", path, json=later))
    assert updated["end_time"] == rfc1123(START + 2 * HOUR)
    assert updated["picture"] == "new.png"
    assert updated["start_time"] == session["start_time"]
    assert updated["session_name"] == "Renamed"
    assert ok(await coviu.call("GET", path)) == updated


async def test_update_session_ignores_unknown_fields(coviu: Coviu) -> None:
    session = await a_session(coviu)
    body = {"session_name": "Vendor test", "display_name": "ignored", "colour": 3}
    updated = ok(await coviu.call("PUT", f"/sessions/{session['session_id']}", json=body))
    assert updated["session_name"] == "Vendor test"
    assert "display_name" not in updated
    assert "colour" not in updated


async def test_create_and_add_ignore_unknown_fields(coviu: Coviu) -> None:
    session = await coviu.create_session(START, mood="calm", participants=[{"x": 1}])
    assert session["participants"][0]["role"] == "GUEST"
    path = f"/sessions/{session['session_id']}/participants"
    added = ok(await coviu.call("POST", path, json={"display_name": "Sam", "shoe": 42}))
    assert added["display_name"] == "Sam"


async def test_cancel_session_answers_ok_true(coviu: Coviu) -> None:
    session = await a_session(coviu)
    assert ok(await coviu.call("DELETE", f"/sessions/{session['session_id']}")) == {"ok": True}


async def test_cancelled_session_answers_401_without_token_challenge(coviu: Coviu) -> None:
    session = await a_session(coviu)
    path = f"/sessions/{session['session_id']}"
    ok(await coviu.call("DELETE", path))
    response = await coviu.call("GET", path)
    refused(response, 401)
    assert "invalid_token" not in response.headers.get("www-authenticate", "")
    assert ok(await coviu.call("GET", "/sessions"))["content"] == []
    listed = ok(await coviu.call("GET", "/sessions", params={"include_canceled": "true"}))
    assert [s["session_id"] for s in listed["content"]] == [session["session_id"]]


async def test_participants_list_is_a_bare_array(coviu: Coviu) -> None:
    session = await a_session(coviu)
    listed = ok(await coviu.call("GET", f"/sessions/{session['session_id']}/participants"))
    assert listed == session["participants"]


async def test_add_participant_answers_it_and_the_session_shows_it(coviu: Coviu) -> None:
    session = await coviu.create_session(START)
    path = f"/sessions/{session['session_id']}"
    added = ok(await coviu.call("POST", f"{path}/participants", json=DOCTOR))
    check_participant(added, session["session_id"])
    assert added["role"] == "HOST"
    assert ok(await coviu.call("GET", path))["participants"] == [added]
    assert ok(await coviu.call("GET", f"/participants/{added['participant_id']}")) == added


async def test_update_participant_changes_only_the_fields_sent(coviu: Coviu) -> None:
    patient = (await a_session(coviu))["participants"][0]
    path = f"/participants/{patient['participant_id']}"
    updated = ok(await coviu.call("PUT", path, json={"state": "confirmed", "role": "Host"}))
    assert updated == {**patient, "state": "confirmed", "role": "HOST"}
    assert ok(await coviu.call("GET", path)) == updated


async def test_removed_participants_are_hidden_unless_asked_for(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    session = await a_session(coviu)
    patient, doctor = session["participants"]
    gone = f"/participants/{patient['participant_id']}"
    await controls.advance(timedelta(minutes=5))
    assert ok(await coviu.call("DELETE", gone)) == {"ok": True}
    refused(await coviu.call("PUT", gone, json={"state": "back"}), 400)
    path = f"/sessions/{session['session_id']}"
    assert ok(await coviu.call("GET", path))["participants"] == [doctor]
    assert ok(await coviu.call("GET", f"{path}/participants")) == [doctor]
    deleted = {"deleted_participants": "true"}
    for shown in (
        ok(await coviu.call("GET", path, params=deleted))["participants"],
        ok(await coviu.call("GET", f"{path}/participants", params=deleted)),
    ):
        assert [p["participant_id"] for p in shown] == [
            patient["participant_id"],
            doctor["participant_id"],
        ]
        assert shown[0]["deleted_at"] == rfc1123(T0 + timedelta(minutes=5))
        assert "deleted_at" not in shown[1]


ROLE_CASES = [("host", "HOST"), ("HOST", "HOST"), ("Guest", "GUEST"), (None, "GUEST")]


@pytest.mark.parametrize(("role", "shown"), ROLE_CASES)
async def test_roles_are_case_insensitive_in_and_upper_case_out(
    coviu: Coviu, role: str | None, shown: str
) -> None:
    body = {} if role is None else {"role": role}
    session = await coviu.create_session(START, participants=[body])
    assert session["participants"][0]["role"] == shown
    path = f"/sessions/{session['session_id']}/participants"
    assert ok(await coviu.call("POST", path, json=body))["role"] == shown


async def test_invalid_role_is_refused_with_400(coviu: Coviu) -> None:
    body = {"start_time": iso(START), "end_time": iso(START + HOUR)}
    bad = {"role": "observer"}
    refused(await coviu.call("POST", "/sessions", json={**body, "participants": [bad]}), 400)
    assert ok(await coviu.call("GET", "/sessions"))["content"] == []
    session = await a_session(coviu)
    refused(
        await coviu.call("POST", f"/sessions/{session['session_id']}/participants", json=bad), 400
    )
    patient = session["participants"][0]
    path = f"/participants/{patient['participant_id']}"
    refused(await coviu.call("PUT", path, json=bad), 400)
    assert ok(await coviu.call("GET", path))["role"] == "GUEST"


def id_paths(session_id: str, participant_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/sessions/{session_id}"),
        ("PUT", f"/sessions/{session_id}"),
        ("DELETE", f"/sessions/{session_id}"),
        ("GET", f"/sessions/{session_id}/participants"),
        ("POST", f"/sessions/{session_id}/participants"),
        ("GET", f"/participants/{participant_id}"),
        ("PUT", f"/participants/{participant_id}"),
        ("DELETE", f"/participants/{participant_id}"),
    ]


async def test_unknown_ids_answer_404(coviu: Coviu) -> None:
    await a_session(coviu)
    for method, path in id_paths("no-such-session", "no-such-participant"):
        body = {"session_name": "x"} if method in ("PUT", "POST") else None
        refused(await coviu.call(method, path, json=body), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/sessions"),
        ("PUT", "/sessions/{s}"),
        ("POST", "/sessions/{s}/participants"),
        ("PUT", "/participants/{p}"),
    ],
)
async def test_invalid_json_is_refused_with_400(coviu: Coviu, method: str, path: str) -> None:
    session = await a_session(coviu)
    path = path.format(s=session["session_id"], p=session["participants"][0]["participant_id"])
    headers = {"Content-Type": "application/json"}
    refused(await coviu.call(method, path, content=b'{"session_name": ', headers=headers), 400)
    assert ok(await coviu.call("GET", f"/sessions/{session['session_id']}")) == session


async def test_another_team_gets_404_for_every_id(coviu: Coviu, coviu_b: Coviu) -> None:
    session = await a_session(coviu)
    participant_id = session["participants"][0]["participant_id"]
    for method, path in id_paths(session["session_id"], participant_id):
        body = (
            {"session_name": "hijack", "display_name": "x"} if method in ("PUT", "POST") else None
        )
        message = refused(await coviu_b.call(method, path, json=body), 404)
        assert participant_id not in message
    assert ok(await coviu.call("GET", f"/sessions/{session['session_id']}")) == session


async def test_lists_show_only_the_callers_team(
    http: httpx.AsyncClient, coviu: Coviu, coviu_b: Coviu
) -> None:
    mine = await a_session(coviu)
    theirs = await coviu_b.create_session(START)
    assert theirs["team_id"] != mine["team_id"]
    listed = ok(await coviu_b.call("GET", "/sessions"))["content"]
    assert [s["session_id"] for s in listed] == [theirs["session_id"]]
    colleague = await Coviu.login(http, CLINIC_A2)
    listed = ok(await colleague.call("GET", "/sessions"))["content"]
    assert [s["session_id"] for s in listed] == [mine["session_id"]]
    assert ok(await colleague.call("GET", f"/sessions/{mine['session_id']}")) == mine
