"""The clients against a misbehaving service: 503s, 429s, lost answers and bounded retries.

Every test talks to the emulator in-process through `Wire` (tests/clients/wire.py), a
transport that records each exchange (headers and bodies included) and can forge an
answer or run a hook after one, so a test can say exactly what went over the wire and
when the service misbehaved. Waits run on the `ManualTimer`: nothing here sleeps on the
wall clock.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from reconciler.clients import (
    ApiUnavailableError,
    Clients,
    ManualTimer,
    NotFoundError,
    OutcomeUnknownError,
    ParticipantChanges,
    ParticipantDraft,
    ParticipantLookup,
    RequestRejectedError,
    SessionCanceledError,
    SessionChanges,
    SessionFilter,
    Tuning,
)
from tests.clients.wire import (
    START,
    Exchange,
    Forge,
    Hook,
    Wire,
    create_many,
    draft,
    error_answer,
    once,
    wired_clients,
)
from tests.conftest import CLINIC_A
from tests.emulator.api import Auvious, Coviu, EmulatorControls

pytestmark = pytest.mark.anyio


def faults_off_after_first_loss(controls: EmulatorControls) -> Hook:
    """A hook that turns the emulator's faults off once an answer has been lost."""

    async def hook(exchange: Exchange) -> None:
        if exchange.status is None:
            await controls.faults()

    return hook


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The clients' "…; try n of m in s" warnings; args: service, method, path, outcome,
    next try, attempts, seconds."""
    return [
        r
        for r in caplog.records
        if r.name == "reconciler.clients" and r.levelno == logging.WARNING and "; try " in r.msg
    ]


def wait_of(record: logging.LogRecord) -> float:
    """The seconds a retry warning says the call waits."""
    assert isinstance(record.args, tuple)
    seconds = record.args[6]
    assert isinstance(seconds, float)
    return seconds


def outcome_of(record: logging.LogRecord) -> str:
    """What a retry warning says the failed try met (a status, or an error's name)."""
    assert isinstance(record.args, tuple)
    return str(record.args[3])


def refuse_connection() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


# 1. Listing under 503s and 429s


@pytest.mark.parametrize("parallelism", [1, 4])
async def test_listing_1000_sessions_under_503s_and_429s_returns_each_once_in_order(
    parallelism: int,
    wire: Wire,
    timer: ManualTimer,
    tuning: Tuning,
    controls: EmulatorControls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tuning = replace(tuning, page_parallelism=parallelism)
    async with wired_clients(wire, timer, tuning) as clients:
        created = await create_many(clients, 1000)
        expected = [s.session_id for s in created]
        assert len(set(expected)) == 1000
        await controls.faults(
            error_rate=0.2, status=503, rate_limit_rate=0.1, seed=1, methods=["GET"]
        )
        before, slept_before = len(wire.exchanges), len(timer.slept)
        caplog.set_level(logging.INFO, logger="reconciler.clients")
        caplog.clear()
        listed = await clients.coviu.list_sessions()

    sent = wire.exchanges[before:]
    assert [s.session_id for s in listed] == expected
    assert {(e.method, e.path) for e in sent} == {("GET", "/v1/sessions")}  # no renewal
    answered = sorted(e.page for e in sent if e.status == 200)
    # Every page fetched once; a parallel batch may also read a few (empty) pages past
    # the end, never more than one batch's worth.
    assert answered == list(range(len(answered)))
    assert 5 <= len(answered) <= 5 + parallelism - 1
    refused = [e.status for e in sent if e.status != 200]
    assert set(refused) == {503, 429}  # the faults did happen, and only those
    retries = retry_records(caplog)
    assert len(retries) == len(refused)  # every refusal retried, nothing else
    # Bounded: each request is an answered page or a refusal that was retried.
    assert len(sent) == len(answered) + len(retries) <= len(answered) * tuning.policy.attempts
    # Each 429 waited at least the Retry-After the service sent (1 s by default).
    waits_429 = [wait_of(r) for r in retries if outcome_of(r) == "429"]
    assert len(waits_429) == refused.count(429)
    assert all(wait >= 1.0 for wait in waits_429)
    assert all(wait in timer.slept[slept_before:] for wait in waits_429)
    print(
        f"\n[acceptance 1] page_parallelism={parallelism}: listing 1000 sessions (5 pages;"
        f" {len(answered)} fetched) took {len(sent)} requests, {len(retries)} retries"
        f" ({refused.count(503)} x 503,"
        f" {refused.count(429)} x 429); waited {sum(timer.slept[slept_before:]):.1f} s"
        " on the manual clock"
    )


async def test_429_waits_at_least_the_retry_after_the_service_sent(
    wire: Wire,
    wired: Clients,
    timer: ManualTimer,
    controls: EmulatorControls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = await wired.coviu.create_session(draft(1))
    await controls.faults(rate_limit_rate=0.5, retry_after=7, seed=3, methods=["GET"])
    caplog.set_level(logging.INFO, logger="reconciler.clients")
    for _ in range(8):
        assert (await wired.coviu.get_session(session.session_id)).session_id == (
            session.session_id
        )
    limited = [e for e in wire.sent("GET") if e.status == 429]
    waits = [wait_of(r) for r in retry_records(caplog)]
    assert len(limited) >= 3  # the premise: rate limits were met
    assert len(waits) == len(limited)
    assert all(wait >= 7 for wait in waits)
    assert all(wait in timer.slept for wait in waits)  # and the wait was really taken


async def test_a_429_holds_off_every_concurrent_caller_for_its_retry_after(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    session = await wired.coviu.create_session(draft(1))
    path = f"/v1/sessions/{session.session_id}"
    wire.forgers.append(once("GET", path, error_answer(429, "slow down", **{"Retry-After": "7"})))
    start = timer.now
    await asyncio.gather(*(wired.coviu.get_session(session.session_id) for _ in range(4)))

    gets = wire.sent("GET", path)
    limited = gets[0]
    assert limited.status == 429
    later = [e for e in gets if e.sent_seq > limited.answered_seq]
    assert later  # the premise: some calls started after the 429 came back
    assert all(e.sent_at >= limited.sent_at + 7 for e in later)
    assert [e.status for e in gets].count(200) == 4
    assert timer.now - start == pytest.approx(7, abs=0.5)  # waited together, not in turn


async def test_a_listing_whose_pages_shift_returns_no_session_twice(
    wire: Wire, wired: Clients, coviu: Coviu
) -> None:
    created = await create_many(wired, 450)
    inserted = False

    async def insert_before_page_0(exchange: Exchange) -> None:
        # Another writer adds a session that sorts first, once page 0 has been read:
        # every later page's offset now starts one session earlier.
        nonlocal inserted
        if exchange.path == "/v1/sessions" and exchange.status == 200 and not inserted:
            inserted = True
            await coviu.create_session(START - timedelta(hours=1))

    wire.hooks.append(insert_before_page_0)
    listed = await wired.coviu.list_sessions(SessionFilter(starting_from=START - timedelta(days=1)))

    assert inserted
    ids = [s.session_id for s in listed]
    assert len(ids) == len(set(ids))
    assert ids == [s.session_id for s in created]


async def test_a_page_that_fails_stops_the_listings_other_fetches(
    wire: Wire, timer: ManualTimer, tuning: Tuning
) -> None:
    async with wired_clients(wire, timer, replace(tuning, page_parallelism=4)) as clients:
        await create_many(clients, 201)  # page 0 says there is more

        page_1_tries = 0

        def refuse_pages(request: httpx.Request) -> httpx.Response | None:
            # Pages 1 and 2 are fetched together: page 2 always meets a 503 (so it is
            # retrying when page 1 fails), page 1 two 503s and then a refusal.
            nonlocal page_1_tries
            if request.method == "GET" and request.url.path == "/v1/sessions":
                page = request.url.params.get("page")
                if page == "1":
                    page_1_tries += 1
                    if page_1_tries == 3:
                        return error_answer(400, "page 1 is refused")()
                    return error_answer(503, "page 1 is slow")()
                if page == "2":
                    return error_answer(503, "page 2 is slow")()
            return None

        wire.forgers.append(refuse_pages)
        with pytest.raises(RequestRejectedError, match="page 1 is refused"):
            await clients.coviu.list_sessions()
        sent = len(wire.exchanges)
        for _ in range(50):
            await asyncio.sleep(0)

    assert len(wire.exchanges) == sent  # nothing left fetching in the background
    page_2 = [e for e in wire.sent("GET", "/v1/sessions") if e.query and e.page == 2]
    assert 2 <= len(page_2) < tuning.policy.attempts  # it was retrying, then stopped


# 3. Lost answers: creates are never sent twice, updates and cancels are


async def test_dropped_create_raises_outcome_unknown_and_the_session_exists_once(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    wanted = draft(7, ParticipantDraft(display_name="Dr Who", role="host"))
    await wired.coviu.list_sessions()  # hold a token first
    await controls.faults(drop_after_commit_rate=1.0, methods=["POST"], path_prefix="/v1/sessions")
    with pytest.raises(OutcomeUnknownError) as caught:
        await wired.coviu.create_session(wanted)
    await controls.faults()

    assert len(wire.sent("POST", "/v1/sessions")) == 1
    assert caught.value.lookup == wanted
    listed = await wired.coviu.list_sessions()
    assert [s.session_name for s in listed] == [wanted.session_name]
    found = await wired.coviu.find_sessions(caught.value.lookup)
    assert [s.session_id for s in found] == [listed[0].session_id]


async def test_dropped_add_participant_raises_outcome_unknown_and_lookup_finds_it(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(
        draft(1, ParticipantDraft(display_name="Dr Who", role="host"))
    )
    path = f"/v1/sessions/{session.session_id}/participants"
    wanted = ParticipantDraft(display_name="Amy Pond", state="waiting")
    await controls.faults(drop_after_commit_rate=1.0, methods=["POST"], path_prefix=path)
    with pytest.raises(OutcomeUnknownError) as caught:
        await wired.coviu.add_participant(session.session_id, wanted)
    await controls.faults()

    assert len(wire.sent("POST", path)) == 1
    lookup = caught.value.lookup
    assert lookup == ParticipantLookup(session.session_id, wanted)
    present = await wired.coviu.list_participants(session.session_id)
    assert sorted(p.display_name or "" for p in present) == ["Amy Pond", "Dr Who"]
    found = await wired.coviu.find_participants(lookup)
    amy = [p for p in present if p.display_name == "Amy Pond"]
    assert [p.participant_id for p in found] == [p.participant_id for p in amy]


@pytest.mark.parametrize(
    "answer",
    [
        error_answer(503, "down for maintenance"),
        error_answer(429, "slow down", **{"Retry-After": "2"}),
        refuse_connection,
    ],
    ids=["503", "429", "connection-refused"],
)
async def test_create_the_service_did_not_handle_is_retried_and_made_once(
    answer: Callable[[], httpx.Response],
    wire: Wire,
    wired: Clients,
    timer: ManualTimer,
) -> None:
    wire.forgers.append(once("POST", "/v1/sessions", answer))
    created = await wired.coviu.create_session(draft(3))

    posts = wire.sent("POST", "/v1/sessions")
    assert [p.forged for p in posts] == [True, False]
    listed = await wired.coviu.list_sessions()
    assert [s.session_id for s in listed] == [created.session_id]
    assert timer.slept  # it waited before trying again


async def test_create_answered_500_raises_outcome_unknown_without_a_retry(
    wire: Wire, wired: Clients, timer: ManualTimer, controls: EmulatorControls
) -> None:
    await wired.coviu.list_sessions()
    await controls.faults(error_rate=1.0, status=500, methods=["POST"], path_prefix="/v1/sessions")
    wanted = draft(4)
    with pytest.raises(OutcomeUnknownError) as caught:
        await wired.coviu.create_session(wanted)

    assert len(wire.sent("POST", "/v1/sessions")) == 1
    assert caught.value.lookup == wanted
    assert "500" in str(caught.value)
    assert timer.slept == []


async def test_dropped_updates_are_retried_and_succeed(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(draft(1, ParticipantDraft(display_name="Amy Pond")))
    participant_id = session.participants[0].participant_id
    wire.hooks.append(faults_off_after_first_loss(controls))

    await controls.faults(drop_after_commit_rate=1.0, methods=["PUT"])
    renamed = await wired.coviu.update_session(
        session.session_id, SessionChanges(session_name="Renamed")
    )
    await controls.faults(drop_after_commit_rate=1.0, methods=["PUT"])
    promoted = await wired.coviu.update_participant(participant_id, ParticipantChanges(role="host"))

    assert renamed.session_name == "Renamed"
    assert promoted.role == "host"
    puts = wire.sent("PUT")
    assert [(e.path.split("/")[2], e.status) for e in puts] == [
        ("sessions", None),
        ("sessions", 200),
        ("participants", None),
        ("participants", 200),
    ]
    assert (await wired.coviu.get_session(session.session_id)).session_name == "Renamed"


async def test_cancel_session_whose_answer_was_dropped_succeeds(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(draft(1))
    wire.hooks.append(faults_off_after_first_loss(controls))
    await controls.faults(drop_after_commit_rate=1.0, methods=["DELETE"])

    await wired.coviu.cancel_session(session.session_id)

    # The retry was refused (already cancelled), and that refusal was recognised.
    assert [e.status for e in wire.sent("DELETE")] == [None, 400]
    with pytest.raises(SessionCanceledError):
        await wired.coviu.get_session(session.session_id)


async def test_cancel_participant_whose_answer_was_dropped_succeeds(
    wire: Wire, wired: Clients, controls: EmulatorControls
) -> None:
    session = await wired.coviu.create_session(draft(1, ParticipantDraft(display_name="Amy Pond")))
    participant_id = session.participants[0].participant_id
    wire.hooks.append(faults_off_after_first_loss(controls))
    await controls.faults(drop_after_commit_rate=1.0, methods=["DELETE"])

    await wired.coviu.cancel_participant(participant_id)

    assert [e.status for e in wire.sent("DELETE")] == [None, 400]
    assert (await wired.coviu.get_participant(participant_id)).removed


@pytest.mark.parametrize("status", [500, 502, 504])
@pytest.mark.parametrize("what", ["session", "participant"])
async def test_a_cancel_made_but_answered_with_a_5xx_succeeds(
    wire: Wire, wired: Clients, status: int, what: str
) -> None:
    # A proxy's 502 after the service cancelled: the retry is refused as "already
    # canceled", which must be recognised as the first try's work, not as a refusal
    # (an apply would journal a cancel that happened as failed).
    session = await wired.coviu.create_session(draft(1, ParticipantDraft(display_name="Amy Pond")))
    participant_id = session.participants[0].participant_id
    path = (
        f"/v1/sessions/{session.session_id}"
        if what == "session"
        else f"/v1/participants/{participant_id.get_secret_value()}"
    )
    wire.rewriters.append(once("DELETE", path, error_answer(status, "bad gateway")))

    if what == "session":
        await wired.coviu.cancel_session(session.session_id)
    else:
        await wired.coviu.cancel_participant(participant_id)

    assert [e.status for e in wire.sent("DELETE")] == [status, 400]
    if what == "session":
        with pytest.raises(SessionCanceledError):
            await wired.coviu.get_session(session.session_id)
    else:
        assert (await wired.coviu.get_participant(participant_id)).removed


async def test_cancel_session_refused_without_a_lost_answer_still_raises(
    wired: Clients,
) -> None:
    session = await wired.coviu.create_session(draft(1))
    await wired.coviu.cancel_session(session.session_id)
    with pytest.raises(RequestRejectedError, match="already canceled"):
        await wired.coviu.cancel_session(session.session_id)


# 6. Bounded retries


async def test_get_gives_up_after_the_policy_attempts_with_growing_waits(
    wire: Wire,
    wired: Clients,
    timer: ManualTimer,
    tuning: Tuning,
    controls: EmulatorControls,
) -> None:
    await wired.coviu.list_sessions()
    await controls.faults(error_rate=1.0, status=503, methods=["GET"])
    before = len(wire.exchanges)
    with pytest.raises(ApiUnavailableError) as caught:
        await wired.coviu.list_sessions()

    attempts = tuning.policy.attempts
    assert attempts == 5
    assert caught.value.attempts == attempts
    assert caught.value.status == 503
    assert [(e.method, e.status) for e in wire.exchanges[before:]] == [("GET", 503)] * attempts
    waits = timer.slept
    assert len(waits) == attempts - 1
    for n, wait in enumerate(waits):
        ceiling = tuning.policy.base_delay * 2**n
        assert ceiling / 2 <= wait <= ceiling
    assert waits == sorted(waits)
    assert len(set(waits)) == len(waits)  # jittered, not a fixed schedule


async def test_backoff_is_capped_at_max_delay(
    wire: Wire, timer: ManualTimer, tuning: Tuning, controls: EmulatorControls
) -> None:
    policy = replace(tuning.policy, attempts=8, base_delay=1.0, max_delay=3.0)
    async with wired_clients(wire, timer, replace(tuning, policy=policy)) as clients:
        await clients.coviu.list_sessions()
        await controls.faults(error_rate=1.0, status=502, methods=["GET"])
        with pytest.raises(ApiUnavailableError) as caught:
            await clients.coviu.list_sessions()

    assert caught.value.attempts == 8
    ceilings = [1, 2, 3, 3, 3, 3, 3]
    assert len(timer.slept) == len(ceilings)
    for ceiling, wait in zip(ceilings, timer.slept, strict=True):
        assert ceiling / 2 <= wait <= ceiling


async def test_retry_after_above_the_maximum_gives_up_at_once(
    wire: Wire, wired: Clients, timer: ManualTimer, tuning: Tuning, controls: EmulatorControls
) -> None:
    await wired.coviu.list_sessions()
    too_long = int(tuning.policy.max_retry_after) + 1
    await controls.faults(rate_limit_rate=1.0, retry_after=too_long, methods=["GET"])
    before = len(wire.exchanges)
    with pytest.raises(ApiUnavailableError) as caught:
        await wired.coviu.list_sessions()

    assert caught.value.status == 429
    assert caught.value.attempts == 1
    assert len(wire.exchanges) == before + 1
    assert timer.slept == []


async def test_retry_after_at_the_maximum_is_honoured(
    wire: Wire, wired: Clients, timer: ManualTimer, tuning: Tuning, controls: EmulatorControls
) -> None:
    await wired.coviu.list_sessions()
    longest = int(tuning.policy.max_retry_after)
    await controls.faults(rate_limit_rate=1.0, retry_after=longest, methods=["GET"])
    with pytest.raises(ApiUnavailableError) as caught:
        await wired.coviu.list_sessions()

    assert caught.value.attempts == tuning.policy.attempts
    assert [w for w in timer.slept if w >= longest] == [longest] * (tuning.policy.attempts - 1)


@pytest.mark.parametrize(("endpoint", "state"), [("approve", "APPROVED"), ("discard", "DISCARDED")])
async def test_auvious_write_retried_after_a_lost_answer_reuses_its_transaction_id(
    endpoint: str,
    state: str,
    wire: Wire,
    wired: Clients,
    auvious: Auvious,
    controls: EmulatorControls,
) -> None:
    snapshot_id = await auvious.upload("conv-7")
    before = await wired.auvious.get_snapshot(snapshot_id)
    path = f"/rtc-api/snapshots/{endpoint}"
    wire.hooks.append(faults_off_after_first_loss(controls))
    await controls.faults(drop_after_commit_rate=1.0, methods=["POST"], path_prefix=path)

    if endpoint == "approve":
        await wired.auvious.approve_snapshot(snapshot_id, user_endpoint_id="ep-agent")
    else:
        await wired.auvious.discard_snapshot(snapshot_id, user_endpoint_id="ep-agent")

    sent = wire.sent("POST", path)
    assert [e.status for e in sent] == [None, 204]
    ids = {e.headers.get("x-auvious-transactionid") for e in sent}
    assert len(ids) == 1
    assert None not in ids
    after = await wired.auvious.get_snapshot(snapshot_id)
    assert after.state == state
    assert after.version == before.version + 1


async def test_each_auvious_write_has_its_own_transaction_id(
    wire: Wire, wired: Clients, auvious: Auvious
) -> None:
    snapshot_id = await auvious.upload("conv-8")
    await wired.auvious.approve_snapshot(snapshot_id, user_endpoint_id="ep-agent")
    await wired.auvious.approve_snapshot(
        snapshot_id, user_endpoint_id="ep-agent", snapshot_type="wound"
    )
    ids = [e.headers.get("x-auvious-transactionid") for e in wire.sent("POST", "/rtc-api")]
    assert len(ids) == 2
    assert len(set(ids)) == 2
    assert (await wired.auvious.get_snapshot(snapshot_id)).type == "wound"


# 5. Secrets stay out of logs and errors


def _leaks(text: str, secrets: Sequence[str]) -> list[str]:
    return [secret[:6] + "…" for secret in secrets if secret in text]


async def test_no_secret_reaches_a_log_line_or_an_error_message(
    wire: Wire,
    wired: Clients,
    auvious: Auvious,
    timer: ManualTimer,
    controls: EmulatorControls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: httpx's own lines too
    coviu = wired.coviu
    errors: list[BaseException] = []
    snapshot_id = await auvious.upload("conv-9")  # before the clock moves past its token

    session = await coviu.create_session(
        draft(
            1,
            ParticipantDraft(display_name="Dr Who", role="host"),
            ParticipantDraft(display_name="Amy Pond"),
        )
    )
    added = await coviu.add_participant(session.session_id, ParticipantDraft(display_name="Rory"))
    host, amy = session.participants
    participants = [host, amy, added]
    wire.hooks.append(faults_off_after_first_loss(controls))

    # Retries on a participant's own path (its id is its join link), and a lost PUT.
    wire.forgers.append(
        once(
            "GET",
            f"/v1/participants/{host.participant_id.get_secret_value()}",
            error_answer(503, "busy"),
        )
    )
    await coviu.get_participant(host.participant_id)
    await controls.faults(drop_after_commit_rate=1.0, methods=["PUT"])
    await coviu.update_participant(amy.participant_id, ParticipantChanges(display_name="Amelia"))
    await coviu.cancel_participant(added.participant_id)
    # A server message that quotes the id it refuses.
    stranger = SecretStr(added.participant_id.get_secret_value() + "x")
    wire.forgers.append(
        once(
            "GET",
            f"/v1/participants/{stranger.get_secret_value()}",
            error_answer(404, f"participant {stranger.get_secret_value()} not found"),
        )
    )
    with pytest.raises(NotFoundError) as not_found:
        await coviu.get_participant(stranger)
    errors.append(not_found.value)

    # A token renewal, a listing under faults, and a lost create.
    await controls.advance(timedelta(hours=2))
    await controls.faults(error_rate=0.3, rate_limit_rate=0.2, seed=5, methods=["GET"])
    await coviu.list_sessions()
    await coviu.list_participants(session.session_id, deleted_participants=True)
    await controls.faults(drop_after_commit_rate=1.0, methods=["POST"], path_prefix="/v1/sessions")
    with pytest.raises(OutcomeUnknownError) as unknown:
        await coviu.create_session(draft(2, ParticipantDraft(display_name="River")))
    errors.append(unknown.value)
    await controls.faults()

    # Auvious: approve, then a signed download link.
    await wired.auvious.approve_snapshot(snapshot_id, user_endpoint_id="ep-agent")
    signed = await wired.auvious.signed_url(snapshot_id)

    secrets = [
        CLINIC_A.secret,
        base64.b64encode(f"{CLINIC_A.key}:{CLINIC_A.secret}".encode()).decode(),
        signed.url.get_secret_value(),
        parse_qs(signed.url.get_secret_value().split("?", 1)[1])["signature"][0],
        stranger.get_secret_value(),
        *wire.issued(),
    ]
    for participant in participants:
        secrets.append(participant.participant_id.get_secret_value())
        assert participant.entry_url is not None
        secrets.append(participant.entry_url.get_secret_value())
    held = [wired.coviu.tokens, wired.auvious.tokens]
    secrets += [s for source in held for s in source.secrets()]
    # The premises: two Coviu grants (a renewal happened) and one Auvious grant.
    assert [g.path for g in wire.grants()].count("/v1/auth/token") == 2
    assert len(wire.issued()) == 5

    lines = []
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        lines.append(text)
        assert not _leaks(text, secrets), (record.name, text)
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            assert not _leaks(str(chain), secrets), str(chain)
            chain = chain.__cause__ or chain.__context__

    log = "\n".join(lines)
    assert "coviu GET /sessions?page=0 -> 200 in " in log  # method, path, status, latency
    assert "coviu PUT /participants/*** -> 200 in " in log
    assert "try 2 of 5" in log
    assert "token refused; renewing it once" in log
    assert any(r.name == "httpx" and "/participants/***" in r.getMessage() for r in caplog.records)


# Timeouts


async def test_every_request_carries_the_connect_and_read_timeouts(
    wire: Wire, wired: Clients
) -> None:
    seen: list[tuple[str, dict[str, float]]] = []

    def record(request: httpx.Request) -> None:
        seen.append((request.url.path, request.extensions.get("timeout", {})))

    wire.forgers.append(record)
    session = await wired.coviu.create_session(draft(5))
    await wired.coviu.get_session(session.session_id)
    await wired.auvious.list_snapshots("conv-timeouts")

    # Token requests too: a hung token endpoint must not hang the run.
    assert {path for path, _ in seen} >= {"/v1/auth/token", "/security/oauth/token"}
    for path, timeout in seen:
        assert timeout == {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}, path


def time_out_once(method: str, path: str) -> Forge:
    def answer() -> httpx.Response:
        raise httpx.ReadTimeout("timed out waiting for the answer")

    return once(method, path, answer)


async def test_a_read_timeout_on_a_get_is_retried_and_succeeds(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    session = await wired.coviu.create_session(draft(6))
    path = f"/v1/sessions/{session.session_id}"
    wire.forgers.append(time_out_once("GET", path))

    assert (await wired.coviu.get_session(session.session_id)).session_id == session.session_id
    assert [e.status for e in wire.sent("GET", path)] == [None, 200]
    assert len(timer.slept) == 1


async def test_a_read_timeout_on_a_create_raises_outcome_unknown_and_is_not_resent(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    await wired.coviu.list_sessions()  # the token first, so only the create is timed out
    wire.forgers.append(time_out_once("POST", "/v1/sessions"))
    wanted = draft(7)
    with pytest.raises(OutcomeUnknownError) as caught:
        await wired.coviu.create_session(wanted)

    assert len(wire.sent("POST", "/v1/sessions")) == 1
    assert "ReadTimeout" in str(caught.value)
    assert caught.value.lookup == wanted
    assert timer.slept == []


async def test_a_503_with_retry_after_waits_as_long_as_asked(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    await wired.coviu.list_sessions()
    unavailable = error_answer(503, "down for maintenance", **{"Retry-After": "9"})
    wire.forgers.append(once("GET", "/v1/sessions", unavailable))
    await wired.coviu.list_sessions()

    assert [e.status for e in wire.sent("GET", "/v1/sessions")][-2:] == [503, 200]
    assert timer.slept == [9.0]  # longer than any backoff of a first retry (at most 0.5 s)


async def test_a_garbled_answer_to_a_get_is_retried_and_to_a_create_is_outcome_unknown(
    wire: Wire, wired: Clients, timer: ManualTimer
) -> None:
    def garbled() -> httpx.Response:
        # Says gzip, is not: httpx raises DecodingError reading it.
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")

    await wired.coviu.list_sessions()
    wire.forgers.append(once("GET", "/v1/sessions", garbled))
    assert await wired.coviu.list_sessions() == []
    assert len(timer.slept) == 1

    wire.forgers.append(once("POST", "/v1/sessions", garbled))
    with pytest.raises(OutcomeUnknownError) as caught:
        await wired.coviu.create_session(draft(8))
    assert "DecodingError" in str(caught.value)
    assert len(wire.sent("POST", "/v1/sessions")) == 1


async def test_listing_widens_its_batches_so_a_short_list_fetches_no_page_twice(
    wire: Wire, timer: ManualTimer, tuning: Tuning
) -> None:
    # Pages are fetched 1, then 2 at once, then up to page_parallelism: 3 pages, 3 fetches.
    async with wired_clients(wire, timer, replace(tuning, page_parallelism=4)) as clients:
        await create_many(clients, 450)
        before = len(wire.sent("GET", "/v1/sessions"))
        listed = await clients.coviu.list_sessions()

    pages = [e.page for e in wire.sent("GET", "/v1/sessions")[before:]]
    assert len(listed) == 450
    assert sorted(pages) == [0, 1, 2]
    assert pages[0] == 0  # the first page alone, before the batch
