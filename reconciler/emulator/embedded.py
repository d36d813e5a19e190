"""The embedded emulator's database on disk, and moving its clock without serving it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from reconciler.emulator.store import Store

DEFAULT_DB = Path(".reconciler") / "emulator.db"


def move_clock(
    db: Path,
    *,
    to: datetime | None = None,
    advance: timedelta | None = None,
    initial: datetime | None = None,
) -> datetime:
    """Set or advance the clock of an emulator database; return it. A missing database is
    created with its clock at `initial` (default: the local clock)."""
    store = Store(db, initial_clock=to or initial)
    try:
        with store.transaction():
            if to is not None:
                store.set_now(to)
            if advance is not None:
                store.advance(advance)
            return store.now()
    finally:
        store.close()
