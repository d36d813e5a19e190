"""The planner against the emulator: two independent readings of DESIGN.md §5.

For random sessions made in the emulator at T0, random drift made by hand since, random
manifests that differ from both, and the emulator's clock moved to a random moment
(often a second either side of a start or an end), the plan is checked call by call:

- every blocked or unreconcilable item, attempted anyway, is refused by the API (and the
  refusal changes nothing: planning again gives the same plan);
- every action, at the moment its `expires_at` says it stops being legal, is refused;
- every action, executed in plan order at the plan's time, is accepted;
- afterwards the planner proposes nothing more (convergence), and live, read back from
  the API and compared by this test's own normalization, is what the manifests say,
  but for what the plan's blocked and unreconcilable items name.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from pydantic import SecretStr

from reconciler.applying.calls import draft_of
from reconciler.clients import (
    Clients,
    LiveSession,
    ManualTimer,
    ParticipantDraft,
    RateLimit,
    RequestRejectedError,
    RetryPolicy,
    SessionCanceledError,
    SessionChanges,
    Tuning,
    connect,
)
from reconciler.emulator import make_app
from reconciler.planning import (
    Desired,
    DesiredParticipant,
    DesiredSession,
    Item,
    ParticipantRecord,
    Plan,
    SessionRecord,
    make_plan,
    plan_document,
)
from reconciler.refresh import observe
from tests.conftest import CLINIC_A, T0, TARGETS
from tests.emulator.api import Auvious, EmulatorControls
from tests.planning.executor import Executor, Ledger
from tests.planning.scenarios import (
    ADA,
    GHOST,
    PAT,
    Existing,
    Scenario,
    SnapshotCase,
    at,
    old,
    scenarios,
    shape,
    stale_end,
)
from tests.planning.strategies import SECOND, hash_id

DIFFERENTIAL = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- the emulator, arranged at T0 -----------------------------------------------------------


@asynccontextmanager
async def emulator() -> AsyncIterator[tuple[Clients, httpx.AsyncClient]]:
    """A fresh emulator at T0 and clients of clinic A on it; its tokens outlive the test."""
    app = make_app(db=":memory:", initial_clock=T0, clients=[CLINIC_A], token_ttl_seconds=9**9)
    tuning = Tuning(
        policy=RetryPolicy(rng=random.Random(7)),
        rate_limit=RateLimit(per_second=50, burst=20, in_flight=8),
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http,
            connect(TARGETS, tuning=tuning, timer=ManualTimer().timer(), transport=transport) as c,
        ):
            yield c, http
    finally:
        app.state.emulator.store.close()


async def arrange(
    clients: Clients, http: httpx.AsyncClient, scenario: Scenario, desired: Desired
) -> tuple[Ledger, Desired]:
    """Make the live state at T0; the ledger records it, and the approvals name the real
    snapshot ids."""
    ledger = Ledger()
    for case in scenario.existing:
        applied = case.created.desired(case.key, source=f"clinic/{case.key}.yaml")
        created = await clients.coviu.create_session(draft_of(applied))
        ledger.records[case.key] = SessionRecord(
            key=case.key,
            session_id=created.session_id,
            start=created.start_time,
            end=created.end_time,
            participants=ledger.remember(created, (who for who, _ in case.created.people)),
            applied=applied,
        )
        await drift(clients, case, ledger.records[case.key], ledger)
    if scenario.ghost is not None:
        gone = scenario.ghost.desired(GHOST, source=f"clinic/{GHOST}.yaml")
        participants = (ParticipantRecord("p-0", hash_id("a participant id long gone")),)
        ledger.records[GHOST] = SessionRecord(
            GHOST, str(uuid.UUID(int=0)), gone.start, gone.end, False, participants, gone
        )
    approvals = []
    auvious = await Auvious.login(http, CLINIC_A)
    for approval, snapshot_case in zip(desired.approvals, scenario.snapshots, strict=True):
        snapshot_id = await snapshot(clients, auvious, snapshot_case)
        approvals.append(
            approval if snapshot_id is None else replace(approval, snapshot_id=snapshot_id)
        )
    return ledger, replace(desired, approvals=tuple(approvals))


async def drift(clients: Clients, case: Existing, record: SessionRecord, ledger: Ledger) -> None:
    """What someone did by hand at T0, behind the reconciler's back."""
    coviu = clients.coviu
    if case.renamed:
        await coviu.update_session(record.session_id, SessionChanges(session_name="By hand"))
    moves = {
        name: T0 + moved * SECOND
        for name, moved in (("start_time", case.moved_start), ("end_time", case.moved_end))
        if moved is not None
    }
    if moves:
        await coviu.update_session(record.session_id, SessionChanges.model_validate(moves))
    if case.walk_in:
        await coviu.add_participant(record.session_id, ParticipantDraft(display_name="Walk-in"))
    for entry in record.participants:
        if entry.name in case.removed:
            participant_id = ledger.participant_ids[entry.id_hash]
            await coviu.cancel_participant(SecretStr(participant_id))
    if case.canceled:
        await coviu.cancel_session(record.session_id)


async def snapshot(clients: Clients, auvious: Auvious, case: SnapshotCase) -> str | None:
    if case.initial == "missing":
        return None
    fields = {"snapshotType": case.initial_type} if case.initial_type else {}
    if case.initial is None:
        body = {"interactionId": "conv-1", "userEndpointId": "ep-patient", **fields}
        response = await auvious.call("POST", "/request", json=body)
        assert response.status_code == 200, response.text
        snapshot_id: str = response.json()["snapshotId"]
        return snapshot_id
    snapshot_id = await auvious.upload("conv-1", **fields)
    if case.initial == "APPROVED":
        await clients.auvious.approve_snapshot(snapshot_id, user_endpoint_id="ep-reviewer")
    elif case.initial == "DISCARDED":
        await clients.auvious.discard_snapshot(snapshot_id, user_endpoint_id="ep-reviewer")
    return snapshot_id


# --- the check ------------------------------------------------------------------------------


async def plan_at(clients: Clients, desired: Desired, ledger: Ledger, now: datetime) -> Plan:
    records = list(ledger.records.values())
    observation = await observe(
        clients, records, desired.approvals, now=now, hash_id=hash_id, desired=desired.sessions
    )
    return make_plan(desired, records, observation, now=now)


async def refused(executor: Executor, item: Item) -> str | None:
    """None if the API refuses `item`'s call; else what went wrong."""
    try:
        await executor.run(item)
    except RequestRejectedError:
        return None
    return f"{item.status.value} {item.kind.value} {item.target} was accepted: {item.reason}"


async def check(scenario: Scenario, seen: list[Item] | None = None) -> list[str]:
    """Every disagreement between the planner and the emulator in `scenario` (the items
    of its plan are added to `seen`)."""
    async with emulator() as (clients, http):
        ledger, desired = await arrange(clients, http, scenario, scenario.desired())
        controls = EmulatorControls(http)
        now = T0 + scenario.clock * SECOND
        await controls.set(now)
        plan = await plan_at(clients, desired, ledger, now)
        if seen is not None:
            seen += (*plan.actions, *plan.blocked, *plan.unreconcilable)
        executor = Executor(clients, desired, ledger)

        # Refused calls change nothing, so every refusal is checked on the same state.
        problems = [
            problem
            for item in (*plan.blocked, *plan.unreconcilable)
            if (problem := await refused(executor, item))
        ]
        problems += await deadlines(executor, controls, plan, now)
        if problems:
            return problems
        if plan_document(await plan_at(clients, desired, ledger, now)) != plan_document(plan):
            return ["refused calls changed what the planner sees"]

        for item in plan.actions:
            try:
                await executor.run(item)
            except RequestRejectedError as error:
                problems.append(f"action {item.kind.value} {item.target} was refused: {error}")
        if problems:
            return problems
        after = await plan_at(clients, desired, ledger, now)
        problems += [f"still to do after applying: {item.target}" for item in after.actions]
        known = {item.target for item in (*plan.blocked, *plan.unreconcilable)}
        problems += [
            f"new problem after applying: {item.target}: {item.reason}"
            for item in (*after.blocked, *after.unreconcilable)
            if item.target not in known
        ]
        return problems + await differences(clients, desired, ledger, plan, now)


async def deadlines(
    executor: Executor, controls: EmulatorControls, plan: Plan, now: datetime
) -> list[str]:
    """Each action is legal now and refused at its `expires_at`."""
    problems = []
    for item in plan.actions:
        if item.expires_at is None:
            continue
        if item.expires_at <= now:
            problems.append(f"action {item.target} expired at {item.expires_at}, before now")
            continue
        await controls.set(item.expires_at)
        if problem := await refused(executor, item):
            problems.append(f"{problem}, at its expires_at {item.expires_at}")
    await controls.set(now)
    return problems


# --- convergence, judged without the planner ------------------------------------------------


async def differences(
    clients: Clients, desired: Desired, ledger: Ledger, plan: Plan, now: datetime
) -> list[str]:
    """Where live still differs from the manifests after applying, read from the API and
    compared by this test's own normalization; what a blocked or unreconcilable item of
    `plan` names is left out (a field of it, or all of it when the item names none)."""
    explained: dict[str, set[str]] = {}
    for item in (*plan.blocked, *plan.unreconcilable):
        explained.setdefault(item.target, set()).update(
            {change.field for change in item.changes} or {"*"}
        )
    problems = []
    for wanted in desired.sessions:
        record = ledger.records.get(wanted.key)
        target = f"Session/{wanted.key}"
        if record is None or record.is_history(now) or "*" in explained.get(target, ()):
            continue
        try:
            live = await clients.coviu.get_session(record.session_id, deleted_participants=True)
        except SessionCanceledError:
            problems.append(f"{target}: cancelled, and the plan did not say so")
            continue
        problems += session_differences(target, wanted, live, explained.get(target, set()))
        problems += participant_differences(target, wanted, record, live, ledger, explained)
    for key, record in ledger.records.items():
        target = f"Session/{key}"
        if key in desired.declared or record.end <= now or target in explained:
            continue
        try:
            live = await clients.coviu.get_session(record.session_id)
        except SessionCanceledError:
            continue
        if live.end_time > now:
            problems.append(f"{target}: its manifest is gone, and it is still on")
    for approval in desired.approvals:
        target = f"SnapshotApproval/{approval.key}"
        if target in explained:
            continue
        found = [
            snapshot
            for snapshot in await clients.auvious.list_snapshots(approval.interaction_id)
            if snapshot.id == approval.snapshot_id
        ]
        wanted_type = approval.snapshot_type if approval.decision == "approved" else None
        if not found or found[0].state != approval.decision.upper():
            problems.append(f"{target}: the snapshot is not {approval.decision}")
        elif wanted_type is not None and found[0].type != wanted_type:
            problems.append(f"{target}: the snapshot's type is {found[0].type}")
    return problems


def session_differences(
    target: str, wanted: DesiredSession, live: LiveSession, explained: set[str]
) -> list[str]:
    have: dict[str, Any] = {
        "session_name": live.session_name,
        "start_time": live.start_time,
        "end_time": live.end_time,
        "picture": live.picture or None,
    }
    return [
        f"{target}: live {name} is {have[name]!r}, the manifest says {value!r}"
        for name, value in wanted.fields().items()
        if name not in explained and have[name] != value
    ]


def participant_differences(
    target: str,
    wanted: DesiredSession,
    record: SessionRecord,
    live: LiveSession,
    ledger: Ledger,
    explained: dict[str, set[str]],
) -> list[str]:
    by_id = {found.participant_id.get_secret_value(): found for found in live.participants}
    problems = []
    for person in wanted.participants:
        where = f"{target}/participants/{person.name}"
        id_hash = record.participant_hash(person.name)
        found = by_id.get(ledger.participant_ids.get(id_hash or "", ""))
        if where in explained:
            continue
        if found is None or found.removed:
            problems.append(f"{where}: not in the live session")
            continue
        have = {
            "display_name": found.display_name,
            "role": found.role,
            "picture": found.picture or None,
            "state": found.state or None,
        }
        problems += [
            f"{where}: live {name} is {have[name]!r}, the manifest says {value!r}"
            for name, value in person.fields().items()
            if have[name] != value
        ]
    names = {person.name for person in wanted.participants}
    for entry in record.participants:
        where = f"{target}/participants/{entry.name}"
        found = by_id.get(ledger.participant_ids.get(entry.id_hash, ""))
        if entry.name not in names and where not in explained and found and not found.removed:
            problems.append(f"{where}: removed from the manifest, still in the live session")
    return problems


# --- the tests ------------------------------------------------------------------------------


BOUNDARIES = [
    # Ended early by hand: exactly at the live end, renaming is refused.
    pytest.param(
        at(1200, old(shape(600), shape(600, name="Renamed"), moved_end=1200)),
        id="rename-at-a-hand-moved-end",
    ),
    # The manifest is deleted: cancelled a second before the start, not at it.
    pytest.param(at(599, old(shape(600), None)), id="cancel-1s-before-start"),
    pytest.param(at(600, old(shape(600), None)), id="cancel-at-start"),
    # The start moves to now (refused) or a second later (accepted); the end follows.
    pytest.param(at(300, old(shape(600), shape(300))), id="move-start-to-now"),
    pytest.param(at(300, old(shape(600), shape(301))), id="move-start-to-1s-after-now"),
    # In progress, the end moves to now (refused) or a second later (accepted).
    pytest.param(at(1200, old(shape(600), shape(600, 600))), id="move-end-to-now"),
    pytest.param(at(1199, old(shape(600), shape(600, 600))), id="move-end-to-1s-after-now"),
    # A new session starting now (refused) and a second from now (accepted).
    pytest.param(
        at(600, new=(("new-0", shape(600)), ("new-1", shape(601)))), id="create-at-and-after-now"
    ),
    # A participant removed by hand and wanted back; a session cancelled by hand.
    pytest.param(
        at(0, old(shape(600), shape(600), removed=frozenset({"p-0"}))),
        id="participant-removed-by-hand",
    ),
    pytest.param(
        at(0, old(shape(600), shape(600, name="Renamed"), canceled=True)),
        id="session-cancelled-by-hand",
    ),
    # In progress: participants change until the last second, not at the end.
    pytest.param(
        at(2399, old(shape(600), shape(600, people=(ADA, ("p-2", PAT[1]))))),
        id="participants-1s-before-end",
    ),
    pytest.param(
        at(2400, old(shape(600), shape(600, people=(ADA, ("p-2", PAT[1]))))),
        id="participants-at-end",
    ),
]


@DIFFERENTIAL
@given(scenarios())
def test_planner_and_emulator_agree_on_every_item(scenario: Scenario) -> None:
    assume(not stale_end(scenario))
    seen: list[Item] = []
    assert asyncio.run(check(scenario, seen)) == []
    for item in seen:
        event(f"{item.status.value} {item.kind.value}")


@pytest.mark.parametrize("scenario", BOUNDARIES)
def test_planner_and_emulator_agree_at_the_boundaries(scenario: Scenario) -> None:
    assert asyncio.run(check(scenario)) == []


def test_session_extended_by_hand_is_still_editable() -> None:
    # Made 08:10-08:40 with Pat; someone moved its end to 09:10 in the Coviu console, and
    # the manifest now says so too and renames Pat. At 08:50 the session is in progress.
    wanted = shape(600, 3600, people=(("p-0", DesiredParticipant("p-0", "Pat Lee-Smith")),))
    scenario = at(3000, old(shape(600, people=(PAT,)), wanted, moved_end=4200))
    assert asyncio.run(check(scenario)) == []
