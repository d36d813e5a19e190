"""An inventory in a PostgreSQL schema, shared by CI runners and colleagues.

The same tables as the SQLite file, in schema `reconciler` (or `?schema=NAME`) of the
database the URL names, created and migrated on first use. What SQLite does with its
file lock, this does with advisory locks keyed by the schema:

- a write transaction first takes a transaction-level lock, so writers queue one at a
  time (waiting at most `lock_timeout`) and what a batch reads cannot change before it
  writes; a read transaction is REPEATABLE READ, one moment throughout;
- an apply holds a session-level lock for its whole run, beside the lock row that names
  it. PostgreSQL frees the lock the moment the connection ends, however the run ended,
  so a lock row whose advisory lock is free is left over from a dead run and is taken
  over; a live one cannot be removed from another connection.

The connection has timeouts everywhere: to connect, per statement, per lock wait, and
TCP keepalives both ways, so a runner that vanishes from the network loses its lock
within about a minute instead of holding it for hours.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import errors, pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.inventory.connection import (
    Cursor,
    Database,
    InventoryError,
    busy,
    damaged_value,
    newer_inventory,
)
from reconciler.inventory.location import PostgresLocation

APPLICATION = "reconciler-inventory"
"""What the `inventory_version` row says: this schema is a reconciler inventory."""

_APPLY_LOCK = 0x52434E41  # "RCNA": an apply runs
_WRITE_LOCK = 0x52434E57  # "RCNW": a write transaction runs

_CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "application_name": "reconciler",
    # The client notices a dead server; the settings below make the server notice us.
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}
_SESSION_SETTINGS = {
    "statement_timeout": "60s",
    # A run frozen inside a write transaction would hold every other writer back.
    "idle_in_transaction_session_timeout": "60s",
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}


class PostgresDatabase(Database):
    """One connection to the inventory at a `PostgresLocation`."""

    dialect = "postgresql"
    frees_locks = True

    def __init__(self, location: PostgresLocation, *, timeout: float) -> None:
        super().__init__(location)
        self._where = location
        self._key = zlib.crc32(location.schema.encode("utf-8")) & 0x7FFFFFFF
        self._holding = False
        with self.guarded("connect to the inventory's database"):
            parameters = {**_CONNECT_DEFAULTS, **conninfo_to_dict(location.conninfo)}
            self._connection = psycopg.connect(make_conninfo("", **parameters), autocommit=True)
        try:
            with self.guarded("connect to the inventory's database"):
                settings = {**_SESSION_SETTINGS, "lock_timeout": f"{max(1, int(timeout * 1000))}ms"}
                statements = [
                    sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
                    for name, value in settings.items()
                ]
                statements.append(
                    sql.SQL("SET search_path TO {}").format(sql.Identifier(location.schema))
                )
                self._connection.execute(sql.SQL("; ").join(statements))  # one round trip
        except BaseException:
            self._connection.close()
            raise

    def execute(self, statement: str, params: Sequence[object] = ()) -> Cursor:
        return self._connection.execute(_adapt(statement), tuple(params))

    def executemany(self, statement: str, rows: Iterable[Sequence[object]]) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(_adapt(statement), [tuple(row) for row in rows])

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[None]:
        if write:
            # READ COMMITTED whatever the server's default: each statement after the
            # write lock must see what the writer before committed.
            self._connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        else:
            self._connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            if write:
                self._connection.execute(
                    "SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (_WRITE_LOCK, self._key)
                )
            yield
        except BaseException:
            self._rollback()
            raise
        self._connection.execute("COMMIT")

    @contextmanager
    def guarded(self, doing: str) -> Iterator[None]:
        # `from None`: the driver's own exception may quote the URL, password and all.
        where = self._where
        try:
            yield
        except errors.LockNotAvailable:
            raise InventoryError(busy(where, doing)) from None
        except errors.InsufficientPrivilege as error:
            raise InventoryError(
                f"{where}: cannot {doing}: {_text(error, where)}; {self._grants()}"
            ) from None
        except psycopg.Error as error:
            raise InventoryError(f"{where}: cannot {doing}: {_text(error, where)}") from None

    def _grants(self) -> str:
        """What the role lacks, as far as can be told."""
        schema = self._where.schema
        try:
            exists = self._schema_exists()
        except psycopg.Error:
            exists = True
        if not exists:
            return (
                f"the first use creates schema {schema}, which needs CREATE on the database"
                f" (or ask an administrator to create the schema and grant it to this role)"
            )
        return (
            f"the role needs USAGE on schema {schema} and SELECT, INSERT, UPDATE, DELETE on"
            " its tables (the role that created the inventory has them)"
        )

    def schema_version(self, latest: int) -> int:
        # pg_catalog, not information_schema: that one hides what this role may not use,
        # and an inventory it cannot read must not look like none at all.
        tables = {
            str(row[0])
            for row in self.execute(
                "SELECT c.relname FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = ? AND c.relkind IN ('r', 'p')",
                (self._where.schema,),
            ).fetchall()
        }
        if not tables:
            return 0
        row = None
        if "inventory_version" in tables:
            # Named in full: a schema this role may not use is then "permission denied",
            # not "no such table" (search_path skips what it cannot use).
            row = self._connection.execute(
                sql.SQL("SELECT application, version FROM {}.inventory_version").format(
                    sql.Identifier(self._where.schema)
                )
            ).fetchone()
        if row is None or row[0] != APPLICATION:
            raise InventoryError(
                f"{self._where}: schema {self._where.schema} holds tables, but not a reconciler"
                " inventory; name another schema with ?schema=NAME in the URL"
            )
        try:
            version = int(row[1])
        except (TypeError, ValueError) as error:
            raise damaged_value(self._where, "the inventory's version", error) from None
        if version > latest:
            raise newer_inventory(self._where, version, latest)
        return version

    def prepare_schema(self) -> None:
        if not self._schema_exists():
            self._connection.execute(
                sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self._where.schema))
            )
        self.execute(
            "CREATE TABLE IF NOT EXISTS inventory_version"
            " (application TEXT NOT NULL, version INTEGER NOT NULL)"
        )

    def _schema_exists(self) -> bool:
        row = self.execute(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ?", (self._where.schema,)
        ).fetchone()
        return row is not None

    def set_schema_version(self, version: int) -> None:
        self.execute("DELETE FROM inventory_version")
        self.execute(
            "INSERT INTO inventory_version (application, version) VALUES (?, ?)",
            (APPLICATION, version),
        )

    def take_session_lock(self) -> bool | None:
        if self._holding:
            return False  # advisory locks nest within a session: this one is not free
        row = self._connection.execute(
            "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (_APPLY_LOCK, self._key)
        ).fetchone()
        self._holding = bool(row and row[0])
        return self._holding

    def release_session_lock(self) -> None:
        if not self._holding:
            return
        self._holding = False
        with suppress(psycopg.OperationalError):  # the connection is gone, and the lock too
            self._connection.execute(
                "SELECT pg_advisory_unlock(%s::int4, %s::int4)", (_APPLY_LOCK, self._key)
            )

    def owns_session_lock(self) -> bool:
        return self._holding

    def session_lock_holder(self) -> tuple[int, str] | None:
        row = self._connection.execute(
            "SELECT l.pid, a.application_name, a.client_addr::text FROM pg_locks l"
            " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid::int8 = %s AND l.objid::int8 = %s LIMIT 1",
            (_APPLY_LOCK, self._key),
        ).fetchone()
        if row is None:
            return None
        client = row[2] or "a local socket"
        return int(row[0]), f"{row[1] or 'a client'} from {client}"

    def close(self) -> None:
        # Free the lock before the connection goes: the server would free it a moment
        # later, and a run that checks right away must find it free.
        self.release_session_lock()
        self._connection.close()

    def _rollback(self) -> None:
        if self._connection.closed:
            return
        if self._connection.info.transaction_status == pq.TransactionStatus.IDLE:
            return
        with suppress(psycopg.Error):  # the connection is gone: the server rolled back
            self._connection.execute("ROLLBACK")


def _adapt(statement: str) -> str:
    # The inventory's SQL has no `%` and no `?` but its placeholders.
    return statement.replace("?", "%s")


def _text(error: Any, where: PostgresLocation) -> str:
    """The driver's message on one line, with no secret of `where` in it."""
    lines = [
        line.strip()
        for line in str(error).splitlines()
        # Not the statement's text and its ^ marker: they say nothing to a user.
        if line.strip() and not line.startswith("LINE ") and line.strip() != "^"
    ]
    return where.scrub("; ".join(lines) or type(error).__name__)
