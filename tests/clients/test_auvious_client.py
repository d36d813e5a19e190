"""The Auvious client, over HTTP against the emulator: typed snapshots, review decisions,
signed download links, and a transaction id on every write."""

from __future__ import annotations

from datetime import UTC, timedelta

import httpx
import pytest
from pydantic import SecretStr

from reconciler.clients import (
    AuthenticationError,
    Clients,
    NotFoundError,
    RequestRejectedError,
    SignedUrl,
    Snapshot,
)
from tests.clients.wire import Wire
from tests.conftest import T0
from tests.emulator.api import Auvious, EmulatorControls

pytestmark = pytest.mark.anyio

IMAGE = b"\x89PNG test image"  # what tests.emulator.api.Auvious.upload sends
REVIEWER = "ep-clinician"
TRANSACTION = "x-auvious-transactionid"


async def requested(auvious: Auvious, interaction_id: str) -> str:
    """A snapshot asked of an endpoint: it exists, with no image and no state yet."""
    body = {"interactionId": interaction_id, "userEndpointId": "ep-patient"}
    response = await auvious.call("POST", "/request", json=body)
    assert response.status_code == 200, response.text
    snapshot_id: str = response.json()["snapshotId"]
    return snapshot_id


# Reading


async def test_list_snapshots_returns_an_interactions_snapshots_oldest_first(
    clients: Clients, auvious: Auvious, controls: EmulatorControls
) -> None:
    first = await auvious.upload("conv-1", snapshotType="wound")
    await auvious.upload("conv-2")
    await controls.advance(timedelta(minutes=3))
    second = await auvious.upload("conv-1", snapshotType="rash")
    pending = await requested(auvious, "conv-1")

    listed = await clients.auvious.list_snapshots("conv-1")

    assert all(isinstance(s, Snapshot) for s in listed)
    assert [s.id for s in listed] == [first, second, pending]
    assert [s.state for s in listed] == ["UPLOADED", "UPLOADED", None]
    assert [s.type for s in listed] == ["wound", "rash", None]
    assert {s.interaction_id for s in listed} == {"conv-1"}
    later = T0 + timedelta(minutes=3)
    assert [s.created_at for s in listed] == [T0, later, later]


async def test_list_snapshots_of_an_interaction_without_any_is_empty(
    clients: Clients, auvious: Auvious
) -> None:
    await auvious.upload("conv-1")
    assert await clients.auvious.list_snapshots("conv-unknown") == []


async def test_list_snapshots_shows_no_other_organizations_snapshots(
    clients: Clients, clinic_b: Clients, auvious: Auvious, auvious_b: Auvious
) -> None:
    mine = await auvious.upload("conv-1")
    theirs = await auvious_b.upload("conv-1")

    assert [s.id for s in await clients.auvious.list_snapshots("conv-1")] == [mine]
    assert [s.id for s in await clinic_b.auvious.list_snapshots("conv-1")] == [theirs]


async def test_get_snapshot_is_typed_with_aware_utc_times(
    clients: Clients, auvious: Auvious, controls: EmulatorControls
) -> None:
    await controls.advance(timedelta(minutes=5, milliseconds=250))
    snapshot_id = await auvious.upload(
        "conv-7",
        snapshotType="wound",
        sessionType="CALL",
        sessionId="call-1",
        timestamp="2026-11-30T19:04:00+11:00",
    )

    snapshot = await clients.auvious.get_snapshot(snapshot_id)

    assert isinstance(snapshot, Snapshot)
    assert snapshot.id == snapshot_id
    assert snapshot.interaction_id == "conv-7"
    assert snapshot.state == "UPLOADED"
    assert snapshot.approved is False
    assert snapshot.version == 1
    assert snapshot.type == "wound"
    assert snapshot.user_endpoint_id == "ep-patient"
    assert snapshot.session_type == "CALL"
    assert snapshot.session_id == "call-1"
    assert snapshot.organization_id == "team-a"
    assert snapshot.mime_type == "image/png"
    assert snapshot.created_at == T0 + timedelta(minutes=5, milliseconds=250)
    assert snapshot.timestamp == T0 + timedelta(minutes=4)
    assert snapshot.created_at is not None
    assert snapshot.timestamp is not None
    assert snapshot.created_at.tzinfo is UTC
    assert snapshot.timestamp.tzinfo is UTC


async def test_get_snapshot_of_a_requested_one_has_no_state(
    clients: Clients, auvious: Auvious
) -> None:
    snapshot = await clients.auvious.get_snapshot(await requested(auvious, "conv-1"))
    assert snapshot.state is None
    assert snapshot.version == 0
    assert snapshot.approved is False


async def test_unknown_or_other_organizations_snapshot_is_not_found(
    clients: Clients, auvious_b: Auvious
) -> None:
    theirs = await auvious_b.upload("conv-1")
    for snapshot_id in (theirs, "00000000-0000-4000-8000-000000000000"):
        with pytest.raises(NotFoundError) as caught:
            await clients.auvious.get_snapshot(snapshot_id)
        assert caught.value.status == 404
        with pytest.raises(NotFoundError):
            await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
        with pytest.raises(NotFoundError):
            await clients.auvious.discard_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
        with pytest.raises(NotFoundError):
            await clients.auvious.signed_url(snapshot_id)


# Reviewing


async def test_approve_snapshot_makes_it_approved_and_counts_a_version(
    clients: Clients, auvious: Auvious
) -> None:
    snapshot_id = await auvious.upload("conv-1", snapshotType="wound")

    await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)

    approved = await clients.auvious.get_snapshot(snapshot_id)
    assert (approved.state, approved.approved, approved.type) == ("APPROVED", True, "wound")
    assert approved.version == 2


async def test_approve_snapshot_with_a_type_changes_the_type_and_counts_a_version(
    clients: Clients, auvious: Auvious
) -> None:
    snapshot_id = await auvious.upload("conv-1", snapshotType="wound")

    await clients.auvious.approve_snapshot(
        snapshot_id, user_endpoint_id=REVIEWER, snapshot_type="rash"
    )
    once = await clients.auvious.get_snapshot(snapshot_id)
    # Re-approving may change the type again; each call is its own write.
    await clients.auvious.approve_snapshot(
        snapshot_id, user_endpoint_id=REVIEWER, snapshot_type="burn"
    )
    twice = await clients.auvious.get_snapshot(snapshot_id)

    assert (once.state, once.type, once.version) == ("APPROVED", "rash", 2)
    assert (twice.state, twice.type, twice.version) == ("APPROVED", "burn", 3)


async def test_approve_snapshot_again_unchanged_keeps_its_version(
    clients: Clients, auvious: Auvious
) -> None:
    snapshot_id = await auvious.upload("conv-1", snapshotType="wound")
    await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
    await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
    snapshot = await clients.auvious.get_snapshot(snapshot_id)
    assert (snapshot.state, snapshot.version) == ("APPROVED", 2)


async def test_approve_of_a_snapshot_without_an_image_is_rejected(
    clients: Clients, auvious: Auvious
) -> None:
    snapshot_id = await requested(auvious, "conv-1")
    with pytest.raises(RequestRejectedError) as caught:
        await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
    assert caught.value.status == 400
    assert "no image" in caught.value.reason


@pytest.mark.parametrize("approved_first", [False, True])
async def test_discard_is_final(clients: Clients, auvious: Auvious, approved_first: bool) -> None:
    snapshot_id = await auvious.upload("conv-1", snapshotType="wound")
    if approved_first:
        await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)

    await clients.auvious.discard_snapshot(snapshot_id, user_endpoint_id=REVIEWER)

    discarded = await clients.auvious.get_snapshot(snapshot_id)
    assert (discarded.state, discarded.approved) == ("DISCARDED", False)
    assert discarded.version == (3 if approved_first else 2)
    with pytest.raises(RequestRejectedError) as approve:
        await clients.auvious.approve_snapshot(
            snapshot_id, user_endpoint_id=REVIEWER, snapshot_type="rash"
        )
    with pytest.raises(RequestRejectedError) as discard:
        await clients.auvious.discard_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
    for error in (approve.value, discard.value):
        assert not isinstance(error, NotFoundError | AuthenticationError)
        assert error.status == 400
        assert "DISCARDED" in str(error)
    after = await clients.auvious.get_snapshot(snapshot_id)
    assert (after.state, after.type, after.version) == ("DISCARDED", "wound", discarded.version)


# Signed download links


async def test_signed_url_of_an_approved_snapshot_downloads_it_until_valid_until(
    clients: Clients, auvious: Auvious, controls: EmulatorControls, http: httpx.AsyncClient
) -> None:
    snapshot_id = await auvious.upload("conv-1")
    await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)
    await controls.advance(timedelta(hours=2))
    now = await controls.now()

    signed = await clients.auvious.signed_url(snapshot_id)

    assert isinstance(signed, SignedUrl)
    assert isinstance(signed.url, SecretStr)
    assert signed.valid_until.tzinfo is UTC
    assert signed.valid_until > now
    assert signed.valid_until <= now + timedelta(hours=1)
    url = signed.url.get_secret_value()
    assert snapshot_id in url
    for shown in (repr(signed), str(signed), signed.model_dump_json()):
        assert url not in shown
        assert "signature" not in shown
    # The link itself, with no token, is the credential.
    download = await http.get(url)
    assert download.status_code == 200
    assert download.content == IMAGE


async def test_internal_signed_url_is_valid_for_longer(clients: Clients, auvious: Auvious) -> None:
    snapshot_id = await auvious.upload("conv-1")
    await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id=REVIEWER)

    external = await clients.auvious.signed_url(snapshot_id)
    internal = await clients.auvious.signed_url(snapshot_id, internal=True)

    assert T0 < external.valid_until < internal.valid_until


@pytest.mark.parametrize("state", ["requested", "UPLOADED", "DISCARDED"])
async def test_signed_url_of_a_snapshot_not_approved_is_rejected(
    clients: Clients, auvious: Auvious, state: str
) -> None:
    if state == "requested":
        snapshot_id = await requested(auvious, "conv-1")
    else:
        snapshot_id = await auvious.upload("conv-1")
    if state == "DISCARDED":
        await clients.auvious.discard_snapshot(snapshot_id, user_endpoint_id=REVIEWER)

    with pytest.raises(RequestRejectedError) as caught:
        await clients.auvious.signed_url(snapshot_id)

    assert not isinstance(caught.value, NotFoundError)
    assert caught.value.status == 400
    assert "APPROVED" in caught.value.reason


# Transaction ids


async def test_every_auvious_write_carries_its_own_transaction_id(
    wired: Clients, wire: Wire, auvious: Auvious
) -> None:
    first = await auvious.upload("conv-1")
    second = await auvious.upload("conv-1")
    client = wired.auvious

    await client.approve_snapshot(first, user_endpoint_id=REVIEWER)
    await client.approve_snapshot(first, user_endpoint_id=REVIEWER, snapshot_type="rash")
    await client.discard_snapshot(second, user_endpoint_id=REVIEWER)
    await client.signed_url(first)
    await client.signed_url(first, internal=True)
    await client.list_snapshots("conv-1")
    await client.get_snapshot(first)

    writes = wire.sent("POST", "/rtc-api/")
    assert [e.path.rsplit("/", 1)[1] for e in writes] == [
        "approve",
        "approve",
        "discard",
        "signedUrl",
        "signedUrl",
    ]
    ids = [e.headers.get(TRANSACTION) for e in writes]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)
    # The second approve was not replayed as the first: it changed the type.
    assert (await client.get_snapshot(first)).type == "rash"
    # The signed URL requests also carried the Referer that Auvious requires.
    assert all(e.headers.get("referer") for e in writes[3:])
