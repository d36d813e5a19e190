"""What the clients read and send: API times, answers as typed values, request bodies, and
malformed answers reported without repeating what they contained."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from reconciler.clients import (
    Credentials,
    LiveParticipant,
    LiveSession,
    ManualTimer,
    ParticipantChanges,
    ParticipantDraft,
    RateLimit,
    RetryPolicy,
    SessionChanges,
    SessionDraft,
    SignedUrl,
    Snapshot,
    UnexpectedResponseError,
    connect,
)
from reconciler.clients.caller import Call, Caller
from reconciler.clients.times import ApiTimeError, format_api_time, parse_api_time
from reconciler.clients.timing import RateLimiter
from tests.conftest import TARGETS

AEDT = timezone(timedelta(hours=11))
NINE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# Shaped like a participant id and its entry URL: neither may be repeated in a message.
PARTICIPANT_ID = "q8Vn3kTzLr0aXbWcYd2eFg4h"
ENTRY_URL = f"https://coviu.example/session/{PARTICIPANT_ID}"


# Times


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("Tue, 01 Dec 2026 09:00:00 GMT", NINE),
        ("Tue, 01 Dec 2026 20:00:00 +1100", NINE),
        ("2026-12-01T09:00:00Z", NINE),
        ("2026-12-01T20:00:00+11:00", NINE),
        ("2026-12-01T04:30:00-04:30", NINE),
        ("2026-12-01T09:00:00.250Z", NINE + timedelta(milliseconds=250)),
        ("2026-12-01T20:00:00.250+11:00", NINE + timedelta(milliseconds=250)),
        ("2026-12-01T09:00:00.123456Z", NINE + timedelta(microseconds=123456)),
        ("  2026-12-01T09:00:00Z\n", NINE),
    ],
)
def test_parse_api_time_reads_rfc_1123_and_iso_8601_as_aware_utc(
    text: str, instant: datetime
) -> None:
    parsed = parse_api_time(text)
    assert parsed == instant
    assert parsed.tzinfo is UTC
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T09:00:00",  # naive ISO
        "2026-12-01",  # a date, no time
        "Tue, 01 Dec 2026 09:00:00",  # RFC 1123 without a zone
        "",
        "   ",
        "garbage",
        "tomorrow at nine",
        "2026-13-01T09:00:00Z",  # no 13th month
        "2026-12-01T25:00:00Z",
        "1796461200",  # epoch seconds are not a time the APIs write
    ],
)
def test_parse_api_time_refuses_naive_or_garbage_times(text: str) -> None:
    with pytest.raises(ApiTimeError):
        parse_api_time(text)


def test_api_time_error_is_a_value_error() -> None:
    # So that pydantic reports it as a validation failure of the field.
    with pytest.raises(ValueError, match="offset"):
        parse_api_time("2026-12-01T09:00:00")


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (NINE, "2026-12-01T09:00:00Z"),
        (datetime(2026, 12, 1, 20, 0, tzinfo=AEDT), "2026-12-01T09:00:00Z"),
        (NINE + timedelta(milliseconds=5), "2026-12-01T09:00:00.005Z"),
        (NINE + timedelta(microseconds=123999), "2026-12-01T09:00:00.123Z"),
    ],
)
def test_format_api_time_writes_iso_utc_with_z(instant: datetime, text: str) -> None:
    assert format_api_time(instant) == text
    assert parse_api_time(text) == instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def test_format_api_time_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_api_time(datetime(2026, 12, 1, 9, 0))


# Answers


def participant_answer(**fields: Any) -> dict[str, Any]:
    return {
        "participant_id": PARTICIPANT_ID,
        "session_id": "s-1",
        "client_id": "clinic-a",
        "display_name": "Pat Lee",
        "picture": None,
        "role": "GUEST",
        "state": None,
        "entry_url": ENTRY_URL,
        **fields,
    }


def session_answer(**fields: Any) -> dict[str, Any]:
    return {
        "session_id": "s-1",
        "session_name": "Follow-up",
        "start_time": "Tue, 01 Dec 2026 09:00:00 GMT",
        "end_time": "Tue, 01 Dec 2026 09:30:00 GMT",
        "picture": None,
        "team_id": "team-a",
        "client_id": "clinic-a",
        "participants": [participant_answer(role="HOST"), participant_answer()],
        **fields,
    }


def test_live_session_reads_api_times_roles_and_participants() -> None:
    session = LiveSession.model_validate(session_answer(some_new_vendor_field=True))
    assert session.start_time == NINE
    assert session.end_time == NINE + timedelta(minutes=30)
    assert session.start_time.tzinfo is UTC
    assert [p.role for p in session.participants] == ["host", "guest"]
    assert session.participants[0].participant_id.get_secret_value() == PARTICIPANT_ID
    assert session.participants[0].entry_url == SecretStr(ENTRY_URL)
    assert not session.participants[0].removed


def test_live_session_accepts_iso_times_with_an_offset() -> None:
    session = LiveSession.model_validate(
        session_answer(start_time="2026-12-01T20:00:00+11:00", end_time="2026-12-01T09:30:00Z")
    )
    assert session.start_time == NINE
    assert session.start_time.tzinfo is UTC


@pytest.mark.parametrize("role", ["host", "Host", "HOST"])
def test_participant_role_is_read_in_any_case_as_lower_case(role: str) -> None:
    assert LiveParticipant.model_validate(participant_answer(role=role)).role == "host"


def test_participant_without_a_role_is_a_guest() -> None:
    answer = participant_answer()
    del answer["role"]
    assert LiveParticipant.model_validate(answer).role == "guest"


def test_removed_participant_has_its_removal_time() -> None:
    participant = LiveParticipant.model_validate(
        participant_answer(deleted_at="Mon, 30 Nov 2026 08:00:00 GMT")
    )
    assert participant.removed
    assert participant.deleted_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_participant_repr_and_str_hide_its_id_and_entry_url() -> None:
    participant = LiveParticipant.model_validate(participant_answer())
    session = LiveSession.model_validate(session_answer())
    for shown in (repr(participant), str(participant), repr(session), str(session)):
        assert PARTICIPANT_ID not in shown
        assert "/session/" not in shown


@pytest.mark.parametrize(
    "change",
    [
        {"start_time": "2026-12-01T09:00:00"},  # naive
        {"start_time": "Tue, 01 Dec 2026 09:00:00"},  # no zone
        {"end_time": "not a time"},
        {"start_time": None},
        {"session_id": None},
        {"participants": [participant_answer(role="moderator")]},
        {"participants": [participant_answer(participant_id=None)]},
    ],
)
def test_live_session_refuses_malformed_answers(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LiveSession.model_validate(session_answer(**change))


def test_live_session_given_datetimes_holds_them_in_utc() -> None:
    session = LiveSession.model_validate(
        session_answer(
            start_time=datetime(2026, 12, 1, 20, 0, tzinfo=AEDT),
            end_time=NINE + timedelta(minutes=30),
        )
    )
    assert session.start_time == NINE
    assert session.start_time.tzinfo is UTC


def test_live_session_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValidationError):
        LiveSession.model_validate(session_answer(start_time=datetime(2026, 12, 1, 9, 0)))


def test_snapshot_reads_auvious_names_and_iso_times() -> None:
    snapshot = Snapshot.model_validate(
        {
            "id": "snap-1",
            "interactionId": "conv-1",
            "state": "APPROVED",
            "type": "wound",
            "version": 3,
            "approved": True,
            "userEndpointId": "ep-patient",
            "mimeType": "image/png",
            "createdAt": "2026-12-01T09:00:00.250Z",
            "timestamp": "2026-12-01T20:00:00+11:00",
            "someNewVendorField": 1,
        }
    )
    assert (snapshot.state, snapshot.version, snapshot.approved) == ("APPROVED", 3, True)
    assert snapshot.interaction_id == "conv-1"
    assert snapshot.user_endpoint_id == "ep-patient"
    assert snapshot.created_at == NINE + timedelta(milliseconds=250)
    assert snapshot.timestamp == NINE
    assert snapshot.created_at is not None
    assert snapshot.created_at.tzinfo is UTC


def test_snapshot_refuses_a_state_outside_its_closed_set() -> None:
    with pytest.raises(ValidationError):
        Snapshot.model_validate({"id": "s", "interactionId": "c", "state": "PENDING"})


def test_signed_url_hides_its_url() -> None:
    url = "https://auvious.example/rtc-api/snapshots/signed/s/1?signature=abcdef123456"
    signed = SignedUrl.model_validate({"url": url, "validUntil": "2026-12-01T09:15:00Z"})
    assert signed.url.get_secret_value() == url
    assert signed.valid_until == NINE + timedelta(minutes=15)
    assert url not in repr(signed)
    assert "abcdef123456" not in str(signed)


# What the clients send


def test_session_draft_body_sends_iso_z_times_and_participants() -> None:
    draft = SessionDraft(
        session_name="Follow-up",
        start_time=datetime(2026, 12, 1, 20, 0, tzinfo=AEDT),
        end_time=NINE + timedelta(minutes=30, milliseconds=500),
        participants=(
            ParticipantDraft(display_name="Dr Ada", role="host", state="ready"),
            ParticipantDraft(display_name="Pat Lee"),
        ),
    )
    # Held in UTC, whatever offset it was given with.
    assert draft.start_time == NINE
    assert draft.start_time.tzinfo is UTC
    body = draft.body()
    assert body == {
        "session_name": "Follow-up",
        "start_time": "2026-12-01T09:00:00Z",
        "end_time": "2026-12-01T09:30:00.500Z",
        "participants": [
            {"display_name": "Dr Ada", "role": "host", "state": "ready"},
            {"display_name": "Pat Lee", "role": "guest"},
        ],
    }
    json.dumps(body)  # JSON as it is, no further conversion


def test_session_draft_body_sends_an_empty_participant_list_and_a_picture() -> None:
    draft = SessionDraft(
        session_name="Follow-up", start_time=NINE, end_time=NINE + timedelta(hours=1), picture="p"
    )
    assert draft.body()["participants"] == []
    assert draft.body()["picture"] == "p"


def test_session_draft_reads_api_time_text() -> None:
    draft = SessionDraft.model_validate(
        {
            "session_name": "Follow-up",
            "start_time": "Tue, 01 Dec 2026 09:00:00 GMT",
            "end_time": "2026-12-01T20:30:00+11:00",
        }
    )
    assert draft.start_time == NINE
    assert draft.body()["end_time"] == "2026-12-01T09:30:00Z"


@pytest.mark.parametrize(
    "fields",
    [
        {"start_time": datetime(2026, 12, 1, 9, 0)},
        {"start_time": "2026-12-01T09:00:00"},
        {"start_time": "soon"},
        {"surprise": 1},  # a typo in a field name is not silently dropped
        {"participants": ({"display_name": "Pat", "role": "moderator"},)},
    ],
)
def test_session_draft_refuses_naive_times_and_unknown_fields(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "session_name": "Follow-up",
        "start_time": NINE,
        "end_time": NINE + timedelta(hours=1),
    }
    with pytest.raises(ValidationError):
        SessionDraft.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("changes", "body"),
    [
        (SessionChanges(), {}),
        (SessionChanges(session_name="After"), {"session_name": "After"}),
        (
            SessionChanges(end_time=datetime(2026, 12, 1, 20, 45, tzinfo=AEDT)),
            {"end_time": "2026-12-01T09:45:00Z"},
        ),
        (
            SessionChanges(start_time=NINE, picture="new.png"),
            {"start_time": "2026-12-01T09:00:00Z", "picture": "new.png"},
        ),
        # Given explicitly, None is sent: it clears the field.
        (SessionChanges(picture=None), {"picture": None}),
    ],
)
def test_session_changes_body_contains_only_the_fields_set(
    changes: SessionChanges, body: dict[str, Any]
) -> None:
    assert changes.body() == body


@pytest.mark.parametrize(
    ("changes", "body"),
    [
        (ParticipantChanges(), {}),
        (ParticipantChanges(role="host"), {"role": "host"}),
        (
            ParticipantChanges(display_name="Pat", state="waiting"),
            {"display_name": "Pat", "state": "waiting"},
        ),
    ],
)
def test_participant_changes_body_contains_only_the_fields_set(
    changes: ParticipantChanges, body: dict[str, Any]
) -> None:
    assert changes.body() == body


def test_participant_draft_body_always_sends_the_role() -> None:
    assert ParticipantDraft(display_name="Pat").body() == {"display_name": "Pat", "role": "guest"}


def test_requests_are_immutable() -> None:
    changes = SessionChanges(session_name="a")
    with pytest.raises(ValidationError):
        changes.session_name = "b"


# Malformed answers


def caller() -> Caller:
    timer = ManualTimer().timer()
    return Caller(
        service="coviu",
        http=httpx.AsyncClient(),
        policy=RetryPolicy(rng=random.Random(1)),
        limiter=RateLimiter(RateLimit(), timer),
        timer=timer,
        credentials_hint="Check COVIU_API_KEY and COVIU_API_SECRET.",
    )


PARTICIPANT_CALL = Call("GET", f"/participants/{PARTICIPANT_ID}", "/participants/***")
SESSION_CALL = Call("GET", "/sessions/s-1", "/sessions/s-1")


def assert_unexpected(
    parse: Callable[[], object], *, names: str, hidden: tuple[str, ...] = ()
) -> UnexpectedResponseError:
    with pytest.raises(UnexpectedResponseError) as caught:
        parse()
    message = str(caught.value)
    # pydantic's own error holds the values: it is neither the cause nor shown as context.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert names in message, message
    for value in (PARTICIPANT_ID, ENTRY_URL, "/session/", *hidden):
        assert value not in message, message
    return caught.value


@pytest.mark.parametrize(
    ("answer", "model", "names"),
    [
        # A participant whose id came back as a number: the field is named, no value.
        (participant_answer(participant_id=12345678901), LiveParticipant, "participant_id"),
        (participant_answer(role=f"role-{PARTICIPANT_ID}"), LiveParticipant, "role"),
        (participant_answer(session_id=None), LiveParticipant, "session_id"),
        (session_answer(participants=[participant_answer(role="owner")]), LiveSession, "role"),
        (session_answer(start_time=None), LiveSession, "start_time"),
        (session_answer(session_id=[PARTICIPANT_ID]), LiveSession, "session_id"),
        ({"url": ENTRY_URL}, SignedUrl, "validUntil"),
    ],
)
def test_malformed_answer_is_unexpected_response_naming_the_field_not_the_values(
    answer: dict[str, Any], model: type[BaseModel], names: str
) -> None:
    response = httpx.Response(200, json=answer)
    error = assert_unexpected(
        lambda: caller().parse(PARTICIPANT_CALL, response, model), names=names
    )
    assert "coviu: GET /participants/***" in str(error)


@pytest.mark.parametrize(
    ("answer", "model", "names"),
    [
        (participant_answer(deleted_at=ENTRY_URL), LiveParticipant, "deleted_at"),
        (session_answer(end_time=f"see {ENTRY_URL}"), LiveSession, "end_time"),
        (
            session_answer(participants=[participant_answer(deleted_at=PARTICIPANT_ID)]),
            LiveSession,
            "participants.0.deleted_at",
        ),
        (session_answer(start_time="2026-12-01T09:00:00"), LiveSession, "start_time"),
    ],
)
def test_malformed_time_in_an_answer_is_not_repeated_in_the_error(
    answer: dict[str, Any], model: type[BaseModel], names: str
) -> None:
    response = httpx.Response(200, json=answer)
    error = assert_unexpected(
        lambda: caller().parse(PARTICIPANT_CALL, response, model),
        names=names,
        hidden=("2026-12-01T09:00:00",),
    )
    assert "time" in str(error)


def test_an_answer_that_is_not_json_is_unexpected_response_without_its_content() -> None:
    response = httpx.Response(200, content=f"<html>{ENTRY_URL}</html>".encode())
    assert_unexpected(lambda: caller().parse(SESSION_CALL, response, LiveSession), names="GET")
    assert_unexpected(
        lambda: caller().parse_list(SESSION_CALL, response, LiveParticipant), names="not JSON"
    )


def test_a_list_answer_that_is_not_an_array_or_has_a_bad_item_is_unexpected_response() -> None:
    not_array = httpx.Response(200, json={"participants": [participant_answer()]})
    bad_item = httpx.Response(200, json=[participant_answer(), participant_answer(role="x")])
    assert_unexpected(
        lambda: caller().parse_list(SESSION_CALL, not_array, LiveParticipant),
        names="not a JSON array",
    )
    assert_unexpected(
        lambda: caller().parse_list(SESSION_CALL, bad_item, LiveParticipant), names="role"
    )


@pytest.mark.anyio
async def test_a_client_given_a_malformed_answer_raises_unexpected_response() -> None:
    """End to end: the client gets a token, then a session whose participant has no id."""
    answer = session_answer(participants=[participant_answer(participant_id=None)])

    def service(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/token"):
            return httpx.Response(
                200,
                json={
                    "access_token": "tok-" + "a" * 20,
                    "expires_in": 3600,
                    "token_type": "Bearer",
                },
            )
        return httpx.Response(200, json=answer)

    timer = ManualTimer()
    async with connect(
        TARGETS, timer=timer.timer(), transport=httpx.MockTransport(service)
    ) as clients:
        with pytest.raises(UnexpectedResponseError) as caught:
            await clients.coviu.get_session("s-1")
    message = str(caught.value)
    assert "participant_id" in message
    assert "GET /sessions/s-1" in message
    assert ENTRY_URL not in message
    assert "Pat Lee" not in message


def test_credentials_repr_hides_the_secret() -> None:
    credentials = Credentials("clinic-a", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(credentials)
