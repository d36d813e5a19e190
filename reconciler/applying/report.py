"""What an apply did: one result per planned action, and what it recovered first.

Honest by construction: every action of the plan ends in exactly one outcome, and a
run that stops early says which actions it never started.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.planning import Item, Plan


class Outcome(StrEnum):
    """How one action ended."""

    APPLIED = "applied"
    FAILED = "failed"
    """The call failed (or its outcome could not be settled): the run exits 1."""
    SKIPPED = "skipped"
    """Its precondition no longer held: the object changed, or the rules forbid it now."""
    NOT_STARTED = "not_started"
    """An action it depends on did not apply."""


@dataclass(frozen=True)
class Result:
    """How one action of the plan ended, and why."""

    item: Item
    outcome: Outcome
    message: str = ""
    session_id: str | None = None
    """The live session the action made or changed, where there is one."""
    seconds: float = 0.0


@dataclass(frozen=True)
class Recovered:
    """A write of an earlier, interrupted apply, and what this run found of it."""

    target: str
    kind: str
    found: bool
    """Whether the write had happened (and is now recorded)."""
    message: str


@dataclass(frozen=True)
class Report:
    """The whole account of one apply."""

    plan: Plan
    results: tuple[Result, ...] = ()
    recovered: tuple[Recovered, ...] = ()
    declined: bool = False
    """The person asked said no: nothing was applied."""
    seconds: float = 0.0
    """How long carrying out the actions took (not planning, not waiting for a yes)."""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def counts(self) -> dict[str, int]:
        """Results per outcome, every outcome named."""
        return {outcome.value: self.count(outcome) for outcome in Outcome}

    @property
    def failed(self) -> bool:
        return self.count(Outcome.FAILED) > 0

    def exit_code(self) -> int:
        """1 if any action failed, else 0 (skipped actions are reported, not failures)."""
        return 1 if self.failed else 0
