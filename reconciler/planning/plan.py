"""The plan: a complete, immutable value made before any write (DESIGN.md §6).

Every difference between desired and live becomes exactly one `Item`: an action (legal
now), blocked (illegal now, with the reason and whether it ever becomes legal), or
unreconcilable (the manifest wants what cannot be: shown once, with a hint). Renderers
show a plan; the applier executes one; `to_document()` is its versioned JSON form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final

PLAN_FORMAT: Final = "reconciler-plan"
PLAN_VERSION: Final = 2
SAFETY_MARGIN: Final = timedelta(seconds=60)
"""How long before its first action stops being legal a plan expires: time to apply it."""


class Kind(StrEnum):
    """What an action does. Closed: the applier and the renderers switch on it."""

    CANCEL_SESSION = "cancel_session"
    UPDATE_SESSION = "update_session"
    CREATE_SESSION = "create_session"
    ADD_PARTICIPANT = "add_participant"
    UPDATE_PARTICIPANT = "update_participant"
    CANCEL_PARTICIPANT = "cancel_participant"
    APPROVE_SNAPSHOT = "approve_snapshot"
    DISCARD_SNAPSHOT = "discard_snapshot"

    @property
    def symbol(self) -> str:
        """`+` for what is made, `~` for what changes, `-` for what goes."""
        return _SYMBOLS[self]

    @property
    def irreversible(self) -> bool:
        """Cancels and discards cannot be undone, by anyone."""
        return self in _IRREVERSIBLE

    @property
    def verb(self) -> str:
        """`create`, `update`, `cancel`, … : what the action does, in a word."""
        return self.value.split("_", 1)[0]

    @property
    def group(self) -> int:
        """Where the action runs in a plan: cancellations first, then session updates,
        then creates (with their participants), then participant changes, then snapshot
        decisions (DESIGN.md §6)."""
        return _GROUPS[self]


_SYMBOLS: Final = {
    Kind.CREATE_SESSION: "+",
    Kind.ADD_PARTICIPANT: "+",
    Kind.UPDATE_SESSION: "~",
    Kind.UPDATE_PARTICIPANT: "~",
    Kind.APPROVE_SNAPSHOT: "~",
    Kind.CANCEL_SESSION: "-",
    Kind.CANCEL_PARTICIPANT: "-",
    Kind.DISCARD_SNAPSHOT: "-",
}
_IRREVERSIBLE: Final = frozenset(
    {Kind.CANCEL_SESSION, Kind.CANCEL_PARTICIPANT, Kind.DISCARD_SNAPSHOT}
)
_GROUPS: Final = {
    Kind.CANCEL_SESSION: 0,
    Kind.CANCEL_PARTICIPANT: 0,
    Kind.UPDATE_SESSION: 1,
    Kind.CREATE_SESSION: 2,
    Kind.ADD_PARTICIPANT: 3,
    Kind.UPDATE_PARTICIPANT: 3,
    Kind.APPROVE_SNAPSHOT: 4,
    Kind.DISCARD_SNAPSHOT: 4,
}


class Status(StrEnum):
    """What the planner made of a difference."""

    ACTION = "action"
    BLOCKED = "blocked"
    UNRECONCILABLE = "unreconcilable"


@dataclass(frozen=True)
class Change:
    """One field's difference: `old` is live (None when absent), `new` is desired."""

    field: str
    old: Any
    new: Any

    @property
    def op(self) -> str:
        """`add`, `change` or `remove`."""
        if self.old is None:
            return "add"
        return "remove" if self.new is None else "change"


@dataclass(frozen=True, kw_only=True)
class Item:
    """One difference and what the planner made of it."""

    status: Status
    kind: Kind
    target: str
    """`Session/<key>`, `Session/<key>/participants/<name>` or `SnapshotApproval/<key>`."""
    reason: str
    """Why, for people. Code never branches on it."""
    changes: tuple[Change, ...] = ()
    session_id: str | None = None
    participant_hash: str | None = None
    """The keyed hash of the live participant's id: which participant, without the id."""
    snapshot_id: str | None = None
    fingerprint: str | None = None
    """Digest of the live object the item was computed from; None for what does not
    exist yet. The applier re-reads the object and skips the action if it changed."""
    expires_at: datetime | None = None
    """When the action stops being legal (None: it does not expire)."""
    never: bool = False
    """Blocked for good: the clock only moves on, so it will never become legal."""
    legal_from: datetime | None = None
    """When a blocked item becomes legal, where that is a time."""
    hint: str = ""
    """What the user can do about a blocked or unreconcilable item."""
    starts_at: datetime | None = None
    """When the session concerned starts (in the manifest's offset): the order within a
    group, soonest first, and the offset times are shown in."""
    payload: dict[str, Any] | None = None
    """What a create or a snapshot decision sends, beyond `changes`."""

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        starts = self.starts_at.timestamp() if self.starts_at is not None else float("inf")
        return (self.kind.group, f"{starts:020.3f}", self.target, self.kind.value)


@dataclass(frozen=True)
class Ignored:
    """What the plan deliberately left alone, counted so nothing is silently dropped."""

    unmanaged_sessions: int = 0
    """Live sessions no inventory record names (made elsewhere): never touched."""
    unmanaged_participants: int = 0
    """Live participants of managed sessions that no record names."""
    history: int = 0
    """Recorded sessions that are finished or cancelled: not refreshed, not changed."""
    out_of_scope: int = 0
    """Recorded sessions whose manifest is not among the PATHs or the --selector."""


@dataclass(frozen=True)
class Plan:
    """What would change, computed at `created_at` (the API server's time)."""

    created_at: datetime
    valid_until: datetime | None
    manifest_digest: str
    actions: tuple[Item, ...] = ()
    blocked: tuple[Item, ...] = ()
    unreconcilable: tuple[Item, ...] = ()
    ignored: Ignored = field(default_factory=Ignored)
    simulated: bool = False
    """Made with --at: as if at `created_at`, not at the server's time."""
    inventory_serial: int = 0
    """The inventory's serial the plan was made from: a changed inventory refuses it."""
    considered: int = 0
    """How many manifests (after --selector) the plan compared with live."""
    zone: tzinfo | None = None
    """The offset most manifests write their times in: plan-wide times are shown in it."""
    paths: tuple[str, ...] = ()
    """The PATHs the plan was made from, as given: `apply PLANFILE` reads them again."""
    selector: Mapping[str, str] = field(default_factory=dict)
    """The --selector the plan was made with."""
    only: tuple[str, ...] = ()
    """The --only targets (`Kind/name`) the plan was made with, sorted."""
    inventory_lineage: str = ""
    """Which inventory the plan was made from (empty: none existed yet)."""

    @property
    def expired_on_arrival(self) -> bool:
        """Whether an action stops being legal within the safety margin: too late to apply."""
        return self.valid_until is not None and self.valid_until <= self.created_at

    @property
    def counts(self) -> dict[str, int]:
        """Actions per kind, in group order, then `blocked` and `unreconcilable`."""
        by_kind = Counter(item.kind for item in self.actions)
        counts = {kind.value: by_kind[kind] for kind in sorted(Kind, key=_kind_order)}
        counts["blocked"] = len(self.blocked)
        counts["unreconcilable"] = len(self.unreconcilable)
        return counts

    @property
    def irreversible(self) -> int:
        """How many actions cannot be undone."""
        return sum(1 for item in self.actions if item.kind.irreversible)

    @property
    def cancels(self) -> int:
        """How many sessions and participants the plan cancels: what the cancel budget
        (`--max-cancels`) counts."""
        return sum(1 for item in self.actions if item.kind in _CANCELS)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    @property
    def problems(self) -> tuple[Item, ...]:
        """The blocked and the unreconcilable items."""
        return self.blocked + self.unreconcilable

    @property
    def has_problems(self) -> bool:
        return bool(self.blocked or self.unreconcilable)

    def exit_code(self, *, max_cancels: int | None = None) -> int:
        """For `--detailed-exitcode`: 3 blocked or unreconcilable, or more cancels than
        `max_cancels` (apply refuses such a plan; 3 wins), 2 changes, 0."""
        if self.has_problems or (max_cancels is not None and self.cancels > max_cancels):
            return 3
        return 2 if self.has_changes else 0


_CANCELS: Final = frozenset({Kind.CANCEL_SESSION, Kind.CANCEL_PARTICIPANT})


def _kind_order(kind: Kind) -> tuple[int, int]:
    return (kind.group, list(Kind).index(kind))
