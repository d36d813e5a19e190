"""The plan as a versioned JSON document: what `plan --out` saves, `--format json` prints
and `apply PLANFILE` reads.

Keys come in a fixed order and instants in UTC, so the same plan is the same bytes.
Participants are named by manifest key and the keyed hash of their id, never the id.
The README documents every key; a change to them is a new `version`.

The last key, `seal`, vouches for all the others: an HMAC keyed with the inventory's
secret salt (`hmac-sha256:…`), or, for a plan made before any inventory existed, a plain
SHA-256 (`sha256:…`). `apply PLANFILE` refuses a plan whose seal does not match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reconciler.planning.plan import PLAN_FORMAT, PLAN_VERSION, Change, Item, Plan
from reconciler.planning.times import write_instant

Sealer = Callable[[bytes], str]
"""Makes the seal of a plan document's content (see `sealed_content`)."""


def unkeyed_seal(content: bytes) -> str:
    """The seal of a plan made when no inventory existed yet: anyone can make it, so it
    only shows the file is whole; what such a plan may do is checked afresh anyway."""
    return "sha256:" + hashlib.sha256(content).hexdigest()


def sealed_content(document: Mapping[str, Any]) -> bytes:
    """What a seal vouches for: the document less its seal, as canonical JSON (keys
    sorted, no spaces, ASCII), so layout and key order do not matter, values do."""
    body = {key: value for key, value in document.items() if key != "seal"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii")


def plan_document(
    plan: Plan, *, targets: dict[str, str] | None = None, seal: Sealer = unkeyed_seal
) -> dict[str, Any]:
    """The JSON value of `plan` (`targets`: the API URLs it was made against), sealed by
    `seal` (an inventory's `seal`, for a plan that will be saved)."""
    document = _document(plan, targets)
    document["seal"] = seal(sealed_content(document))
    return document


def _document(plan: Plan, targets: dict[str, str] | None) -> dict[str, Any]:
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "created_at": write_instant(plan.created_at),
        "simulated": plan.simulated,
        "valid_until": _instant(plan.valid_until),
        "manifest_digest": plan.manifest_digest,
        "inventory_serial": plan.inventory_serial,
        "inventory_lineage": plan.inventory_lineage,
        "scope": {
            "paths": list(plan.paths),
            "selector": dict(sorted(plan.selector.items())),
            "only": list(plan.only),
        },
        "targets": dict(targets or {}),
        "summary": {
            **plan.counts,
            "irreversible": plan.irreversible,
            "ignored": {
                "unmanaged_sessions": plan.ignored.unmanaged_sessions,
                "unmanaged_participants": plan.ignored.unmanaged_participants,
                "history": plan.ignored.history,
                "out_of_scope": plan.ignored.out_of_scope,
            },
        },
        "actions": [_item(item) for item in plan.actions],
        "blocked": [_item(item) for item in plan.blocked],
        "unreconcilable": [_item(item) for item in plan.unreconcilable],
    }


def _item(item: Item) -> dict[str, Any]:
    value: dict[str, Any] = {
        "kind": item.kind.value,
        "symbol": item.kind.symbol,
        "target": item.target,
        "irreversible": item.kind.irreversible,
        "reason": item.reason,
        "session_id": item.session_id,
        "participant_hash": item.participant_hash,
        "snapshot_id": item.snapshot_id,
        "changes": [_change(change) for change in item.changes],
        "fingerprint": item.fingerprint,
        "starts_at": _instant(item.starts_at),
    }
    if item.status.value == "action":
        value["expires_at"] = _instant(item.expires_at)
        value["payload"] = item.payload
    else:
        value["never"] = item.never
        value["legal_from"] = _instant(item.legal_from)
        value["hint"] = item.hint
    return value


def _change(change: Change) -> dict[str, Any]:
    return {
        "field": change.field,
        "op": change.op,
        "old": _value(change.old),
        "new": _value(change.new),
    }


def _value(value: Any) -> Any:
    return write_instant(value) if isinstance(value, datetime) else value


def _instant(moment: datetime | None) -> str | None:
    return write_instant(moment) if moment is not None else None
