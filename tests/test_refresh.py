"""The refresh, over HTTP against the emulator: it reads what the planner needs and no more.

History (finished or cancelled records) is never read; the listing costs one request per
page of *active* sessions; sessions changed out of band are still seen as they are; and
participant ids (join capabilities) are hashed before anything else sees them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from reconciler.clients import (
    Clients,
    ManualTimer,
    ParticipantDraft,
    RetryPolicy,
    SessionChanges,
    SessionDraft,
    Tuning,
    connect,
)
from reconciler.clients import LiveSession as ApiSession
from reconciler.planning import (
    Desired,
    DesiredApproval,
    DesiredParticipant,
    DesiredSession,
    ParticipantRecord,
    SessionRecord,
    make_plan,
)
from reconciler.refresh import observe
from tests.capabilities import assert_no_capability
from tests.conftest import T0, TARGETS, CountingTransport
from tests.emulator.api import Auvious, EmulatorControls

pytestmark = pytest.mark.anyio

TOMORROW = T0 + timedelta(days=1)
LISTING = "/v1/sessions"
SNAPSHOTS = "/rtc-api/snapshots"
SALT = b"refresh-test-salt"


def hash_id(participant_id: str) -> str:
    """A keyed hash of a participant id, as the inventory makes them."""
    return hmac.new(SALT, participant_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def tuning() -> Tuning:
    """The default rate limit (the shared fixture's is looser), with a seeded jitter."""
    return Tuning(policy=RetryPolicy(rng=random.Random(7)))


async def schedule(
    clients: Clients,
    count: int,
    start: datetime,
    *,
    minutes: int = 30,
    participants: tuple[ParticipantDraft, ...] = (),
) -> list[ApiSession]:
    """`count` sessions starting at `start`, one second apart (so the order is fixed)."""

    async def one(index: int) -> ApiSession:
        begins = start + timedelta(seconds=index)
        draft = SessionDraft(
            session_name=f"Consultation {index}",
            start_time=begins,
            end_time=begins + timedelta(minutes=minutes),
            participants=participants,
        )
        return await clients.coviu.create_session(draft)

    return list(await asyncio.gather(*(one(index) for index in range(count))))


def record_of(
    session: ApiSession, *, key: str | None = None, canceled: bool = False
) -> SessionRecord:
    """The inventory's record of `session`, as apply would write it."""
    return SessionRecord(
        key=key or f"session-{session.session_id}",
        session_id=session.session_id,
        start=session.start_time,
        end=session.end_time,
        canceled=canceled,
        participants=tuple(
            ParticipantRecord(f"p{index}", hash_id(found.participant_id.get_secret_value()))
            for index, found in enumerate(session.participants)
        ),
    )


def records_of(sessions: Sequence[ApiSession]) -> list[SessionRecord]:
    return [record_of(session) for session in sessions]


def individual_reads(transport: CountingTransport) -> list[str]:
    """Paths of the single-session reads (`GET /v1/sessions/<id>`) since the last reset."""
    return [
        path
        for method, path in transport.requests
        if method == "GET" and path.startswith(LISTING + "/")
    ]


def listing_pages(transport: CountingTransport) -> int:
    return sum(1 for method, path in transport.requests if (method, path) == ("GET", LISTING))


async def test_history_is_never_read(
    clients: Clients, transport: CountingTransport, controls: EmulatorControls
) -> None:
    finished = await schedule(clients, 1000, T0 + timedelta(hours=1))
    to_cancel = await schedule(clients, 3, TOMORROW + timedelta(hours=2))
    for session in to_cancel:
        await clients.coviu.cancel_session(session.session_id)
    active = await schedule(clients, 5, TOMORROW)
    await controls.set(T0 + timedelta(hours=3))  # every `finished` session has ended
    history = [
        *records_of(finished),
        *(record_of(session, canceled=True) for session in to_cancel),
        # A record of a session the API no longer has: any read of it would show below.
        SessionRecord("lost", str(uuid.uuid4()), T0 - timedelta(days=9), T0 - timedelta(days=8)),
    ]
    transport.requests.clear()

    seen = await observe(
        clients,
        [*history, *records_of(active)],
        [],
        now=T0 + timedelta(hours=3),
        hash_id=hash_id,
    )

    assert set(seen.sessions) == {session.session_id for session in active}
    assert individual_reads(transport) == []
    read = " ".join(path for _, path in transport.requests)
    assert not any(record.session_id in read for record in history)
    assert seen.canceled == frozenset()  # cancelled history is not re-reported


async def test_history_costs_no_requests(
    clients: Clients, transport: CountingTransport, controls: EmulatorControls
) -> None:
    finished = await schedule(clients, 1000, T0 + timedelta(hours=1))
    active = await schedule(clients, 5, TOMORROW)
    now = T0 + timedelta(hours=3)
    await controls.set(now)
    await observe(clients, [], [], now=now, hash_id=hash_id)  # renews the token, now stale

    alone = await observe(clients, records_of(active), [], now=now, hash_id=hash_id)
    with_history = await observe(
        clients, [*records_of(finished), *records_of(active)], [], now=now, hash_id=hash_id
    )

    assert with_history.requests == alone.requests == 1  # one listing page; token already held
    assert with_history.sessions == alone.sessions


async def test_requests_grow_with_pages_of_active_sessions(
    transport: CountingTransport, timer: ManualTimer, tuning: Tuning
) -> None:
    # Page by page: the default client fetches pages ahead in parallel batches, which
    # costs a few speculative requests past the end and would blur the count.
    sequential = replace(tuning, page_parallelism=1)
    async with connect(
        TARGETS, tuning=sequential, timer=timer.timer(), transport=transport
    ) as clients:
        first = await schedule(clients, 250, TOMORROW)
        transport.requests.clear()
        small = await observe(clients, records_of(first), [], now=T0, hash_id=hash_id)
        small_pages = listing_pages(transport)

        more = await schedule(clients, 200, TOMORROW + timedelta(hours=1))
        transport.requests.clear()
        large = await observe(clients, records_of([*first, *more]), [], now=T0, hash_id=hash_id)
        large_pages = listing_pages(transport)

    assert (small_pages, large_pages) == (2, 3)  # pages of 200
    assert (small.requests, large.requests) == (2, 3)
    assert len(large.sessions) == 450
    assert individual_reads(transport) == []


async def test_session_cancelled_out_of_band_is_observed_cancelled(
    clients: Clients, transport: CountingTransport
) -> None:
    (session,) = await schedule(clients, 1, TOMORROW)
    await clients.coviu.cancel_session(session.session_id)

    record = record_of(session)

    seen = await observe(clients, [record], [], now=T0, hash_id=hash_id)

    live = seen.sessions.get(session.session_id)
    assert session.session_id in seen.canceled or (live is not None and live.canceled)
    desired = DesiredSession(
        record.key, "Consultation 0", TOMORROW, TOMORROW + timedelta(minutes=30)
    )
    plan = make_plan(Desired(sessions=(desired,)), [record], seen, now=T0)
    (item,) = plan.unreconcilable
    assert "cancelled" in item.reason
    assert plan.actions == plan.blocked == ()


async def test_cancelled_session_outside_the_listing_is_observed_cancelled(
    clients: Clients, transport: CountingTransport, controls: EmulatorControls
) -> None:
    # Recorded for tomorrow; out of band moved to start in two hours and then cancelled.
    # Once that moved start has passed, the listing (from now) no longer shows it.
    (session,) = await schedule(clients, 1, TOMORROW)
    moved = T0 + timedelta(hours=2)
    await clients.coviu.update_session(session.session_id, SessionChanges(start_time=moved))
    await clients.coviu.cancel_session(session.session_id)
    now = T0 + timedelta(hours=3)
    await controls.set(now)
    transport.requests.clear()

    seen = await observe(clients, [record_of(session)], [], now=now, hash_id=hash_id)

    assert seen.canceled == frozenset({session.session_id})
    assert individual_reads(transport) == [f"{LISTING}/{session.session_id}"]


async def test_unknown_recorded_session_is_absent_and_planned_as_gone(clients: Clients) -> None:
    gone = SessionRecord("gone", str(uuid.uuid4()), TOMORROW, TOMORROW + timedelta(minutes=30))

    seen = await observe(clients, [gone], [], now=T0, hash_id=hash_id)

    assert seen.sessions == {}
    assert seen.canceled == frozenset()
    desired = DesiredSession("gone", "Consultation", TOMORROW, TOMORROW + timedelta(minutes=30))
    plan = make_plan(
        Desired(sessions=(desired,), declared=frozenset({"gone"})), [gone], seen, now=T0
    )
    (item,) = plan.unreconcilable
    assert item.target == "Session/gone"
    assert "no longer exists" in item.reason
    assert plan.actions == ()


async def test_session_moved_before_the_listing_window_is_still_found(
    clients: Clients, transport: CountingTransport, controls: EmulatorControls
) -> None:
    (session,) = await schedule(clients, 1, TOMORROW)
    moved = T0 + timedelta(hours=2)
    await clients.coviu.update_session(session.session_id, SessionChanges(start_time=moved))
    now = T0 + timedelta(hours=3)  # it is in progress, since before the listing's window
    await controls.set(now)
    transport.requests.clear()

    seen = await observe(clients, [record_of(session)], [], now=now, hash_id=hash_id)

    assert seen.sessions[session.session_id].start == moved
    assert individual_reads(transport) == [f"{LISTING}/{session.session_id}"]


async def test_live_sessions_nobody_recorded_are_counted_as_unmanaged(clients: Clients) -> None:
    recorded = await schedule(clients, 2, TOMORROW)
    await schedule(clients, 3, TOMORROW + timedelta(hours=1))
    (canceled,) = await schedule(clients, 1, TOMORROW + timedelta(hours=2))
    await clients.coviu.cancel_session(canceled.session_id)

    seen = await observe(clients, records_of(recorded), [], now=T0, hash_id=hash_id)

    assert seen.unmanaged == 3  # the cancelled one is not live any more
    assert set(seen.sessions) == {session.session_id for session in recorded}


async def test_unmanaged_count_does_not_depend_on_the_records_or_count_finished_sessions(
    clients: Clients, controls: EmulatorControls
) -> None:
    (running,) = await schedule(clients, 1, T0 + timedelta(hours=1), minutes=120)
    await schedule(clients, 1, T0 + timedelta(hours=1, minutes=10))  # nobody's; ends 1:40
    now = T0 + timedelta(hours=2)
    await controls.set(now)

    beside_running = await observe(clients, [record_of(running)], [], now=now, hash_id=hash_id)
    alone = await observe(clients, [], [], now=now, hash_id=hash_id)

    assert beside_running.unmanaged == alone.unmanaged == 0


async def test_participant_ids_never_reach_the_observation(clients: Clients) -> None:
    people = (
        ParticipantDraft(display_name="Dr Ada Lovelace", role="host", state="provider-1"),
        ParticipantDraft(display_name="Pat Lee"),
    )
    (session,) = await schedule(clients, 1, TOMORROW, participants=people)
    await clients.coviu.cancel_participant(session.participants[1].participant_id)

    seen = await observe(clients, [record_of(session)], [], now=T0, hash_id=hash_id)

    assert_no_capability(session, repr(seen), count=4)
    live = seen.sessions[session.session_id]
    expected = {hash_id(found.participant_id.get_secret_value()) for found in session.participants}
    assert {found.id_hash for found in live.participants} == expected
    assert [found.removed for found in live.participants] == [False, True]


async def test_snapshots_are_listed_once_per_interaction(
    clients: Clients, transport: CountingTransport, auvious: Auvious
) -> None:
    first = await auvious.upload("conv-1")
    second = await auvious.upload("conv-1")
    other = await auvious.upload("conv-2")
    approvals = [
        DesiredApproval("a", "conv-1", first, "approved", "ep-reviewer"),
        DesiredApproval("b", "conv-1", second, "discarded", "ep-reviewer"),
        DesiredApproval("c", "conv-2", other, "approved", "ep-reviewer"),
    ]
    transport.requests.clear()

    seen = await observe(clients, [], approvals, now=T0, hash_id=hash_id)

    assert transport.count("GET", SNAPSHOTS) == 2
    assert {
        name: [found.snapshot_id for found in found_all]
        for name, found_all in seen.snapshots.items()
    } == {
        "conv-1": [first, second],
        "conv-2": [other],
    }
    assert {found.state for found_all in seen.snapshots.values() for found in found_all} == {
        "UPLOADED"
    }


async def test_observation_is_what_the_planner_needs_to_see_no_changes(clients: Clients) -> None:
    """A refresh of a session just as its manifest says plans nothing: the refresh
    normalizes what it reads the way the planner compares it."""
    people = (ParticipantDraft(display_name="Dr Ada Lovelace", role="host", state="provider-1"),)
    (session,) = await schedule(clients, 1, TOMORROW, participants=people)
    desired = DesiredSession(
        key="consult",
        session_name="Consultation 0",
        start=TOMORROW,
        end=TOMORROW + timedelta(minutes=30),
        participants=(DesiredParticipant("p0", "Dr Ada Lovelace", "host", state="provider-1"),),
    )
    record = record_of(session, key="consult")

    seen = await observe(clients, [record], [], now=T0, hash_id=hash_id)
    plan = make_plan(
        Desired(sessions=(desired,), declared=frozenset({"consult"})), [record], seen, now=T0
    )

    assert (plan.actions, plan.blocked, plan.unreconcilable) == ((), (), ())


async def test_finished_by_its_record_is_read_only_when_its_manifest_changed(
    clients: Clients, transport: CountingTransport, controls: EmulatorControls
) -> None:
    """A session extended by hand may still run after its recorded end: when the manifest
    wants a change, it is read live (one GET); unchanged history stays unread."""
    changed, unchanged = await schedule(clients, 2, T0 + timedelta(hours=1))
    now = T0 + timedelta(hours=2)
    await controls.set(now)
    records = []
    desired = []
    for session, name in ((changed, "Renamed"), (unchanged, None)):
        applied = DesiredSession(
            key=f"session-{session.session_id}",
            session_name=session.session_name or "",
            start=session.start_time,
            end=session.end_time,
        )
        records.append(replace(record_of(session), applied=applied))
        desired.append(replace(applied, session_name=name) if name else applied)
    await observe(clients, [], [], now=now, hash_id=hash_id)  # renews the token, now stale
    transport.requests.clear()

    seen = await observe(clients, records, [], now=now, hash_id=hash_id, desired=desired)

    assert individual_reads(transport) == [f"{LISTING}/{changed.session_id}"]
    assert set(seen.sessions) == {changed.session_id}
