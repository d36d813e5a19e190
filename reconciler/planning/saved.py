"""Read a saved plan (`plan --out FILE`) back into the `Plan` it was written from.

What `apply PLANFILE` executes is what was reviewed, so a document that is not exactly a
plan this version writes is refused whole, with the place that is wrong: never guessed
at, never partly applied. The checks that need the world (digest, serial, expiry,
targets) are the applier's; this module only reads.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.errors import InputError
from reconciler.planning.document import sealed_content
from reconciler.planning.plan import PLAN_FORMAT, PLAN_VERSION, Change, Item, Kind, Plan, Status
from reconciler.planning.times import read_instant

_TIME_FIELDS = frozenset({"start_time", "end_time"})


class PlanDocumentError(InputError):
    """A saved plan cannot be read: not JSON, not a plan, or not this version's."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Change(_Model):
    field: str
    old: Any = None
    new: Any = None


class _Item(_Model):
    kind: Kind
    target: str
    reason: str = ""
    session_id: str | None = None
    participant_hash: str | None = None
    snapshot_id: str | None = None
    changes: tuple[_Change, ...] = ()
    fingerprint: str | None = None
    starts_at: str | None = None
    expires_at: str | None = None
    payload: dict[str, Any] | None = None
    never: bool = False
    legal_from: str | None = None
    hint: str = ""


class _Scope(_Model):
    paths: tuple[str, ...]
    selector: dict[str, str]
    only: tuple[str, ...] = ()


class _Document(_Model):
    format: Literal["reconciler-plan"]
    version: int
    created_at: str
    simulated: bool
    valid_until: str | None
    manifest_digest: str
    inventory_serial: int
    inventory_lineage: str
    scope: _Scope
    targets: dict[str, str]
    actions: tuple[_Item, ...]
    blocked: tuple[_Item, ...] = ()
    unreconcilable: tuple[_Item, ...] = ()
    seal: str


@dataclass(frozen=True)
class Saved:
    """A saved plan as read: the plan, the targets it was made against, and its seal
    with the content it vouches for (the applier checks one against the other)."""

    plan: Plan
    targets: dict[str, str]
    content: bytes
    seal: str


class _DuplicateKeyError(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose every key is once: one read twice could mean two things."""
    value = dict(pairs)
    if len(value) != len(pairs):
        twice = sorted(key for key, times in Counter(key for key, _ in pairs).items() if times > 1)
        raise _DuplicateKeyError(", ".join(map(repr, twice)))
    return value


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_plan(text: str | bytes) -> Saved:
    """The plan in a plan document's text, the targets it was made against, its seal."""
    try:
        value = json.loads(text, object_pairs_hook=_unique, parse_constant=_not_a_number)
    except _DuplicateKeyError as error:
        raise PlanDocumentError(
            f"it names a key twice in one object ({error}): it is not what `plan --out` writes"
        ) from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PlanDocumentError(
            "it is not JSON: a saved plan is what `plan --out` writes"
        ) from None
    if isinstance(value, dict) and value.get("format") == PLAN_FORMAT:
        version = value.get("version")
        if version != PLAN_VERSION:
            raise PlanDocumentError(
                f"it is a version {version!r} plan; this reconciler applies version"
                f" {PLAN_VERSION}: make the plan again with this version"
            )
    try:
        # Read from the value the seal is checked over, never from the text again.
        document = _Document.model_validate_json(json.dumps(value))
    except ValidationError as error:
        raise PlanDocumentError(f"it is not a reconciler plan: {_problems(error)}") from None
    try:
        plan = Plan(
            created_at=read_instant(document.created_at),
            valid_until=_instant(document.valid_until),
            manifest_digest=document.manifest_digest,
            actions=tuple(_item(item, Status.ACTION) for item in document.actions),
            blocked=tuple(_item(item, Status.BLOCKED) for item in document.blocked),
            unreconcilable=tuple(
                _item(item, Status.UNRECONCILABLE) for item in document.unreconcilable
            ),
            simulated=document.simulated,
            inventory_serial=document.inventory_serial,
            paths=document.scope.paths,
            selector=document.scope.selector,
            only=document.scope.only,
            inventory_lineage=document.inventory_lineage,
        )
    except ValueError as error:
        raise PlanDocumentError(f"it holds a time that cannot be read: {error}") from None
    return Saved(plan, document.targets, sealed_content(value), document.seal)


def _item(item: _Item, status: Status) -> Item:
    return Item(
        status=status,
        kind=item.kind,
        target=item.target,
        reason=item.reason,
        changes=tuple(
            Change(change.field, _value(change.field, change.old), _value(change.field, change.new))
            for change in item.changes
        ),
        session_id=item.session_id,
        participant_hash=item.participant_hash,
        snapshot_id=item.snapshot_id,
        fingerprint=item.fingerprint,
        expires_at=_instant(item.expires_at),
        never=item.never,
        legal_from=_instant(item.legal_from),
        hint=item.hint,
        starts_at=_instant(item.starts_at),
        payload=item.payload,
    )


def _value(field: str, value: Any) -> Any:
    if field in _TIME_FIELDS and isinstance(value, str):
        return read_instant(value)
    return value


def _instant(text: str | None) -> datetime | None:
    return read_instant(text) if text is not None else None


def _problems(error: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(part) for part in item['loc']) or 'document'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)[:3]
    ]
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
