"""How the inventory reaches its SQLite file, and what it says when it cannot.

The inventory is the one file whose loss or damage costs a user real work, so every
failure of SQLite or of the file system becomes an `InventoryError` that names the file
and says what to do next: no sqlite3 exception and no traceback reaches the user. The
file holds the salt that keys participant hashes, so it is created readable by its
owner only.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import ReconcilerError

BUSY_TIMEOUT_SECONDS = 5.0
"""How long a write waits for another reconciler's write to finish before giving up."""

_RECOVERY = (
    "restore it from a backup, or move it away and adopt the live sessions again"
    " with `reconciler import`"
)


class InventoryError(ReconcilerError):
    """The state store cannot be read or written; nothing was changed."""


def create_file(path: Path) -> None:
    """Create `path` (and its folders) empty, readable and writable by its owner only."""
    with guarded(path, "create the inventory"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return  # another run created it first: it is an inventory, or migrate says not
        os.close(handle)


def connect(path: Path | None, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """A connection to the file at `path` (None: in memory) that leaves transactions to us."""
    with guarded(path or Path(":memory:"), "open the inventory"):
        if path is not None and path.is_dir():
            raise InventoryError(
                f"{path}: is a folder; the inventory is a file, such as .reconciler/state.db"
            )
        # isolation_level=None: sqlite3 opens no transaction of its own; ours are explicit.
        target = ":memory:" if path is None else str(path)
        connection = sqlite3.connect(target, timeout=timeout, isolation_level=None)
        try:
            connection.execute("PRAGMA foreign_keys = ON")  # participants go with a session
        except BaseException:
            connection.close()
            raise
    return connection


@contextmanager
def guarded(path: Path, doing: str) -> Iterator[None]:
    """Turn SQLite and file-system failures inside the block into `InventoryError`s."""
    try:
        yield
    except sqlite3.Error as error:
        raise InventoryError(describe(path, doing, error)) from error
    except (ValueError, TypeError) as error:
        # A value no reconciler writes (a hand edit, a damaged file): say so, never trace.
        raise InventoryError(
            f"{path}: cannot {doing}: it holds a value no reconciler writes ({error}); {_RECOVERY}"
        ) from error
    except OSError as error:
        raise InventoryError(f"{path}: cannot {doing}: {error.strerror or error}") from error


def describe(path: Path, doing: str, error: sqlite3.Error) -> str:
    """What went wrong with the file at `path`, and what the user can do about it."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return (
            f"{path}: cannot {doing}: the file is damaged or not an inventory ({text}); {_RECOVERY}"
        )
    if "locked" in text or "busy" in text:
        return (
            f"{path}: cannot {doing}: another reconciler is using it and did not finish in"
            " time; try again when it is done"
        )
    if "unable to open" in text:
        return f"{path}: cannot {doing}: the file cannot be opened; check the path and permissions"
    return f"{path}: cannot {doing}: {text}"


@contextmanager
def transaction(connection: sqlite3.Connection, *, write: bool = False) -> Iterator[None]:
    """One transaction around the block: committed if it ends, rolled back if it raises.

    A write transaction takes SQLite's write lock at once (BEGIN IMMEDIATE), so what it
    reads cannot change before it writes.
    """
    connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        if connection.in_transaction:  # SQLite rolls some failures back by itself
            connection.rollback()
        raise
    connection.commit()
