"""The inventory: which live session each `Session/<name>` owns, and what was last applied.

The Coviu API gives sessions no labels, so the inventory is the only link between a
manifest and its live session (DESIGN.md §4). It lives in a SQLite file or a PostgreSQL
schema (`inventory.location`); both behave alike. Reading never writes: when the
inventory does not exist, `open` answers with an empty one in memory, so `plan` works
before the first apply and leaves nothing behind. Writes come in batches, each one
transaction that either lands whole, moving the serial by exactly one, or not at all.

Participant ids are join capabilities (DESIGN.md §9) and are never stored: a participant
is kept as its manifest key and `hash_id(id)`, an HMAC keyed by this inventory's own
secret salt, which is never shown.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any

from reconciler.inventory import journal, records, transfer
from reconciler.inventory import lock as locks
from reconciler.inventory.connection import (
    BUSY_TIMEOUT_SECONDS,
    RECOVERY,
    Database,
    InventoryError,
    SqliteDatabase,
    create_file,
    damaged_value,
    guarded,
)
from reconciler.inventory.journal import Entry, State
from reconciler.inventory.location import Location, PostgresLocation
from reconciler.inventory.lock import LockInfo
from reconciler.inventory.schema import SCHEMA_VERSION, migrate
from reconciler.planning import unkeyed_seal
from reconciler.planning.state import SessionRecord

_PROCESS_SALT = secrets.token_bytes(32)
"""The salt of inventories that do not exist yet: their hashes match nothing recorded."""
_SEAL_PURPOSE = b"reconciler plan seal"
"""Plans are sealed with a key derived from the salt, never with the salt itself, so a
seal and a participant's hash can never be the same value."""


class Batch:
    """The writes of one transaction; see `Inventory.writing`."""

    def __init__(self, db: Database, *, now: datetime) -> None:
        self._db = db
        self._now = now
        self._open = True
        self.changed = False
        """Whether any write so far changed the inventory."""

    def put(self, record: SessionRecord) -> bool:
        """Record `record` and its participants in place of its key's; False if unchanged."""
        self._check_open()
        changed = records.write(self._db, record, now=self._now)
        self.changed |= changed
        return changed

    def forget(self, key: str) -> bool:
        """Remove the record of `key` (the live session is untouched); False if none."""
        self._check_open()
        changed = records.delete(self._db, key)
        self.changed |= changed
        return changed

    def intend(self, *, run: str, target: str, kind: str, intent: Mapping[str, Any]) -> int:
        """Journal a write about to be made (see `journal`); the entry's id. Journal
        entries do not move the serial: they are not records."""
        self._check_open()
        return journal.begin(
            self._db, run=run, target=target, kind=kind, intent=intent, now=self._now
        )

    def settle(self, entry_id: int, state: State, result: Mapping[str, Any] | None) -> None:
        """Record the outcome of journal entry `entry_id`."""
        self._check_open()
        journal.end(self._db, entry_id, state=state, result=result, now=self._now)

    def close(self) -> None:
        """Refuse writes from now on: the transaction has ended."""
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("this batch has ended: write inside `with inventory.writing()`")


class Inventory:
    """An open inventory, or the empty inventory of one not yet created."""

    def __init__(self, db: Database, *, exists: bool, lineage: str, salt: bytes) -> None:
        self._db = db
        self._location = db.location
        self._exists = exists
        self._lineage = lineage
        self._salt = salt

    @classmethod
    def open(
        cls, location: Location, *, create: bool = False, timeout: float = BUSY_TIMEOUT_SECONDS
    ) -> Inventory:
        """The inventory at `location`, upgraded to this version; created only if `create`.

        `timeout`: how long a write waits for another run's write to end.
        """
        db = _connect(location, create=create, timeout=timeout)
        if db is None:
            return cls._empty(location)
        try:
            with db.guarded("open the inventory"):
                with db.transaction():  # one moment: another run may be migrating now
                    version = db.schema_version(SCHEMA_VERSION)
                fresh = version == 0 and not create
                if not fresh:
                    if version != SCHEMA_VERSION:
                        migrate(db)
                    lineage, salt = _identity(db)
                if create:  # a run that writes: apply, import, state
                    db.commit_faster()
        except BaseException:
            db.close()
            raise
        if fresh:  # an empty file or schema: read as missing, and left as it is
            db.close()
            return cls._empty(location)
        return cls(db, exists=True, lineage=lineage, salt=salt)

    @classmethod
    def _empty(cls, location: Location) -> Inventory:
        db = SqliteDatabase(None, shown=location, timeout=BUSY_TIMEOUT_SECONDS)
        with db.guarded("open the inventory"):
            migrate(db)
        return cls(db, exists=False, lineage="", salt=_PROCESS_SALT)

    @property
    def location(self) -> Location:
        """Where the inventory is, or would be created."""
        return self._location

    @property
    def exists(self) -> bool:
        """False for the empty stand-in of an inventory not created yet."""
        return self._exists

    @property
    def lineage(self) -> str:
        """Made once when the inventory is created; empty while it does not exist."""
        return self._lineage

    @property
    def serial(self) -> int:
        """How many batches have changed the inventory (0 before the first)."""
        with self._db.guarded("read the inventory"):
            return self._serial()

    def _serial(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        try:
            return int(row[0]) if row else 0
        except ValueError as error:
            raise damaged_value(self._location, "the serial", error) from error

    def snapshot(self) -> tuple[int, tuple[SessionRecord, ...]]:
        """The serial and every record, read together: a plan names the serial of exactly
        the records it was made from, even while an apply writes."""
        with self._db.guarded("read the inventory"), self._db.transaction():
            return self._serial(), records.read_all(self._db)

    def sessions(self) -> tuple[SessionRecord, ...]:
        """Every session record, sorted by key."""
        with self._db.guarded("read the inventory"), self._db.transaction():
            return records.read_all(self._db)

    def session(self, key: str) -> SessionRecord | None:
        """The record of `Session/<key>`, if there is one."""
        with self._db.guarded("read the inventory"), self._db.transaction():
            return records.read_one(self._db, key)

    def pending(self) -> tuple[Entry, ...]:
        """Journal entries no run has settled: writes of a run that was killed (or that
        is still running, if someone holds the lock)."""
        with self._db.guarded("read the journal"):
            return journal.pending(self._db)

    def journal(self, limit: int = 50) -> tuple[Entry, ...]:
        """The latest journal entries, oldest first."""
        with self._db.guarded("read the journal"):
            return journal.recent(self._db, limit=limit)

    def hash_id(self, participant_id: str) -> str:
        """The keyed hash that stands for a participant id at rest and in output."""
        return hmac.digest(self._salt, participant_id.encode("utf-8"), "sha256").hex()

    def seal(self, content: bytes) -> str:
        """The seal of a saved plan's `content`: keyed with the salt, so only a holder of
        this inventory can make it; an inventory not created yet has no salt to key it
        with, and gives the plain digest anyone can make."""
        if not self._exists:
            return unkeyed_seal(content)
        key = hmac.digest(self._salt, _SEAL_PURPOSE, "sha256")
        return "hmac-sha256:" + hmac.digest(key, content, "sha256").hex()

    @contextmanager
    def writing(self, *, now: datetime, if_unlocked: bool = False) -> Iterator[Batch]:
        """A batch of writes, made at `now`: all kept if the block ends, none if it raises.

        With `if_unlocked`, refuse (`LockedError`) while anyone holds the lock.
        """
        self._require_store("write to")
        with self._db.guarded("write the inventory"), self._db.transaction(write=True):
            _refuse_if_moved(self._db)  # moved since this run opened it
            if if_unlocked:
                locks.refuse_if_held(self._db)
            batch = Batch(self._db, now=now)
            try:
                yield batch
            finally:
                batch.close()
            if batch.changed:
                self._db.execute(
                    "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                    " WHERE key = 'serial'"
                )

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
        taken over; `taken_over` on the answer says whose it was. With PostgreSQL the
        server knows: a lock whose connection has ended is taken over, whatever
        `abandoned` says.
        """
        self._require_store("lock")
        info = LockInfo(holder=holder, pid=pid, host=host, acquired_at=now)
        owned = self._db.owns_session_lock()
        try:
            with self._db.guarded("lock the inventory"), self._db.transaction(write=True):
                _refuse_if_moved(self._db)  # moved since this run opened it
                return locks.take(self._db, info, abandoned=abandoned)
        except BaseException:
            if not owned:
                self._db.release_session_lock()
            raise

    def unlock(self) -> LockInfo | None:
        """Remove the lock (with PostgreSQL, only this run's or a dead run's); the lock
        removed, if there was one."""
        if not self._exists:
            return None
        with self._db.guarded("unlock the inventory"), self._db.transaction(write=True):
            return locks.release(self._db)

    @property
    def lock_frees_itself(self) -> bool:
        """Whether the backend frees a run's lock when the run's connection ends
        (PostgreSQL): then no lock it shows is left over, and none can be removed."""
        return self._db.frees_locks

    def lock_info(self) -> LockInfo | None:
        """Who holds the lock, if anyone."""
        with self._db.guarded("read the inventory"):
            return locks.read(self._db)

    def dump(self) -> transfer.Dump:
        """Everything the inventory holds but its lock (see `transfer`)."""
        with self._db.guarded("read the inventory"), self._db.transaction():
            return transfer.dump(self._db)

    def receive(self, content: transfer.Dump) -> bool:
        """Take `content` as this inventory's own, identity included: True if written,
        False (nothing written) if this inventory already holds something."""
        self._require_store("write to")
        with self._db.guarded("write the inventory"), self._db.transaction(write=True):
            if not transfer.dump(self._db).empty:
                return False
            transfer.load(self._db, content)
        self._lineage, self._salt = content.lineage, bytes.fromhex(content.salt)
        return True

    def retire(self, *, moved_to: str, now: datetime) -> None:
        """Mark the inventory as moved to `moved_to`: opening it is refused from now on."""
        self._require_store("retire")
        with self._db.guarded("write the inventory"), self._db.transaction(write=True):
            transfer.retire(self._db, moved_to=moved_to, now=now)

    def close(self) -> None:
        """Close the connection; the inventory cannot be used afterwards."""
        self._db.close()

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
        return f"Inventory({str(self._location)!r}, exists={self._exists})"  # never the salt

    def _require_store(self, doing: str) -> None:
        if not self._exists:
            raise InventoryError(
                f"{self._location}: cannot {doing} the inventory: it does not exist yet"
                " (`reconciler apply` creates it)"
            )


def _connect(location: Location, *, create: bool, timeout: float) -> Database | None:
    """A connection to the inventory at `location`; None for a file that does not exist
    when `create` is false (nothing is created then)."""
    if isinstance(location, PostgresLocation):
        from reconciler.inventory.postgres import PostgresDatabase  # the driver, only if used

        return PostgresDatabase(location, timeout=timeout)
    with guarded(location, "open the inventory"):
        missing = not location.exists()
    if missing and not create:
        return None
    if missing:
        create_file(location)
    return SqliteDatabase(location, timeout=timeout)


def _refuse_if_moved(db: Database) -> None:
    """Refuse an inventory that `reconciler state migrate` has moved elsewhere."""
    _refuse_moved(db.location, transfer.moved(db))


def _refuse_moved(location: Location, moved: tuple[str, str] | None) -> None:
    if moved is not None:
        raise InventoryError(
            f"{location}: this inventory was moved to {moved[0]} at {moved[1]} by"
            " `reconciler state migrate` and is no longer used; point --state,"
            " RECONCILER_STATE or reconciler.yaml `state` at the new one"
        )


def _identity(db: Database) -> tuple[str, bytes]:
    """The lineage and salt, read with the rest of `meta` in one statement; an inventory
    moved elsewhere is refused."""
    meta = {
        str(key): str(value) for key, value in db.execute("SELECT key, value FROM meta").fetchall()
    }
    _refuse_moved(db.location, transfer.moved_in(meta))
    try:
        return meta["lineage"], bytes.fromhex(meta["salt"])
    except (KeyError, ValueError) as error:
        raise InventoryError(
            f"{db.location}: the inventory has lost its identity (lineage or salt); it is"
            f" damaged: {RECOVERY}"
        ) from error
