"""The inventory's lock: a row that says an apply is running, and whose it is.

Two applies at once would each plan against live state the other is changing. The lock
is a row, not an OS file lock, so it survives on shared or network folders and tells the
next run *who* holds it (holder, pid, host, since when). A crashed run leaves its row
behind: the next run on the same host takes it over when that pid is no longer running;
otherwise `reconciler state unlock` removes it once a person has checked that run is
gone. Taking the lock is atomic: the row is read and written under SQLite's write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from reconciler.inventory.connection import InventoryError
from reconciler.planning.times import read_instant, write_instant


@dataclass(frozen=True)
class LockInfo:
    """Who holds the inventory's lock, and since when."""

    holder: str
    """What is running, such as `reconciler apply`."""
    pid: int
    host: str
    acquired_at: datetime
    taken_over: LockInfo | None = field(default=None, compare=False)
    """The abandoned lock this one replaced, if any."""

    def describe(self) -> str:
        """`reconciler apply (pid 4242 on ci-runner-7) since 2026-12-01T09:00:00Z`."""
        return (
            f"{self.holder} (pid {self.pid} on {self.host}) since {write_instant(self.acquired_at)}"
        )


class LockedError(InventoryError):
    """Another run holds the inventory's lock; `.lock` says who."""

    def __init__(self, lock: LockInfo, *, path: Path) -> None:
        self.lock = lock
        self.path = path
        super().__init__(
            f"{path}: locked by {lock.describe()}; wait for it to finish, or, if that run"
            " is gone, remove the lock with `reconciler state unlock`"
        )


def read(connection: sqlite3.Connection, *, path: Path) -> LockInfo | None:
    """The lock as it is, if anyone holds it."""
    row = connection.execute(
        "SELECT holder, pid, host, acquired_at FROM lock WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    try:
        acquired_at = read_instant(str(row[3]))
    except ValueError as error:
        raise InventoryError(
            f"{path}: the lock cannot be read ({error}); the file is damaged"
        ) from error
    return LockInfo(holder=str(row[0]), pid=int(row[1]), host=str(row[2]), acquired_at=acquired_at)


def take(
    connection: sqlite3.Connection,
    lock: LockInfo,
    *,
    path: Path,
    abandoned: Callable[[LockInfo], bool] | None = None,
) -> LockInfo:
    """Record `lock`, or raise `LockedError` naming whoever holds it already; a held
    lock that `abandoned` says is abandoned is replaced (and named in `taken_over`)."""
    held = read(connection, path=path)
    if held is not None:
        if abandoned is None or not abandoned(held):
            raise LockedError(held, path=path)
        connection.execute("DELETE FROM lock")
        lock = replace(lock, taken_over=held)
    connection.execute(
        "INSERT INTO lock (id, holder, pid, host, acquired_at) VALUES (1, ?, ?, ?, ?)",
        (lock.holder, lock.pid, lock.host, write_instant(lock.acquired_at)),
    )
    return lock


def release(connection: sqlite3.Connection, *, path: Path) -> LockInfo | None:
    """Remove the lock, whoever holds it; what was removed, if anything."""
    held = read(connection, path=path)
    connection.execute("DELETE FROM lock")
    return held
