"""Clients of both APIs, connected in-process to the test's emulator (tests/conftest.py).

The clients run on a `ManualTimer`: backoff, `Retry-After` and rate-limit waits return at
once and are recorded in `timer.slept`, so no test waits on the wall clock. Token expiry
is driven by moving the emulator's clock (the server decides a token is stale) or the
manual timer (the client decides it is past its half-life). `wired` clients talk through
a `Wire` (wire.py), which records every exchange; `clinic_b` are another team's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.clients import Clients, Credentials, ManualTimer, Tuning, connect
from tests.clients.wire import Wire, wired_clients
from tests.conftest import CLINIC_B, TARGETS


@pytest.fixture
def wire(app: Starlette, timer: ManualTimer) -> Wire:
    return Wire(httpx.ASGITransport(app=app), clock=timer.monotonic)


@pytest.fixture
async def wired(wire: Wire, timer: ManualTimer, tuning: Tuning) -> AsyncIterator[Clients]:
    async with wired_clients(wire, timer, tuning) as clients:
        yield clients


@pytest.fixture
async def clinic_b(app: Starlette, timer: ManualTimer) -> AsyncIterator[Clients]:
    """Clients of another team, on the same emulator."""
    other = Credentials(CLINIC_B.key, CLINIC_B.secret)
    targets = replace(TARGETS, coviu=other, auvious=other)
    transport = httpx.ASGITransport(app=app)
    async with connect(targets, timer=timer.timer(), transport=transport) as opened:
        yield opened
