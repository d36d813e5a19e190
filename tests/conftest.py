"""Fixtures shared by every test: an emulator on a fresh SQLite file, at a fixed time,
and clients of both APIs connected to it.

Tests talk HTTP to it in-process (httpx's ASGI transport); tests about the network
serve it on a loopback port instead. Time moves only when a test moves the emulator's
clock, never with the wall clock: the clients wait on a `ManualTimer`.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
from reconciler.emulator import ClientCredentials, make_app
from reconciler.inventory import Location, parse_location
from tests.emulator.api import Auvious, Coviu, EmulatorControls
from tests.evidence import SOAK_VARIABLE, Evidence, soak_laps
from tests.postgres import BACKENDS, inventory_text, server_url

# Monday 2026-11-30, 08:00 UTC: a fixed "now" that every test starts from.
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CLINIC_A = ClientCredentials(key="clinic-a", secret="secret-a", team="team-a")
CLINIC_A2 = ClientCredentials(key="clinic-a-2", secret="secret-a2", team="team-a")
CLINIC_B = ClientCredentials(key="clinic-b", secret="secret-b", team="team-b")
TARGETS = Targets(
    coviu_url="http://emulator.test/v1",
    auvious_url="http://emulator.test",
    coviu=Credentials(CLINIC_A.key, CLINIC_A.secret),
    auvious=Credentials(CLINIC_A.key, CLINIC_A.secret),
)
"""Both APIs of the test's emulator, as clinic A (the transport decides where calls go)."""


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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reconciler")
    group.addoption(
        "--soak",
        type=int,
        default=soak_laps(),
        metavar="N",
        help="run the reliability and security tests N times over, each time with other"
        " seeds (default 1, or RECONCILER_SOAK)",
    )
    group.addoption(
        "--evidence",
        default=os.environ.get("RECONCILER_EVIDENCE"),
        metavar="FILE",
        help="append what each reliability and security test tried, and its outcome counts,"
        " to FILE as JSON lines (print the table with `python -m tests.evidence FILE`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # For what is settled as modules are imported (hypothesis's example counts).
    os.environ[SOAK_VARIABLE] = str(config.getoption("soak"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes `lap` runs once per lap of `--soak N`, its seeds drawn from it."""
    if "lap" in metafunc.fixturenames:
        laps = metafunc.config.getoption("soak")
        metafunc.parametrize("lap", range(laps), ids=[f"lap-{lap}" for lap in range(laps)])


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> int:
    """How many times over the reliability and security tests run (`--soak N`)."""
    times: int = pytestconfig.getoption("soak")
    if times < 1:
        raise pytest.UsageError("--soak must be 1 or more")
    return times


@pytest.fixture(scope="session")
def evidence(pytestconfig: pytest.Config) -> Evidence:
    """Where a reliability or security test records what it tried and what came of it."""
    path = pytestconfig.getoption("evidence")
    return Evidence(Path(path) if path else None)


@pytest.fixture(autouse=True)
def parse_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own parsed-manifest cache (commands it runs, in-process or not, use it),
    never the user's: a test's first load fills it, a second one reads from it."""
    folder = tmp_path_factory.mktemp("cache")
    folder.chmod(0o700)
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(folder))
    return folder


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
