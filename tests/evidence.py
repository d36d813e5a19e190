"""What the reliability and security tests tried, and what came of it: the README's
"Reliability" table is printed from these records, never typed by hand.

A test that shows a claim records one row once its assertions have passed: the class of
fault or input it tried, how many runs, and the outcome counts it checked. Rows go, one
JSON line each, to the file named by `--evidence FILE` (or RECONCILER_EVIDENCE), so a
run of many processes can share one; with neither, they are only kept in memory.

    python -m pytest tests/reliability tests/security --evidence evidence.jsonl
    python -m tests.evidence evidence.jsonl      # the Markdown table
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

SOAK_VARIABLE = "RECONCILER_SOAK"


def soak_laps() -> int:
    """How many times over the reliability and security tests run: `--soak N`, which
    sets RECONCILER_SOAK for what is settled as test modules are imported."""
    return int(os.environ.get(SOAK_VARIABLE, "1"))


@dataclass(frozen=True)
class Row:
    claim: str
    """Which of the three claims: nothing duplicated or lost, bad input does no harm,
    nothing leaks."""
    tried: str
    """The fault or input class, as the table names it."""
    runs: int
    outcomes: Mapping[str, int]
    """Named counts, e.g. {"duplicates": 0, "lost": 0}."""


@dataclass
class Evidence:
    """The rows of this test run, and the file they are also written to, if any."""

    path: Path | None = None
    rows: list[Row] = field(default_factory=list)

    def record(self, claim: str, tried: str, *, runs: int = 1, **outcomes: int) -> None:
        row = Row(claim, tried, runs, dict(outcomes))
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(asdict(row)) + "\n")


def read(lines: Iterable[str]) -> list[Row]:
    rows = []
    for line in lines:
        if line.strip():
            value = json.loads(line)
            rows.append(Row(value["claim"], value["tried"], value["runs"], value["outcomes"]))
    return rows


def table(rows: Iterable[Row]) -> str:
    """A Markdown table: one line per (claim, tried), its runs and outcomes summed."""
    runs: dict[tuple[str, str], int] = defaultdict(int)
    outcomes: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for row in rows:
        key = (row.claim, row.tried)
        runs[key] += row.runs
        for name, value in row.outcomes.items():
            outcomes[key][name] = outcomes[key].get(name, 0) + value
    lines = ["| Claim | Fault or input tried | Runs | Outcome |", "|---|---|---:|---|"]
    for claim, tried in runs:
        told = ", ".join(f"{name} {value:,}" for name, value in outcomes[claim, tried].items())
        lines.append(f"| {claim} | {tried} | {runs[claim, tried]:,} | {told} |")
    return "\n".join(lines)


def main(arguments: list[str]) -> int:
    if len(arguments) != 1:
        print("usage: python -m tests.evidence EVIDENCE.jsonl", file=sys.stderr)
        return 2
    print(table(read(Path(arguments[0]).read_text(encoding="utf-8").splitlines())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
