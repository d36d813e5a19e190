"""The pure half of `reconciler import`: names made from live text, participants paired
by display name and state, and the manifests drafted for unmanaged sessions (which must
read back as written and plan no change, whatever text the live API holds)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.manifests.fields import NAME_PATTERN
from reconciler.planning import DesiredParticipant, LiveParticipant, LiveSession, SessionRecord
from reconciler.planning.adopt import (
    AdoptionError,
    Draft,
    Skipped,
    draft,
    label_selector,
    match_participants,
    unmanaged_sessions,
)
from reconciler.planning.imports import written
from reconciler.planning.naming import (
    OffsetError,
    parse_offset,
    participant_name,
    session_name,
    slug,
)
from tests.conftest import T0

SYDNEY = timezone(timedelta(hours=11))
START = datetime(2026, 12, 7, 9, 0, tzinfo=SYDNEY)
END = START + timedelta(minutes=30)
TARGET = "Session/physio"


def person(display_name: str | None, state: str | None = None, **fields: Any) -> LiveParticipant:
    values: dict[str, Any] = {"role": "guest", **fields}
    return LiveParticipant(
        id_hash=f"hash-{display_name}-{state}", display_name=display_name, state=state, **values
    )


def wanted(name: str, display_name: str, state: str | None = None) -> DesiredParticipant:
    return DesiredParticipant(name, display_name, state=state)


def live_session(session_id: str = "s-1", **fields: Any) -> LiveSession:
    values: dict[str, Any] = {
        "session_name": "Follow-up",
        "start": START.astimezone(UTC),
        "end": END.astimezone(UTC),
        **fields,
    }
    return LiveSession(session_id, **values)


# Names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Mei Chen", "dr-mei-chen"),
        ("Zoë Ångström", "zoe-angstrom"),
        ("  --Cardiology__Follow-up!! #2  ", "cardiology-follow-up-2"),
        ("李雷", "participant"),
        ("", "participant"),
        (None, "participant"),
    ],
)
def test_slug_folds_text_to_lower_case_ascii_words(text: str | None, expected: str) -> None:
    assert slug(text, fallback="participant") == expected


def test_slug_is_cut_to_its_limit_without_a_trailing_dash() -> None:
    cut = slug("a" * 10 + " " + "b" * 60, fallback="x", limit=11)
    assert cut == "a" * 10


def test_session_name_is_the_title_and_the_start_as_written() -> None:
    assert session_name("Cardiology follow-up", START, set()) == (
        "cardiology-follow-up-2026-12-07-0900"
    )
    assert session_name("Cardiology follow-up", START.astimezone(UTC), set()) == (
        "cardiology-follow-up-2026-12-06-2200"
    )
    assert session_name("李雷", START, set()) == "session-2026-12-07-0900"


def test_a_taken_session_name_gets_a_number_and_keeps_its_date_within_63() -> None:
    title = "A very long consultation title that goes on and on and on and on and on"
    first = session_name(title, START, set())
    second = session_name(title, START, {first})
    third = session_name(title, START, {first, second})
    for name in (first, second, third):
        assert len(name) <= 63
        assert re.fullmatch(NAME_PATTERN, name), name
    assert first.endswith("-2026-12-07-0900")
    assert second.endswith("-2026-12-07-0900-2")
    assert third.endswith("-2026-12-07-0900-3")


def test_participant_names_are_unique_within_the_session() -> None:
    assert participant_name("Sam", ["sam"]) == "sam-2"
    assert participant_name("Sam!", ["sam", "sam-2"]) == "sam-3"
    assert participant_name(None, []) == "participant"


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("+11:00", timedelta(hours=11)),
        ("-05:30", timedelta(hours=-5, minutes=-30)),
        ("+00:00", timedelta(0)),
        ("Z", timedelta(0)),
    ],
)
def test_utc_offset_is_a_fixed_offset(text: str, offset: timedelta) -> None:
    assert parse_offset(text).utcoffset(None) == offset


@pytest.mark.parametrize("text", ["11", "+1100", "+24:00", "+10:60", "Australia/Sydney", ""])
def test_utc_offset_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(OffsetError, match="--utc-offset"):
        parse_offset(text)


# Matching participants


def test_participants_pair_by_display_name_and_state_whatever_the_role() -> None:
    live = [
        person("Visitor"),
        person("Dr Marsh", "provider-2291", role="host"),
        person("Bernard Quill", picture="https://example.org/b.png"),
    ]
    desired = [wanted("dr-marsh", "Dr Marsh", "provider-2291"), wanted("bernard", "Bernard Quill")]

    matching = match_participants(TARGET, desired, live)

    assert matching.adopted == (("dr-marsh", 1), ("bernard", 2))
    assert matching.missing == ()
    assert matching.unmanaged == (0,)


def test_no_state_and_an_empty_state_are_the_same() -> None:
    matching = match_participants(TARGET, [wanted("jo", "Jo", "")], [person("Jo", None)])
    assert matching.adopted == (("jo", 0),)


def test_a_participant_nobody_matches_is_missing_and_removed_ones_never_match() -> None:
    live = [person("Nurse", removed=True), person("Jo", "other")]
    matching = match_participants(TARGET, [wanted("nurse", "Nurse"), wanted("jo", "Jo")], live)
    assert matching.adopted == ()
    assert matching.missing == ("nurse", "jo")
    assert matching.unmanaged == (1,)


def test_two_live_participants_alike_are_refused_naming_the_key() -> None:
    live = [person("Bernard Quill"), person("Bernard Quill")]
    with pytest.raises(AdoptionError, match=r"Session/physio/participants/bernard: 2 live"):
        match_participants(TARGET, [wanted("bernard", "Bernard Quill")], live)


def test_two_entries_for_one_live_participant_are_refused() -> None:
    desired = [wanted("bernard", "Bernard Quill"), wanted("bq", "Bernard Quill")]
    with pytest.raises(AdoptionError, match="entries bernard and bq"):
        match_participants(TARGET, desired, [person("Bernard Quill")])


# What is unmanaged, and the manifests drafted for it


def test_unmanaged_sessions_are_live_unrecorded_and_unfinished_soonest_first() -> None:
    later = live_session("later", start=T0 + timedelta(days=2), end=T0 + timedelta(days=3))
    soon = live_session("soon", start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=2))
    running = live_session("running", start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
    finished = live_session("finished", start=T0 - timedelta(hours=2), end=T0)
    canceled = live_session("canceled", canceled=True)
    recorded = live_session("recorded")
    record = SessionRecord("x", "recorded", recorded.start, recorded.end)

    found = unmanaged_sessions(
        [later, soon, running, finished, canceled, recorded], [record], now=T0
    )

    assert [session.session_id for session in found] == ["running", "soon", "later"]


def test_draft_writes_every_field_the_live_session_has() -> None:
    session = live_session(
        picture="https://example.org/room.png",
        participants=(
            person("Dr Marsh", "provider-2291", role="host", picture="https://example.org/m.png"),
            person("Sam"),
            person("Sam", "again"),
            person("Gone", removed=True),
        ),
    )

    made = draft(session, taken=set(), zone=SYDNEY, labels={"source": "import"})

    assert isinstance(made, Draft)
    assert made.document == {
        "apiVersion": "reconciler/v1",
        "kind": "Session",
        "metadata": {"name": "follow-up-2026-12-07-0900", "labels": {"source": "import"}},
        "spec": {
            "session_name": "Follow-up",
            "start_time": "2026-12-07T09:00:00+11:00",
            "end_time": "2026-12-07T09:30:00+11:00",
            "picture": "https://example.org/room.png",
            "participants": [
                {
                    "name": "dr-marsh",
                    "display_name": "Dr Marsh",
                    "role": "host",
                    "picture": "https://example.org/m.png",
                    "state": "provider-2291",
                },
                {"name": "sam", "display_name": "Sam", "role": "guest"},
                {"name": "sam-2", "display_name": "Sam", "role": "guest", "state": "again"},
            ],
        },
    }
    assert made.participants == (("dr-marsh", 0), ("sam", 1), ("sam-2", 2))
    assert made.notes == ()


def test_draft_leaves_out_participants_a_manifest_cannot_name_and_says_so() -> None:
    session = live_session(
        participants=(person(None), person("  "), person("Pic", picture="ftp://x"), person("Jo"))
    )

    made = draft(session, taken=set(), zone=UTC, labels={})

    assert isinstance(made, Draft)
    assert made.participants == (("jo", 3),)
    assert made.notes == (
        "2 participant(s) without a display name left out (a manifest needs one): they"
        " stay unmanaged",
        "participant 'Pic' left out: their picture is not an http(s) URL; they stay unmanaged",
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"session_name": None}, "no session name"),
        ({"session_name": "   "}, "no session name"),
        ({"picture": "not a url"}, "picture is not an http(s) URL"),
    ],
)
def test_a_session_no_manifest_can_describe_is_skipped(fields: dict[str, Any], reason: str) -> None:
    taken: set[str] = set()
    made = draft(live_session(**fields), taken=taken, zone=UTC, labels={})
    assert isinstance(made, Skipped)
    assert reason in made.reason
    assert taken == set()


def test_labels_must_be_ones_a_manifest_can_carry() -> None:
    assert label_selector({"source": "import", "team": ""}) == {"source": "import", "team": ""}
    with pytest.raises(InputError, match="--selector source=not ok"):
        label_selector({"source": "not ok"})


# Whatever the live text, the manifest reads back and plans no change

TEXT = st.text(min_size=1, max_size=40).filter(lambda text: bool(text.strip()))


@settings(max_examples=150, deadline=None)
@example(title="0\x85", people=[])  # a line break the loader refuses raw: written escaped
@example(title="a\u2028b", people=[("x\u2029y", "\t", "host")])
@given(
    title=TEXT,
    people=st.lists(
        st.tuples(TEXT, st.none() | st.text(max_size=20), st.sampled_from(["host", "guest"])),
        max_size=4,
    ),
)
def test_a_drafted_manifest_reads_back_and_plans_no_change(
    title: str, people: list[tuple[str, str | None, str]]
) -> None:
    session = live_session(
        session_name=title,
        participants=tuple(
            LiveParticipant(f"hash-{index}", display_name, role, state=state or None)
            for index, (display_name, state, role) in enumerate(people)
        ),
    )
    made = draft(session, taken=set(), zone=SYDNEY, labels={})
    assert isinstance(made, Draft)

    text = written(made, session, now=T0, comments=["a comment"])

    assert isinstance(text, str), text
    assert text.startswith("# a comment\n")
    assert len(made.participants) == len(people)


def test_a_draft_that_would_change_its_session_is_skipped_not_written() -> None:
    session = live_session(session_name="Ward round")
    made = draft(session, taken=set(), zone=SYDNEY, labels={})
    assert isinstance(made, Draft)
    moved = {**made.document, "spec": {**made.document["spec"], "session_name": "Other"}}

    result = written(Draft(made.key, made.session_id, moved, made.participants), session, now=T0)

    assert result == Skipped(session.session_id, "its manifest would not plan as no change")


def test_a_draft_that_is_not_a_valid_manifest_is_skipped_not_written() -> None:
    session = live_session(session_name="Ward round")
    made = draft(session, taken=set(), zone=SYDNEY, labels={})
    assert isinstance(made, Draft)
    broken = {**made.document, "spec": {**made.document["spec"], "start_time": "soon"}}

    result = written(Draft(made.key, made.session_id, broken, made.participants), session, now=T0)

    assert isinstance(result, Skipped)
    assert result.reason.startswith("its manifest would not be valid:")
