"""Clients of both APIs, connected in-process to the test's emulator.

The clients run on a `ManualTimer`: backoff, `Retry-After` and rate-limit waits return at
once and are recorded in `timer.slept`, so no test waits on the wall clock. Token expiry
is driven by moving the emulator's clock (the server decides a token is stale) or the
manual timer (the client decides it is past its half-life).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.clients import (
    Clients,
    Credentials,
    ManualTimer,
    RateLimit,
    RetryPolicy,
    Targets,
    Tuning,
    connect,
)
from tests.conftest import CLINIC_A


@dataclass
class CountingTransport(httpx.AsyncBaseTransport):
    """The emulator's ASGI transport, counting requests by method and path."""

    inner: httpx.AsyncBaseTransport
    requests: list[tuple[str, str]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    def count(self, method: str, path_prefix: str = "") -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))


TARGETS = Targets(
    coviu_url="http://emulator.test/v1",
    auvious_url="http://emulator.test",
    coviu=Credentials(CLINIC_A.key, CLINIC_A.secret),
    auvious=Credentials(CLINIC_A.key, CLINIC_A.secret),
)


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer()


@pytest.fixture
def transport(app: Starlette) -> CountingTransport:
    return CountingTransport(httpx.ASGITransport(app=app))


@pytest.fixture
def tuning() -> Tuning:
    """Defaults, with a seeded jitter so a run's waits are reproducible."""
    return Tuning(
        policy=RetryPolicy(rng=random.Random(7)),
        rate_limit=RateLimit(per_second=50, burst=20, in_flight=8),
    )


@pytest.fixture
async def clients(
    transport: CountingTransport, timer: ManualTimer, tuning: Tuning
) -> AsyncIterator[Clients]:
    """Coviu and Auvious clients of clinic A, on the emulator of this test."""
    async with connect(TARGETS, tuning=tuning, timer=timer.timer(), transport=transport) as opened:
        yield opened
