"""The lifecycle rules at their edges, and how long a plan stays valid.

A session's phase changes *at* its start and *at* its end (start ≤ now < end is in
progress), so each rule is checked a second before, exactly at, and a second after the
moment it changes its answer (DESIGN.md §5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reconciler.planning import (
    SAFETY_MARGIN,
    Desired,
    DesiredApproval,
    DesiredParticipant,
    DesiredSession,
    Kind,
    LiveParticipant,
    LiveSession,
    LiveSnapshot,
    Observation,
    ParticipantRecord,
    Phase,
    SessionRecord,
    Status,
    make_plan,
    phase_of,
    rules,
)
from reconciler.planning.state import PARTICIPANT_FIELDS, participant_fields
from tests.conftest import T0

SECOND = timedelta(seconds=1)
START = T0 + timedelta(hours=1)
END = START + timedelta(minutes=30)
AEDT = timezone(timedelta(hours=11))
SESSION = LiveSession("s-1", "Follow-up", START, END)


@pytest.mark.parametrize(
    ("now", "phase"),
    [
        pytest.param(START - SECOND, Phase.SCHEDULED, id="1s-before-start"),
        pytest.param(START, Phase.IN_PROGRESS, id="at-start"),
        pytest.param(END - SECOND, Phase.IN_PROGRESS, id="1s-before-end"),
        pytest.param(END, Phase.FINISHED, id="at-end"),
    ],
)
def test_phase_changes_at_the_start_and_at_the_end(now: datetime, phase: Phase) -> None:
    assert phase_of(SESSION, now) is phase


def test_cancelled_session_is_cancelled_whatever_the_time() -> None:
    cancelled = LiveSession("s-1", "Follow-up", START, END, canceled=True)
    assert phase_of(cancelled, START - SECOND) is Phase.CANCELED
    assert phase_of(cancelled, END) is Phase.CANCELED


def test_cancel_is_legal_until_the_start_and_never_after() -> None:
    before = rules.may_cancel(SESSION, START - SECOND)
    assert before.allowed
    assert before.expires_at == START
    for now in (START, END - SECOND, END):
        verdict = rules.may_cancel(SESSION, now)
        assert not verdict.allowed
        assert verdict.never
        assert verdict.hint


def test_edits_are_legal_until_the_end() -> None:
    last = rules.may_edit(SESSION, END - SECOND)
    assert last.allowed
    assert last.expires_at == END
    at_end = rules.may_edit(SESSION, END)
    assert not at_end.allowed
    assert "finished" in at_end.reason


def test_create_needs_a_start_after_now() -> None:
    assert not rules.may_create(T0, T0).allowed
    later = rules.may_create(T0 + SECOND, T0)
    assert later.allowed
    assert later.expires_at == T0 + SECOND


def test_start_moves_only_while_scheduled_and_only_into_the_future() -> None:
    now = START - timedelta(minutes=5)
    assert not rules.may_move_start(SESSION, now, now).allowed, "to now itself"
    earlier = rules.may_move_start(SESSION, now + SECOND, now)
    assert earlier.allowed
    assert earlier.expires_at == now + SECOND, "the new start passes before the old"
    later = rules.may_move_start(SESSION, START + timedelta(hours=1), now)
    assert later.expires_at == START, "the session starts before the new start"
    started = rules.may_move_start(SESSION, END, START)
    assert not started.allowed
    assert "started" in started.reason


def test_end_moves_until_the_end_to_after_both_start_and_now() -> None:
    now = START + timedelta(minutes=10)
    assert not rules.may_move_end(SESSION, START, now, now).allowed, "to now itself"
    shorter = rules.may_move_end(SESSION, START, now + SECOND, now)
    assert shorter.allowed
    assert shorter.expires_at == now + SECOND
    longer = rules.may_move_end(SESSION, START, END + timedelta(hours=1), now)
    assert longer.expires_at == END
    scheduled = START - timedelta(minutes=10)
    assert not rules.may_move_end(SESSION, START, START, scheduled).allowed, "to the start"
    assert rules.may_move_end(SESSION, START, START + SECOND, scheduled).allowed
    assert not rules.may_move_end(SESSION, START, END + SECOND, END).allowed, "once finished"


# --- the rules inside a plan ----------------------------------------------------------------


def desired_session(
    key: str,
    start: datetime,
    *,
    name: str = "Follow-up",
    end: datetime | None = None,
    participants: tuple[DesiredParticipant, ...] = (DesiredParticipant("pat", "Pat Lee"),),
) -> DesiredSession:
    """A session as a manifest in +11:00 declares it."""
    return DesiredSession(
        key=key,
        session_name=name,
        start=start.astimezone(AEDT),
        end=(end or start + timedelta(minutes=30)).astimezone(AEDT),
        participants=participants,
        source=f"clinic/{key}.yaml",
    )


def recorded(session: DesiredSession, session_id: str) -> tuple[SessionRecord, LiveSession]:
    """A record of `session` and the live session it names, exactly as applied."""
    live = LiveSession(
        session_id,
        session.session_name,
        session.start.astimezone(UTC),
        session.end.astimezone(UTC),
        participants=(LiveParticipant(f"hash-{session_id}", "Pat Lee", "guest"),),
    )
    record = SessionRecord(
        session.key,
        session_id,
        live.start,
        live.end,
        participants=(ParticipantRecord("pat", f"hash-{session_id}"),),
        applied=session,
    )
    return record, live


def plan_for(
    wanted: list[DesiredSession],
    applied: list[DesiredSession],
    now: datetime,
    approvals: tuple[DesiredApproval, ...] = (),
    snapshots: tuple[LiveSnapshot, ...] = (),
) -> tuple[list[SessionRecord], Observation, Desired]:
    pairs = [recorded(session, f"s-{index}") for index, session in enumerate(applied)]
    observation = Observation(
        sessions={live.session_id: live for _, live in pairs},
        snapshots={"conv-1": snapshots} if snapshots else {},
    )
    desired = Desired(
        sessions=tuple(wanted),
        approvals=approvals,
        declared=frozenset(session.key for session in wanted),
        scope=(".",),
    )
    return [record for record, _ in pairs], observation, desired


@pytest.mark.parametrize(
    ("now", "status"),
    [
        pytest.param(START - SECOND, Status.ACTION, id="1s-before-start"),
        pytest.param(START, Status.BLOCKED, id="at-start"),
    ],
)
def test_plan_cancels_a_removed_session_only_before_it_starts(
    now: datetime, status: Status
) -> None:
    records, observation, desired = plan_for([], [desired_session("gone", START)], now)
    plan = make_plan(desired, records, observation, now=now)
    (item,) = (*plan.actions, *plan.blocked)
    assert (item.kind, item.status, item.target) == (Kind.CANCEL_SESSION, status, "Session/gone")
    assert item.kind.irreversible


@pytest.mark.parametrize(
    ("now", "status"),
    [
        pytest.param(END - SECOND, Status.ACTION, id="1s-before-end"),
        pytest.param(END, Status.BLOCKED, id="at-end"),
        pytest.param(END + SECOND, Status.BLOCKED, id="1s-after-end"),
    ],
)
def test_plan_renames_a_session_only_until_it_ends(now: datetime, status: Status) -> None:
    applied = desired_session("clinic", START)
    wanted = desired_session("clinic", START, name="Cardiology")
    records, observation, desired = plan_for([wanted], [applied], now)
    plan = make_plan(desired, records, observation, now=now)
    (item,) = (*plan.actions, *plan.blocked)
    assert (item.kind, item.status) == (Kind.UPDATE_SESSION, status)
    assert [change.field for change in item.changes] == ["session_name"]
    if status is Status.BLOCKED:
        assert item.never
        assert "finished" in item.reason


def test_valid_until_is_the_first_deadline_of_an_action_less_the_margin() -> None:
    now = T0
    soon = desired_session("soon", START)
    later = desired_session("later", START + timedelta(hours=2))
    new = desired_session("new", START + timedelta(minutes=10))
    wanted = [
        desired_session("soon", START, name="Renamed"),  # legal until END
        desired_session("later", START + timedelta(hours=2), participants=()),  # until its end
        new,  # legal until its start: START + 10 minutes
    ]
    records, observation, desired = plan_for(wanted, [soon, later], now)
    plan = make_plan(desired, records, observation, now=now)
    assert {item.kind for item in plan.actions} == {
        Kind.UPDATE_SESSION,
        Kind.CANCEL_PARTICIPANT,
        Kind.CREATE_SESSION,
    }
    first = START + timedelta(minutes=10)
    assert min(item.expires_at for item in plan.actions if item.expires_at) == first
    assert plan.valid_until == first - SAFETY_MARGIN
    margin = timedelta(minutes=5)
    assert make_plan(desired, records, observation, now=now, margin=margin).valid_until == (
        first - margin
    )


def test_blocked_items_and_snapshot_decisions_set_no_deadline() -> None:
    now = START + timedelta(minutes=1)  # the session started: its start cannot move
    applied = desired_session("clinic", START)
    wanted = desired_session("clinic", START + timedelta(hours=1), end=START + timedelta(hours=2))
    approval = DesiredApproval("review", "conv-1", "snap-1", "approved", "ep-reviewer")
    records, observation, desired = plan_for(
        [wanted],
        [applied],
        now,
        approvals=(approval,),
        snapshots=(LiveSnapshot("snap-1", "conv-1", "UPLOADED"),),
    )
    plan = make_plan(desired, records, observation, now=now)
    # The end may still move (until the old end); the start may not.
    assert [(item.kind, [c.field for c in item.changes]) for item in plan.blocked] == [
        (Kind.UPDATE_SESSION, ["start_time"])
    ]
    moves = [item for item in plan.actions if item.kind is Kind.UPDATE_SESSION]
    assert [[c.field for c in item.changes] for item in moves] == [["end_time"]]
    assert plan.valid_until == END - SAFETY_MARGIN
    decisions = [item for item in plan.actions if item.kind is Kind.APPROVE_SNAPSHOT]
    assert [item.expires_at for item in decisions] == [None]


def test_a_plan_of_only_snapshot_decisions_does_not_expire() -> None:
    approval = DesiredApproval("review", "conv-1", "snap-1", "discarded", "ep-reviewer")
    records, observation, desired = plan_for(
        [], [], T0, approvals=(approval,), snapshots=(LiveSnapshot("snap-1", "conv-1", "APPROVED"),)
    )
    plan = make_plan(desired, records, observation, now=T0)
    assert [item.kind for item in plan.actions] == [Kind.DISCARD_SNAPSHOT]
    assert plan.valid_until is None


def test_the_participant_fields_compared_are_the_ones_a_call_may_send() -> None:
    # `participant_fields` spells them out for speed; `PARTICIPANT_FIELDS` filters what a
    # call sends. A field added to one and not the other would be compared and never
    # sent, or sent and never compared.
    desired = DesiredParticipant("p-0", "Pat Lee", "guest", "https://example.org/p.png", "ready")
    assert tuple(participant_fields(desired)) == PARTICIPANT_FIELDS
