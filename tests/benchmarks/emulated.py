"""The in-process emulator as the client benchmarks see it: one team, its targets, no rate
limit, a transport that counts requests, and the sessions they seed it with.

Shared by bench_clients.py and bench_plan.py, so both measure the same calls;
bench_emulator.py takes the team and the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx

from reconciler.clients import (
    Clients,
    Credentials,
    LiveSession,
    ParticipantDraft,
    RateLimit,
    SessionDraft,
    Targets,
)
from reconciler.emulator import ClientCredentials

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
"""The emulator's clock when a benchmark starts."""
CLIENT = ClientCredentials(key="bench", secret="bench-secret", team="bench")
TARGETS = Targets(
    coviu_url="http://emulator.bench/v1",
    auvious_url="http://emulator.bench",
    coviu=Credentials(CLIENT.key, CLIENT.secret),
    auvious=Credentials(CLIENT.key, CLIENT.secret),
)
# The default limit (10 calls a second) would make this a benchmark of the limiter.
UNLIMITED = RateLimit(per_second=1e6, burst=1000, in_flight=8)
CHUNK = 50  # sessions created at once


class Counting(httpx.AsyncBaseTransport):
    """A transport passing requests on to `inner`, counting them."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.count = inner, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)


def draft(index: int, start: datetime) -> SessionDraft:
    """Session `index`: 30 minutes from `start`, a doctor hosting and a patient."""
    return SessionDraft(
        session_name=f"Session {index}",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        participants=(
            ParticipantDraft(display_name="Dr", role="host"),
            ParticipantDraft(display_name="Patient"),
        ),
    )


async def create(clients: Clients, drafts: Sequence[SessionDraft]) -> list[LiveSession]:
    """Create `drafts`, `CHUNK` at a time; the sessions made, in the order of `drafts`."""
    made: list[LiveSession] = []
    for first in range(0, len(drafts), CHUNK):
        chunk = drafts[first : first + CHUNK]
        made += await asyncio.gather(*(clients.coviu.create_session(d) for d in chunk))
    return made
