"""The Coviu client, over HTTP against the emulator: typed sessions and participants,
pagination, filters, the lifecycle's refusals, and no join capability in any message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from reconciler.clients import (
    AuthenticationError,
    Clients,
    CoviuClient,
    LiveParticipant,
    LiveSession,
    ManualTimer,
    NotFoundError,
    ParticipantChanges,
    ParticipantDraft,
    ParticipantLookup,
    RequestRejectedError,
    SessionCanceledError,
    SessionChanges,
    SessionDraft,
    SessionFilter,
    Tuning,
    connect,
)
from tests.capabilities import assert_no_capability
from tests.conftest import T0, TARGETS, CountingTransport
from tests.emulator.api import Coviu, EmulatorControls

pytestmark = pytest.mark.anyio

AEDT = timezone(timedelta(hours=11))
DAY = T0 + timedelta(days=1)
TOKEN = "/v1/auth/token"


def draft(
    name: str = "Follow-up",
    start: datetime = DAY,
    minutes: int = 30,
    participants: tuple[ParticipantDraft, ...] = (),
    picture: str | None = None,
) -> SessionDraft:
    return SessionDraft(
        session_name=name,
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        picture=picture,
        participants=participants,
    )


HOST = ParticipantDraft(display_name="Dr Ada Lovelace", role="host", state="ready")
GUEST = ParticipantDraft(display_name="Pat Lee")


def secret(value: SecretStr | None) -> str:
    assert value is not None
    return value.get_secret_value()


def session_ids(sessions: list[LiveSession]) -> list[str]:
    return [s.session_id for s in sessions]


# Creating and reading sessions


async def test_create_session_returns_a_typed_session_with_its_participants(
    clients: Clients,
) -> None:
    start = datetime(2026, 12, 1, 20, 0, tzinfo=AEDT)  # 09:00 UTC
    sent = draft("Wound review", start, minutes=45, participants=(HOST, GUEST), picture="p.png")

    session = await clients.coviu.create_session(sent)

    assert isinstance(session, LiveSession)
    assert session.session_name == "Wound review"
    assert session.picture == "p.png"
    assert session.team_id == "team-a"
    assert session.canceled_at is None
    assert session.start_time == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert session.end_time == datetime(2026, 12, 1, 9, 45, tzinfo=UTC)
    for instant in (session.start_time, session.end_time):
        assert instant.tzinfo is UTC
    host, guest = session.participants
    assert (host.role, guest.role) == ("host", "guest")
    assert (host.display_name, guest.display_name) == ("Dr Ada Lovelace", "Pat Lee")
    assert (host.state, guest.state) == ("ready", None)
    for participant in session.participants:
        assert isinstance(participant.participant_id, SecretStr)
        assert isinstance(participant.entry_url, SecretStr)
        assert participant.session_id == session.session_id
        assert not participant.removed
        # The entry URL is the join link: it ends in the participant id.
        assert secret(participant.entry_url).endswith(
            "/session/" + secret(participant.participant_id)
        )
    assert secret(host.participant_id) != secret(guest.participant_id)


async def test_create_session_answer_is_what_get_session_reads_back(clients: Clients) -> None:
    created = await clients.coviu.create_session(draft(participants=(HOST,)))
    read = await clients.coviu.get_session(created.session_id)
    assert read == created


async def test_session_repr_str_and_json_never_show_participant_ids_or_entry_urls(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST, GUEST)))
    shown = [repr(session), str(session), f"{session}", session.model_dump_json()]
    for participant in session.participants:
        shown += [repr(participant), str(participant), participant.model_dump_json()]
    assert_no_capability(session, *shown, count=4)
    # Still the session, though: its id may be shown.
    assert session.session_id in repr(session)


async def test_create_session_starting_in_the_past_is_rejected_naming_the_rule(
    clients: Clients,
) -> None:
    with pytest.raises(RequestRejectedError) as caught:
        await clients.coviu.create_session(draft(start=T0 - timedelta(minutes=5)))
    assert caught.value.status == 400
    assert "create session" in str(caught.value)
    assert not isinstance(caught.value, NotFoundError)


async def test_get_session_includes_removed_participants_only_when_asked(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST, GUEST)))
    host, guest = session.participants
    await clients.coviu.cancel_participant(guest.participant_id)

    present = await clients.coviu.get_session(session.session_id)
    everyone = await clients.coviu.get_session(session.session_id, deleted_participants=True)

    assert [secret(p.participant_id) for p in present.participants] == [secret(host.participant_id)]
    assert [secret(p.participant_id) for p in everyone.participants] == [
        secret(host.participant_id),
        secret(guest.participant_id),
    ]
    assert [p.removed for p in everyone.participants] == [False, True]


# Listing


@pytest.mark.parametrize("count", [0, 1, 200, 201])
async def test_list_sessions_returns_every_session_once_in_creation_order(
    clients: Clients, coviu: Coviu, count: int
) -> None:
    # Later-created sessions start earlier, so creation order is not start order.
    created = [
        (await coviu.create_session(DAY + timedelta(minutes=1000 - n)))["session_id"]
        for n in range(count)
    ]
    listed = await clients.coviu.list_sessions()
    assert session_ids(listed) == created


@pytest.mark.parametrize(("count", "pages"), [(450, 3), (1001, 6)])
async def test_list_sessions_returns_every_page_in_order_whatever_the_parallelism(
    clients: Clients,
    coviu: Coviu,
    app: Starlette,
    timer: ManualTimer,
    count: int,
    pages: int,
) -> None:
    created = [
        (await coviu.create_session(DAY + timedelta(minutes=2000 - n)))["session_id"]
        for n in range(count)
    ]

    parallel = await clients.coviu.list_sessions()

    counting = CountingTransport(httpx.ASGITransport(app=app))
    one_at_a_time = Tuning(page_parallelism=1)
    async with connect(
        TARGETS, tuning=one_at_a_time, timer=timer.timer(), transport=counting
    ) as serial_clients:
        serial = await serial_clients.coviu.list_sessions()

    assert session_ids(parallel) == created
    assert session_ids(serial) == created
    assert len(set(session_ids(parallel))) == count
    # Pages hold at most 200 sessions; walked one by one, one request per page.
    assert counting.count("GET", "/v1/sessions") == pages


async def test_list_sessions_starting_from_keeps_those_starting_at_or_after_in_start_order(
    clients: Clients,
) -> None:
    later = await clients.coviu.create_session(draft("c", DAY + timedelta(days=2)))
    earlier = await clients.coviu.create_session(draft("a", DAY))
    middle = await clients.coviu.create_session(draft("b", DAY + timedelta(days=1)))

    # The same instant as DAY + 1 day, written with a +11:00 offset.
    boundary = (DAY + timedelta(days=1)).astimezone(AEDT)
    found = await clients.coviu.list_sessions(SessionFilter(starting_from=boundary))

    assert session_ids(found) == [middle.session_id, later.session_id]
    assert earlier.session_id not in session_ids(found)


async def test_list_sessions_ending_by_keeps_those_ending_at_or_before_in_start_order(
    clients: Clients,
) -> None:
    later = await clients.coviu.create_session(draft("c", DAY + timedelta(days=2)))
    middle = await clients.coviu.create_session(draft("b", DAY + timedelta(days=1)))
    earlier = await clients.coviu.create_session(draft("a", DAY))

    found = await clients.coviu.list_sessions(SessionFilter(ending_by=middle.end_time))

    assert session_ids(found) == [earlier.session_id, middle.session_id]
    assert later.session_id not in session_ids(found)


async def test_list_sessions_between_two_instants_keeps_only_those_inside(
    clients: Clients,
) -> None:
    sessions = [
        await clients.coviu.create_session(draft(str(n), DAY + timedelta(days=n))) for n in range(4)
    ]
    found = await clients.coviu.list_sessions(
        SessionFilter(starting_from=sessions[1].start_time, ending_by=sessions[2].end_time)
    )
    assert session_ids(found) == [sessions[1].session_id, sessions[2].session_id]


async def test_list_sessions_hides_canceled_sessions_unless_asked(clients: Clients) -> None:
    kept = await clients.coviu.create_session(draft("kept"))
    dropped = await clients.coviu.create_session(draft("dropped"))
    await clients.coviu.cancel_session(dropped.session_id)

    default = await clients.coviu.list_sessions()
    everything = await clients.coviu.list_sessions(SessionFilter(include_canceled=True))

    assert session_ids(default) == [kept.session_id]
    assert session_ids(everything) == [kept.session_id, dropped.session_id]
    assert everything[0].canceled_at is None
    assert everything[1].canceled_at == T0
    assert everything[1].canceled_at.tzinfo is UTC


async def test_list_sessions_shows_removed_participants_only_when_asked(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST, GUEST)))
    await clients.coviu.cancel_participant(session.participants[1].participant_id)

    (default,) = await clients.coviu.list_sessions()
    (everything,) = await clients.coviu.list_sessions(SessionFilter(deleted_participants=True))

    assert [p.display_name for p in default.participants] == ["Dr Ada Lovelace"]
    assert [(p.display_name, p.removed) for p in everything.participants] == [
        ("Dr Ada Lovelace", False),
        ("Pat Lee", True),
    ]


async def test_list_sessions_by_state_keeps_sessions_with_a_present_participant_in_it(
    clients: Clients,
) -> None:
    waiting = ParticipantDraft(display_name="Pat Lee", state="waiting")
    with_waiting = await clients.coviu.create_session(draft("w", participants=(HOST, waiting)))
    await clients.coviu.create_session(draft("r", participants=(HOST,)))
    removed = await clients.coviu.create_session(draft("x", participants=(waiting,)))
    await clients.coviu.cancel_participant(removed.participants[0].participant_id)

    found = await clients.coviu.list_sessions(SessionFilter(state="waiting"))
    with_removed = await clients.coviu.list_sessions(
        SessionFilter(state="waiting", deleted_participants=True)
    )

    assert session_ids(found) == [with_waiting.session_id]
    assert session_ids(with_removed) == [with_waiting.session_id, removed.session_id]


# Updating and cancelling sessions


async def test_update_session_changes_only_the_fields_given(clients: Clients) -> None:
    created = await clients.coviu.create_session(
        draft("Before", picture="before.png", participants=(HOST,))
    )

    renamed = await clients.coviu.update_session(
        created.session_id, SessionChanges(session_name="After")
    )

    assert renamed.session_name == "After"
    assert renamed.picture == "before.png"
    assert (renamed.start_time, renamed.end_time) == (created.start_time, created.end_time)
    assert len(renamed.participants) == 1

    new_end = created.end_time + timedelta(minutes=15)
    longer = await clients.coviu.update_session(
        created.session_id, SessionChanges(end_time=new_end)
    )
    read = await clients.coviu.get_session(created.session_id)
    for session in (longer, read):
        assert session.end_time == new_end
        assert session.session_name == "After"
        assert session.picture == "before.png"
        assert session.start_time == created.start_time


async def test_update_session_start_time_sent_with_an_offset_is_the_same_instant(
    clients: Clients,
) -> None:
    created = await clients.coviu.create_session(draft(minutes=120))
    new_start = (created.start_time + timedelta(minutes=30)).astimezone(AEDT)

    updated = await clients.coviu.update_session(
        created.session_id, SessionChanges(start_time=new_start)
    )

    assert updated.start_time == new_start
    assert updated.start_time.tzinfo is UTC
    assert updated.end_time == created.end_time


async def test_update_start_time_after_the_start_is_rejected_naming_the_rule(
    clients: Clients, controls: EmulatorControls
) -> None:
    created = await clients.coviu.create_session(draft(minutes=60))
    await controls.set(created.start_time + timedelta(minutes=1))

    with pytest.raises(RequestRejectedError) as caught:
        await clients.coviu.update_session(
            created.session_id,
            SessionChanges(start_time=created.start_time + timedelta(hours=1)),
        )
    assert caught.value.status == 400
    assert "update start_time" in str(caught.value)
    assert (await clients.coviu.get_session(created.session_id)).start_time == created.start_time


async def test_cancel_session_then_get_session_raises_session_canceled_without_renewing_token(
    clients: Clients, transport: CountingTransport
) -> None:
    created = await clients.coviu.create_session(draft())
    await clients.coviu.cancel_session(created.session_id)

    with pytest.raises(SessionCanceledError) as caught:
        await clients.coviu.get_session(created.session_id)

    assert not isinstance(caught.value, AuthenticationError)
    assert caught.value.status == 401
    assert transport.count("POST", TOKEN) == 1
    assert clients.coviu.tokens.grants == 1
    # The GET was sent once: a cancelled session is not retried either.
    path = f"/v1/sessions/{created.session_id}"
    assert transport.requests.count(("GET", path)) == 1


async def test_get_session_of_a_canceled_session_with_an_expired_token_is_still_canceled(
    clients: Clients, transport: CountingTransport, controls: EmulatorControls
) -> None:
    created = await clients.coviu.create_session(draft())
    await clients.coviu.cancel_session(created.session_id)
    # The server's clock passes the token's lifetime; the client's own clock does not move,
    # so it learns of the expiry only from the server's Bearer challenge.
    await controls.advance(timedelta(hours=2))

    with pytest.raises(SessionCanceledError):
        await clients.coviu.get_session(created.session_id)

    assert transport.count("POST", TOKEN) == 2
    assert clients.coviu.tokens.grants == 2


async def test_cancel_session_after_it_started_is_rejected_naming_the_lifecycle_rule(
    clients: Clients, controls: EmulatorControls
) -> None:
    created = await clients.coviu.create_session(draft())
    await controls.set(created.start_time + timedelta(minutes=1))

    with pytest.raises(RequestRejectedError) as caught:
        await clients.coviu.cancel_session(created.session_id)

    assert caught.value.status == 400
    assert not isinstance(caught.value, NotFoundError | SessionCanceledError)
    assert "cancel session" in str(caught.value)
    assert "cancel session" in caught.value.reason
    # Still there, and not cancelled.
    assert (await clients.coviu.get_session(created.session_id)).canceled_at is None


async def test_cancel_session_twice_is_rejected(clients: Clients) -> None:
    created = await clients.coviu.create_session(draft())
    await clients.coviu.cancel_session(created.session_id)
    with pytest.raises(RequestRejectedError) as caught:
        await clients.coviu.cancel_session(created.session_id)
    assert "already canceled" in str(caught.value)


# Participants


async def test_add_participant_returns_it_and_get_participant_reads_it_back(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST,)))

    added = await clients.coviu.add_participant(
        session.session_id,
        ParticipantDraft(display_name="Nurse Joy", role="host", picture="joy.png", state="ready"),
    )

    assert isinstance(added, LiveParticipant)
    assert added.session_id == session.session_id
    assert (added.display_name, added.role, added.picture, added.state) == (
        "Nurse Joy",
        "host",
        "joy.png",
        "ready",
    )
    assert not added.removed
    read = await clients.coviu.get_participant(added.participant_id)
    assert read == added
    listed = await clients.coviu.list_participants(session.session_id)
    assert [p.display_name for p in listed] == ["Dr Ada Lovelace", "Nurse Joy"]


async def test_update_participant_changes_only_the_fields_given(clients: Clients) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST,)))
    (host,) = session.participants

    updated = await clients.coviu.update_participant(
        host.participant_id, ParticipantChanges(role="guest")
    )

    assert updated.role == "guest"
    assert updated.display_name == host.display_name
    assert updated.state == host.state
    assert updated.picture == host.picture
    renamed = await clients.coviu.update_participant(
        host.participant_id, ParticipantChanges(display_name="Dr A. Lovelace")
    )
    assert (renamed.display_name, renamed.role, renamed.state) == (
        "Dr A. Lovelace",
        "guest",
        "ready",
    )
    assert await clients.coviu.get_participant(host.participant_id) == renamed


async def test_cancel_participant_removes_it_for_good(clients: Clients) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST, GUEST)))
    host, guest = session.participants

    await clients.coviu.cancel_participant(guest.participant_id)

    removed = await clients.coviu.get_participant(guest.participant_id)
    assert removed.removed
    assert removed.deleted_at == T0
    assert removed.deleted_at is not None
    assert removed.deleted_at.tzinfo is UTC
    present = await clients.coviu.list_participants(session.session_id)
    everyone = await clients.coviu.list_participants(session.session_id, deleted_participants=True)
    assert [secret(p.participant_id) for p in present] == [secret(host.participant_id)]
    assert [(secret(p.participant_id), p.removed) for p in everyone] == [
        (secret(host.participant_id), False),
        (secret(guest.participant_id), True),
    ]


async def test_update_of_a_removed_participant_is_rejected_without_its_id_or_link(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(GUEST,)))
    (guest,) = session.participants
    await clients.coviu.cancel_participant(guest.participant_id)

    with pytest.raises(RequestRejectedError) as caught:
        await clients.coviu.update_participant(
            guest.participant_id, ParticipantChanges(display_name="Back again")
        )

    assert caught.value.status == 400
    assert "update participant" in str(caught.value)
    assert_no_capability(
        [guest], str(caught.value), repr(caught.value), caught.value.reason, count=2
    )
    assert "/participants/***" in str(caught.value)


async def test_cancel_of_a_removed_participant_is_rejected_without_its_id_or_link(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(GUEST,)))
    (guest,) = session.participants
    await clients.coviu.cancel_participant(guest.participant_id)

    with pytest.raises(RequestRejectedError) as caught:
        await clients.coviu.cancel_participant(guest.participant_id)

    assert "cancel participant" in str(caught.value)
    assert_no_capability([guest], str(caught.value), count=2)


async def test_participant_changes_after_the_session_finished_are_rejected_without_its_id(
    clients: Clients, controls: EmulatorControls
) -> None:
    session = await clients.coviu.create_session(draft(participants=(GUEST,)))
    (guest,) = session.participants
    await controls.set(session.end_time + timedelta(minutes=1))

    with pytest.raises(RequestRejectedError) as update:
        await clients.coviu.update_participant(guest.participant_id, ParticipantChanges(state="x"))
    with pytest.raises(RequestRejectedError) as add:
        await clients.coviu.add_participant(session.session_id, GUEST)

    assert "update participant" in str(update.value)
    assert "add participant" in str(add.value)
    for error in (update.value, add.value):
        assert "finished" in str(error)
        assert_no_capability([guest], str(error), count=2)


async def test_unknown_ids_raise_not_found_without_echoing_a_participant_id(
    clients: Clients,
) -> None:
    coviu = clients.coviu
    unknown_session = "00000000-0000-4000-8000-000000000000"
    unknown_participant = SecretStr("Zm9yZ2VkLXBhcnRpY2lwYW50LWlk")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: coviu.get_session(unknown_session),
        lambda: coviu.update_session(unknown_session, SessionChanges(session_name="x")),
        lambda: coviu.cancel_session(unknown_session),
        lambda: coviu.list_participants(unknown_session),
        lambda: coviu.add_participant(unknown_session, GUEST),
        lambda: coviu.get_participant(unknown_participant),
        lambda: coviu.update_participant(unknown_participant, ParticipantChanges(state="x")),
        lambda: coviu.cancel_participant(unknown_participant),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as caught:
            await call()
        assert caught.value.status == 404
        assert unknown_participant.get_secret_value() not in str(caught.value)


async def test_another_teams_sessions_and_participants_are_not_found(
    clients: Clients, clinic_b: Clients
) -> None:
    theirs = await clinic_b.coviu.create_session(draft("Theirs", participants=(GUEST,)))
    (their_guest,) = theirs.participants
    mine = await clients.coviu.create_session(draft("Mine"))

    with pytest.raises(NotFoundError):
        await clients.coviu.get_session(theirs.session_id)
    with pytest.raises(NotFoundError):
        await clients.coviu.update_session(theirs.session_id, SessionChanges(session_name="x"))
    with pytest.raises(NotFoundError):
        await clients.coviu.cancel_session(theirs.session_id)
    with pytest.raises(NotFoundError):
        await clients.coviu.list_participants(theirs.session_id)
    with pytest.raises(NotFoundError) as caught:
        await clients.coviu.get_participant(their_guest.participant_id)
    assert_no_capability([their_guest], str(caught.value), count=2)
    with pytest.raises(NotFoundError):
        await clients.coviu.cancel_participant(their_guest.participant_id)

    assert session_ids(await clients.coviu.list_sessions()) == [mine.session_id]
    # Nothing of theirs changed.
    assert await clinic_b.coviu.get_session(theirs.session_id) == theirs


# Finding what a lost answer may have created


async def test_find_sessions_finds_the_created_session_and_ignores_lookalikes(
    clients: Clients,
) -> None:
    wanted = draft("Follow-up", participants=(HOST,))
    created = await clients.coviu.create_session(wanted)
    await clients.coviu.create_session(draft("Another name"))
    await clients.coviu.create_session(draft("Follow-up", minutes=45))
    await clients.coviu.create_session(draft("Follow-up", DAY + timedelta(minutes=5)))

    found = await clients.coviu.find_sessions(wanted)

    assert session_ids(found) == [created.session_id]


async def test_find_sessions_finds_a_draft_written_with_an_offset(clients: Clients) -> None:
    wanted = draft("Follow-up", DAY.astimezone(AEDT))
    created = await clients.coviu.create_session(wanted)
    assert session_ids(await clients.coviu.find_sessions(wanted)) == [created.session_id]


async def test_find_sessions_finds_nothing_before_the_create(clients: Clients) -> None:
    await clients.coviu.create_session(draft("Another name"))
    assert await clients.coviu.find_sessions(draft("Follow-up")) == []


async def test_find_sessions_finds_a_session_created_from_a_draft_with_sub_second_times(
    clients: Clients,
) -> None:
    # Manifests accept times such as 09:00:00.500Z; Coviu keeps and answers whole seconds.
    wanted = draft("Follow-up", DAY + timedelta(milliseconds=500))
    created = await clients.coviu.create_session(wanted)
    found = await clients.coviu.find_sessions(wanted)
    assert session_ids(found) == [created.session_id]


async def test_find_participants_finds_present_lookalikes_only(clients: Clients) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST,)))
    wanted = ParticipantDraft(display_name="Pat Lee", state="waiting")
    first = await clients.coviu.add_participant(session.session_id, wanted)
    removed = await clients.coviu.add_participant(session.session_id, wanted)
    await clients.coviu.cancel_participant(removed.participant_id)
    await clients.coviu.add_participant(
        session.session_id, ParticipantDraft(display_name="Pat Lee", role="host", state="waiting")
    )
    await clients.coviu.add_participant(
        session.session_id, ParticipantDraft(display_name="Pat Lee")
    )

    found = await clients.coviu.find_participants(ParticipantLookup(session.session_id, wanted))

    assert [secret(p.participant_id) for p in found] == [secret(first.participant_id)]


async def test_find_participants_of_a_session_without_lookalikes_is_empty(
    clients: Clients,
) -> None:
    session = await clients.coviu.create_session(draft(participants=(HOST,)))
    lookup = ParticipantLookup(session.session_id, GUEST)
    assert await clients.coviu.find_participants(lookup) == []


async def test_requests_counts_every_request_of_the_client(
    clients: Clients, transport: CountingTransport
) -> None:
    coviu: CoviuClient = clients.coviu
    await coviu.create_session(draft())
    await coviu.list_sessions()
    assert coviu.requests == len(transport.requests) == 3  # token, create, one page
