"""The state store: which live session each manifest key owns, what was last applied, and
the lock that keeps two applies apart (DESIGN.md §4).

One SQLite file, `.reconciler/state.db` unless `--state`, RECONCILER_STATE or
reconciler.yaml names another. Open it with `Inventory.open`; read with `sessions()` and
`session(key)`; write in batches with `writing()`; hash participant ids with `hash_id()`,
because the ids themselves are never kept (DESIGN.md §9).
"""

from __future__ import annotations

from reconciler.inventory.connection import BUSY_TIMEOUT_SECONDS, InventoryError
from reconciler.inventory.journal import Entry, State
from reconciler.inventory.lock import LockedError, LockInfo
from reconciler.inventory.records import session_key
from reconciler.inventory.schema import SCHEMA_VERSION
from reconciler.inventory.store import Batch, Inventory

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "SCHEMA_VERSION",
    "Batch",
    "Entry",
    "Inventory",
    "InventoryError",
    "LockInfo",
    "LockedError",
    "State",
    "session_key",
]
