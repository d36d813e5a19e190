"""What a plan costs as a clinic's history grows: refresh and plan `--active` upcoming
sessions while the inventory also records `--history` finished ones.

The claim under test (issue 5): the requests of a plan grow with the pages of active
sessions, not with the number of sessions ever managed. It prints, as medians over
`--runs` with ratios to a baseline measured in the same run:

- `plan_active_only`: refresh + plan with only the active sessions recorded;
- `plan_with_history`: the same, with every finished session recorded too;
- `naive_full_listing`: what a reconciler that refreshes everything would read (every
  session, cancelled ones included) — the baseline the others are compared with.

    .venv/bin/python tests/benchmarks/bench_plan.py [--active 400] [--history 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from reconciler.clients import LiveSession, ManualTimer, SessionFilter, Tuning, connect
from reconciler.emulator import make_app
from reconciler.planning import (
    Desired,
    DesiredParticipant,
    DesiredSession,
    ParticipantRecord,
    SessionRecord,
    make_plan,
)
from reconciler.refresh import observe

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.emulated import CLIENT, NOW, TARGETS, UNLIMITED, Counting, create, draft

LATER = NOW + timedelta(days=30)  # when the plans are made: the history has finished
TUNING = Tuning(rate_limit=UNLIMITED)


def hash_id(participant_id: str) -> str:
    return hashlib.sha256(participant_id.encode()).hexdigest()


def _record(key: str, live: LiveSession) -> tuple[SessionRecord, DesiredSession]:
    names = ("dr", "patient")
    participants = tuple(
        DesiredParticipant(name, found.display_name or "", found.role)
        for name, found in zip(names, live.participants, strict=True)
    )
    desired = DesiredSession(
        key, live.session_name or "", live.start_time, live.end_time, None, participants
    )
    record = SessionRecord(
        key,
        live.session_id,
        live.start_time,
        live.end_time,
        participants=tuple(
            ParticipantRecord(name, hash_id(found.participant_id.get_secret_value()))
            for name, found in zip(names, live.participants, strict=True)
        ),
        applied=desired,
    )
    return record, desired


async def _seed(
    app: Any, active: int, history: int
) -> tuple[list[SessionRecord], list[DesiredSession], list[SessionRecord]]:
    """History sessions first (they finish before LATER), then the active ones."""
    transport = httpx.ASGITransport(app=app)
    starts = [NOW + timedelta(hours=1, minutes=index) for index in range(history)]
    starts += [LATER + timedelta(days=1, minutes=index) for index in range(active)]
    async with connect(TARGETS, transport=transport, tuning=TUNING) as clients:
        lives = await create(clients, [draft(index, at) for index, at in enumerate(starts)])
    made = [_record(f"s-{index}", live) for index, live in enumerate(lives)]
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.bench") as http:
        await http.post("/_emulator/clock", json={"now": LATER.isoformat()})
    histories = [record for record, _ in made[:history]]
    actives = [record for record, _ in made[history:]]
    return actives, [desired for _, desired in made[history:]], histories


def _plan_case(
    records: Sequence[SessionRecord], desired: Sequence[DesiredSession]
) -> Callable[[httpx.AsyncBaseTransport], Awaitable[None]]:
    wanted = Desired(sessions=tuple(desired), declared=frozenset(s.key for s in desired))

    async def run(transport: httpx.AsyncBaseTransport) -> None:
        timer = ManualTimer().timer()
        async with connect(TARGETS, transport=transport, tuning=TUNING, timer=timer) as clients:
            observation = await observe(clients, records, (), now=LATER, hash_id=hash_id)
        plan = make_plan(wanted, records, observation, now=LATER)
        if plan.actions or plan.blocked or plan.unreconcilable:
            raise SystemExit("the benchmark's desired state should match live exactly")

    return run


async def _naive(transport: httpx.AsyncBaseTransport) -> None:
    timer = ManualTimer().timer()
    async with connect(TARGETS, transport=transport, tuning=TUNING, timer=timer) as clients:
        await clients.coviu.list_sessions(
            SessionFilter(include_canceled=True, deleted_participants=True)
        )


async def main(active: int, history: int, runs: int) -> dict[str, Any]:
    app = make_app(db=":memory:", initial_clock=NOW, clients=[CLIENT])
    actives, desired, histories = await _seed(app, active, history)
    cases = {
        "naive_full_listing": _naive,
        "plan_active_only": _plan_case(actives, desired),
        "plan_with_history": _plan_case(
            [*histories, *actives], [*(r.applied for r in histories if r.applied), *desired]
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    requests: dict[str, int] = {}
    for run in cases.values():  # warm up
        await run(httpx.ASGITransport(app=app))
    for _ in range(runs):
        for name, run in cases.items():
            counting = Counting(httpx.ASGITransport(app=app))
            started = time.perf_counter()
            await run(counting)
            timings[name].append(time.perf_counter() - started)
            requests[name] = counting.count
    app.state.emulator.store.close()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "benchmark": "plan",
        "active": active,
        "history": history,
        "runs": runs,
        "median_s": {name: round(value, 4) for name, value in medians.items()},
        "ratio_to_naive": {
            name: round(value / medians["naive_full_listing"], 2) for name, value in medians.items()
        },
        "requests": requests,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=400)
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments.active, arguments.history, arguments.runs))
    for name, seconds in figures["median_s"].items():
        print(
            f"{name:20} {seconds * 1000:8.1f} ms  x{figures['ratio_to_naive'][name]:<5}"
            f" {figures['requests'][name]} requests"
        )
    print(json.dumps(figures))
