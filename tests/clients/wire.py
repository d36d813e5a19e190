"""`Wire`: the emulator's in-process transport, recording every exchange the clients make.

Each exchange keeps its headers and bodies, its answer (or that none came) and when it
was sent and answered on the clients' clock; a test can forge an answer, rewrite the
service's, or run a hook after one, and so say exactly what went over the wire and when
the service misbehaved. Shared by the resilience and token tests, with the sessions they
create to have something to list.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs

import httpx

from reconciler.clients import (
    Clients,
    LiveSession,
    ManualTimer,
    ParticipantDraft,
    SessionDraft,
    Targets,
    Tuning,
    connect,
)
from tests.conftest import T0, TARGETS

START = T0 + timedelta(days=1)
TOKEN_PATHS = ("/v1/auth/token", "/security/oauth/token")
CHUNK = 100  # sessions created at once


@dataclass
class Exchange:
    """One request the clients sent, and the answer they got (status None: none came)."""

    method: str
    path: str
    query: str
    headers: httpx.Headers
    body: bytes
    status: int | None = None
    answer: bytes = b""
    forged: bool = False
    sent_at: float = 0.0  # on the clients' clock
    sent_seq: int = 0  # the order of sends and answers on the wire
    answered_seq: int = 0

    @property
    def form(self) -> dict[str, str]:
        """The request's form body (token requests)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def page(self) -> int:
        """The `page` asked for by a listing."""
        return int(parse_qs(self.query)["page"][0])


Forge = Callable[[httpx.Request], httpx.Response | None]
Hook = Callable[[Exchange], Awaitable[None]]


@dataclass
class Wire(httpx.AsyncBaseTransport):
    """The emulator's ASGI transport, recording every exchange; answers can be forged.

    A forger returning a response answers in the service's place (the request never
    reaches it); one raising an httpx error fails the request. A rewriter sees the
    service's answer and may put another in its place (the service did the work). Hooks
    run after each exchange, answered or not.
    """

    inner: httpx.AsyncBaseTransport
    clock: Callable[[], float] = lambda: 0.0
    exchanges: list[Exchange] = field(default_factory=list)
    forgers: list[Forge] = field(default_factory=list)
    rewriters: list[Forge] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    _seq: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        exchange = Exchange(
            request.method, request.url.path, request.url.query.decode(), request.headers, body
        )
        exchange.sent_at, exchange.sent_seq = self.clock(), self._next()
        self.exchanges.append(exchange)
        try:
            response = self._forged(request, exchange)
            if response is None:
                response = await self.inner.handle_async_request(request)
                await response.aread()
                response = self._rewritten(request, exchange) or response
            answer = await response.aread()
        except httpx.TransportError:
            exchange.answered_seq = self._next()
            await self._after(exchange)
            raise
        exchange.status, exchange.answer = response.status_code, answer
        exchange.answered_seq = self._next()
        await self._after(exchange)
        return httpx.Response(response.status_code, headers=response.headers, content=answer)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _forged(self, request: httpx.Request, exchange: Exchange) -> httpx.Response | None:
        for forge in self.forgers:
            exchange.forged = True  # if it raises, the failure is forged too
            response = forge(request)
            if response is not None:
                return response
            exchange.forged = False
        return None

    def _rewritten(self, request: httpx.Request, exchange: Exchange) -> httpx.Response | None:
        for rewrite in self.rewriters:
            response = rewrite(request)
            if response is not None:
                exchange.forged = True
                return response
        return None

    async def _after(self, exchange: Exchange) -> None:
        for hook in self.hooks:
            await hook(exchange)

    def sent(self, method: str, path_prefix: str = "") -> list[Exchange]:
        """The exchanges of one method whose path starts with `path_prefix`."""
        return [e for e in self.exchanges if e.method == method and e.path.startswith(path_prefix)]

    def grants(self) -> list[Exchange]:
        """Requests to a token endpoint."""
        return [e for e in self.exchanges if e.method == "POST" and e.path in TOKEN_PATHS]

    def issued(self) -> list[str]:
        """Every access and refresh token the token endpoints handed out."""
        tokens = []
        for grant in self.grants():
            if grant.status == 200:
                body = json.loads(grant.answer)
                tokens += [body[k] for k in ("access_token", "refresh_token") if body.get(k)]
        return tokens


def once(method: str, path: str, answer: Callable[[], httpx.Response]) -> Forge:
    """A forger answering the first `method path` request (only) with `answer()`."""
    used = False

    def forge(request: httpx.Request) -> httpx.Response | None:
        nonlocal used
        if used or request.method != method or request.url.path != path:
            return None
        used = True
        return answer()

    return forge


def error_answer(status: int, message: str, **headers: str) -> Callable[[], httpx.Response]:
    """An answer for `once`: `status` with an error body as the service words one."""
    return lambda: httpx.Response(
        status, json={"error": {"message": message}}, headers=headers or None
    )


@asynccontextmanager
async def wired_clients(
    wire: Wire, timer: ManualTimer, tuning: Tuning, targets: Targets = TARGETS
) -> AsyncIterator[Clients]:
    """Clients of clinic A (or `targets`) talking through `wire`."""
    async with connect(targets, tuning=tuning, timer=timer.timer(), transport=wire) as clients:
        yield clients


# Sessions to work on


def draft(number: int, *participants: ParticipantDraft) -> SessionDraft:
    start = START + timedelta(minutes=number)
    return SessionDraft(
        session_name=f"Visit {number:04d}",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        participants=participants,
    )


async def create_many(clients: Clients, count: int) -> list[LiveSession]:
    """`count` sessions, created with no faults on, in the order the service made them."""
    created: list[LiveSession] = []
    for first in range(0, count, CHUNK):
        drafts = [draft(n) for n in range(first, min(first + CHUNK, count))]
        created += await asyncio.gather(*(clients.coviu.create_session(d) for d in drafts))
    return created
