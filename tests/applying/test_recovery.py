"""An apply killed between a write and its record leaves a pending journal entry; the
next plan (or apply) resolves it from the live API before anything is created again."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.applying import Outcome
from reconciler.clients import ParticipantDraft, Urls, connect
from reconciler.inventory import Inventory, State
from reconciler.manifests import load
from reconciler.planning import (
    DesiredSession,
    Kind,
    ParticipantRecord,
    SessionRecord,
    desired_state,
)
from tests.test_cli_plan import (
    DOCTOR,
    MONDAY,
    PATIENT,
    SETTINGS,
    STATE,
    Person,
    draft_of,
    go_live,
    session,
    write,
)

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
NURSE = Person("nurse", "Nurse Joy", "guest", "n-1")


@pytest.fixture(autouse=True)
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "reconciler.yaml").write_text("emulator:\n  clock: 2026-12-04T09:00:00+11:00\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _desired() -> DesiredSession:
    (wanted,) = desired_state(load([Path(".")]), paths=["."]).sessions
    return wanted


def _plan() -> engine.Planned:
    return engine.plan([Path(".")], flags=Urls(), state=None, environ={})


def _killed_while(kind: Kind, target: str, intent: dict[str, object]) -> int:
    """A journal entry as a run killed right after its call leaves it."""
    with Inventory.open(STATE, create=True) as inventory, inventory.writing(now=NOW) as batch:
        return batch.intend(run="killed", target=target, kind=kind.value, intent=intent)


def test_a_create_that_happened_is_found_by_its_natural_key_and_recorded() -> None:
    write(session("follow-up", title="Follow-up", people=(DOCTOR, PATIENT)))
    live = go_live(draft_of("Follow-up", MONDAY, (DOCTOR, PATIENT)))
    go_live(draft_of("Follow-up", MONDAY.replace(hour=10), (DOCTOR, PATIENT)))  # not it
    entry = _killed_while(
        Kind.CREATE_SESSION, "Session/follow-up", {"session": _desired().to_json()}
    )

    planned = _plan()

    assert [(found.target, found.found) for found in planned.recovered] == [
        ("Session/follow-up", True)
    ]
    assert planned.plan.actions == ()
    with Inventory.open(STATE) as inventory:
        record = inventory.session("follow-up")
        assert record is not None
        assert record.session_id == live.session_id
        assert [p.name for p in record.participants] == ["dr-marsh", "bernard"]
        assert record.applied == _desired()
        assert inventory.pending() == ()
        (settled,) = [e for e in inventory.journal() if e.id == entry]
        assert settled.state is State.RECOVERED


def test_a_create_that_never_happened_is_settled_and_planned_again() -> None:
    write(session("follow-up", title="Follow-up", people=(DOCTOR,)))
    _killed_while(Kind.CREATE_SESSION, "Session/follow-up", {"session": _desired().to_json()})

    planned = _plan()

    assert [found.found for found in planned.recovered] == [False]
    assert [item.kind for item in planned.plan.actions] == [Kind.CREATE_SESSION]
    applied = engine.apply([Path(".")], flags=Urls(), state=None, environ={}, hooks=engine.Hooks())
    assert [result.outcome for result in applied.report.results] == [Outcome.APPLIED]
    assert applied.report.recovered == ()  # the plan had resolved it already
    assert _plan().plan.actions == ()


def test_a_session_recorded_for_another_key_is_never_adopted_twice() -> None:
    write(
        session("first", title="Follow-up", people=(DOCTOR,)),
        session("second", title="Follow-up", people=(DOCTOR,)),
    )
    engine.apply([Path(".")], flags=Urls(), state=None, environ={})
    second = next(
        s for s in desired_state(load([Path(".")]), paths=["."]).sessions if s.key == "second"
    )
    with Inventory.open(STATE) as inventory, inventory.writing(now=NOW) as batch:
        batch.forget("second")
    _killed_while(Kind.CREATE_SESSION, "Session/second", {"session": second.to_json()})

    planned = _plan()

    # Both live sessions look alike: one is recorded for `first`, so `second` adopts the
    # other one and nothing is created again.
    assert [found.found for found in planned.recovered] == [True]
    with Inventory.open(STATE) as inventory:
        ids = {record.session_id for record in inventory.sessions()}
    assert len(ids) == 2
    assert planned.plan.actions == ()


def test_a_participant_add_that_happened_is_recorded() -> None:
    write(session("follow-up", title="Follow-up", people=(DOCTOR, NURSE)))
    live = go_live(draft_of("Follow-up", MONDAY, (DOCTOR,)))
    with Inventory.open(STATE, create=True) as inventory:
        doctor = inventory.hash_id(live.participants[0].participant_id.get_secret_value())
        with inventory.writing(now=NOW) as batch:
            batch.put(
                SessionRecord(
                    key="follow-up",
                    session_id=live.session_id,
                    start=live.start_time,
                    end=live.end_time,
                    participants=(ParticipantRecord("dr-marsh", doctor),),
                )
            )
    nurse = {"name": "nurse", "display_name": "Nurse Joy", "role": "guest", "state": "n-1"}
    _add_live(live.session_id, ParticipantDraft(display_name="Nurse Joy", state="n-1"))
    _killed_while(
        Kind.ADD_PARTICIPANT,
        "Session/follow-up/participants/nurse",
        {"session_id": live.session_id, "participant": nurse},
    )

    planned = _plan()

    assert [found.found for found in planned.recovered] == [True]
    assert [item.kind for item in planned.plan.actions if item.kind is Kind.ADD_PARTICIPANT] == []
    with Inventory.open(STATE) as inventory:
        record = inventory.session("follow-up")
        assert record is not None
        assert [p.name for p in record.participants] == ["dr-marsh", "nurse"]


def test_plan_leaves_pending_entries_alone_while_a_running_apply_holds_the_lock() -> None:
    write(session("follow-up", title="Follow-up"))
    _killed_while(Kind.CREATE_SESSION, "Session/follow-up", {"session": _desired().to_json()})
    with Inventory.open(STATE) as inventory:
        # The parent of this test process runs for as long as the test does.
        inventory.lock("reconciler apply", os.getppid(), socket.gethostname(), NOW)

    planned = _plan()

    assert planned.recovered == ()
    assert planned.busy is not None
    assert planned.busy.pid == os.getppid()
    with Inventory.open(STATE) as inventory:
        assert len(inventory.pending()) == 1


def _add_live(session_id: str, draft: ParticipantDraft) -> None:
    async def add() -> None:
        targets = engine.targets_for([Path(".")], flags=Urls(), environ={})
        async with connect(targets) as clients:
            await clients.coviu.add_participant(session_id, draft)

    asyncio.run(add())
