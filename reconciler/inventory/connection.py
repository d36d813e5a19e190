"""How the inventory reaches its database, and what it says when it cannot.

The inventory is the one store whose loss or damage costs a user real work, so every
failure of the database or of the file system becomes an `InventoryError` that names the
inventory and says what to do next: no driver exception and no traceback reaches the
user. Two backends speak the same SQL through `Database`: a SQLite file
(`SqliteDatabase`, here) and a PostgreSQL schema (`inventory.postgres`). Queries use `?`
placeholders; each backend adapts them.

A SQLite file holds the salt that keys participant hashes, so it is created readable by
its owner only.
"""

from __future__ import annotations

import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, Protocol

from reconciler.errors import ReconcilerError
from reconciler.inventory.location import Location

BUSY_TIMEOUT_SECONDS = 5.0
"""How long a write waits for another reconciler's write to finish before giving up."""

RECOVERY = (
    "restore it from a backup (planning against a new, empty inventory would create every"
    " session again beside the live ones)"
)

APPLICATION_ID = 0x52434E49
"""`RCNI`: this database is a reconciler inventory."""


class InventoryError(ReconcilerError):
    """The state store cannot be read or written; nothing was changed."""


class Cursor(Protocol):
    """What a query answers, in both backends."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database(ABC):
    """One connection to an inventory's database."""

    dialect: ClassVar[str]
    """`sqlite` or `postgresql`, for the few statements that differ."""
    frees_locks: ClassVar[bool] = False
    """Whether the backend holds an apply lock of its own, freed when the holder's
    connection ends (PostgreSQL): then a lock row without it is a dead run's."""

    def __init__(self, location: Location) -> None:
        self.location = location

    @abstractmethod
    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        """Run one statement with `?` placeholders."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Run one statement for each of `rows`."""

    @abstractmethod
    def transaction(self, *, write: bool = False) -> AbstractContextManager[None]:
        """One transaction around the block: committed if it ends, rolled back if it raises.

        A write transaction excludes every other writer of this inventory from its start,
        so what it reads cannot change before it writes; a read transaction sees one
        moment of the inventory throughout.
        """

    @abstractmethod
    def guarded(self, doing: str) -> AbstractContextManager[None]:
        """Turn the backend's failures inside the block into `InventoryError`s."""

    @abstractmethod
    def schema_version(self, latest: int) -> int:
        """How many migrations have run (0: a new, empty store); refuses a store that is
        not an inventory, or one newer than `latest`."""

    @abstractmethod
    def prepare_schema(self) -> None:
        """Inside the migrating transaction, before the first migration: what the backend
        needs to hold the tables."""

    @abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Inside the migrating transaction: mark the store as an inventory of `version`."""

    def take_session_lock(self) -> bool | None:
        """Take the backend's own apply lock, which it frees when this connection ends:
        True if taken, False if another connection holds it, None for a backend that
        has none (the lock row alone keeps applies apart)."""
        return None

    def release_session_lock(self) -> None:  # noqa: B027 - a backend without one frees nothing
        """Free what `take_session_lock` took."""

    def owns_session_lock(self) -> bool:
        """Whether this connection holds the backend's apply lock."""
        return False

    def session_lock_holder(self) -> tuple[int, str] | None:
        """The backend's own name for whoever holds its lock: (process id, description)."""
        return None

    def commit_faster(self) -> None:  # noqa: B027 - a backend with nothing to tune does nothing
        """Make each commit cheaper without making it less durable, if the backend can."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


class SqliteDatabase(Database):
    """An inventory in a SQLite file (`path`), or in memory (`path` None)."""

    dialect = "sqlite"

    def __init__(self, path: Path | None, *, shown: Location | None = None, timeout: float) -> None:
        super().__init__(shown if shown is not None else (path or Path(":memory:")))
        with guarded(self.location, "open the inventory"):
            if path is not None and path.is_dir():
                raise InventoryError(
                    f"{path}: is a folder; the inventory is a file, such as .reconciler/state.db"
                )
            # isolation_level=None: sqlite3 opens no transaction of its own; ours are explicit.
            target = ":memory:" if path is None else str(path)
            self._connection = sqlite3.connect(target, timeout=timeout, isolation_level=None)
            try:
                self._connection.execute("PRAGMA foreign_keys = ON")  # participants go with
            except BaseException:
                self._connection.close()
                raise

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self._connection.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._connection.executemany(sql, rows)

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[None]:
        # BEGIN IMMEDIATE takes SQLite's write lock at once.
        self._connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            if self._connection.in_transaction:  # SQLite rolls some failures back itself
                self._connection.rollback()
            raise
        self._connection.commit()

    def guarded(self, doing: str) -> AbstractContextManager[None]:
        return guarded(self.location, doing)

    def schema_version(self, latest: int) -> int:
        application = self._pragma("application_id")
        version = self._pragma("user_version")
        if application != APPLICATION_ID:
            if application == 0 and version == 0 and not self._has_tables():
                return 0
            raise InventoryError(
                f"{self.location}: is a SQLite database, but not a reconciler inventory;"
                " name another file with --state or RECONCILER_STATE"
            )
        if version > latest:
            raise newer_inventory(self.location, version, latest)
        return version

    def prepare_schema(self) -> None:
        pass

    def set_schema_version(self, version: int) -> None:
        self._connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self._connection.execute(f"PRAGMA user_version = {int(version)}")

    def commit_faster(self) -> None:
        # Write-ahead logging: a commit syncs the log once (~0.3 ms here) instead of the
        # rollback journal and the database (~1 ms), and readers no longer wait for a
        # writer. synchronous=FULL keeps every commit on disk before it returns. Kept in
        # the file; left as it is if another connection holds it (the next apply tries).
        with suppress(sqlite3.OperationalError):
            self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        self._connection.close()

    def _pragma(self, name: str) -> int:
        row = self._connection.execute(f"PRAGMA {name}").fetchone()
        return int(row[0])

    def _has_tables(self) -> bool:
        query = "SELECT 1 FROM sqlite_master LIMIT 1"
        return self._connection.execute(query).fetchone() is not None


def newer_inventory(location: Location, version: int, latest: int) -> InventoryError:
    """The refusal of an inventory written by a newer reconciler."""
    return InventoryError(
        f"{location}: was written by a newer reconciler (inventory version {version}; this"
        f" one reads up to {latest}); upgrade reconciler to use it"
    )


def create_file(path: Path) -> None:
    """Create `path` (and its folders) empty, readable and writable by its owner only."""
    with guarded(path, "create the inventory"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return  # another run created it first: it is an inventory, or migrate says not
        os.close(handle)


@contextmanager
def guarded(location: Location, doing: str) -> Iterator[None]:
    """Turn SQLite and file-system failures inside the block into `InventoryError`s."""
    try:
        yield
    except sqlite3.Error as error:
        raise InventoryError(describe(location, doing, error)) from error
    except OSError as error:
        raise InventoryError(f"{location}: cannot {doing}: {error.strerror or error}") from error


def damaged_value(location: Location, what: str, error: Exception) -> InventoryError:
    """`what` holds a value no reconciler writes (a hand edit, a damaged store): say so,
    never trace. Raised where rows are decoded, not around a caller's block, so a bug
    of the caller is never blamed on the inventory."""
    return InventoryError(
        f"{location}: {what} cannot be read: it holds a value no reconciler writes ({error});"
        f" the inventory is damaged: {RECOVERY}"
    )


def describe(location: Location, doing: str, error: sqlite3.Error) -> str:
    """What went wrong with the SQLite file, and what the user can do about it."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return (
            f"{location}: cannot {doing}: the file is damaged or not an inventory ({text});"
            f" {RECOVERY}"
        )
    if "locked" in text or "busy" in text:
        return busy(location, doing)
    if "unable to open" in text:
        return (
            f"{location}: cannot {doing}: the file cannot be opened; check the path and permissions"
        )
    return f"{location}: cannot {doing}: {text}"


def busy(location: Location, doing: str) -> str:
    """Another writer kept the inventory longer than `BUSY_TIMEOUT_SECONDS`."""
    return (
        f"{location}: cannot {doing}: another reconciler is using it and did not finish in"
        " time; try again when it is done"
    )
