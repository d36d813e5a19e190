"""The drift comparison on its own, fed values: what it reports as changed out of band,
what it says the next plan does about each change, and which records it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from reconciler.planning import (
    Desired,
    DesiredParticipant,
    DesiredSession,
    Drift,
    DriftKind,
    LiveParticipant,
    LiveSession,
    Next,
    Observation,
    ParticipantRecord,
    SessionRecord,
    find_drift,
)

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=timezone(timedelta(hours=11)))
SYDNEY = timezone(timedelta(hours=11))
START = datetime(2026, 12, 7, 9, 0, tzinfo=SYDNEY)
DOCTOR = DesiredParticipant("dr-marsh", "Dr Helena Marsh", "host")
PATIENT = DesiredParticipant("bernard", "Bernard Quill", "guest")
HASHES = {"dr-marsh": "hash-doctor", "bernard": "hash-patient"}


def spec(key: str = "consult", **changes: object) -> DesiredSession:
    base = DesiredSession(
        key=key,
        session_name="Cardiology review",
        start=START,
        end=START + timedelta(minutes=30),
        participants=(DOCTOR, PATIENT),
        labels={"clinic": "cardiology"},
        source="sessions.yaml",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def record(applied: DesiredSession, *, adopted: bool = False) -> SessionRecord:
    return SessionRecord(
        key=applied.key,
        session_id=f"id-{applied.key}",
        start=applied.start.astimezone(UTC),
        end=applied.end.astimezone(UTC),
        participants=tuple(
            ParticipantRecord(person.name, HASHES[person.name]) for person in applied.participants
        ),
        applied=None if adopted else applied,
    )


def live(of: DesiredSession, **changes: object) -> LiveSession:
    """The live session as `of` made it, in UTC as the API answers, with `changes`."""
    session = LiveSession(
        session_id=f"id-{of.key}",
        session_name=of.session_name,
        start=of.start.astimezone(UTC),
        end=of.end.astimezone(UTC),
        participants=tuple(
            LiveParticipant(HASHES[person.name], person.display_name, person.role)
            for person in of.participants
        ),
    )
    return replace(session, **changes)  # type: ignore[arg-type]


def desired(
    *sessions: DesiredSession,
    declared: tuple[str, ...] = (),
    scope: tuple[str, ...] = (".",),
    selector: dict[str, str] | None = None,
) -> Desired:
    return Desired(
        sessions=sessions,
        declared=frozenset({*(session.key for session in sessions), *declared}),
        scope=scope,
        selector=selector or {},
    )


def drift_of(
    wanted: Desired,
    records: list[SessionRecord],
    lives: list[LiveSession],
    *,
    canceled: tuple[str, ...] = (),
    unmanaged: tuple[LiveSession, ...] = (),
    now: datetime = NOW,
) -> Drift:
    observation = Observation(
        sessions={session.session_id: session for session in lives},
        canceled=frozenset(canceled),
        unmanaged=len(unmanaged),
        unmanaged_sessions=unmanaged,
    )
    return find_drift(wanted, records, observation, now=now)


def test_drift_is_empty_when_live_matches_what_was_applied() -> None:
    found = drift_of(desired(spec()), [record(spec())], [live(spec())])

    assert found.items == ()
    assert (found.checked, found.exit_code()) == (1, 0)


def test_drift_reports_fields_changed_out_of_band_with_applied_and_live_values() -> None:
    later = START + timedelta(minutes=45)
    changed = live(spec(), session_name="Renamed by hand", end=later.astimezone(UTC))

    found = drift_of(desired(spec()), [record(spec())], [changed])

    assert [(item.kind, item.field) for item in found.items] == [
        (DriftKind.SESSION_CHANGED, "session_name"),
        (DriftKind.SESSION_CHANGED, "end_time"),
    ]
    name, end = found.items
    assert (name.applied, name.live, name.manifest) == (
        "Cardiology review",
        "Renamed by hand",
        "Cardiology review",
    )
    assert end.live == later
    assert end.live.utcoffset() == timedelta(hours=11)  # shown in the manifest's offset
    assert {item.next for item in found.items} == {Next.SET_BACK}
    assert name.says == "the next apply sets it back to the manifest's value"
    assert found.exit_code() == 2


def test_a_manifest_changed_to_match_live_has_nothing_to_undo() -> None:
    renamed = spec(session_name="Renamed by hand")

    found = drift_of(desired(renamed), [record(spec())], [live(renamed)])

    (item,) = found.items
    assert (item.applied, item.live) == ("Cardiology review", "Renamed by hand")
    assert item.next is Next.MATCHES
    assert item.says == "the manifest already matches live: nothing to undo"


def test_a_manifest_changed_to_a_third_value_is_set_to_that_value() -> None:
    changed = live(spec(), session_name="Renamed by hand")

    found = drift_of(desired(spec(session_name="Moved")), [record(spec())], [changed])

    (item,) = found.items
    assert (item.applied, item.live, item.manifest) == (
        "Cardiology review",
        "Renamed by hand",
        "Moved",
    )
    assert item.says == "the next apply sets it to the manifest's new value"


def test_a_change_the_next_plan_may_not_undo_is_reported_as_blocked() -> None:
    # Moved 10 minutes earlier by hand; now the session has started, so no start moves.
    earlier = live(spec(), start=(START - timedelta(minutes=10)).astimezone(UTC))

    found = drift_of(desired(spec()), [record(spec())], [earlier], now=START + timedelta(minutes=5))

    (item,) = found.items
    assert item.field == "start_time"
    assert item.next is Next.BLOCKED
    assert item.says.startswith("the next plan cannot set it back: ")


def test_drift_reports_a_session_cancelled_by_hand_as_final() -> None:
    found = drift_of(desired(spec()), [record(spec())], [], canceled=("id-consult",))

    (item,) = found.items
    assert item.kind is DriftKind.SESSION_CANCELED
    assert item.next is Next.FINAL
    assert item.says == (
        "final: a cancelled session never comes back; delete the manifest, or give it a new"
        " metadata.name to schedule a new one"
    )
    assert found.exit_code() == 3


def test_a_hand_cancel_whose_manifest_was_deleted_since_is_settled() -> None:
    found = drift_of(desired(), [record(spec())], [], canceled=("id-consult",))

    assert found.items == ()
    assert (found.checked, found.history, found.exit_code()) == (0, 1, 0)


def test_a_recorded_session_that_no_longer_exists_is_final() -> None:
    found = drift_of(desired(spec()), [record(spec())], [])

    (item,) = found.items
    assert item.kind is DriftKind.SESSION_GONE
    assert "reconciler state forget Session/consult" in item.says
    assert found.exit_code() == 3


def test_a_participant_changed_or_removed_by_hand_is_named_by_its_key() -> None:
    doctor, patient = live(spec()).participants
    changed = live(
        spec(),
        participants=(replace(doctor, display_name="Dr H."), replace(patient, removed=True)),
    )

    found = drift_of(desired(spec()), [record(spec())], [changed])

    assert [(item.kind, item.target, item.field) for item in found.items] == [
        (DriftKind.PARTICIPANT_CHANGED, "Session/consult/participants/dr-marsh", "display_name"),
        (DriftKind.PARTICIPANT_REMOVED, "Session/consult/participants/bernard", None),
    ]
    assert (found.items[0].applied, found.items[0].live) == ("Dr Helena Marsh", "Dr H.")
    assert found.items[1].next is Next.FINAL
    assert found.exit_code() == 3


def test_a_participant_removed_by_hand_is_settled_once_the_manifest_drops_them() -> None:
    doctor, patient = live(spec()).participants
    changed = live(spec(), participants=(doctor, replace(patient, removed=True)))

    found = drift_of(desired(spec(participants=(DOCTOR,))), [record(spec())], [changed])

    assert found.items == ()
    assert found.exit_code() == 0


def test_a_participant_added_by_hand_is_shown_by_display_name_and_role_only() -> None:
    visitor = LiveParticipant("hash-of-a-stranger", "Visitor", "guest")
    added = live(spec(), participants=(*live(spec()).participants, visitor))

    found = drift_of(desired(spec()), [record(spec())], [added])

    (item,) = found.items
    assert item.kind is DriftKind.PARTICIPANT_ADDED
    assert (item.target, item.display_name, item.role) == ("Session/consult", "Visitor", "guest")
    assert item.next is Next.LEFT_ALONE
    assert "hash-of-a-stranger" not in repr(item)
    assert found.exit_code() == 2


def test_an_adopted_session_is_compared_with_its_manifest_and_says_so() -> None:
    renamed = live(spec(), session_name="Named in Coviu")

    found = drift_of(desired(spec()), [record(spec(), adopted=True)], [renamed])

    (item,) = found.items
    assert item.compared_with == "manifest"
    assert (item.applied, item.live) == ("Cardiology review", "Named in Coviu")
    assert item.says == "the next apply sets it to the manifest's value"


def test_history_is_not_read() -> None:
    finished = spec(start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))

    found = drift_of(desired(finished), [record(finished)], [])

    assert found.items == ()
    assert (found.checked, found.history) == (0, 1)


def test_a_session_whose_manifest_was_removed_is_checked_and_the_next_apply_cancels_it() -> None:
    renamed = live(spec(), session_name="Renamed by hand")

    found = drift_of(desired(), [record(spec())], [renamed])

    (item,) = found.items
    assert item.next is Next.CANCEL
    assert item.manifest is None
    assert item.says == "its manifest was removed: the next apply cancels the session"


def test_drift_is_about_the_records_the_plan_is_about() -> None:
    elsewhere = spec("elsewhere", source="other/sessions.yaml")
    skin = spec("skin", labels={"clinic": "dermatology"})
    records = [record(spec()), record(elsewhere), record(skin)]
    lives = [live(each, session_name="Renamed") for each in (spec(), elsewhere, skin)]

    # Only sessions.yaml's: other/ is outside the PATHs; skin's labels miss the selector.
    found = drift_of(
        desired(spec(), scope=("sessions.yaml",), selector={"clinic": "cardiology"}),
        records,
        lives,
    )

    assert [item.target for item in found.items] == ["Session/consult"]
    assert found.checked == 1


def test_unmanaged_sessions_are_listed_but_are_not_drift() -> None:
    stranger = live(spec("walk-in"), session_id="made-by-hand")

    found = drift_of(desired(spec()), [record(spec())], [live(spec())], unmanaged=(stranger,))

    assert [session.session_id for session in found.unmanaged] == ["made-by-hand"]
    assert found.items == ()
    assert found.exit_code() == 0
