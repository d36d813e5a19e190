"""Fixtures shared by every test: an emulator on a fresh SQLite file, at a fixed time.

Tests talk HTTP to it in-process (httpx's ASGI transport); tests about the network
serve it on a loopback port instead. Time moves only when a test moves the emulator's
clock, never with the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.emulator import ClientCredentials, make_app
from reconciler.inventory import Location, parse_location
from tests.emulator.api import Auvious, Coviu, EmulatorControls
from tests.postgres import BACKENDS, inventory_text, server_url

# Monday 2026-11-30, 08:00 UTC: a fixed "now" that every test starts from.
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CLINIC_A = ClientCredentials(key="clinic-a", secret="secret-a", team="team-a")
CLINIC_A2 = ClientCredentials(key="clinic-a-2", secret="secret-a2", team="team-a")
CLINIC_B = ClientCredentials(key="clinic-b", secret="secret-b", team="team-b")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator_db(tmp_path: Path) -> Path:
    return tmp_path / "emulator.db"


@pytest.fixture
def app(emulator_db: Path) -> Iterator[Starlette]:
    app = make_app(
        db=emulator_db,
        initial_clock=T0,
        clients=[CLINIC_A, CLINIC_A2, CLINIC_B],
        token_ttl_seconds=3600,
    )
    yield app
    app.state.emulator.store.close()


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as client:
        yield client


@pytest.fixture
def controls(http: httpx.AsyncClient) -> EmulatorControls:
    return EmulatorControls(http)


@pytest.fixture
async def coviu(http: httpx.AsyncClient) -> Coviu:
    """A Coviu API caller already holding a token of clinic A."""
    return await Coviu.login(http, CLINIC_A)


@pytest.fixture
async def coviu_b(http: httpx.AsyncClient) -> Coviu:
    """A Coviu API caller of another team."""
    return await Coviu.login(http, CLINIC_B)


@pytest.fixture
async def auvious(http: httpx.AsyncClient) -> Auvious:
    """An Auvious API caller already holding a token of clinic A."""
    return await Auvious.login(http, CLINIC_A)


@pytest.fixture
async def auvious_b(http: httpx.AsyncClient) -> Auvious:
    return await Auvious.login(http, CLINIC_B)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each inventory backend in turn: `sqlite`, then `postgresql`."""
    backend: str = request.param
    if backend == "postgresql":
        server_url()  # skip (or, in CI, fail) before the test starts
    return backend


@pytest.fixture
def state_text(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh inventory (not created yet) on each backend in turn, as `--state` and
    RECONCILER_STATE take it: a file path, or a URL naming a schema of its own."""
    with inventory_text(backend, tmp_path) as text:
        yield text


@pytest.fixture
def state_location(state_text: str) -> Location:
    """`state_text`, parsed."""
    return parse_location(state_text)
