"""A guided tour of the emulator: one consultation's life, told step by step.

It talks HTTP to an in-process emulator, exactly as the reconciler's clients will, and
returns what happened as lines for the CLI to show. Join links, tokens and signed URLs
are bearer credentials, so the tour counts them and never shows them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator.app import DEFAULT_CLIENTS, make_app
from reconciler.emulator.times import format_iso

DEMO_CLOCK = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def run_demo(*, db: Path | str = ":memory:", say: Callable[[str], None]) -> None:
    """Walk a session and a snapshot through their lifecycles, reporting each step."""
    asyncio.run(_tour(db, say))


async def _tour(db: Path | str, say: Callable[[str], None]) -> None:
    app = make_app(db=db, initial_clock=DEMO_CLOCK)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        tour = _Tour(http, say)
        await tour.sessions()
        await tour.snapshots()
    app.state.emulator.store.close()


class _Tour:
    def __init__(self, http: httpx.AsyncClient, say: Callable[[str], None]) -> None:
        self.http = http
        self.say = say
        self.headers: dict[str, str] = {}

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=self.headers, **kwargs)

    async def clock(self, **body: Any) -> datetime:
        """Move the clock; tokens may have expired, so authenticate again."""
        response = await self.http.post("/_emulator/clock", json=body)
        now = datetime.fromisoformat(response.json()["now"])
        self.say(f"  clock -> {format_iso(now)}")
        await self.authenticate()
        return now

    async def authenticate(self) -> None:
        client = DEFAULT_CLIENTS[0]
        grant = await self.http.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.key, client.secret),
        )
        grant.raise_for_status()
        self.headers = {"Authorization": f"Bearer {grant.json()['access_token']}"}

    async def sessions(self) -> None:
        client = DEFAULT_CLIENTS[0]
        now = await self.clock(now=format_iso(DEMO_CLOCK))
        self.say(f"Coviu: authenticated as client {client.key!r} (team {client.team!r})")
        start = now + timedelta(hours=1)
        created = await self.call(
            "POST",
            "/v1/sessions",
            json={
                "session_name": "Cardiology follow-up",
                "start_time": format_iso(start),
                "end_time": format_iso(start + timedelta(minutes=30)),
                "participants": [
                    {"display_name": "Dr. Who", "role": "host", "state": "drwho"},
                    {"display_name": "Rose Tyler", "role": "GUEST"},
                ],
            },
        )
        session = created.json()
        roles = ", ".join(f"{p['display_name']} ({p['role']})" for p in session["participants"])
        self.say(
            f"+ created session {session['session_id']} {session['session_name']!r}"
            f" {session['start_time']} .. {session['end_time']}"
        )
        self.say(f"  participants: {roles}; join links issued: {len(session['participants'])}")
        await self.clock(now=format_iso(start + timedelta(seconds=1)))
        path = f"/v1/sessions/{session['session_id']}"
        refused = await self.call("DELETE", path)
        self.say(f"- cancel once started -> {refused.status_code}: {_message(refused)}")
        longer = format_iso(start + timedelta(minutes=45))
        extended = await self.call("PUT", path, json={"end_time": longer})
        self.say(
            f"~ extend while in progress -> {extended.status_code},"
            f" ends {extended.json()['end_time']}"
        )
        await self.clock(advance_seconds=3600)
        renamed = await self.call("PUT", path, json={"session_name": "Too late"})
        self.say(f"~ rename once finished -> {renamed.status_code}: {_message(renamed)}")

    async def snapshots(self) -> None:
        client = DEFAULT_CLIENTS[0]
        grant = await self.http.post(
            "/security/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client.key,
                "client_secret": client.secret,
            },
        )
        self.headers = {"Authorization": f"Bearer {grant.json()['access_token']}"}
        self.say(f"Auvious: authenticated as client {client.key!r}")
        uploaded = await self.call(
            "POST",
            "/rtc-api/snapshots/upload",
            data={
                "interactionId": "conv-123",
                "userEndpointId": "ep-patient",
                "snapshotType": "photo",
            },
            files={"image": ("wound.png", b"\x89PNG demo", "image/png")},
        )
        snapshot_id = uploaded.json()["snapshotId"]
        review = {"snapshotId": snapshot_id, "userEndpointId": "ep-reviewer-1"}
        await self.call(
            "POST", "/rtc-api/snapshots/approve", json={**review, "snapshotType": "wound-photo"}
        )
        shown = (await self.call("GET", f"/rtc-api/snapshots/{snapshot_id}")).json()
        self.say(
            f"~ approved snapshot {snapshot_id}: {shown['state']} as {shown['type']!r},"
            f" version {shown['version']}"
        )
        await self.call("POST", "/rtc-api/snapshots/discard", json=review)
        again = await self.call("POST", "/rtc-api/snapshots/approve", json=review)
        self.say(f"- discarded it; approving again -> {again.status_code}: {_message(again)}")


def _message(response: httpx.Response) -> str:
    body = response.json()
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message"))
    return str(body.get("message", body))
