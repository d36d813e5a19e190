"""The Auvious RTC snapshot API and its token endpoint, as API-NOTES.md describes them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Auvious, Coviu, EmulatorControls

pytestmark = pytest.mark.anyio

TOKEN_PATH = "/security/oauth/token"
IMAGE = b"\x89PNG\r\n\x1a\n a wound, photographed"
SNAPSHOT_FIELDS = {
    "id", "relatedSnapshotId", "organizationId", "applicationId", "requesterUserId",
    "requesterUserEndpointId", "userId", "userEndpointId", "sessionType", "sessionId",
    "timestamp", "interactionId", "type", "path", "state", "suffix", "mimeType",
    "createdAt", "version", "approved",
}  # fmt: skip
CREDENTIALS = {"grant_type": "client_credentials", "client_id": CLINIC_A.key}
CREDENTIALS["client_secret"] = CLINIC_A.secret


async def upload(auvious: Auvious, *, headers: dict[str, str] | None = None) -> httpx.Response:
    data = {"interactionId": "conv-1", "userEndpointId": "ep-patient", "snapshotType": "wound"}
    files = {"image": ("wound.png", IMAGE, "image/png")}
    return await auvious.call("POST", "/upload", data=data, files=files, headers=headers or {})


async def review(
    auvious: Auvious,
    action: str,
    snapshot_id: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> httpx.Response:
    body = {"snapshotId": snapshot_id, "userEndpointId": "ep-clinician", **extra}
    return await auvious.call("POST", f"/{action}", json=body, headers=headers or {})


async def fetch(auvious: Auvious, snapshot_id: str) -> dict[str, Any]:
    response = await auvious.call("GET", f"/{snapshot_id}")
    assert response.status_code == 200, response.text
    snapshot: dict[str, Any] = response.json()
    return snapshot


async def approved_snapshot(auvious: Auvious) -> str:
    response = await upload(auvious)
    snapshot_id: str = response.json()["snapshotId"]
    assert (await review(auvious, "approve", snapshot_id)).status_code == 204
    return snapshot_id


async def signed_url(auvious: Auvious, snapshot_id: str) -> httpx.Response:
    headers = {"Referer": "https://clinic.example/review"}
    return await auvious.call(
        "POST", "/signedUrl", json={"snapshotId": snapshot_id}, headers=headers
    )


def assert_flat_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body
    assert all(isinstance(value, str) for value in body.values()), body
    return body


@pytest.mark.parametrize("carrier", ["form", "query"])
async def test_token_is_granted_for_client_credentials_in_form_or_query(
    http: httpx.AsyncClient, carrier: str
) -> None:
    if carrier == "form":
        response = await http.post(TOKEN_PATH, data=CREDENTIALS)
    else:
        response = await http.post(TOKEN_PATH, params=CREDENTIALS, content=b"")
    assert response.status_code == 200, response.text
    grant = response.json()
    assert {"access_token", "expires_in", "token_type", "scope"} <= set(grant)
    assert isinstance(grant["expires_in"], int)
    assert grant["expires_in"] > 0
    assert grant["token_type"].lower() == "bearer"
    token = grant["access_token"]
    listed = await Auvious(http, token).call("GET", "", params={"interactionId": "conv-1"})
    assert listed.status_code == 200


async def test_token_refused_for_bad_secret_with_oauth_error_body(http: httpx.AsyncClient) -> None:
    response = await http.post(TOKEN_PATH, data={**CREDENTIALS, "client_secret": "wrong"})
    assert response.status_code == 401
    body = response.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["error_description"], str)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic Y2xpbmljOmE="])
async def test_rtc_api_requires_a_bearer_token(
    http: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    listed = await http.get(
        "/rtc-api/snapshots", params={"interactionId": "conv-1"}, headers=headers
    )
    assert listed.status_code == 401
    body = {"interactionId": "conv-1", "userEndpointId": "ep-patient"}
    requested = await http.post("/rtc-api/snapshots/request", json=body, headers=headers)
    assert requested.status_code == 401


async def test_rtc_api_refuses_a_coviu_token(http: httpx.AsyncClient, coviu: Coviu) -> None:
    response = await Auvious(http, coviu.access_token).call(
        "GET", "", params={"interactionId": "conv-1"}
    )
    assert response.status_code == 401


async def test_requested_snapshot_exists_without_image_then_acquire_uploads_it(
    auvious: Auvious,
) -> None:
    body = {"interactionId": "conv-1", "userEndpointId": "ep-patient", "sessionType": "CALL"}
    response = await auvious.call("POST", "/request", json=body)
    assert response.status_code == 200, response.text
    snapshot_id = response.json()["snapshotId"]
    requested = await fetch(auvious, snapshot_id)
    assert requested["state"] is None
    assert requested["approved"] is False
    fields = {
        "snapshotId": snapshot_id,
        "userEndpointId": "ep-patient",
        "snapshotType": "rash",
        "snapshotSuffix": "jpg",
        "snapshotMimeType": "image/jpeg",
    }
    files = {"image": ("rash.jpg", IMAGE, "image/jpeg")}
    acquired = await auvious.call("POST", "/acquire", data=fields, files=files)
    assert acquired.status_code == 204, acquired.text
    snapshot = await fetch(auvious, snapshot_id)
    assert snapshot["state"] == "UPLOADED"
    assert (snapshot["type"], snapshot["suffix"], snapshot["mimeType"]) == (
        "rash", "jpg", "image/jpeg",
    )  # fmt: skip
    assert snapshot["version"] == requested["version"] + 1


async def test_uploaded_snapshot_has_every_documented_field(auvious: Auvious) -> None:
    response = await upload(auvious)
    assert response.status_code == 200, response.text
    snapshot = await fetch(auvious, response.json()["snapshotId"])
    assert set(snapshot) >= SNAPSHOT_FIELDS
    assert snapshot["id"] == response.json()["snapshotId"]
    assert snapshot["state"] == "UPLOADED"
    assert snapshot["approved"] is False
    assert snapshot["sessionType"] in {"UNKNOWN", "CALL", "CONFERENCE"}
    assert (snapshot["interactionId"], snapshot["type"]) == ("conv-1", "wound")
    assert datetime.fromisoformat(snapshot["createdAt"]) == T0
    assert isinstance(snapshot["version"], int)


async def test_list_by_interaction_returns_only_its_snapshots(auvious: Auvious) -> None:
    first = (await upload(auvious)).json()["snapshotId"]
    second = (await upload(auvious)).json()["snapshotId"]
    await auvious.upload("conv-2")
    response = await auvious.call("GET", "", params={"interactionId": "conv-1"})
    assert response.status_code == 200
    assert sorted(s["id"] for s in response.json()) == sorted([first, second])


async def test_list_without_interaction_id_is_refused(auvious: Auvious) -> None:
    assert_flat_error(await auvious.call("GET", ""), 400)


async def test_approve_then_reapprove_with_new_type_then_discard_bumps_version(
    auvious: Auvious,
) -> None:
    snapshot_id = (await upload(auvious)).json()["snapshotId"]
    uploaded = await fetch(auvious, snapshot_id)
    assert (await review(auvious, "approve", snapshot_id)).status_code == 204
    approved = await fetch(auvious, snapshot_id)
    assert (approved["state"], approved["approved"]) == ("APPROVED", True)
    assert approved["version"] == uploaded["version"] + 1
    retyped = await review(auvious, "approve", snapshot_id, snapshotType="burn")
    assert retyped.status_code == 204
    reapproved = await fetch(auvious, snapshot_id)
    assert (reapproved["type"], reapproved["version"]) == ("burn", approved["version"] + 1)
    assert (await review(auvious, "discard", snapshot_id)).status_code == 204
    discarded = await fetch(auvious, snapshot_id)
    assert (discarded["state"], discarded["approved"]) == ("DISCARDED", False)
    assert discarded["version"] == reapproved["version"] + 1


async def test_discarded_snapshot_is_final(auvious: Auvious) -> None:
    snapshot_id = (await upload(auvious)).json()["snapshotId"]
    assert (await review(auvious, "discard", snapshot_id)).status_code == 204
    for action in ("approve", "discard"):
        body = assert_flat_error(await review(auvious, action, snapshot_id), 400)
        assert "DISCARDED" in body["message"]
    assert (await fetch(auvious, snapshot_id))["state"] == "DISCARDED"


async def test_requested_snapshot_without_image_cannot_be_approved(auvious: Auvious) -> None:
    body = {"interactionId": "conv-1", "userEndpointId": "ep-patient"}
    snapshot_id = (await auvious.call("POST", "/request", json=body)).json()["snapshotId"]
    assert_flat_error(await review(auvious, "approve", snapshot_id), 400)
    assert (await fetch(auvious, snapshot_id))["state"] is None


# --- signed URLs ---------------------------------------------------------------------------


async def test_signed_url_downloads_image_without_a_token_until_it_expires(
    http: httpx.AsyncClient, auvious: Auvious, controls: EmulatorControls
) -> None:
    snapshot_id = await approved_snapshot(auvious)
    response = await signed_url(auvious, snapshot_id)
    assert response.status_code == 200, response.text
    signed = response.json()
    valid_until = datetime.fromisoformat(signed["validUntil"])
    assert valid_until == T0 + timedelta(minutes=15)
    download = await http.get(signed["url"])
    assert "authorization" not in download.request.headers
    assert download.status_code == 200
    assert download.content == IMAGE
    await controls.set(valid_until + timedelta(seconds=1))
    assert (await http.get(signed["url"])).status_code == 403


async def test_signed_url_needs_referer_and_an_approved_snapshot(auvious: Auvious) -> None:
    snapshot_id = (await upload(auvious)).json()["snapshotId"]
    assert_flat_error(await signed_url(auvious, snapshot_id), 400)
    assert (await review(auvious, "approve", snapshot_id)).status_code == 204
    no_referer = await auvious.call("POST", "/signedUrl", json={"snapshotId": snapshot_id})
    assert_flat_error(no_referer, 400)


async def test_altered_signed_url_is_forbidden(http: httpx.AsyncClient, auvious: Auvious) -> None:
    first, second = await approved_snapshot(auvious), await approved_snapshot(auvious)
    url = (await signed_url(auvious, first)).json()["url"]
    forged = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert (await http.get(forged)).status_code == 403
    other_id = url.replace(f"/{first}/", f"/{second}/")
    assert other_id != url
    assert (await http.get(other_id)).status_code == 403
    assert (await http.get(url)).status_code == 200


async def test_camera_request_is_answered_once(auvious: Auvious) -> None:
    body = {"interactionId": "conv-1", "userEndpointId": "ep-patient"}
    response = await auvious.call("POST", "/cameraRequest", json=body)
    assert response.status_code == 200, response.text
    request_id = response.json()["cameraRequestId"]
    answer = {"cameraRequestId": request_id, "userEndpointId": "ep-patient", "accepted": True}
    assert (await auvious.call("POST", "/cameraRequestRespond", json=answer)).status_code == 204
    assert_flat_error(await auvious.call("POST", "/cameraRequestRespond", json=answer), 400)
    unknown = {**answer, "cameraRequestId": "no-such-request"}
    assert (await auvious.call("POST", "/cameraRequestRespond", json=unknown)).status_code == 404


async def test_other_team_cannot_see_or_review_snapshots(
    auvious: Auvious, auvious_b: Auvious
) -> None:
    snapshot_id = (await upload(auvious)).json()["snapshotId"]
    assert (await auvious_b.call("GET", f"/{snapshot_id}")).status_code == 404
    for action in ("approve", "discard"):
        assert (await review(auvious_b, action, snapshot_id)).status_code == 404
    listed = await auvious_b.call("GET", "", params={"interactionId": "conv-1"})
    assert (listed.status_code, listed.json()) == (200, [])
    assert (await fetch(auvious, snapshot_id))["state"] == "UPLOADED"


async def test_retried_upload_with_transaction_id_creates_one_snapshot(
    auvious: Auvious, auvious_b: Auvious
) -> None:
    retry = {"X-Auvious-TransactionId": "tx-upload-1"}
    first, again = await upload(auvious, headers=retry), await upload(auvious, headers=retry)
    assert first.status_code == again.status_code == 200
    assert again.json()["snapshotId"] == first.json()["snapshotId"]
    listed = await auvious.call("GET", "", params={"interactionId": "conv-1"})
    assert [s["id"] for s in listed.json()] == [first.json()["snapshotId"]]
    other_team = await upload(auvious_b, headers=retry)
    assert other_team.json()["snapshotId"] != first.json()["snapshotId"]


async def test_retried_approve_with_transaction_id_changes_nothing_again(
    auvious: Auvious,
) -> None:
    snapshot_id = (await upload(auvious)).json()["snapshotId"]
    retry = {"X-Auvious-TransactionId": "tx-approve-1"}
    assert (await review(auvious, "approve", snapshot_id, headers=retry)).status_code == 204
    version = (await fetch(auvious, snapshot_id))["version"]
    assert (await review(auvious, "approve", snapshot_id, headers=retry)).status_code == 204
    assert (await fetch(auvious, snapshot_id))["version"] == version
    assert (await review(auvious, "discard", snapshot_id)).status_code == 204
    replayed = await review(auvious, "approve", snapshot_id, headers=retry)
    assert replayed.status_code == 204
    assert (await fetch(auvious, snapshot_id))["state"] == "DISCARDED"
