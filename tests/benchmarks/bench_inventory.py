"""What the inventory costs on each backend: the writes an apply makes, the read a plan
makes, and taking the lock, on PostgreSQL against the SQLite file as the baseline.

An apply makes two transactions per action: the journal intent before the API call,
then the outcome with the record it changed. A plan reads the serial and every record
in one transaction. Prints medians over several runs and each PostgreSQL figure's ratio
to SQLite's measured in the same run (shared machines are noisy), and one JSON line.

    export RECONCILER_TEST_POSTGRES="$(bash .ci/postgres)"
    .venv/bin/python tests/benchmarks/bench_inventory.py [--sessions 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.inventory import Inventory, Location, State, parse_location
from reconciler.planning.state import ParticipantRecord, SessionRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.postgres import URL_VARIABLE, postgres_url

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _record(inventory: Inventory, index: int) -> SessionRecord:
    start = NOW + timedelta(days=1, minutes=30 * index)
    return SessionRecord(
        key=f"session-{index:05d}",
        session_id=f"live-{index:05d}",
        start=start,
        end=start + timedelta(minutes=30),
        participants=tuple(
            ParticipantRecord(name=name, id_hash=inventory.hash_id(f"{name}-{index}"))
            for name in ("clinician", "patient", "carer")
        ),
    )


def _apply_writes(location: Location, sessions: int) -> float:
    """Seconds for an apply's inventory writes: intent, then outcome and record."""
    with Inventory.open(location, create=True) as inventory:
        started = time.perf_counter()
        for index in range(sessions):
            with inventory.writing(now=NOW) as batch:
                entry = batch.intend(
                    run="bench", target="coviu", kind="create_session", intent={"i": index}
                )
            with inventory.writing(now=NOW) as batch:
                batch.put(_record(inventory, index))
                batch.settle(entry, State.APPLIED, {"session_id": f"live-{index:05d}"})
        return time.perf_counter() - started


def _plan_read(location: Location, sessions: int) -> float:
    """Seconds for a plan's read: the serial and every record, in one transaction."""
    with Inventory.open(location) as inventory:
        started = time.perf_counter()
        serial, records = inventory.snapshot()
        elapsed = time.perf_counter() - started
    assert len(records) == sessions
    assert serial == sessions
    return elapsed


def _lock_cycle(location: Location, times: int = 50) -> float:
    """Seconds per lock taken and released."""
    with Inventory.open(location) as inventory:
        started = time.perf_counter()
        for _ in range(times):
            inventory.lock("bench", os.getpid(), "bench-host", NOW)
            inventory.unlock()
        return (time.perf_counter() - started) / times


def _one_run(location: Location, sessions: int) -> dict[str, float]:
    return {
        "apply_writes_s": _apply_writes(location, sessions),
        "plan_read_s": _plan_read(location, sessions),
        "lock_cycle_ms": _lock_cycle(location) * 1000,
    }


def _measure(fresh: Callable[[], Location], sessions: int, runs: int) -> dict[str, float]:
    samples = [_one_run(fresh(), sessions) for _ in range(runs)]
    return {name: statistics.median(s[name] for s in samples) for name in samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    if not os.environ.get(URL_VARIABLE):
        sys.exit(f"set {URL_VARIABLE} (bash .ci/postgres prints a URL)")

    with tempfile.TemporaryDirectory() as folder, ExitStack() as schemas:
        counter = iter(range(1_000_000))

        def sqlite() -> Location:
            return Path(folder) / f"state-{next(counter)}.db"

        def postgresql() -> Location:  # a schema of its own, dropped at the end
            return parse_location(schemas.enter_context(postgres_url()))

        baseline = _measure(sqlite, options.sessions, options.runs)
        postgres = _measure(postgresql, options.sessions, options.runs)

    print(f"inventory, {options.sessions} sessions, median of {options.runs} runs")
    print(f"{'':16}{'SQLite':>12}{'PostgreSQL':>14}{'ratio':>8}")
    for name in baseline:
        ratio = postgres[name] / baseline[name]
        print(f"{name:16}{baseline[name]:12.4f}{postgres[name]:14.4f}{ratio:8.2f}")
    per_action_ms = {
        backend: figures["apply_writes_s"] / options.sessions * 1000
        for backend, figures in (("sqlite", baseline), ("postgresql", postgres))
    }
    print(
        f"per apply action: SQLite {per_action_ms['sqlite']:.2f} ms,"
        f" PostgreSQL {per_action_ms['postgresql']:.2f} ms"
    )
    print(
        json.dumps(
            {
                "bench": "inventory",
                "sessions": options.sessions,
                "runs": options.runs,
                "sqlite": baseline,
                "postgresql": postgres,
                "per_action_ms": per_action_ms,
            }
        )
    )


if __name__ == "__main__":
    main()
