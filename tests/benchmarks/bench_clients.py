"""What the API clients cost: listing every session through `CoviuClient` against a raw
httpx page walk of the same emulator, and what 503s, 429s and latency do to it.

Prints medians over several runs, each figure's ratio to the raw walk measured in the
same run (shared machines are noisy), and the request counts: with a fixed fault seed
they are exact and repeatable. Waits for backoff and `Retry-After` run on a manual
timer (they would otherwise be seconds of sleeping that measure nothing), so the
timings are the clients' own work plus the emulator's.

    .venv/bin/python tests/benchmarks/bench_clients.py [--sessions 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from reconciler.clients import ManualTimer, Tuning, connect
from reconciler.emulator import make_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.emulated import CLIENT, NOW, TARGETS, UNLIMITED, Counting, create, draft

FAULTS = {"error_rate": 0.2, "status": 503, "rate_limit_rate": 0.1, "seed": 1}


async def _seed(transport: httpx.AsyncBaseTransport, count: int) -> None:
    async with connect(
        TARGETS, transport=transport, tuning=Tuning(rate_limit=UNLIMITED)
    ) as clients:
        await create(
            clients,
            [draft(index, NOW + timedelta(hours=1, minutes=index)) for index in range(count)],
        )


async def _raw_walk(transport: httpx.AsyncBaseTransport) -> int:
    async with httpx.AsyncClient(transport=transport, base_url=TARGETS.coviu_url) as http:
        grant = await http.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT.key, CLIENT.secret),
        )
        headers = {"Authorization": f"Bearer {grant.json()['access_token']}"}
        page, seen = 0, 0
        while True:
            body = (await http.get("/sessions", params={"page": page}, headers=headers)).json()
            seen += len(body["content"])
            if not body["more"]:
                return seen
            page += 1


def _client_walk(parallelism: int) -> Callable[[httpx.AsyncBaseTransport], Awaitable[int]]:
    async def walk(transport: httpx.AsyncBaseTransport) -> int:
        tuning = Tuning(rate_limit=UNLIMITED, page_parallelism=parallelism)
        timer = ManualTimer().timer()
        async with connect(TARGETS, transport=transport, tuning=tuning, timer=timer) as clients:
            return len(await clients.coviu.list_sessions())

    return walk


async def _faults(http: httpx.AsyncClient, settings: dict[str, Any]) -> None:
    (await http.post("/_emulator/faults", json=settings)).raise_for_status()


async def _measure(
    app: Any, walk: Callable[[httpx.AsyncBaseTransport], Awaitable[int]], faults: dict[str, Any]
) -> tuple[float, int, int]:
    inner = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=inner, base_url="http://emulator.bench") as control:
        await _faults(control, faults)
        counting = Counting(inner)
        started = time.perf_counter()
        seen = await walk(counting)
        elapsed = time.perf_counter() - started
        await _faults(control, {})
    return elapsed, counting.count, seen


async def main(sessions: int, runs: int) -> dict[str, Any]:
    app = make_app(db=":memory:", initial_clock=NOW, clients=[CLIENT])
    await _seed(httpx.ASGITransport(app=app), sessions)
    latency = {"latency_ms": 20, "seed": 1}
    cases: dict[
        str, tuple[Callable[[httpx.AsyncBaseTransport], Awaitable[int]], dict[str, Any]]
    ] = {
        "raw_walk": (_raw_walk, {}),
        "client_sequential": (_client_walk(1), {}),
        "client_parallel4": (_client_walk(4), {}),
        "client_faults_sequential": (_client_walk(1), FAULTS),
        "client_faults_parallel4": (_client_walk(4), FAULTS),
        "raw_walk_20ms": (_raw_walk, latency),
        "client_sequential_20ms": (_client_walk(1), latency),
        "client_parallel4_20ms": (_client_walk(4), latency),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    requests: dict[str, int] = {}
    for walk, faults in cases.values():  # warm up: imports, pydantic's first validations
        await _measure(app, walk, faults)
    for _ in range(runs):
        for name, (walk, faults) in cases.items():
            elapsed, count, seen = await _measure(app, walk, faults)
            if seen != sessions:
                raise SystemExit(f"{name}: listed {seen} sessions, not {sessions}")
            timings[name].append(elapsed)
            requests[name] = count
    app.state.emulator.store.close()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "benchmark": "clients",
        "sessions": sessions,
        "runs": runs,
        "median_s": {name: round(value, 4) for name, value in medians.items()},
        "ratio_to_raw": {
            name: round(value / medians["raw_walk_20ms" if "20ms" in name else "raw_walk"], 2)
            for name, value in medians.items()
        },
        "requests": requests,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments.sessions, arguments.runs))
    for name, seconds in figures["median_s"].items():
        print(
            f"{name:26} {seconds * 1000:8.1f} ms  x{figures['ratio_to_raw'][name]:<5}"
            f" {figures['requests'][name]} requests"
        )
    print(json.dumps(figures))
