"""The benchmark scripts still run and print their figures (their timings are never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"


def figures_of(script: str, *arguments: str, timeout: float = 120) -> dict[str, Any]:
    """Run benchmark `script`; the figures of its JSON line. It exits non-zero when what it
    measured came out wrong (a listing missed a session, a plan was not what it must be)."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_bench_load_loads_every_generated_session_and_prints_its_json_line() -> None:
    figures = figures_of("bench_load.py", "--sessions", "90", "--runs", "1")
    assert (figures["benchmark"], figures["sessions"], figures["runs"]) == ("load", 90, 1)
    assert figures["files"] == 3  # 40 sessions a file
    assert figures["load_s"] > 0
    assert figures["baseline_s"] > 0


def test_bench_clients_lists_every_session_in_every_case_and_counts_retried_requests() -> None:
    figures = figures_of("bench_clients.py", "--sessions", "450", "--runs", "1")
    assert (figures["benchmark"], figures["sessions"]) == ("clients", 450)
    requests = figures["requests"]
    assert requests["raw_walk"] == 4  # a token and three pages
    assert requests["client_sequential"] == 4
    # Page 0 alone, then pages 1 and 2 together: the last one says there is no more.
    assert requests["client_parallel4"] == 4
    assert requests["client_faults_sequential"] > requests["client_sequential"]


def test_bench_plan_reads_the_same_pages_however_long_the_history() -> None:
    figures = figures_of("bench_plan.py", "--active", "250", "--history", "450", "--runs", "1")
    assert (figures["benchmark"], figures["active"], figures["history"]) == ("plan", 250, 450)
    requests = figures["requests"]
    # A token, page 0, then pages 1 and 2 together: 250 active sessions fill two pages.
    assert requests["plan_active_only"] == 4
    assert requests["plan_with_history"] == requests["plan_active_only"]
    # Everything, 700 sessions: a token, page 0, pages 1-2, then 3-6 in one batch.
    assert requests["naive_full_listing"] == 8


@pytest.mark.network
def test_bench_scale_at_a_small_size_plans_right_and_reads_no_more_pages_than_it_must() -> None:
    """Every scenario of the scale benchmark at N = 200, untimed: the script itself exits
    non-zero when a plan is not what it must be (no change; exactly the renamed sessions
    to update; every create applied)."""
    figures = figures_of(
        "bench_scale.py",
        *("--sessions", "200", "--creates", "40", "--active", "20", "--runs", "1"),
        *("--parallelism", "1,4", "--latency-ms", "0"),
        timeout=300,
    )
    cases = figures["cases"]
    # A token, then the one page that holds all 200 sessions (200 is a page's most).
    # Renaming a tenth of them reads the same pages; the raw baseline reads exactly them.
    assert cases["s1"]["requests"] == 2
    assert cases["s2"]["requests"] == cases["s1"]["requests"]
    assert cases["b_parallel4"]["requests"] == cases["s1"]["requests"]
    # 200 finished sessions in the inventory add no request to a plan of 20 upcoming.
    assert cases["s4_history"]["requests"] == cases["s4_alone"]["requests"] == 2
    for width in (1, 4):
        # 40 creates; a token for the plan and its listing, then a token for the writes
        # and the server's clock read again before the first; the raw baseline: a token
        # and the 40 creates.
        assert cases[f"s3_p{width}_0ms"]["requests"] == 40 + 4
        assert cases[f"c_p{width}_0ms"]["requests"] == 40 + 1
    assert cases["s1"]["peak_rss_mb"] > 0
    targets = figures["targets"]
    assert targets["S1 requests <= 60"]["met"]
    assert targets["S4 requests with history == alone"]["met"]
