"""The inventory's lock: a row that says an apply is running, and whose it is.

Two applies at once would each plan against live state the other is changing. The lock
is a row, not an OS file lock, so it survives on shared or network folders and tells the
next run *who* holds it (holder, pid, host, since when). Taking it is atomic: the row is
read and written inside one write transaction.

With SQLite the row is all there is: a crashed run leaves its row behind, the next run on
the same host takes it over when that pid is no longer running, and otherwise `reconciler
state unlock` removes it once a person has checked that run is gone. With PostgreSQL the
row sits beside a session-level advisory lock that the server frees when the holder's
connection ends, so a row whose advisory lock is free is always left over from a dead
run: it is taken over, and never shown as held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler.inventory.connection import Database, InventoryError, damaged_value
from reconciler.inventory.location import Location
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

    def __init__(
        self,
        lock: LockInfo,
        *,
        location: Location,
        freed_by_server: bool = False,
        backend: int | None = None,
    ) -> None:
        self.lock = lock
        self.location = location
        if freed_by_server:
            advice = (
                "wait for it to finish: the database frees the lock when that run's"
                " connection ends, however it ends"
            )
            if backend is not None:
                advice += f"; if that run hangs, end it with SELECT pg_terminate_backend({backend})"
        else:
            advice = (
                "wait for it to finish, or, if that run is gone, remove the lock with"
                " `reconciler state unlock`"
            )
        super().__init__(f"{location}: locked by {lock.describe()}; {advice}")


def read(db: Database) -> LockInfo | None:
    """The lock as it is, if anyone holds it; with PostgreSQL, a row left by a run whose
    connection has ended is no lock."""
    row = db.execute("SELECT holder, pid, host, acquired_at FROM lock WHERE id = 1").fetchone()
    if row is None:
        return None
    if db.frees_locks and not db.owns_session_lock() and db.session_lock_holder() is None:
        return None
    return _decode(db, row)


def refuse_if_held(db: Database) -> None:
    """Raise `LockedError` if anyone holds the lock."""
    held = read(db)
    if held is not None:
        raise _locked(db, held)


def take(
    db: Database,
    lock: LockInfo,
    *,
    abandoned: Callable[[LockInfo], bool] | None = None,
) -> LockInfo:
    """Record `lock`, or raise `LockedError` naming whoever holds it already; a held
    lock that `abandoned` says is abandoned is replaced (and named in `taken_over`).
    Call inside a write transaction; if it does not commit, free the backend's lock."""
    live = db.take_session_lock()
    row = db.execute("SELECT holder, pid, host, acquired_at FROM lock WHERE id = 1").fetchone()
    held = None if row is None else _decode(db, row)
    if live is False:
        raise _locked(db, held or _unnamed(db, lock))
    if held is not None:
        # With a backend lock just taken, the row's run is gone; without one, ask.
        if live is None and (abandoned is None or not abandoned(held)):
            raise _locked(db, held)
        db.execute("DELETE FROM lock")
        lock = replace(lock, taken_over=held)
    db.execute(
        "INSERT INTO lock (id, holder, pid, host, acquired_at) VALUES (1, ?, ?, ?, ?)",
        (lock.holder, lock.pid, lock.host, write_instant(lock.acquired_at)),
    )
    return lock


def release(db: Database) -> LockInfo | None:
    """Remove the lock, whoever holds it; what was removed, if anything. Call inside a
    write transaction; with PostgreSQL, another live connection's lock is refused."""
    live = True if db.owns_session_lock() else db.take_session_lock()
    if live is False:
        held = read(db)
        backend = db.session_lock_holder()
        ending = (
            "" if backend is None else f" (if it hangs: SELECT pg_terminate_backend({backend[0]}))"
        )
        raise InventoryError(
            f"{db.location}: the lock is held by a run that is still connected"
            f" ({_describe(held, backend)}); stop that run{ending}: the database frees its"
            " lock when its connection ends"
        )
    try:
        row = db.execute("SELECT holder, pid, host, acquired_at FROM lock WHERE id = 1").fetchone()
        db.execute("DELETE FROM lock")
    finally:
        if live:
            db.release_session_lock()
    return None if row is None else _decode(db, row)


def _locked(db: Database, held: LockInfo) -> LockedError:
    """The refusal naming `held`; with PostgreSQL also the server process to end if that
    run hangs."""
    backend = db.session_lock_holder() if db.frees_locks else None
    return LockedError(
        held,
        location=db.location,
        freed_by_server=db.frees_locks,
        backend=None if backend is None else backend[0],
    )


def _unnamed(db: Database, lock: LockInfo) -> LockInfo:
    """Whoever holds the backend's lock without a row naming them (not a reconciler)."""
    backend = db.session_lock_holder()
    pid, who = backend if backend is not None else (0, "another connection")
    return LockInfo(holder=who, pid=pid, host="the database server", acquired_at=lock.acquired_at)


def _decode(db: Database, row: tuple[object, ...]) -> LockInfo:
    try:
        return LockInfo(
            holder=str(row[0]),
            pid=int(str(row[1])),
            host=str(row[2]),
            acquired_at=read_instant(str(row[3])),
        )
    except ValueError as error:
        raise damaged_value(db.location, "the lock", error) from error


def _describe(held: LockInfo | None, backend: tuple[int, str] | None) -> str:
    if held is not None:
        return held.describe()
    return "another connection" if backend is None else f"{backend[1]}, backend pid {backend[0]}"
