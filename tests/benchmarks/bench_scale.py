"""Plan and apply at clinic-network scale, against the irreducible work of the same run.

Every scenario runs the `reconciler` command, as a user would, against the emulator
served by uvicorn in a process of its own (real HTTP on loopback), and reports the
median wall time of `--runs` runs, the API requests the emulator answered, and the
command's peak RSS:

1. `plan` of `--sessions` sessions (3 participants each) that live already matches,
   with the parsed-manifest cache warm (the usual case at a desk) and without it (a CI
   runner's first run);
2. the same with a tenth of the sessions changed (a new name);
3. `apply` of `--creates` new sessions at each `--parallelism`;
4. `plan` of `--active` upcoming sessions, with an inventory that records only them and
   with one that also records `--sessions` finished sessions of history.

Baselines, measured in the same run against the same emulator:

(a) reading the same YAML files and parsing them with the fastest loader installed
    (PyYAML's CSafeLoader where the dev extra is installed);
(b) raw httpx: a token, then GETs of exactly the list pages the plan asked for (read
    from the emulator's access log), one at a time and four at a time; the faster;
(c) raw httpx POSTs of the same creates, with the same bodies, at each concurrency.

The targets are in the issue and the README's Performance section; each is printed with
its figure. Timings are never asserted here or in the suite (the machines are shared and
noisy); `tests/test_benchmarks.py` runs a small size and checks request counts and that
the plans are right.

    .venv/bin/python tests/benchmarks/bench_scale.py [--sessions 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.bench_load import raw_loaders
from tests.benchmarks.served import KEY, Served, secret, served
from tests.benchmarks.synthetic import FIRST_DAY, write_tree

CLOCK = datetime.fromisoformat("2027-01-01T00:00:00+00:00")
"""The emulator's clock while sessions are made and planned: before all of them."""
FAST = "rate_limit:\n  per_second: 100000\n"
"""The emulator allows any rate; the default 10 calls a second would be all one measured."""
FRESH = "fresh"
"""The API client (and team) of scenario 4's inventory without history."""


@dataclass
class Figure:
    """One case's runs: seconds, the API requests of the last run, peak RSS in MB."""

    seconds: list[float] = field(default_factory=list)
    requests: int = 0
    rss_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_json(self) -> dict[str, Any]:
        figure: dict[str, Any] = {"median_s": round(self.median, 3), "requests": self.requests}
        if self.rss_mb:
            figure["peak_rss_mb"] = round(max(self.rss_mb), 1)
        return figure


@dataclass(frozen=True)
class Finished:
    """A command that ran: its exit code, output, wall time and peak RSS."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    rss_mb: float


def reconciler(arguments: Sequence[str], environ: dict[str, str]) -> Finished:
    """Run `reconciler ARGUMENTS` in a process of its own; time it and read its peak RSS."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *arguments],
            stdout=out,
            stderr=err,
            env={**os.environ, **environ},
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(process.returncode, out.read(), err.read(), seconds, usage.ru_maxrss / 1024)


def measured(
    server: Served,
    run: Callable[[], Finished],
    figure: Figure,
    *,
    check: Callable[[Finished], None],
) -> Finished:
    """Run once, checking what it printed; add its time, requests and RSS to `figure`."""
    before = server.count()
    finished = run()
    check(finished)
    server.settle()
    figure.seconds.append(finished.seconds)
    figure.rss_mb.append(finished.rss_mb)
    figure.requests = server.count() - before
    return finished


def expect(code: int, *words: str) -> Callable[[Finished], None]:
    """A check that a command exited `code` and said each of `words`."""

    def check(finished: Finished) -> None:
        said = finished.stdout + finished.stderr
        if finished.code != code or any(word not in said for word in words):
            raise SystemExit(
                f"expected exit {code} saying {words}, got {finished.code}:\n{said[-3000:]}"
            )

    return check


# Baselines


def parse_baseline(root: Path) -> tuple[str, Callable[[], None]]:
    """(a): read every YAML file under `root` and parse it with the fastest loader."""
    files = sorted(path for path in root.rglob("*.yaml") if path.name != "reconciler.yaml")
    loaders = raw_loaders()

    def reading(parse: Callable[[str], Any]) -> Callable[[], None]:
        def run() -> None:
            for path in files:
                parse(path.read_text(encoding="utf-8"))

        return run

    timed = {name: _timed(reading(parse)) for name, parse in loaders.items()}
    fastest = min(timed, key=timed.__getitem__)
    return fastest, reading(loaders[fastest])


async def _token(http: httpx.AsyncClient, client: str) -> dict[str, str]:
    answer = await http.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(client, secret(client))
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def raw_gets(server: Served, paths: Sequence[str], width: int) -> None:
    """(b): a token, then GET `paths` (the first alone), `width` at a time."""
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        headers = await _token(http, KEY)
        limit = asyncio.Semaphore(width)

        async def get(path: str) -> None:
            async with limit:
                answer = await http.get(path, headers=headers)
                answer.raise_for_status()
                answer.json()

        await get(paths[0])
        await asyncio.gather(*(get(path) for path in paths[1:]))


async def raw_posts(server: Served, bodies: Sequence[dict[str, Any]], width: int) -> None:
    """(c): a token, then POST every body to /v1/sessions, `width` at a time."""
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        headers = await _token(http, KEY)
        limit = asyncio.Semaphore(width)

        async def post(body: dict[str, Any]) -> None:
            async with limit:
                answer = await http.post("/v1/sessions", json=body, headers=headers)
                answer.raise_for_status()
                answer.json()

        await asyncio.gather(*(post(body) for body in bodies))


def create_bodies(root: Path) -> list[dict[str, Any]]:
    """The bodies `apply` sends to create the sessions under `root`."""
    from reconciler.applying.calls import draft_of
    from reconciler.manifests import load
    from reconciler.planning import desired_state

    desired = desired_state(load([root]), paths=[str(root)])
    return [draft_of(session).body() for session in desired.sessions]


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def list_paths(server: Served, since: int) -> list[str]:
    """The GETs the emulator answered after its `since`th request, as path?query."""
    return [path for method, path, _ in server.requests()[since:] if method == "GET"]


# Scenarios


def state_environ(server: Served, state: Path, client: str = KEY) -> dict[str, str]:
    """The environment of a command against `server` as `client`, with inventory `state`
    (and a parsed-manifest cache beside it, not the user's)."""
    cache = state.parent / "parse-cache"
    return {
        **server.environ(client),
        "RECONCILER_STATE": str(state),
        "RECONCILER_CACHE_DIR": str(cache),
    }


def seed(server: Served, tree: Path, state: Path, client: str = KEY) -> None:
    """Apply `tree` (untimed): the sessions later plans find live."""
    environ = state_environ(server, state, client)
    applied = reconciler(["apply", "--auto-approve", "--parallelism", "16", str(tree)], environ)
    expect(0, "Apply complete")(applied)


def rename_tenth(tree: Path) -> int:
    """Give every tenth session under `tree` a new name; how many were changed."""
    changed = 0
    for path in sorted(tree.rglob("batch-*.yaml")):
        lines = path.read_text().splitlines(keepends=True)
        for number, line in enumerate(lines):
            if line.startswith("  session_name: ") and int(line.split()[-1]) % 10 == 0:
                lines[number] = line.rstrip("\n") + " (rescheduled)\n"
                changed += 1
        path.write_text("".join(lines))
    return changed


def scale_plans(root: Path, sessions: int, active: int, runs: int) -> dict[str, Any]:
    """Scenarios 1, 2 and 4 with baselines (a) and (b), on one served emulator."""
    tree, state = root / "network", root / "network.state.db"
    write_tree(tree, sessions, config=FAST)
    changed_tree = root / "changed"
    shutil.copytree(tree, changed_tree)
    renamed = rename_tenth(changed_tree)
    names = ("s1", "s1_cold", "s2", "a", "b_sequential", "b_parallel4")
    figures = {name: Figure() for name in names}
    with served(root / "network.db", clock=CLOCK, clients=(KEY, FRESH)) as server:
        seed(server, tree, state)
        environ = state_environ(server, state)
        no_changes = expect(0, "No changes")
        since = server.count()
        measured(
            server, partial(reconciler, ["plan", str(tree)], environ), Figure(), check=no_changes
        )
        pages = list_paths(server, since)  # the plan's own GETs, from a warm-up run
        loader, parse = parse_baseline(tree)
        plan_changed = ["plan", "--detailed-exitcode", str(changed_tree)]
        for _ in range(runs):
            plan = ["plan", str(tree)]
            measured(server, partial(reconciler, plan, environ), figures["s1"], check=no_changes)
            cold = {**environ, "RECONCILER_CACHE_DIR": "off"}
            measured(server, partial(reconciler, plan, cold), figures["s1_cold"], check=no_changes)
            measured(
                server,
                partial(reconciler, plan_changed, environ),
                figures["s2"],
                check=expect(2, f"Plan: {renamed} to update"),
            )
            figures["a"].seconds.append(_timed(parse))
            for width, name in ((1, "b_sequential"), (4, "b_parallel4")):
                before = server.count()
                figures[name].seconds.append(
                    _timed(partial(asyncio.run, raw_gets(server, pages, width)))
                )
                server.settle()
                figures[name].requests = server.count() - before
        history = history_plans(root, server, state, sessions, active, runs)
    return {"loader": loader, "renamed": renamed, "figures": figures, **history}


def history_plans(
    root: Path, server: Served, history_state: Path, sessions: int, active: int, runs: int
) -> dict[str, Any]:
    """Scenario 4: once every seeded session has finished, plan `active` new ones with an
    inventory of just them (another team's) and with one that also records the history."""
    days = sessions // 200 + 2
    later = FIRST_DAY + timedelta(days=days)
    server.control("clock", {"now": later.isoformat()})
    tree, alone_state = root / "active", root / "active.state.db"
    write_tree(
        tree, active, first_day=later + timedelta(days=1), numbered=10 * sessions, config=FAST
    )
    seed(server, tree, history_state)
    seed(server, tree, alone_state, client=FRESH)
    figures = {"s4_alone": Figure(), "s4_history": Figure()}
    for _ in range(runs):
        for name, state, client in (
            ("s4_alone", alone_state, FRESH),
            ("s4_history", history_state, KEY),
        ):
            environ = state_environ(server, state, client)
            measured(
                server,
                partial(reconciler, ["plan", str(tree)], environ),
                figures[name],
                check=expect(0, "No changes"),
            )
    return {"history_figures": figures}


Applies = dict[tuple[int, int], dict[str, Figure]]
"""Scenario 3's figures by (latency in ms, parallelism): the apply command, the part
of it carrying out the actions (as it reports), and raw POSTs."""


def scale_applies(
    root: Path, creates: int, parallelisms: Sequence[int], latencies: Sequence[int], runs: int
) -> Applies:
    """Scenario 3 with baseline (c): `creates` new sessions at each parallelism, with each
    added latency, the emulator emptied before every run."""
    tree = root / "creates"
    write_tree(tree, creates, config=FAST)
    bodies = create_bodies(tree)
    figures: Applies = {}
    with served(root / "creates.db", clock=CLOCK) as server:
        for latency in latencies:
            for width in parallelisms:
                case = figures[latency, width] = {name: Figure() for name in ("s3", "act", "c")}
                for run in range(runs):
                    _empty(server, latency)
                    state = root / f"creates-{latency}-{width}-{run}.state.db"
                    apply = ["apply", "--auto-approve", "--parallelism", str(width), str(tree)]
                    environ = state_environ(server, state)
                    finished = measured(
                        server,
                        partial(reconciler, apply, environ),
                        case["s3"],
                        check=expect(0, f"Apply complete: {creates} actions"),
                    )
                    case["act"].seconds.append(carried_out(finished.stdout))
                    _empty(server, latency)
                    before = server.count()
                    posting = partial(asyncio.run, raw_posts(server, bodies, width))
                    case["c"].seconds.append(_timed(posting))
                    server.settle()
                    case["c"].requests = server.count() - before
    return figures


def _empty(server: Served, latency: int) -> None:
    """Empty the emulator, and have it answer each request `latency` ms late."""
    server.control("reset")
    if latency:
        server.control("faults", {"latency_ms": latency})


def carried_out(stdout: str) -> float:
    """The seconds apply says carrying out its actions took."""
    for line in stdout.splitlines():
        if line.startswith("Carried out in "):
            return float(line.split()[3])
    raise SystemExit("apply did not say how long its actions took:\n" + stdout[-2000:])


def startup(runs: int) -> float:
    """The median wall time of `reconciler --version`: what any command pays to start."""
    return statistics.median(reconciler(["--version"], {}).seconds for _ in range(runs))


# Report


Row = tuple[str, Figure]
Target = tuple[str, object, bool]


def plan_rows(
    arguments: argparse.Namespace, plans: dict[str, Any]
) -> tuple[list[Row], list[Target]]:
    """The rows and targets of scenarios 1, 2 and 4."""
    figures: dict[str, Figure] = plans["figures"]
    history: dict[str, Figure] = plans["history_figures"]
    s1, s2, a = figures["s1"], figures["s2"], figures["a"]
    b = min(figures["b_sequential"], figures["b_parallel4"], key=lambda figure: figure.median)
    baseline = a.median + b.median
    alone, with_history = history["s4_alone"], history["s4_history"]
    rows = [
        (f"S1 plan, {arguments.sessions:,} sessions, no change", s1),
        ("S1 the same, no parsed-manifest cache", figures["s1_cold"]),
        (f"S2 plan, {plans['renamed']:,} of them renamed", s2),
        (f"(a) raw parse, {plans['loader']}", a),
        ("(b) raw GETs of the plan's pages, one at a time", figures["b_sequential"]),
        ("(b) the same, four at a time", figures["b_parallel4"]),
        (f"S4 plan, {arguments.active} active, inventory of them alone", alone),
        (f"S4 the same, inventory with {arguments.sessions:,} finished", with_history),
    ]
    targets = [
        ("S1 requests <= 60", s1.requests, s1.requests <= 60),
        ("S1 time / ((a)+(b)) <= 1.5", round(s1.median / baseline, 2), s1.median <= 1.5 * baseline),
        (
            "S1 without the cache / ((a)+(b)) <= 1.5",
            round(figures["s1_cold"].median / baseline, 2),
            figures["s1_cold"].median <= 1.5 * baseline,
        ),
        ("S1 peak RSS < 500 MB", round(max(s1.rss_mb)), max(s1.rss_mb) < 500),
        ("S2 time / S1 time <= 1.2", round(s2.median / s1.median, 2), s2.median <= 1.2 * s1.median),
        (
            "S4 time with history / alone <= 1.2",
            round(with_history.median / alone.median, 2),
            with_history.median <= 1.2 * alone.median,
        ),
        (
            "S4 requests with history == alone",
            f"{with_history.requests} / {alone.requests}",
            with_history.requests == alone.requests,
        ),
    ]
    return rows, targets


def apply_rows(arguments: argparse.Namespace, applies: Applies) -> tuple[list[Row], list[Target]]:
    """The rows and targets of scenario 3."""
    rows: list[Row] = []
    targets: list[Target] = []
    for (latency, width), case in applies.items():
        late = f", +{latency} ms" if latency else ""
        head = f"S3 apply, {arguments.creates:,} creates, --parallelism {width}{late}"
        rows.append((head, case["s3"]))
        rows.append(("   of which carrying out the actions", case["act"]))
        rows.append((f"(c) raw POSTs of them, {width} at a time{late}", case["c"]))
        share = case["c"].median / case["act"].median
        whole = case["c"].median / case["s3"].median
        name = f"S3 p{width}{late}: throughput / (c) >= 0.8"
        targets.append((name, f"{share:.2f} ({whole:.2f} whole)", share >= 0.8))
    for latency in sorted({latency for latency, _ in applies}):
        if (latency, 1) in applies and (latency, 8) in applies:
            one, eight = applies[latency, 1]["act"], applies[latency, 8]["act"]
            speedup = one.median / eight.median
            late = f", +{latency} ms" if latency else ""
            targets.append((f"S3 p8 / p1 speed-up >= 4{late}", round(speedup, 2), speedup >= 4))
    return rows, targets


def report(
    arguments: argparse.Namespace,
    plans: dict[str, Any] | None,
    applies: Applies | None,
    started: float,
) -> dict[str, Any]:
    """Print the table and the targets; return the figures for the JSON line."""
    rows: list[Row] = []
    targets: list[Target] = []
    cases: dict[str, Any] = {}
    if plans is not None:
        rows, targets = plan_rows(arguments, plans)
        every = {**plans["figures"], **plans["history_figures"]}
        cases = {name: figure.as_json() for name, figure in every.items()}
    if applies is not None:
        more_rows, more_targets = apply_rows(arguments, applies)
        rows, targets = rows + more_rows, targets + more_targets
        for (latency, width), case in applies.items():
            named = {f"{name}_p{width}_{latency}ms": figure for name, figure in case.items()}
            cases |= {name: figure.as_json() for name, figure in named.items()}
    print(f"medians of {arguments.runs} runs; reconciler --version takes {started:.2f} s")
    print(f"{'case':58} {'median':>9} {'requests':>9} {'peak RSS':>9}")
    for name, figure in rows:
        rss = f"{max(figure.rss_mb):6.0f} MB" if figure.rss_mb else ""
        print(f"{name:58} {figure.median:8.2f}s {figure.requests or '':>9} {rss:>9}")
    print("targets:")
    for name, value, met in targets:
        print(f"  {name:42} {value!s:>12}  {'met' if met else 'MISSED'}")
    return {
        "benchmark": "scale",
        "sessions": arguments.sessions,
        "creates": arguments.creates,
        "active": arguments.active,
        "runs": arguments.runs,
        "startup_s": round(started, 3),
        "loader": plans["loader"] if plans else None,
        "cases": cases,
        "targets": {name: {"value": value, "met": met} for name, value, met in targets},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--creates", type=int, default=1_000)
    parser.add_argument("--active", type=int, default=100)
    parser.add_argument("--parallelism", default="1,4,8,16", help="comma-separated")
    parser.add_argument(
        "--latency-ms",
        default="0,25",
        help="comma-separated: run scenario 3 with the emulator answering this much later",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--skip", choices=("plans", "applies"), help="leave out scenarios 1, 2 and 4, or 3"
    )
    arguments = parser.parse_args()
    parallelisms = [int(width) for width in arguments.parallelism.split(",")]
    latencies = [int(latency) for latency in arguments.latency_ms.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        root = Path(folder)
        started = startup(arguments.runs)
        plans = (
            scale_plans(root, arguments.sessions, arguments.active, arguments.runs)
            if arguments.skip != "plans"
            else None
        )
        applies = (
            scale_applies(root, arguments.creates, parallelisms, latencies, arguments.runs)
            if arguments.skip != "applies"
            else None
        )
    print(json.dumps(report(arguments, plans, applies, started)))


if __name__ == "__main__":
    main()
