"""Applying: carry out a plan against the live APIs, exactly, in a safe order, journaled
so that a run killed at any moment is recovered by the next one (DESIGN.md §2, §6).

`recover()` resolves an interrupted run's writes; `refuse_foreign()`, `refuse_stale()`,
`refuse_tampered()` and `refuse_expired()` say whether a plan may be applied;
`Applier.apply()` carries it out; `settle_applied()` records what the manifests now match.
Results come as a `Report`.
"""

from reconciler.applying.checks import (
    PlanRefusedError,
    refuse_expired,
    refuse_foreign,
    refuse_stale,
    refuse_tampered,
    unvouched,
)
from reconciler.applying.executor import Applier, settle_applied
from reconciler.applying.recovery import recover
from reconciler.applying.report import Outcome, Recovered, Report, Result

__all__ = [
    "Applier",
    "Outcome",
    "PlanRefusedError",
    "Recovered",
    "Report",
    "Result",
    "recover",
    "refuse_expired",
    "refuse_foreign",
    "refuse_stale",
    "refuse_tampered",
    "settle_applied",
    "unvouched",
]
