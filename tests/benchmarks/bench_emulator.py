"""How fast the emulator lists sessions, in-process and over loopback TCP.

Planning reads every page of active sessions, so listing speed bounds how fast a plan
can be against the emulator. Prints medians over several runs and, because shared
machines are noisy, the ratio of each figure to a baseline measured in the same run
(one authenticated GET of an empty list).

    .venv/bin/python tests/benchmarks/bench_emulator.py [--sessions 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx

from reconciler.emulator import make_app
from reconciler.emulator.server import serve_in_background

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.emulated import CLIENT, NOW


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    grant = await http.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT.key, CLIENT.secret),
    )
    return {"Authorization": f"Bearer {grant.json()['access_token']}"}


async def _seed(http: httpx.AsyncClient, headers: dict[str, str], count: int) -> None:
    for index in range(count):
        start = NOW + timedelta(hours=1, minutes=index)
        body = {
            "session_name": f"Session {index}",
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(minutes=30)).isoformat(),
            "participants": [{"role": "host"}, {"role": "guest"}, {"role": "guest"}],
        }
        response = await http.post("/v1/sessions", json=body, headers=headers)
        response.raise_for_status()


async def _list_all(http: httpx.AsyncClient, headers: dict[str, str]) -> int:
    page, seen = 0, 0
    while True:
        body = (await http.get("/v1/sessions", params={"page": page}, headers=headers)).json()
        seen += len(body["content"])
        if not body["more"]:
            return seen
        page += 1


async def _median(runs: int, work: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def _measure(http: httpx.AsyncClient, sessions: int, runs: int) -> tuple[float, float, float]:
    headers = await _login(http)
    baseline = await _median(runs * 4, lambda: http.get("/v1/sessions", headers=headers))
    seed_started = time.perf_counter()
    await _seed(http, headers, sessions)
    per_create = (time.perf_counter() - seed_started) / sessions
    list_all = await _median(runs, lambda: _list_all(http, headers))
    assert await _list_all(http, headers) == sessions
    return baseline, per_create, list_all


def _report(label: str, sessions: int, figures: tuple[float, float, float]) -> None:
    baseline, per_create, list_all = figures
    rows = [
        ("baseline: GET of an empty list", baseline),
        ("create one session (3 participants)", per_create),
        (f"list all {sessions} sessions (every page)", list_all),
    ]
    print(f"{label}:")
    for name, seconds in rows:
        print(f"  {name:<42} {seconds * 1000:9.2f} ms  {seconds / baseline:7.1f}x baseline")


async def _in_process(sessions: int, runs: int) -> None:
    app = make_app(db=":memory:", initial_clock=NOW, clients=[CLIENT])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        _report("in-process (ASGI transport)", sessions, await _measure(http, sessions, runs))


async def _served(sessions: int, runs: int) -> None:
    app = make_app(db=":memory:", initial_clock=NOW, clients=[CLIENT])
    with serve_in_background(app) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
            _report("served (loopback TCP)", sessions, await _measure(http, sessions, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_in_process(args.sessions, args.runs))
    asyncio.run(_served(args.sessions, args.runs))


if __name__ == "__main__":
    main()
