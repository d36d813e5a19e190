"""Views of an apply: a line per action as it ends, the closing table, and JSON.

On a terminal the lines go above a progress bar (rich, on stderr); elsewhere each is a
plain line on stdout, so a CI log reads top to bottom. Messages come from the applier and
the clients, which never put a join link, participant id or token in them.
"""

from __future__ import annotations

import json
import sys
from types import TracebackType
from typing import Any, TextIO

from reconciler.applying import Outcome, Recovered, Report, Result
from reconciler.planning import Plan, plan_document

APPLY_FORMAT = "reconciler-apply"
APPLY_VERSION = 1

_LABELS = {
    Outcome.APPLIED: "applied",
    Outcome.FAILED: "failed",
    Outcome.SKIPPED: "skipped",
    Outcome.NOT_STARTED: "not started",
}
_COLOURS = {
    Outcome.APPLIED: "green",
    Outcome.FAILED: "red",
    Outcome.SKIPPED: "yellow",
    Outcome.NOT_STARTED: "yellow",
}


def result_line(result: Result) -> str:
    """`applied     + Session/x (create session, 7f3c…) in 0.2 s`, with why if not applied."""
    item = result.item
    what = item.kind.value.replace("_", " ")
    if result.session_id and item.kind.value.endswith("session"):
        what += f", {result.session_id}"
    line = f"{_LABELS[result.outcome]:<11} {item.kind.symbol} {item.target} ({what})"
    if result.outcome is Outcome.APPLIED:
        line += f" in {result.seconds:.1f} s"
    return line + (f": {result.message}" if result.message else "")


def recovered_line(recovered: Recovered) -> str:
    """What a run found of an interrupted apply's write."""
    kind = recovered.kind.replace("_", " ")
    return f"recovered   {recovered.target} ({kind}, interrupted earlier): {recovered.message}"


def summary(report: Report) -> list[str]:
    """The closing table: how many actions ended each way, then each one that did not
    apply, with why."""
    if report.declined:
        return ["Apply cancelled: nothing was changed."]
    if not report.results:
        return ["No changes: the live APIs match the manifests."]
    counts = report.counts
    lines = [
        f"Apply {'failed' if report.failed else 'complete'}: {_actions(len(report.results))}.",
        "",
    ]
    lines += [f"  {_LABELS[outcome]:<12}{counts[outcome.value]:>6}" for outcome in Outcome]
    if report.seconds > 0:
        rate = len(report.results) / report.seconds
        lines += ["", f"Carried out in {report.seconds:.1f} s ({rate:.0f} actions a second)."]
    missed = [result for result in report.results if result.outcome is not Outcome.APPLIED]
    if missed:
        lines += ["", "Not applied:"]
        lines += [f"  {result_line(result)}" for result in missed]
    if report.count(Outcome.SKIPPED) or report.count(Outcome.NOT_STARTED):
        lines += ["", "Make a new plan to see what is left to do, and why."]
    return lines


def _actions(count: int) -> str:
    return "1 action" if count == 1 else f"{count} actions"


def as_json(report: Report, *, targets: dict[str, str]) -> str:
    """The apply's versioned JSON document."""
    value: dict[str, Any] = {
        "format": APPLY_FORMAT,
        "version": APPLY_VERSION,
        "summary": report.counts,
        "seconds": round(report.seconds, 3),
        "recovered": [
            {
                "target": each.target,
                "kind": each.kind,
                "found": each.found,
                "message": each.message,
            }
            for each in report.recovered
        ],
        "results": [
            {
                "target": result.item.target,
                "kind": result.item.kind.value,
                "outcome": result.outcome.value,
                "message": result.message,
                "session_id": result.session_id,
                "seconds": round(result.seconds, 3),
            }
            for result in report.results
        ],
        "plan": plan_document(report.plan, targets=targets),
    }
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


class Progress:
    """Shows results as they come: above a progress bar on a terminal, else as lines."""

    def __init__(self, *, bar: bool, colour: bool, out: TextIO | None = None) -> None:
        self._bar = bar
        self._colour = colour
        self._out = out or sys.stdout
        self._progress: Any = None
        self._task: Any = None

    def starting(self, plan: Plan) -> None:
        """The actions are about to run."""
        if not self._bar or not plan.actions:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        console = Console(stderr=True, no_color=not self._colour, highlight=False)
        self._progress = Bar(
            TextColumn("Applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._progress.start()
        self._task = self._progress.add_task("apply", total=len(plan.actions))

    def result(self, result: Result) -> None:
        """One action ended."""
        line = result_line(result)
        if self._progress is None:
            print(line, file=self._out, flush=True)
            return
        style = _COLOURS[result.outcome] if self._colour else None
        self._progress.console.print(line, style=style, markup=False, soft_wrap=True)
        self._progress.advance(self._task)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
