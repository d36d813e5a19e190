"""SQLite persistence for the emulator: one file holds both APIs' data, the clock and the keys.

The database is the emulator's whole state, so a served emulator, the embedded one and
a restarted one all see the same world. Every request runs inside one transaction under
one lock, which makes each API call atomic, as it is on the real services.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.emulator.times import TimeFormatError, check_supported, from_millis, to_millis

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    api_key TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_sha256 TEXT PRIMARY KEY,
    api_key TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL UNIQUE,
    team_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    session_name TEXT,
    picture TEXT,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    canceled_ms INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_by_team_start ON sessions (team_id, start_ms);
CREATE TABLE IF NOT EXISTS participants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    participant_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    display_name TEXT,
    picture TEXT,
    role TEXT NOT NULL,
    state TEXT,
    deleted_ms INTEGER
);
CREATE INDEX IF NOT EXISTS participants_by_session ON participants (session_id);
CREATE INDEX IF NOT EXISTS participants_by_state ON participants (state);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    related_snapshot_id TEXT,
    requester_user_id TEXT,
    requester_user_endpoint_id TEXT,
    user_id TEXT,
    user_endpoint_id TEXT,
    session_type TEXT NOT NULL,
    session_id TEXT,
    timestamp_ms INTEGER,
    interaction_id TEXT NOT NULL,
    type TEXT,
    path TEXT,
    state TEXT,
    suffix TEXT,
    mime_type TEXT,
    created_ms INTEGER NOT NULL,
    version INTEGER NOT NULL,
    image BLOB
);
CREATE INDEX IF NOT EXISTS snapshots_by_interaction ON snapshots (organization_id, interaction_id);
CREATE TABLE IF NOT EXISTS camera_requests (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    interaction_id TEXT,
    user_endpoint_id TEXT,
    answered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS auvious_transactions (
    organization_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT,
    PRIMARY KEY (organization_id, transaction_id)
);
"""

# Tables that hold API data; `reset` empties these and keeps clients, keys and the clock.
_DATA_TABLES = (
    "refresh_tokens",
    "sessions",
    "participants",
    "snapshots",
    "camera_requests",
    "auvious_transactions",
)


@dataclass(frozen=True)
class Client:
    """An API client: its key, the team its objects belong to, and the user it acts as."""

    api_key: str
    team_id: str
    user_id: str


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of a string; secrets and refresh tokens are stored only as this."""
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    """The emulator's SQLite database."""

    def __init__(self, path: str | Path, *, initial_clock: datetime | None = None) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self.transaction():
            self._create_schema()
            self._init_meta(initial_clock)

    def _create_schema(self) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def _init_meta(self, initial_clock: datetime | None) -> None:
        clock = initial_clock or datetime.now(UTC).replace(microsecond=0)
        defaults = {
            "schema_version": str(SCHEMA_VERSION),
            "signing_key": secrets.token_hex(32),
            "clock_ms": str(to_millis(clock)),
        }
        for key, value in defaults.items():
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        found = int(self.meta("schema_version"))
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer emulator (schema {found}); upgrade reconciler"
            )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically: all of it is written, or none of it."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # A failed COMMIT may or may not have ended the transaction; never leave it open.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement."""
        with self._lock:
            return self._db.execute(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        return self.execute(sql, params).fetchall()

    def row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        row: sqlite3.Row | None = self.execute(sql, params).fetchone()
        return row

    def meta(self, key: str) -> str:
        """A value from the meta table."""
        found = self.row("SELECT value FROM meta WHERE key = ?", (key,))
        if found is None:
            raise KeyError(key)
        return str(found["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the meta table."""
        self.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def now(self) -> datetime:
        """The emulator's clock."""
        return from_millis(int(self.meta("clock_ms")))

    def set_now(self, value: datetime) -> None:
        """Move the emulator's clock (either way); TimeFormatError outside supported years."""
        self.set_meta("clock_ms", str(to_millis(check_supported(value))))

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by a signed duration; TimeFormatError if it would leave the range."""
        try:
            moved = self.now() + delta
        except OverflowError:
            raise TimeFormatError("the clock cannot move that far") from None
        self.set_now(moved)
        return moved

    def put_client(self, api_key: str, secret: str, *, team_id: str) -> None:
        """Register an API client, or change its secret or team."""
        self.execute(
            "INSERT INTO clients (api_key, secret_sha256, team_id, user_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (api_key) DO UPDATE SET"
            " secret_sha256 = excluded.secret_sha256, team_id = excluded.team_id",
            (api_key, sha256_hex(secret), team_id, f"user-{sha256_hex(api_key)[:12]}"),
        )

    def check_client(self, api_key: str, secret: str) -> Client | None:
        """The client with this key and secret, or None if either is wrong."""
        found = self.row("SELECT * FROM clients WHERE api_key = ?", (api_key,))
        if found is None or not secrets.compare_digest(found["secret_sha256"], sha256_hex(secret)):
            return None
        return self.client(api_key)

    def client(self, api_key: str) -> Client | None:
        """The client with this key, or None."""
        found = self.row("SELECT * FROM clients WHERE api_key = ?", (api_key,))
        if found is None:
            return None
        return Client(api_key=found["api_key"], team_id=found["team_id"], user_id=found["user_id"])

    def reset(self) -> None:
        """Empty all API data; keep clients, signing key and clock."""
        with self.transaction():
            for table in _DATA_TABLES:
                self.execute(f"DELETE FROM {table}")  # noqa: S608 - names from a constant
