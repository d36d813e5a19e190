"""Whether a plan may be applied at all: the checks made before its first call.

A saved plan is applied exactly or not at all: it is refused whole when the world it was
made from is no longer the world it would change (other manifests, another inventory or
inventory serial, other API targets), when it was simulated with --at, and, like any
plan, once it has expired.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.planning import Item, Plan, Sealer, unkeyed_seal
from reconciler.planning.saved import Saved
from reconciler.planning.times import write_instant

_AGAIN = "make a new plan"


class PlanRefusedError(ReconcilerError):
    """A plan that may not be applied; nothing was changed."""


def refuse_foreign(
    plan: Plan, *, digest: str, targets: Mapping[str, str], made_for: Mapping[str, str]
) -> None:
    """Refuse a saved plan that was simulated, or made from other manifests or against
    other targets than these: checked before anything is opened."""
    if plan.simulated:
        raise PlanRefusedError(
            f"the plan was simulated with --at {write_instant(plan.created_at)}: it shows what"
            f" would happen then and cannot be applied; {_AGAIN} without --at"
        )
    if dict(made_for) != dict(targets):
        raise PlanRefusedError(
            f"the plan was made against {_where(made_for)}, but this run would apply it to"
            f" {_where(targets)}; {_AGAIN} against the target to change"
        )
    if digest != plan.manifest_digest:
        raise PlanRefusedError(
            "the manifests changed since the plan was made (their digest differs);"
            f" {_AGAIN} from the manifests as they are"
        )


def refuse_stale(plan: Plan, *, serial: int, lineage: str) -> None:
    """Refuse a saved plan made from another inventory, or from this one before it last
    changed: checked under the lock, after any interrupted run was recovered."""
    if plan.inventory_lineage and lineage != plan.inventory_lineage:
        raise PlanRefusedError(f"the plan was made from another inventory; {_AGAIN} with this one")
    if serial != plan.inventory_serial:
        raise PlanRefusedError(
            f"the inventory changed since the plan was made (serial {plan.inventory_serial},"
            f" now {serial}): another apply ran, or an interrupted one was recovered; {_AGAIN}"
        )


def refuse_tampered(saved: Saved, seal: Sealer) -> None:
    """Refuse a saved plan whose seal is not what `seal` (the inventory's) makes of its
    content: the file was changed after `plan --out` wrote it. A plan made before the
    inventory existed has a seal anyone can make, and is checked with that; it names no
    lineage and serial 0, and `refuse_stale` holds it to an inventory that has recorded
    nothing yet, so passing a plan off as one cannot get round the key."""
    made_before_any_inventory = not saved.plan.inventory_lineage and not saved.plan.inventory_serial
    expected = (unkeyed_seal if made_before_any_inventory else seal)(saved.content)
    if not hmac.compare_digest(saved.seal.encode(), expected.encode()):
        raise PlanRefusedError(
            "the plan file was changed after `plan --out` wrote it (its seal does not match"
            f" its content); {_AGAIN} and apply that file unchanged"
        )


def refuse_expired(plan: Plan, now: datetime) -> None:
    """Refuse a plan whose earliest action is no longer safely legal at `now`."""
    if plan.valid_until is not None and now >= plan.valid_until:
        raise PlanRefusedError(
            f"the plan expired at {write_instant(plan.valid_until)} (the server's time is"
            f" {write_instant(now)}): an action in it is, or is about to be, no longer"
            f" allowed; {_AGAIN}"
        )


def _where(targets: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {url}" for name, url in sorted(targets.items())) or "no target"


def unvouched(saved: Plan, fresh: Plan) -> dict[tuple[str, str], str]:
    """Actions of `saved` that a plan made now (`fresh`) would not make as they are, by
    (kind, target), each with why. An action whose object merely changed since is still
    vouched for: its fingerprint check right before the call skips it, saying so.

    What an apply sends must come from the manifests and the inventory, which the
    digest and the serial vouch for, never from the file alone: a hand-edited plan
    cannot cancel, create or change what the manifests do not ask for."""
    now = {(item.kind.value, item.target): item for item in fresh.actions}
    problems = {(item.kind.value, item.target): item for item in fresh.problems}
    found = {}
    for item in saved.actions:
        key = (item.kind.value, item.target)
        match = now.get(key)
        if match is not None and _same_call(item, match):
            continue
        if match is not None:
            found[key] = "a plan made now would send something else: make a new plan"
        elif key in problems:
            found[key] = f"a plan made now says: {problems[key].reason}"
        else:
            found[key] = "a plan made now has no such action: make a new plan"
    return found


def _same_call(saved: Item, fresh: Item) -> bool:
    return (
        saved.session_id == fresh.session_id
        and saved.participant_hash == fresh.participant_hash
        and saved.snapshot_id == fresh.snapshot_id
        and saved.payload == fresh.payload
        and _sent(saved) == _sent(fresh)
    )


def _sent(item: Item) -> dict[str, Any]:
    return {change.field: change.new for change in item.changes}
