"""Access control of the emulator, swept over every route of both APIs (issue 10).

The routes are read from the app itself: each one is swept here, or named below as
public, signed or a control with the reason, and the sweeps fail on a route that is none
of these. What they show:

- a call without a valid token for its API answers 401 and says nothing else;
- another team's objects answer 404, exactly like ids that never existed, and stay as
  they were;
- a signed snapshot URL that is forged, moved to another snapshot, re-dated or expired
  answers 403, without the image;
- the `/_emulator` controls answer only loopback peers, and a refusal changes nothing.

Every refused request is also sent in a form that succeeds (a genuine token, the team's
own ids, the untouched URL, a loopback peer), so each refusal comes from the one thing
that was changed.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from reconciler.emulator import make_app
from tests.conftest import CLINIC_A, CLINIC_B, T0
from tests.emulator.api import Auvious, Coviu, EmulatorControls, iso
from tests.evidence import Evidence

pytestmark = pytest.mark.anyio

CLAIM = "Access control (emulator)"
TTL = 3600  # the app fixture's token_ttl_seconds
CHALLENGE = 'Bearer error="invalid_token"'
TOKEN_REFUSED = "access token is missing, invalid or expired"
CONTROLS_REFUSED = "emulator controls answer only to loopback clients"
IMAGE = b"\x89PNG\r\n\x1a\n an access-control test image"
REFERER = {"Referer": "https://clinic.example/review"}
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
V1, RTC = "/v1", "/rtc-api/snapshots"

Key = tuple[str, str]
"""A route as the app declares it: (method, path template)."""


def declared_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[Key]:
    """Every (method, path template) an app serves, mounts flattened, HEAD included."""
    for route in routes:
        if isinstance(route, Mount):
            yield from declared_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                yield method, prefix + route.path
        else:  # a websocket route, say: nothing here knows how to call it, so it fails
            yield "?", prefix + str(getattr(route, "path", route))


# --- how to call each token-guarded route ---------------------------------------------------


@dataclass(frozen=True)
class Ids:
    """One team's objects, each named by the id the API gave it."""

    session: str
    participant: str
    requested: str  # a snapshot asked for, without an image yet
    uploaded: str
    approved: str
    camera_request: str
    interaction: str

    def objects(self) -> list[str]:
        """The ids of objects (the interaction is a name the caller chooses)."""
        return [getattr(self, f.name) for f in fields(self) if f.name != "interaction"]


UNKNOWN = Ids(
    session=str(uuid.uuid4()),
    participant=secrets.token_urlsafe(18),
    requested=str(uuid.uuid4()),
    uploaded=str(uuid.uuid4()),
    approved=str(uuid.uuid4()),
    camera_request=str(uuid.uuid4()),
    interaction="conv-nobody",
)
"""Ids no team has: what another team's ids must be indistinguishable from."""


class Reach(Enum):
    """What a call reaches of a team's data."""

    ONE = "addresses one object by its id"
    LIST = "lists the caller's own objects"
    CREATE = "creates an object in the caller's own team"


Built = tuple[str, dict[str, Any]]
"""A URL, and the keyword arguments of `httpx.AsyncClient.request`."""


@dataclass(frozen=True)
class Endpoint:
    reach: Reach
    build: Callable[[Ids], Built]


def _image(**data: str) -> dict[str, Any]:
    return {"data": data, "files": {"image": ("photo.png", IMAGE, "image/png")}}


def _review(snapshot_id: str) -> dict[str, Any]:
    return {"json": {"snapshotId": snapshot_id, "userEndpointId": "ep-sweep"}}


def _asked(ids: Ids) -> dict[str, Any]:
    return {"json": {"interactionId": ids.interaction, "userEndpointId": "ep-sweep"}}


def _new_session(ids: Ids) -> Built:
    start = T0 + timedelta(days=2)
    body = {"start_time": iso(start), "end_time": iso(start + timedelta(minutes=30))}
    return f"{V1}/sessions", {"json": body}


ONE, LIST, CREATE = Reach.ONE, Reach.LIST, Reach.CREATE
EVERYTHING = {"include_canceled": "true", "deleted_participants": "true"}
_GETS: dict[Key, Endpoint] = {
    ("GET", f"{V1}/sessions"): Endpoint(LIST, lambda i: (f"{V1}/sessions", {"params": EVERYTHING})),
    ("GET", f"{V1}/session"): Endpoint(LIST, lambda i: (f"{V1}/session", {"params": EVERYTHING})),
    ("GET", f"{V1}/sessions/{{session_id}}"): Endpoint(
        ONE, lambda i: (f"{V1}/sessions/{i.session}", {})
    ),
    ("GET", f"{V1}/sessions/{{session_id}}/participants"): Endpoint(
        ONE,
        lambda i: (
            f"{V1}/sessions/{i.session}/participants",
            {"params": {"deleted_participants": "true"}},
        ),
    ),
    ("GET", f"{V1}/participants/{{participant_id}}"): Endpoint(
        ONE, lambda i: (f"{V1}/participants/{i.participant}", {})
    ),
    ("GET", RTC): Endpoint(LIST, lambda i: (RTC, {"params": {"interactionId": i.interaction}})),
    ("GET", f"{RTC}/{{snapshot_id}}"): Endpoint(ONE, lambda i: (f"{RTC}/{i.uploaded}", {})),
}
SWEPT: dict[Key, Endpoint] = {
    **_GETS,
    **{("HEAD", path): endpoint for (_, path), endpoint in _GETS.items()},
    ("POST", f"{V1}/sessions"): Endpoint(CREATE, _new_session),
    ("PUT", f"{V1}/sessions/{{session_id}}"): Endpoint(
        ONE, lambda i: (f"{V1}/sessions/{i.session}", {"json": {"session_name": "Swept"}})
    ),
    ("DELETE", f"{V1}/sessions/{{session_id}}"): Endpoint(
        ONE, lambda i: (f"{V1}/sessions/{i.session}", {})
    ),
    ("POST", f"{V1}/sessions/{{session_id}}/participants"): Endpoint(
        ONE,
        lambda i: (
            f"{V1}/sessions/{i.session}/participants",
            {"json": {"display_name": "Intruder", "role": "host"}},
        ),
    ),
    ("PUT", f"{V1}/participants/{{participant_id}}"): Endpoint(
        ONE, lambda i: (f"{V1}/participants/{i.participant}", {"json": {"role": "host"}})
    ),
    ("DELETE", f"{V1}/participants/{{participant_id}}"): Endpoint(
        ONE, lambda i: (f"{V1}/participants/{i.participant}", {})
    ),
    ("POST", f"{RTC}/request"): Endpoint(CREATE, lambda i: (f"{RTC}/request", _asked(i))),
    ("POST", f"{RTC}/acquire"): Endpoint(
        ONE,
        lambda i: (f"{RTC}/acquire", _image(snapshotId=i.requested, userEndpointId="ep-sweep")),
    ),
    ("POST", f"{RTC}/upload"): Endpoint(
        CREATE,
        lambda i: (f"{RTC}/upload", _image(interactionId=i.interaction, userEndpointId="ep")),
    ),
    ("POST", f"{RTC}/approve"): Endpoint(ONE, lambda i: (f"{RTC}/approve", _review(i.uploaded))),
    ("POST", f"{RTC}/discard"): Endpoint(ONE, lambda i: (f"{RTC}/discard", _review(i.uploaded))),
    ("POST", f"{RTC}/signedUrl"): Endpoint(
        ONE,
        lambda i: (f"{RTC}/signedUrl", {"json": {"snapshotId": i.approved}, "headers": REFERER}),
    ),
    ("POST", f"{RTC}/cameraRequest"): Endpoint(
        CREATE, lambda i: (f"{RTC}/cameraRequest", _asked(i))
    ),
    ("POST", f"{RTC}/cameraRequestRespond"): Endpoint(
        ONE,
        lambda i: (
            f"{RTC}/cameraRequestRespond",
            {"json": {"cameraRequestId": i.camera_request, "accepted": True}},
        ),
    ),
}
"""Every route that needs a Bearer token, and a call of it on a team's objects."""

PUBLIC: dict[Key, str] = {
    ("GET", "/"): "the index: only where the two APIs and the controls are",
    ("HEAD", "/"): "the index, headers only",
    ("POST", f"{V1}/auth/token"): "Coviu's token endpoint: Basic client credentials",
    ("POST", "/security/oauth/token"): "Auvious's token endpoint: client id and secret",
}
"""Routes that need no token, and why."""

SIGNED: dict[Key, str] = {
    (method, f"{RTC}/signed/{{snapshot_id}}/{{expiration}}"): "the signature is the credential"
    for method in ("GET", "HEAD")
}
"""Routes whose credential is a signature in the URL (swept by the signed-URL test)."""

CONTROLS: dict[Key, dict[str, Any]] = {
    ("GET", "/_emulator/clock"): {},
    ("HEAD", "/_emulator/clock"): {},
    ("POST", "/_emulator/clock"): {"json": {"advance_seconds": 3600}},
    ("GET", "/_emulator/faults"): {},
    ("HEAD", "/_emulator/faults"): {},
    ("POST", "/_emulator/faults"): {"json": {"error_rate": 1, "status": 503}},
    ("POST", "/_emulator/reset"): {},
}
"""The loopback-only controls (swept by the controls test), each with a call that acts."""


def guarded_routes(app: Starlette) -> list[Key]:
    """The app's routes that need a token; one that SWEPT does not know fails the test."""
    keys = [k for k in declared_routes(app.routes) if k not in {**PUBLIC, **SIGNED, **CONTROLS}]
    unknown = [key for key in keys if key not in SWEPT]
    if unknown:
        pytest.fail(f"not swept: {unknown}; add them to SWEPT, or to PUBLIC/SIGNED with a reason")
    return keys


def control_routes(app: Starlette) -> list[Key]:
    keys = [key for key in declared_routes(app.routes) if key[1].startswith("/_emulator")]
    unknown = [key for key in keys if key not in CONTROLS]
    if unknown:
        pytest.fail(f"controls not swept: {unknown}; add them to CONTROLS")
    return keys


GENUINE = "the team's own token"
"""`Team.call`'s default Authorization: the team's genuine token for the route's API."""


# --- a team and its objects ------------------------------------------------------------------


@dataclass
class Team:
    """A team's callers of the two APIs."""

    coviu: Coviu
    auvious: Auvious

    @classmethod
    async def login(cls, http: httpx.AsyncClient) -> Team:
        """Clinic A, with fresh tokens for both APIs."""
        return cls(await Coviu.login(http, CLINIC_A), await Auvious.login(http, CLINIC_A))

    def token_for(self, path: str) -> str:
        return self.coviu.access_token if path.startswith(V1) else self.auvious.access_token

    async def call(
        self, key: Key, ids: Ids, *, authorization: str | None = GENUINE
    ) -> httpx.Response:
        """Call a swept route on these ids: with this team's token, or the header given."""
        url, kwargs = SWEPT[key].build(ids)
        headers = dict(kwargs.pop("headers", {}))
        if authorization is GENUINE:
            headers["Authorization"] = f"Bearer {self.token_for(url)}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        return await self.coviu.http.request(key[0], url, headers=headers, **kwargs)

    async def make_objects(self, tag: str) -> Ids:
        """A session with a participant, a snapshot in each state, and a camera request."""
        host = {"display_name": f"Dr {tag}", "role": "host"}
        session = await self.coviu.create_session(T0 + timedelta(days=1), participants=[host])
        interaction = f"conv-{tag}"
        asked = {"interactionId": interaction, "userEndpointId": "ep-patient"}
        requested = await self.auvious.call("POST", "/request", json=asked)
        camera = await self.auvious.call("POST", "/cameraRequest", json=asked)
        assert requested.status_code == camera.status_code == 200
        approved = await self.upload(interaction)
        await self.review("approve", approved)
        return Ids(
            session=session["session_id"],
            participant=session["participants"][0]["participant_id"],
            requested=requested.json()["snapshotId"],
            uploaded=await self.upload(interaction),
            approved=approved,
            camera_request=camera.json()["cameraRequestId"],
            interaction=interaction,
        )

    async def upload(self, interaction: str) -> str:
        kwargs = _image(interactionId=interaction, userEndpointId="ep-patient")
        response = await self.auvious.call("POST", "/upload", **kwargs)
        assert response.status_code == 200, response.text
        snapshot_id: str = response.json()["snapshotId"]
        return snapshot_id

    async def review(self, action: str, snapshot_id: str) -> None:
        response = await self.auvious.call("POST", f"/{action}", **_review(snapshot_id))
        assert response.status_code == 204, response.text


def told(response: httpx.Response, what: str = "") -> str:
    """One line for a failure message: what was tried, the call and its answer."""
    request = response.request
    return f"{what} {request.method} {request.url.path} -> {response.status_code} {response.text}"


# --- tokens -----------------------------------------------------------------------------------


def _b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def changed_at(token: str, position: int) -> str:
    """The token with one character changed: its lowest bit flipped, in base64url."""
    changed = B64URL[B64URL.index(token[position]) ^ 1]
    return token[:position] + changed + token[position + 1 :]


def part_ends(token: str) -> list[int]:
    """The positions of the first and last character of each part of a JWT."""
    positions, start = [], 0
    for part in token.split("."):
        positions += [start, start + len(part) - 1]
        start += len(part) + 1
    return positions


@dataclass(frozen=True)
class Tokens:
    """Clinic A's genuine token for one API, and tokens it might be mistaken for."""

    genuine: str
    other_api: str
    refresh: str
    foreign: str
    """A genuine token of the same client from another emulator (another signing key)."""


def bad_authorizations(tokens: Tokens) -> dict[str, str | None]:
    """Authorization headers that must not pass, by what each tries (None: no header)."""
    header, payload, signature = tokens.genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    alg_none = _b64url_json({"alg": "none", "typ": "JWT"})
    as_b = _b64url_json({**claims, "sub": CLINIC_B.key, "teamId": CLINIC_B.team})
    later = _b64url_json({**claims, "exp": claims["exp"] + 86400})
    basic = base64.b64encode(f"{CLINIC_A.key}:{CLINIC_A.secret}".encode()).decode()
    bad: dict[str, str | None] = {
        "missing": None,
        "empty Bearer": "Bearer ",
        "random": f"Bearer {secrets.token_urlsafe(32)}",
        "random, JWT-shaped": "Bearer " + ".".join(secrets.token_urlsafe(24) for _ in "abc"),
        "the client's Basic credentials": f"Basic {basic}",
        "the token without its scheme": tokens.genuine,
        "the token under another scheme": f"Token {tokens.genuine}",
        "the other API's token": f"Bearer {tokens.other_api}",
        "the refresh token": f"Bearer {tokens.refresh}",
        "another emulator's genuine token": f"Bearer {tokens.foreign}",
        "signature cut off": f"Bearer {header}.{payload}.",
        "alg none": f"Bearer {alg_none}.{payload}.",
        "payload claiming team B": f"Bearer {header}.{as_b}.{signature}",
        "payload with a later expiry": f"Bearer {header}.{later}.{signature}",
        "a fourth part": f"Bearer {tokens.genuine}.{signature}",
    }
    for position in part_ends(tokens.genuine):
        bad[f"character {position} changed"] = f"Bearer {changed_at(tokens.genuine, position)}"
    return bad


def refused_for_token(response: httpx.Response) -> bool:
    """401 with the token challenge, and a body that says that and nothing else."""
    if response.status_code != 401 or response.headers.get("www-authenticate") != CHALLENGE:
        return False
    if response.request.method == "HEAD":
        return response.content == b""
    if response.request.url.path.startswith(V1):
        return bool(response.json() == {"error": {"message": TOKEN_REFUSED}})
    return bool(response.json() == {"message": TOKEN_REFUSED, "status": "401"})


@pytest.fixture
async def elsewhere() -> AsyncIterator[Team]:
    """Clinic A, logged in to another emulator: genuine tokens under another signing key."""
    other = make_app(initial_clock=T0, clients=[CLINIC_A])
    try:
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as http:
            yield await Team.login(http)
    finally:
        other.state.emulator.store.close()


def tokens_of(team: Team, elsewhere: Team) -> dict[str, Tokens]:
    """By the path prefix of each API."""
    coviu, auvious = team.coviu.access_token, team.auvious.access_token
    refresh = team.coviu.refresh_token
    return {
        V1: Tokens(coviu, auvious, refresh, elsewhere.coviu.access_token),
        RTC: Tokens(auvious, coviu, refresh, elsewhere.auvious.access_token),
    }


def test_every_route_is_swept_or_named_public_with_a_reason(app: Starlette) -> None:
    declared = list(declared_routes(app.routes))
    named = [*SWEPT, *PUBLIC, *SIGNED, *CONTROLS]
    assert len(set(named)) == len(named), "a route is named in two tables"
    assert sorted(set(declared) - set(named)) == []
    assert sorted(set(named) - set(declared)) == [], "a table names a route the app lacks"
    assert len(declared) == len(set(declared))


async def test_every_guarded_route_answers_a_bare_401_to_missing_forged_and_expired_tokens(
    app: Starlette,
    http: httpx.AsyncClient,
    controls: EmulatorControls,
    elsewhere: Team,
    evidence: Evidence,
) -> None:
    team = await Team.login(http)
    tokens = tokens_of(team, elsewhere)
    keys = guarded_routes(app)
    # Each route's own objects, for its one genuine call at the end.
    own = {key: await team.make_objects(f"r{n}") for n, key in enumerate(keys)}
    tried: list[tuple[str, httpx.Response]] = []
    for key in keys:
        prefix = V1 if key[1].startswith(V1) else RTC
        for what, authorization in bad_authorizations(tokens[prefix]).items():
            tried.append((what, await team.call(key, own[key], authorization=authorization)))
    await controls.advance(timedelta(seconds=TTL))
    for key in keys:
        tried.append(("expired", await team.call(key, own[key])))
    wrong = [told(response, what) for what, response in tried if not refused_for_token(response)]
    assert wrong == []
    fresh = await Team.login(http)
    genuine = [await fresh.call(key, own[key]) for key in keys]
    assert [told(r) for r in genuine if not r.is_success] == []
    refused = Counter(refused_for_token(response) for _, response in tried)
    evidence.record(
        CLAIM,
        "missing, forged and expired tokens",
        runs=len(tried),
        **{"401": refused[True], "other": refused[False]},
    )


async def test_a_token_with_any_one_character_changed_is_refused(
    http: httpx.AsyncClient, evidence: Evidence
) -> None:
    team = await Team.login(http)
    ids = await team.make_objects("a")
    tried = []
    for key in (("GET", f"{V1}/sessions"), ("GET", RTC)):
        genuine = team.token_for(key[1])
        assert (await team.call(key, ids)).status_code == 200
        for position, character in enumerate(genuine):
            if character != ".":
                changed = f"Bearer {changed_at(genuine, position)}"
                tried.append(await team.call(key, ids, authorization=changed))
    assert [told(response) for response in tried if not refused_for_token(response)] == []
    refused = Counter(refused_for_token(response) for response in tried)
    evidence.record(
        CLAIM,
        "access tokens with any one character changed",
        runs=len(tried),
        **{"401": refused[True], "other": refused[False]},
    )


# --- another team's objects ---------------------------------------------------------------


async def finished_objects(team: Team, tag: str) -> Ids:
    """Objects past their end: a cancelled session, a removed participant, discarded
    snapshots and an answered camera request."""
    live = await team.make_objects(tag)
    guest = await team.coviu.call(
        "POST", f"/sessions/{live.session}/participants", json={"display_name": "Guest"}
    )
    removed = guest.json()["participant_id"]
    assert (await team.coviu.call("DELETE", f"/participants/{removed}")).status_code == 200
    assert (await team.coviu.call("DELETE", f"/sessions/{live.session}")).status_code == 200
    for snapshot_id in (live.uploaded, live.approved):
        await team.review("discard", snapshot_id)
    respond = {"cameraRequestId": live.camera_request, "accepted": False}
    answered = await team.auvious.call("POST", "/cameraRequestRespond", json=respond)
    assert answered.status_code == 204
    return replace(live, participant=removed)


async def view_of(team: Team, sets: Iterable[Ids]) -> list[Any]:
    """All a team can read of these objects, removed and cancelled ones included."""
    seen = [(await team.coviu.call("GET", "/sessions", params=EVERYTHING)).json()]
    for ids in sets:
        seen.append((await team.coviu.call("GET", f"/participants/{ids.participant}")).json())
        listed = await team.auvious.call("GET", "", params={"interactionId": ids.interaction})
        seen.append(listed.json())
        for snapshot_id in (ids.requested, ids.uploaded, ids.approved):
            seen.append((await team.auvious.call("GET", f"/{snapshot_id}")).json())
    return seen


def masked(response: httpx.Response, ids: Ids) -> tuple[int, str]:
    """The answer, with the ids asked about blanked out, to compare with another's."""
    text = response.text
    for value in ids.objects():
        text = text.replace(value, "<id>")
    return response.status_code, text


async def test_another_teams_objects_answer_404_like_unknown_ids_and_stay_as_they_were(
    app: Starlette,
    http: httpx.AsyncClient,
    coviu_b: Coviu,
    auvious_b: Auvious,
    evidence: Evidence,
) -> None:
    team_a, team_b = await Team.login(http), Team(coviu_b, auvious_b)
    theirs = [await team_b.make_objects("b"), await finished_objects(team_b, "b-done")]
    before = await view_of(team_b, theirs)
    outcomes: Counter[Reach] = Counter()
    wrong = []
    for n, key in enumerate(guarded_routes(app)):
        reach = SWEPT[key].reach
        own = await team_a.call(key, await team_a.make_objects(f"a{n}"))
        assert own.is_success, told(own)  # the same call, on A's own objects
        for ids in theirs:
            response = await team_a.call(key, ids)
            if reach is ONE:
                unknown = await team_a.call(key, UNKNOWN)
                hidden = response.status_code == 404 and masked(response, ids) == masked(
                    unknown, UNKNOWN
                )
            else:  # a list or a create: answered for A's own team, with nothing of B's
                hidden = response.is_success and not any(i in response.text for i in ids.objects())
            outcomes[reach] += hidden
            if not hidden:
                wrong.append(told(response))
    assert wrong == []
    assert await view_of(team_b, theirs) == before
    respond = {"cameraRequestId": theirs[0].camera_request, "accepted": True}
    assert (await team_b.auvious.call("POST", "/cameraRequestRespond", json=respond)).is_success
    evidence.record(
        CLAIM,
        "another team's objects: by id, in lists and in writes",
        runs=sum(outcomes.values()) + len(wrong),
        **{
            "404": outcomes[ONE],
            "absent from lists": outcomes[LIST],
            "created in own team only": outcomes[CREATE],
            "other": len(wrong),
        },
    )


# --- signed snapshot URLs -------------------------------------------------------------------


@dataclass(frozen=True)
class SignedUrl:
    """A signed download URL's three parts."""

    snapshot_id: str
    expiration: str
    signature: str | None

    @classmethod
    def parse(cls, url: str) -> SignedUrl:
        parsed = httpx.URL(url)
        *_, snapshot_id, expiration = parsed.path.split("/")
        return cls(snapshot_id, expiration, parsed.params["signature"])

    @property
    def path(self) -> str:
        path = f"{RTC}/signed/{self.snapshot_id}/{self.expiration}"
        return path if self.signature is None else f"{path}?signature={self.signature}"


async def sign(
    team: Team, snapshot_id: str, *, internal: bool = False
) -> tuple[SignedUrl, datetime]:
    body = {"snapshotId": snapshot_id, "createInternalSignedUrl": internal}
    response = await team.auvious.call("POST", "/signedUrl", json=body, headers=REFERER)
    assert response.status_code == 200, response.text
    answer = response.json()
    return SignedUrl.parse(answer["url"]), datetime.fromisoformat(answer["validUntil"])


def forgeries(
    url: SignedUrl, *, other: SignedUrl, theirs: SignedUrl, internal: SignedUrl
) -> dict[str, SignedUrl]:
    """Signed URLs that must not open, by what each tries."""
    signature, expiration = url.signature or "", url.expiration
    bad = {
        "no signature": replace(url, signature=None),
        "empty signature": replace(url, signature=""),
        "random signature": replace(url, signature=secrets.token_hex(32)),
        "signature in capitals": replace(url, signature=signature.upper()),
        "moved to the team's other snapshot": replace(other, signature=signature),
        "moved to another team's snapshot": replace(theirs, signature=signature),
        "another team's signature": replace(url, signature=theirs.signature),
        "the internal URL's signature": replace(url, signature=internal.signature),
        "the internal URL's expiry": replace(url, expiration=internal.expiration),
    }
    for position, digit in enumerate(signature):
        changed = signature[:position] + f"{int(digit, 16) ^ 1:x}" + signature[position + 1 :]
        bad[f"signature character {position} changed"] = replace(url, signature=changed)
    millis = int(expiration)
    for what, tampered in {
        "one millisecond later": str(millis + 1),
        "one millisecond earlier": str(millis - 1),
        "a day later": str(millis + 86_400_000),
        "ten times later": expiration + "0",
        "a leading zero": "0" + expiration,
        "a plus sign": "+" + expiration,
        "an underscore": expiration[:4] + "_" + expiration[4:],
        "negative": "-" + expiration,
        "a decimal point": expiration + ".0",
        "not a number": "tomorrow",
    }.items():
        bad[f"expiry re-dated: {what}"] = replace(url, expiration=tampered)
    return bad


def forbidden(response: httpx.Response) -> bool:
    """403, without the image, in Auvious's flat error shape."""
    if response.status_code != 403 or IMAGE in response.content:
        return False
    if response.request.method == "HEAD":
        return response.content == b""
    body = response.json()
    return set(body) == {"message", "status"} and body["status"] == "403"


async def test_forged_moved_redated_and_expired_signed_urls_answer_403_without_the_image(
    http: httpx.AsyncClient,
    controls: EmulatorControls,
    coviu_b: Coviu,
    auvious_b: Auvious,
    evidence: Evidence,
) -> None:
    team, team_b = await Team.login(http), Team(coviu_b, auvious_b)
    mine, theirs = await team.make_objects("a"), await team_b.make_objects("b")
    url, valid_until = await sign(team, mine.approved)
    internal, internal_until = await sign(team, mine.approved, internal=True)
    other_url, _ = await sign(team, (await team.make_objects("a2")).approved)
    their_url, _ = await sign(team_b, theirs.approved)
    bad = forgeries(url, other=other_url, theirs=their_url, internal=internal)
    tried = []
    for method in ("GET", "HEAD"):
        assert (await http.get(url.path)).content == IMAGE
        for what, forged in bad.items():
            tried.append((what, await http.request(method, forged.path)))
        token = {"Authorization": f"Bearer {team.auvious.access_token}"}
        unsigned = replace(url, signature=None).path
        tried.append(
            ("a Bearer token instead", await http.request(method, unsigned, headers=token))
        )
    assert (await http.get(url.path)).content == IMAGE
    await controls.set(valid_until)
    for method in ("GET", "HEAD"):
        tried.append(("expired", await http.request(method, url.path)))
    assert (await http.get(internal.path)).content == IMAGE
    await controls.set(internal_until + timedelta(days=1))
    tried.append(("expired internal URL", await http.get(internal.path)))
    assert [told(r, what) for what, r in tried if not forbidden(r)] == []
    refused = Counter(forbidden(response) for _, response in tried)
    evidence.record(
        CLAIM,
        "forged, moved, re-dated and expired signed URLs",
        runs=len(tried),
        **{"403": refused[True], "other": refused[False]},
    )


async def test_a_signed_url_of_a_discarded_snapshot_gives_no_image(http: httpx.AsyncClient) -> None:
    team = await Team.login(http)
    approved = (await team.make_objects("a")).approved
    url, _ = await sign(team, approved)
    await team.review("discard", approved)
    response = await http.get(url.path)
    assert response.status_code == 404
    assert IMAGE not in response.content


# --- the controls, from loopback only ---------------------------------------------------------

OUTSIDE_PEERS: dict[str, tuple[str, int] | None] = {
    "private 10.0.0.5": ("10.0.0.5", 50_000),
    "private 192.168.1.20": ("192.168.1.20", 50_000),
    "private 172.16.5.4": ("172.16.5.4", 50_000),
    "public 203.0.113.5": ("203.0.113.5", 50_000),
    "unspecified 0.0.0.0": ("0.0.0.0", 50_000),  # noqa: S104 - a peer address, not a bind
    "IPv6 2001:db8::1": ("2001:db8::1", 50_000),
    "IPv6 link-local fe80::1": ("fe80::1", 50_000),
    "IPv6 unique-local fd00::5": ("fd00::5", 50_000),
    "IPv4-mapped 10.0.0.5": ("::ffff:10.0.0.5", 50_000),
    'the string "localhost"': ("localhost", 50_000),
    'the string "LOCALHOST"': ("LOCALHOST", 50_000),
    'the string "localhost.localdomain"': ("localhost.localdomain", 50_000),
    "a name that starts like loopback": ("127.0.0.1.nip.io", 50_000),
    "an empty host": ("", 50_000),
    "no client at all": None,
}
LOOPBACK_PEERS = {"127.0.0.1": ("127.0.0.1", 50_000), "::1": ("::1", 50_000)}
CLAIMED_LOOPBACK: dict[str, dict[str, str]] = {
    "no header": {},
    "X-Forwarded-For: 127.0.0.1": {"X-Forwarded-For": "127.0.0.1"},
    "X-Real-IP: ::1": {"X-Real-IP": "::1"},
    "Forwarded: for=127.0.0.1": {"Forwarded": "for=127.0.0.1"},
    "Host: localhost": {"Host": "localhost"},
}

Scope = MutableMapping[str, Any]


def peer_transport(app: Starlette, peer: tuple[str, int] | None) -> httpx.ASGITransport:
    """A transport whose requests come from this peer (None: a scope without a client)."""
    if peer is not None:
        return httpx.ASGITransport(app=app, client=peer)

    async def without_client(scope: Scope, receive: Any, send: Any) -> None:
        await app({**scope, "client": None}, receive, send)

    return httpx.ASGITransport(app=without_client)


def refused_control(response: httpx.Response) -> bool:
    if response.status_code != 403:
        return False
    if response.request.method == "HEAD":
        return response.content == b""
    return bool(response.json() == {"error": {"message": CONTROLS_REFUSED}})


async def test_controls_refuse_every_peer_but_loopback_and_a_refusal_changes_nothing(
    app: Starlette,
    http: httpx.AsyncClient,
    coviu: Coviu,
    controls: EmulatorControls,
    evidence: Evidence,
) -> None:
    session = await coviu.create_session(T0 + timedelta(days=1))
    faults_before = (await http.get("/_emulator/faults")).json()
    keys = control_routes(app)
    tried = []
    for what, peer in OUTSIDE_PEERS.items():
        async with httpx.AsyncClient(
            transport=peer_transport(app, peer), base_url="http://emulator.test"
        ) as outside:
            for claim, headers in CLAIMED_LOOPBACK.items():
                for method, path in keys:
                    response = await outside.request(
                        method, path, headers=headers, **CONTROLS[method, path]
                    )
                    tried.append((f"{what}, {claim}:", response))
    assert [told(r, what) for what, r in tried if not refused_control(r)] == []
    assert await controls.now() == T0
    assert (await http.get("/_emulator/faults")).json() == faults_before
    still = await coviu.call("GET", f"/sessions/{session['session_id']}")
    assert still.status_code == 200, still.text
    refused = Counter(refused_control(response) for _, response in tried)
    evidence.record(
        CLAIM,
        "control endpoints from non-loopback peers, spoofed headers included",
        runs=len(tried),
        **{"refused": refused[True], "other": refused[False]},
    )


@pytest.mark.parametrize("peer", LOOPBACK_PEERS.values(), ids=LOOPBACK_PEERS.keys())
async def test_controls_answer_loopback_peers(
    app: Starlette, http: httpx.AsyncClient, coviu: Coviu, peer: tuple[str, int]
) -> None:
    await coviu.create_session(T0 + timedelta(days=1))
    transport = peer_transport(app, peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as local:
        for method, path in control_routes(app):
            response = await local.request(method, path, **CONTROLS[method, path])
            assert response.status_code == 200, told(response)
    assert await EmulatorControls(http).now() == T0 + timedelta(hours=1)
    assert (await http.get("/_emulator/faults")).json()["error_rate"] == 0  # reset
    fresh = await Coviu.login(http, CLINIC_A)
    assert (await fresh.call("GET", "/sessions")).json()["content"] == []
