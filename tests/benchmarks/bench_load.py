"""How fast manifests load, against the fastest raw YAML parse of the same files.

Loading must not dominate planning. `reconciler.manifests.load` reads the files,
parses them keeping a line:column for every key, validates every document and checks
names are unique; the baseline only reads the same files and parses them to plain
Python objects with the fastest YAML loader installed here (libyaml through PyYAML's
CSafeLoader, which the dev extra installs; otherwise ruamel.yaml's safe loader). The
target is a ratio under 2. Runs alternate between the two, and the figures are
medians, because shared machines are noisy.

    .venv/bin/python tests/benchmarks/bench_load.py [--sessions 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler.manifests import load
from reconciler.manifests.composer import CParser, parse

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.synthetic import write_tree


def raw_loaders() -> dict[str, Callable[[str], Any]]:
    """Every plain-object YAML loader available, by name."""
    loaders: dict[str, Callable[[str], Any]] = {}
    try:
        import yaml

        if yaml.__with_libyaml__:
            loaders["PyYAML CSafeLoader (libyaml)"] = lambda text: list(
                yaml.load_all(text, Loader=yaml.CSafeLoader)
            )
    except ImportError:
        pass
    safe = YAML(typ="safe", pure=CParser is None)
    loaders[f"ruamel.yaml safe ({'libyaml' if CParser else 'pure Python'})"] = lambda text: list(
        safe.load_all(text)
    )
    return loaders


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _without_gc(work: Callable[[], None]) -> Callable[[], None]:
    """`work` with the cycle collector paused, as `load` runs: a baseline on equal terms."""

    def run() -> None:
        gc.disable()
        try:
            work()
        finally:
            gc.enable()

    return run


def _read_and(files: list[Path], parse_text: Callable[[str], Any]) -> Callable[[], None]:
    def run() -> None:
        for path in files:
            parse_text(path.read_text(encoding="utf-8"))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = write_tree(root, args.sessions)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        loaders = raw_loaders()
        # Pick the fastest raw loader on one warm-up run each, then time only it.
        warmup = {name: _timed(_read_and(files, run)) for name, run in loaders.items()}
        baseline_name = min(warmup, key=warmup.__getitem__)
        baseline = _read_and(files, loaders[baseline_name])
        positions_only = _read_and(files, parse)
        loaded = load([root])
        assert len(loaded.manifests) == args.sessions
        figures: dict[str, list[float]] = {
            "baseline": [],
            "baseline_no_gc": [],
            "parse": [],
            "load": [],
        }
        for _ in range(args.runs):
            figures["baseline"].append(_timed(baseline))
            figures["baseline_no_gc"].append(_timed(_without_gc(baseline)))
            figures["parse"].append(_timed(positions_only))
            figures["load"].append(_timed(lambda: load([root])))
    medians = {name: statistics.median(times) for name, times in figures.items()}
    ratios = [
        load_time / base_time
        for load_time, base_time in zip(figures["load"], figures["baseline"], strict=True)
    ]
    ratios_no_gc = [
        load_time / base_time
        for load_time, base_time in zip(figures["load"], figures["baseline_no_gc"], strict=True)
    ]
    print(f"{args.sessions:,} sessions x 3 participants, {len(files)} files, {megabytes:.1f} MB")
    print(f"medians of {args.runs} runs:")
    for name, seconds in warmup.items():
        print(f"  raw parse, {name:<36} {seconds:7.2f} s  (one warm-up run)")
    print(f"  baseline: {baseline_name:<37} {medians['baseline']:7.2f} s")
    print(f"  the same, cycle collector paused as load does  {medians['baseline_no_gc']:7.2f} s")
    print(f"  parse with positions (no validation)           {medians['parse']:7.2f} s")
    print(f"  reconciler.manifests.load                      {medians['load']:7.2f} s")
    print(f"  ratio load / baseline: median {statistics.median(ratios):.2f} (target < 2)")
    print(
        f"  ratio load / baseline with the collector paused: {statistics.median(ratios_no_gc):.2f}"
    )
    print(
        json.dumps(
            {
                "benchmark": "load",
                "sessions": args.sessions,
                "files": len(files),
                "megabytes": round(megabytes, 2),
                "runs": args.runs,
                "baseline": baseline_name,
                "baseline_s": round(medians["baseline"], 3),
                "parse_s": round(medians["parse"], 3),
                "load_s": round(medians["load"], 3),
                "baseline_no_gc_s": round(medians["baseline_no_gc"], 3),
                "ratio": round(statistics.median(ratios), 2),
                "ratio_no_gc": round(statistics.median(ratios_no_gc), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
