"""What the next plan does about a change made out of band: asked of the planner itself.

`drift` reports a change; this module looks the change up in the plan that the same
inputs make, so "the next apply sets it back" is the planner's word, not a second opinion.
Nothing here proposes to undo what cannot be undone: a cancel, a removed participant and a
vanished session are final, whatever the manifest says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.planning.plan import Change, Item, Kind, Plan, Status

_UPDATES = (Kind.UPDATE_SESSION, Kind.UPDATE_PARTICIPANT)
_CANCELS = (Kind.CANCEL_SESSION, Kind.CANCEL_PARTICIPANT)


class Next(StrEnum):
    """What the next plan does about a drift item."""

    SET_BACK = "set_back"
    """The next apply makes live match the manifest again."""
    MATCHES = "matches"
    """The manifest was changed to match live: nothing to undo."""
    BLOCKED = "blocked"
    """The next plan would undo it, but the lifecycle rules forbid that now."""
    CANCEL = "cancel"
    """Its manifest (or entry) is gone: the next apply cancels the session (participant)."""
    FINAL = "final"
    """It cannot be undone: a cancel, a removed participant, a session gone."""
    LEFT_ALONE = "left_alone"
    """The next plan does not touch it."""


Outcome = tuple[Next, str]


@dataclass(frozen=True)
class Upcoming:
    """The next plan's items, by target."""

    by_target: Mapping[str, tuple[Item, ...]]

    @classmethod
    def of(cls, plan: Plan) -> Upcoming:
        """Index `plan`'s actions, blocked and unreconcilable items by target."""
        by_target: dict[str, list[Item]] = {}
        for item in (*plan.actions, *plan.blocked, *plan.unreconcilable):
            by_target.setdefault(item.target, []).append(item)
        return cls({target: tuple(items) for target, items in by_target.items()})

    def field(
        self,
        target: str,
        change: Change,
        wanted: Mapping[str, Any] | None,
        *,
        session: str,
        adopted: bool,
    ) -> Outcome:
        """A field of `target` changed from `change.old` to `change.new` out of band;
        `wanted` is the manifest's fields now (None: no manifest in this run)."""
        for item in self.by_target.get(target, ()):
            if item.kind in _UPDATES and any(c.field == change.field for c in item.changes):
                if item.status is not Status.ACTION:
                    return Next.BLOCKED, f"the next plan cannot set it back: {item.reason}"
                if adopted:
                    return Next.SET_BACK, "the next apply sets it to the manifest's value"
                if wanted is not None and wanted.get(change.field) == change.old:
                    return Next.SET_BACK, "the next apply sets it back to the manifest's value"
                return Next.SET_BACK, "the next apply sets it to the manifest's new value"
        cancel = self._cancel(target) or self._cancel(session)
        if cancel is not None:
            return _cancelling(
                cancel, "the session" if cancel.target == session else "the participant"
            )
        if wanted is not None and wanted.get(change.field) == change.new:
            return Next.MATCHES, "the manifest already matches live: nothing to undo"
        return Next.LEFT_ALONE, "the next plan leaves it as it is"

    def _cancel(self, target: str) -> Item | None:
        for item in self.by_target.get(target, ()):
            if item.kind in _CANCELS:
                return item
        return None

    @staticmethod
    def canceled() -> Outcome:
        """The session was cancelled by hand (and its manifest is still there)."""
        return Next.FINAL, (
            "final: a cancelled session never comes back; delete the manifest, or give it a"
            " new metadata.name to schedule a new one"
        )

    @staticmethod
    def gone(target: str, has_manifest: bool) -> Outcome:
        """The recorded session no longer exists."""
        then = "to let the next plan create it again" if has_manifest else "to stop recording it"
        return Next.FINAL, f"final: run `reconciler state forget {target}` {then}"

    @staticmethod
    def removed_participant() -> Outcome:
        """A recorded participant the manifest still lists was removed by hand."""
        return Next.FINAL, (
            "final: a removed participant never comes back; give the entry a new name to"
            " invite them again with a new link"
        )

    @staticmethod
    def added_participant() -> Outcome:
        """A participant no record names was added to a managed session."""
        return Next.LEFT_ALONE, "left alone: reconciler never changes participants it did not add"


def _cancelling(item: Item, what: str) -> Outcome:
    if item.status is Status.ACTION:
        return Next.CANCEL, f"{item.reason}: the next apply cancels {what}"
    return Next.BLOCKED, f"the next plan would cancel {what}, but cannot: {item.reason}"
