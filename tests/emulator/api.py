"""Thin test-side callers of the emulator's APIs: they add the token and nothing else,
so every assertion is about what goes over the wire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from reconciler.emulator import ClientCredentials


def iso(value: datetime) -> str:
    """An ISO 8601 time with a Z, as a client would send it."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc1123(value: datetime) -> str:
    """An RFC 1123 time, as JavaScript's `toUTCString()` writes it."""
    return value.strftime("%a, %d %b %Y %H:%M:%S GMT")


@dataclass
class EmulatorControls:
    """The `/_emulator` controls."""

    http: httpx.AsyncClient

    async def now(self) -> datetime:
        response = await self.http.get("/_emulator/clock")
        return datetime.fromisoformat(response.json()["now"])

    async def set(self, when: datetime) -> None:
        response = await self.http.post("/_emulator/clock", json={"now": when.isoformat()})
        assert response.status_code == 200, response.text

    async def advance(self, delta: timedelta) -> None:
        seconds = delta.total_seconds()
        response = await self.http.post("/_emulator/clock", json={"advance_seconds": seconds})
        assert response.status_code == 200, response.text

    async def faults(self, **settings: Any) -> None:
        response = await self.http.post("/_emulator/faults", json=settings)
        assert response.status_code == 200, response.text


@dataclass
class Coviu:
    """Calls under /v1 with a Bearer token."""

    http: httpx.AsyncClient
    access_token: str
    refresh_token: str

    @classmethod
    async def login(cls, http: httpx.AsyncClient, client: ClientCredentials) -> Coviu:
        response = await http.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.key, client.secret),
        )
        assert response.status_code == 200, response.text
        grant = response.json()
        return cls(http, grant["access_token"], grant["refresh_token"])

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.access_token}", **kwargs.pop("headers", {})}
        return await self.http.request(method, f"/v1{path}", headers=headers, **kwargs)

    async def create_session(
        self, start: datetime, minutes: int = 30, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "session_name": "Follow-up",
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=minutes)),
            **fields,
        }
        response = await self.call("POST", "/sessions", json=body)
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        return created


@dataclass
class Auvious:
    """Calls under /rtc-api with a Bearer token."""

    http: httpx.AsyncClient
    access_token: str

    @classmethod
    async def login(cls, http: httpx.AsyncClient, client: ClientCredentials) -> Auvious:
        response = await http.post(
            "/security/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client.key,
                "client_secret": client.secret,
            },
        )
        assert response.status_code == 200, response.text
        return cls(http, response.json()["access_token"])

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.access_token}", **kwargs.pop("headers", {})}
        return await self.http.request(
            method, f"/rtc-api/snapshots{path}", headers=headers, **kwargs
        )

    async def upload(self, interaction_id: str = "conv-1", **fields: str) -> str:
        data = {"interactionId": interaction_id, "userEndpointId": "ep-patient", **fields}
        files = {"image": ("photo.png", b"\x89PNG test image", "image/png")}
        response = await self.call("POST", "/upload", data=data, files=files)
        assert response.status_code == 200, response.text
        snapshot_id: str = response.json()["snapshotId"]
        return snapshot_id
