"""The inventory: which live session each `Session/<name>` owns, and what was last applied.

The Coviu API gives sessions no labels, so this file is the only link between a manifest
and its live session (DESIGN.md §4). Reading never writes: when the file does not exist,
`open` answers with an empty inventory in memory, so `plan` works before the first apply
and leaves nothing behind. Writes come in batches, each one SQLite transaction that
either lands whole, moving the serial by exactly one, or not at all.

Participant ids are join capabilities (DESIGN.md §9) and are never stored: a participant
is kept as its manifest key and `hash_id(id)`, an HMAC keyed by this inventory's own
secret salt, which is never shown.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.inventory import journal, records
from reconciler.inventory import lock as locks
from reconciler.inventory.connection import (
    BUSY_TIMEOUT_SECONDS,
    InventoryError,
    connect,
    create_file,
    guarded,
    transaction,
)
from reconciler.inventory.journal import Entry, State
from reconciler.inventory.lock import LockedError, LockInfo
from reconciler.inventory.schema import migrate
from reconciler.planning.state import SessionRecord

_PROCESS_SALT = secrets.token_bytes(32)
"""The salt of inventories that do not exist yet: their hashes match nothing recorded."""


class Batch:
    """The writes of one transaction; see `Inventory.writing`."""

    def __init__(self, connection: sqlite3.Connection, *, path: Path, now: datetime) -> None:
        self._connection = connection
        self._path = path
        self._now = now
        self._open = True
        self.changed = False
        """Whether any write so far changed the inventory."""

    def put(self, record: SessionRecord) -> bool:
        """Record `record` and its participants in place of its key's; False if unchanged."""
        self._check_open()
        changed = records.write(self._connection, record, now=self._now, path=self._path)
        self.changed |= changed
        return changed

    def forget(self, key: str) -> bool:
        """Remove the record of `key` (the live session is untouched); False if none."""
        self._check_open()
        changed = records.delete(self._connection, key)
        self.changed |= changed
        return changed

    def intend(self, *, run: str, target: str, kind: str, intent: Mapping[str, Any]) -> int:
        """Journal a write about to be made (see `journal`); the entry's id. Journal
        entries do not move the serial: they are not records."""
        self._check_open()
        return journal.begin(
            self._connection, run=run, target=target, kind=kind, intent=intent, now=self._now
        )

    def settle(self, entry_id: int, state: State, result: Mapping[str, Any] | None) -> None:
        """Record the outcome of journal entry `entry_id`."""
        self._check_open()
        journal.end(self._connection, entry_id, state=state, result=result, now=self._now)

    def close(self) -> None:
        """Refuse writes from now on: the transaction has ended."""
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("this batch has ended: write inside `with inventory.writing()`")


class Inventory:
    """An open inventory file, or the empty inventory of a file not yet created."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        path: Path,
        exists: bool,
        lineage: str,
        salt: bytes,
    ) -> None:
        self._connection = connection
        self._path = path
        self._exists = exists
        self._lineage = lineage
        self._salt = salt

    @classmethod
    def open(
        cls, path: Path, *, create: bool = False, timeout: float = BUSY_TIMEOUT_SECONDS
    ) -> Inventory:
        """The inventory at `path`, upgraded to this version; created only if `create`."""
        with guarded(path, "open the inventory"):
            missing = not path.exists()
        if missing and not create:
            return cls._empty(path)
        if missing:
            create_file(path)
        connection = connect(path, timeout=timeout)
        try:
            with guarded(path, "open the inventory"):
                migrate(connection, path)
                lineage, salt = _identity(connection, path)
        except BaseException:
            connection.close()
            raise
        return cls(connection, path=path, exists=True, lineage=lineage, salt=salt)

    @classmethod
    def _empty(cls, path: Path) -> Inventory:
        connection = connect(None)
        with guarded(path, "open the inventory"):
            migrate(connection, path)
        return cls(connection, path=path, exists=False, lineage="", salt=_PROCESS_SALT)

    @property
    def path(self) -> Path:
        """Where the inventory is, or would be created."""
        return self._path

    @property
    def exists(self) -> bool:
        """False for the empty stand-in of a file not created yet."""
        return self._exists

    @property
    def lineage(self) -> str:
        """Made once when the file is created; empty while it does not exist."""
        return self._lineage

    @property
    def serial(self) -> int:
        """How many batches have changed the inventory (0 before the first)."""
        with guarded(self._path, "read the inventory"):
            return self._serial()

    def _serial(self) -> int:
        row = self._connection.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        return int(row[0]) if row else 0

    def snapshot(self) -> tuple[int, tuple[SessionRecord, ...]]:
        """The serial and every record, read together: a plan names the serial of exactly
        the records it was made from, even while an apply writes."""
        with guarded(self._path, "read the inventory"), transaction(self._connection):
            return self._serial(), records.read_all(self._connection, path=self._path)

    def sessions(self) -> tuple[SessionRecord, ...]:
        """Every session record, sorted by key."""
        with guarded(self._path, "read the inventory"), transaction(self._connection):
            return records.read_all(self._connection, path=self._path)

    def session(self, key: str) -> SessionRecord | None:
        """The record of `Session/<key>`, if there is one."""
        with guarded(self._path, "read the inventory"):
            return records.read_one(self._connection, key, path=self._path)

    def pending(self) -> tuple[Entry, ...]:
        """Journal entries no run has settled: writes of a run that was killed (or that
        is still running, if someone holds the lock)."""
        with guarded(self._path, "read the journal"):
            return journal.pending(self._connection, path=self._path)

    def journal(self, limit: int = 50) -> tuple[Entry, ...]:
        """The latest journal entries, oldest first."""
        with guarded(self._path, "read the journal"):
            return journal.recent(self._connection, limit=limit, path=self._path)

    def hash_id(self, participant_id: str) -> str:
        """The keyed hash that stands for a participant id at rest and in output."""
        digest = hmac.new(self._salt, participant_id.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()

    @contextmanager
    def writing(self, *, now: datetime, if_unlocked: bool = False) -> Iterator[Batch]:
        """A batch of writes, made at `now`: all kept if the block ends, none if it raises.

        With `if_unlocked`, refuse (`LockedError`) while anyone holds the lock.
        """
        self._require_file("write to")
        with (
            guarded(self._path, "write the inventory"),
            transaction(self._connection, write=True),
        ):
            if if_unlocked and (held := locks.read(self._connection, path=self._path)):
                raise LockedError(held, path=self._path)
            batch = Batch(self._connection, path=self._path, now=now)
            try:
                yield batch
            finally:
                batch.close()
            if batch.changed:
                self._connection.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'")

    def lock(
        self,
        holder: str,
        pid: int,
        host: str,
        now: datetime,
        *,
        abandoned: Callable[[LockInfo], bool] | None = None,
    ) -> LockInfo:
        """Take the lock for `holder`, or raise `LockedError` saying who has it.

        A lock for which `abandoned(lock)` is true (its run is known to be gone) is
        taken over; `taken_over` on the answer says whose it was.
        """
        self._require_file("lock")
        info = LockInfo(holder=holder, pid=pid, host=host, acquired_at=now)
        with (
            guarded(self._path, "lock the inventory"),
            transaction(self._connection, write=True),
        ):
            return locks.take(self._connection, info, path=self._path, abandoned=abandoned)

    def unlock(self) -> LockInfo | None:
        """Remove the lock, whoever holds it; the lock removed, if there was one."""
        if not self._exists:
            return None
        with (
            guarded(self._path, "unlock the inventory"),
            transaction(self._connection, write=True),
        ):
            return locks.release(self._connection, path=self._path)

    def lock_info(self) -> LockInfo | None:
        """Who holds the lock, if anyone."""
        with guarded(self._path, "read the inventory"):
            return locks.read(self._connection, path=self._path)

    def close(self) -> None:
        """Close the file; the inventory cannot be used afterwards."""
        self._connection.close()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Inventory({str(self._path)!r}, exists={self._exists})"  # never the salt

    def _require_file(self, doing: str) -> None:
        if not self._exists:
            raise InventoryError(
                f"{self._path}: cannot {doing} the inventory: it does not exist yet"
                " (`reconciler apply` creates it)"
            )


def _identity(connection: sqlite3.Connection, path: Path) -> tuple[str, bytes]:
    rows = dict(connection.execute("SELECT key, value FROM meta WHERE key IN ('lineage', 'salt')"))
    try:
        return str(rows["lineage"]), bytes.fromhex(str(rows["salt"]))
    except (KeyError, ValueError) as error:
        raise InventoryError(
            f"{path}: the inventory has lost its identity (lineage or salt); the file is"
            " damaged: restore it from a backup, or move it away and adopt the live"
            " sessions again with `reconciler import`"
        ) from error
