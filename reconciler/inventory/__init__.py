"""The state store: which live session each manifest key owns, what was last applied, and
the lock that keeps two applies apart (DESIGN.md §4).

A SQLite file, `.reconciler/state.db` unless `--state`, RECONCILER_STATE or
reconciler.yaml names another file or a PostgreSQL URL (`location`). Open it with
`Inventory.open`; read with `sessions()` and `session(key)`; write in batches with
`writing()`; hash participant ids with `hash_id()`, because the ids themselves are never
kept (DESIGN.md §9).
"""

from __future__ import annotations

from reconciler.inventory.connection import BUSY_TIMEOUT_SECONDS, InventoryError
from reconciler.inventory.journal import Entry, State
from reconciler.inventory.location import (
    Location,
    LocationError,
    PostgresLocation,
    parse_location,
)
from reconciler.inventory.lock import LockedError, LockInfo
from reconciler.inventory.records import session_key
from reconciler.inventory.schema import SCHEMA_VERSION
from reconciler.inventory.store import Batch, Inventory
from reconciler.inventory.transfer import Dump

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "SCHEMA_VERSION",
    "Batch",
    "Dump",
    "Entry",
    "Inventory",
    "InventoryError",
    "Location",
    "LocationError",
    "LockInfo",
    "LockedError",
    "PostgresLocation",
    "State",
    "parse_location",
    "session_key",
]
