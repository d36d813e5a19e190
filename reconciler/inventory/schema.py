"""The inventory's tables, and the ordered migrations that build and upgrade them.

An inventory outlives the reconciler that wrote it, so its layout only moves forward, by
numbered migrations: `PRAGMA user_version` counts the ones that have run, and opening a
file runs the missing ones in one transaction, all or none. A file written by a newer
reconciler is refused rather than misread. `PRAGMA application_id` marks the file as an
inventory, so another program's SQLite file (the emulator's, say, in the same folder) is
refused too, never migrated into an inventory.
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from reconciler.inventory.connection import InventoryError, transaction

APPLICATION_ID = 0x52434E49
"""`RCNI`: this SQLite file is a reconciler inventory."""

Migration = Callable[[sqlite3.Connection], None]


def _identity_and_records(connection: sqlite3.Connection) -> None:
    """Version 1: who this inventory is, and which live session each manifest key owns."""
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL)")
    connection.execute(
        """CREATE TABLE sessions (
            key TEXT PRIMARY KEY,
            session_id TEXT NOT NULL UNIQUE,
            start_time TEXT NOT NULL,
            end_time TEXT NOT NULL,
            canceled INTEGER NOT NULL DEFAULT 0,
            applied TEXT,
            updated_at TEXT NOT NULL
        )"""
    )
    # Participants keep their manifest order (`position`); never their live id (§9).
    connection.execute(
        """CREATE TABLE participants (
            session_key TEXT NOT NULL REFERENCES sessions (key) ON DELETE CASCADE,
            name TEXT NOT NULL,
            id_hash TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (session_key, name)
        )"""
    )
    connection.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("lineage", uuid.uuid4().hex),
            ("salt", secrets.token_hex(32)),
            ("serial", 0),
        ],
    )


def _lock(connection: sqlite3.Connection) -> None:
    """Version 2: the lock that keeps two applies from running at once (one row at most)."""
    connection.execute(
        """CREATE TABLE lock (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            holder TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            acquired_at TEXT NOT NULL
        )"""
    )


def _journal(connection: sqlite3.Connection) -> None:
    """Version 3: the apply journal. Each write an apply makes is recorded as an intent
    before its call and settled with its outcome after it, so a run killed in between
    leaves a `pending` row that the next run resolves (DESIGN.md §4, §9: no join ids)."""
    connection.execute(
        """CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run TEXT NOT NULL,
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            intent TEXT NOT NULL,
            state TEXT NOT NULL,
            result TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT
        )"""
    )
    connection.execute("CREATE INDEX journal_pending ON journal (state) WHERE state = 'pending'")


MIGRATIONS: tuple[Migration, ...] = (_identity_and_records, _lock, _journal)
"""In order; never edit one that has shipped, append a new one."""
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(
    connection: sqlite3.Connection, path: Path, *, migrations: Sequence[Migration] = MIGRATIONS
) -> None:
    """Bring the inventory at `path` to `len(migrations)`, in one transaction."""
    if _check(connection, path, migrations) == len(migrations):
        return  # up to date: opening writes nothing
    with transaction(connection, write=True):
        # Read again under the write lock: another run may have migrated meanwhile.
        version = _check(connection, path, migrations)
        for migration in migrations[version:]:
            migration(connection)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {len(migrations)}")


def _check(connection: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """The schema version of an inventory this reconciler can read (0: a new, empty file)."""
    application = _pragma(connection, "application_id")
    version = _pragma(connection, "user_version")
    if application != APPLICATION_ID:
        if application == 0 and version == 0 and not _has_tables(connection):
            return 0
        raise InventoryError(
            f"{path}: is a SQLite database, but not a reconciler inventory;"
            " name another file with --state or RECONCILER_STATE"
        )
    if version > len(migrations):
        raise InventoryError(
            f"{path}: was written by a newer reconciler (inventory version {version}; this"
            f" one reads up to {len(migrations)}); upgrade reconciler to use it"
        )
    return version


def _pragma(connection: sqlite3.Connection, name: str) -> int:
    row = connection.execute(f"PRAGMA {name}").fetchone()
    return int(row[0])


def _has_tables(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None
