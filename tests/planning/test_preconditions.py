"""What the applier checks right before each call: the object is still the one the plan
saw, and the lifecycle table still allows the action at the server's time now."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from reconciler.planning import (
    Change,
    Item,
    Kind,
    LiveParticipant,
    LiveSession,
    LiveSnapshot,
    Status,
    of_participant,
    of_session,
    of_snapshot,
)
from reconciler.planning.preconditions import check_create, check_session, check_snapshot
from tests.conftest import T0

START = T0 + timedelta(hours=1)
GUEST = LiveParticipant(id_hash="h-1", display_name="Bernard", role="guest")
LIVE = LiveSession(
    session_id="s-1",
    session_name="Follow-up",
    start=START,
    end=START + timedelta(minutes=30),
    participants=(GUEST,),
)
SECOND = timedelta(seconds=1)


def _action(kind: Kind, *changes: Change, fingerprint: str | None = None) -> Item:
    return Item(
        status=Status.ACTION,
        kind=kind,
        target="Session/follow-up",
        reason="",
        changes=changes,
        session_id="s-1",
        participant_hash="h-1" if kind.value.endswith("participant") else None,
        fingerprint=fingerprint,
    )


RENAME = _action(
    Kind.UPDATE_SESSION, Change("session_name", "Follow-up", "Review"), fingerprint=of_session(LIVE)
)


def test_an_unchanged_session_within_the_rules_goes_ahead() -> None:
    assert check_session(RENAME, LIVE, T0, expected=of_session(LIVE)) is None


def test_a_session_changed_since_the_plan_is_skipped() -> None:
    renamed = replace(LIVE, session_name="Renamed by hand")
    reason = check_session(RENAME, renamed, T0, expected=of_session(LIVE))
    assert reason is not None
    assert "changed since the plan was made" in reason


def test_a_session_cancelled_since_the_plan_is_skipped() -> None:
    reason = check_session(RENAME, replace(LIVE, canceled=True), T0, expected=of_session(LIVE))
    assert reason == "the session was cancelled since the plan was made"


@pytest.mark.parametrize(
    ("now", "allowed"),
    [(START - SECOND, True), (START, False), (START + SECOND, False)],
)
def test_a_cancel_is_checked_against_the_start_at_the_time_of_the_call(
    now: datetime, allowed: bool
) -> None:
    cancel = _action(Kind.CANCEL_SESSION, fingerprint=of_session(LIVE))
    reason = check_session(cancel, LIVE, now, expected=of_session(LIVE))
    assert (reason is None) is allowed
    if not allowed:
        assert reason is not None
        assert "started" in reason


def test_a_start_move_into_what_is_now_the_past_is_skipped() -> None:
    move = _action(
        Kind.UPDATE_SESSION,
        Change("start_time", START, T0 + timedelta(minutes=10)),
        fingerprint=of_session(LIVE),
    )
    assert check_session(move, LIVE, T0, expected=of_session(LIVE)) is None
    later = T0 + timedelta(minutes=10)
    reason = check_session(move, LIVE, later, expected=of_session(LIVE))
    assert reason is not None
    assert "not after now" in reason


def test_an_end_move_keeps_to_the_start_the_same_update_sets() -> None:
    both = _action(
        Kind.UPDATE_SESSION,
        Change("start_time", START, START + timedelta(hours=2)),
        Change("end_time", LIVE.end, START + timedelta(hours=1)),
        fingerprint=of_session(LIVE),
    )
    reason = check_session(both, LIVE, T0, expected=of_session(LIVE))
    assert reason is not None
    assert "not after the start" in reason


def test_a_participant_add_is_checked_against_the_session_this_run_updated() -> None:
    add = _action(Kind.ADD_PARTICIPANT, fingerprint=of_session(LIVE))
    updated = replace(LIVE, session_name="Review")
    assert check_session(add, updated, T0, expected=of_session(updated)) is None
    reason = check_session(add, updated, T0, expected=of_session(LIVE))
    assert reason is not None
    assert "changed" in reason


def test_participant_changes_stop_when_the_session_finishes() -> None:
    add = _action(Kind.ADD_PARTICIPANT, fingerprint=of_session(LIVE))
    assert check_session(add, LIVE, LIVE.end - SECOND, expected=of_session(LIVE)) is None
    reason = check_session(add, LIVE, LIVE.end, expected=of_session(LIVE))
    assert reason is not None
    assert "finished" in reason


@pytest.mark.parametrize(
    ("live", "said"),
    [
        (replace(LIVE, participants=()), "the participant no longer exists"),
        (
            replace(LIVE, participants=(replace(GUEST, removed=True),)),
            "the participant was removed since the plan was made",
        ),
        (
            replace(LIVE, participants=(replace(GUEST, display_name="Bernie"),)),
            "the participant changed since the plan was made",
        ),
    ],
)
def test_a_participant_update_is_skipped_when_its_participant_moved_on(
    live: LiveSession, said: str
) -> None:
    update = _action(
        Kind.UPDATE_PARTICIPANT,
        Change("display_name", "Bernard", "Bernard Q."),
        fingerprint=of_participant(GUEST),
    )
    assert check_session(update, LIVE, T0, expected=of_session(LIVE)) is None
    reason = check_session(update, live, T0, expected=of_session(LIVE))
    assert reason is not None
    assert reason.startswith(said)


def test_a_create_goes_ahead_only_to_start_after_now() -> None:
    assert check_create(START, START - SECOND) is None
    reason = check_create(START, START)
    assert reason is not None
    assert "not after now" in reason


def test_a_snapshot_decision_is_skipped_if_the_snapshot_changed_or_was_discarded() -> None:
    uploaded = LiveSnapshot("snap-1", "conv-1", "UPLOADED", version=1)
    approve = Item(
        status=Status.ACTION,
        kind=Kind.APPROVE_SNAPSHOT,
        target="SnapshotApproval/review",
        reason="",
        snapshot_id="snap-1",
        fingerprint=of_snapshot(uploaded),
    )
    assert check_snapshot(approve, uploaded) is None
    discarded = replace(uploaded, state="DISCARDED", version=2)
    reason = check_snapshot(approve, discarded)
    assert reason is not None
    assert "changed since the plan" in reason
    same_print = replace(approve, fingerprint=of_snapshot(discarded))
    assert check_snapshot(same_print, discarded) == "the snapshot is DISCARDED"
