"""The emulator's ASGI app: Coviu under `/v1`, Auvious under `/rtc-api`, controls under
`/_emulator`, all on one port, or in-process through httpx's ASGI transport.

Around every request sits one middleware that stamps the emulator's clock in the `Date`
header (clients read the server's time from it) and injects the configured faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.emulator import admin, auvious, coviu
from reconciler.emulator.http import ApiError, error_response
from reconciler.emulator.state import Emulator, Sleep
from reconciler.emulator.store import Store
from reconciler.emulator.times import format_rfc1123
from reconciler.emulator.tokens import TokenIssuer

DEFAULT_WEB_ORIGIN = "https://coviu.emulator.invalid"
MAX_BODY_BYTES = 12 * 1024 * 1024


@dataclass(frozen=True)
class ClientCredentials:
    """An API client to register: key, secret and the team whose objects it sees."""

    key: str
    secret: str = field(repr=False)
    team: str = ""

    @classmethod
    def parse(cls, text: str) -> ClientCredentials:
        """Read `KEY:SECRET` or `KEY:SECRET:TEAM` (the team defaults to the key)."""
        key, _, rest = text.partition(":")
        secret, _, team = rest.partition(":")
        if not key or not secret:
            raise ValueError("a client is KEY:SECRET or KEY:SECRET:TEAM")
        return cls(key=key, secret=secret, team=team or key)


DEFAULT_CLIENTS = (ClientCredentials(key="demo", secret="demo-secret", team="demo"),)  # noqa: S106


class ConnectionDroppedError(httpx.RemoteProtocolError):
    """The injected loss of an answer after its write committed.

    Over TCP the server closes the connection mid-answer and the client sees httpx's own
    `RemoteProtocolError`; in-process this subclass of it reaches the client instead.
    """


class _EmulatorMiddleware:
    def __init__(self, app: ASGIApp, *, emulator: Emulator, sleep: Sleep) -> None:
        self.app = app
        self.emulator = emulator
        self.sleep = sleep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        store = self.emulator.store

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Date"] = format_rfc1123(store.now())
            await send(message)

        path: str = scope["path"]
        if _declared_length(scope) > MAX_BODY_BYTES:
            # Refused here, in the API's own shape: Starlette's limit would answer plain text.
            too_large = ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            await error_response(path, too_large)(scope, receive, send_dated)
            return
        if path.startswith("/_emulator") or path == "/":
            await self.app(scope, receive, send_dated)
            return
        decision = self.emulator.faults.decide(scope["method"], path)
        if decision.latency_ms:
            await self.sleep(decision.latency_ms / 1000)
        if decision.rate_limited:
            retry_after = str(self.emulator.faults.config.retry_after)
            fault = ApiError(429, "rate limit exceeded", headers={"Retry-After": retry_after})
            await error_response(path, fault)(scope, receive, send_dated)
            return
        if decision.error_status is not None:
            fault = ApiError(decision.error_status, "injected fault: service unavailable")
            await error_response(path, fault)(scope, receive, send_dated)
            return
        if not decision.drop_after_commit:
            await self.app(scope, receive, send_dated)
            return
        await self._drop_after_commit(scope, receive, send_dated)

    async def _drop_after_commit(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def discard(message: Message) -> None:
            return None

        await self.app(scope, receive, discard)
        # Start an answer that can never complete, then fail: the server closes the
        # connection, and the client cannot know whether the write happened.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionDroppedError("server closed the connection before answering")


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(request.url.path, error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_response(request.url.path, ApiError(error.status_code, error.detail))


async def _index(request: Request) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "service": "reconciler emulator of the Coviu and Auvious APIs",
            "coviu": f"{base}/v1",
            "auvious": base,
            "controls": f"{base}/_emulator",
        }
    )


def make_app(
    *,
    db: str | Path = ":memory:",
    clients: Iterable[ClientCredentials] | None = None,
    initial_clock: datetime | None = None,
    token_ttl_seconds: int = 3600,
    web_origin: str = DEFAULT_WEB_ORIGIN,
    sleep: Sleep = asyncio.sleep,
) -> Starlette:
    """Build the emulator on a SQLite database (created if new, reused if not).

    `initial_clock` sets the clock only when the database is new; afterwards the clock is
    the database's. `clients` are registered (or updated) on top of those already stored;
    with None, the default `demo:demo-secret` client of team `demo` is ensured.
    """
    store = Store(db, initial_clock=initial_clock)
    with store.transaction():
        for client in DEFAULT_CLIENTS if clients is None else clients:
            store.put_client(client.key, client.secret, team_id=client.team)
    emulator = Emulator(
        store=store,
        tokens=TokenIssuer(store, ttl_seconds=token_ttl_seconds),
        web_origin=web_origin.rstrip("/"),
    )
    routes = [
        Route("/", _index, methods=["GET"]),
        Mount("/v1", routes=coviu.routes),
        *auvious.routes,
        *admin.routes,
    ]
    app = Starlette(
        # A body that grows past the limit while streaming (no Content-Length) is stopped
        # here, inside the exception handlers, so its 413 has the API's error shape too.
        routes=[Mount("", routes=routes, max_body_size=MAX_BODY_BYTES)],
        middleware=[Middleware(_EmulatorMiddleware, emulator=emulator, sleep=sleep)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.emulator = emulator
    return app
