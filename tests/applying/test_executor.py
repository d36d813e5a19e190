"""The applier's journal at the level of one call: which failures settle a write as
'changed nothing' and which leave it pending for the next run to look at."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.applying import Applier, Outcome, recover
from reconciler.clients import Credentials, Targets, Tuning, connect
from reconciler.emulator import make_app
from reconciler.inventory import Inventory, State
from reconciler.planning import (
    Desired,
    DesiredParticipant,
    DesiredSession,
    Observation,
    make_plan,
)
from tests.conftest import CLINIC_A, T0

SESSION = DesiredSession(
    key="follow-up",
    session_name="Follow-up",
    start=T0 + timedelta(hours=2),
    end=T0 + timedelta(hours=3),
    participants=(DesiredParticipant("dr", "Dr Marsh", "host"),),
    source="sessions.yaml",
)
TARGETS = Targets(
    coviu_url="http://emulator.test/v1",
    auvious_url="http://emulator.test",
    coviu=Credentials(CLINIC_A.key, CLINIC_A.secret),
    auvious=Credentials(CLINIC_A.key, CLINIC_A.secret),
)


Answer = Callable[[int], httpx.Response]


class Answering(httpx.AsyncBaseTransport):
    """The emulator, except that a create's answer is replaced by `answer(status)`."""

    def __init__(self, app: Starlette, answer: Answer) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._answer = answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and request.url.path == "/v1/sessions":
            await response.aread()
            return self._answer(response.status_code)
        return response


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return make_app(db=tmp_path / "emulator.db", initial_clock=T0, clients=[CLINIC_A])


def _apply(
    app: Starlette, inventory: Inventory, answer: Callable[[int], httpx.Response]
) -> Outcome:
    desired = Desired(sessions=(SESSION,), digest="d", declared=frozenset({SESSION.key}))
    plan = make_plan(desired, (), Observation(), now=T0)

    async def run() -> Outcome:
        async with connect(TARGETS, transport=Answering(app, answer), tuning=Tuning()) as clients:
            applier = Applier(
                clients=clients,
                inventory=inventory,
                desired=desired,
                run="r",
                wall=lambda: datetime.now(UTC),
            )
            (result,) = await applier.apply(plan)
            return result.outcome

    return asyncio.run(run())


def _recover(app: Starlette, inventory: Inventory) -> list[bool]:
    async def run() -> list[bool]:
        async with connect(TARGETS, transport=httpx.ASGITransport(app=app)) as clients:
            return [found.found for found in await recover(clients, inventory, wall=lambda: T0)]

    return asyncio.run(run())


def test_a_create_answered_with_a_body_that_does_not_parse_is_looked_for_not_redone(
    app: Starlette, tmp_path: Path
) -> None:
    with Inventory.open(tmp_path / "state.db", create=True) as inventory:
        # The service made the session; its answer is not a session.
        outcome = _apply(app, inventory, lambda status: httpx.Response(status, json={"ok": 1}))

        assert outcome is Outcome.FAILED
        (pending,) = inventory.pending()
        assert pending.kind == "create_session"
        assert _recover(app, inventory) == [True]
        record = inventory.session(SESSION.key)
        assert record is not None
        assert [p.name for p in record.participants] == ["dr"]
        assert inventory.pending() == ()


def test_a_create_the_service_refused_is_settled_as_having_changed_nothing(
    app: Starlette, tmp_path: Path
) -> None:
    refused = httpx.Response(422, json={"error": {"message": "no"}})
    with Inventory.open(tmp_path / "state.db", create=True) as inventory:
        outcome = _apply(app, inventory, lambda status: refused)

        assert outcome is Outcome.FAILED
        assert inventory.pending() == ()
        (entry,) = inventory.journal()
        assert entry.state is State.FAILED
