"""Migrations: an inventory written by an older reconciler opens, upgraded, with nothing
lost; one from a newer reconciler is refused; a failed upgrade changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reconciler.inventory import SCHEMA_VERSION, Inventory, InventoryError
from reconciler.inventory.connection import Database, SqliteDatabase
from reconciler.inventory.schema import MIGRATIONS, migrate
from tests.inventory.samples import T0, record


def _version_1(path: Path) -> SqliteDatabase:
    """An inventory as the first release wrote it: identity and records, no lock table."""
    raw = SqliteDatabase(path, timeout=1)
    migrate(raw, migrations=MIGRATIONS[:1])
    raw.execute(
        "INSERT INTO sessions (key, session_id, start_time, end_time, canceled, applied,"
        " updated_at) VALUES ('old', 'S-old', '2026-11-30T22:00:00Z', '2026-11-30T22:30:00Z',"
        " 0, NULL, '2026-11-01T00:00:00Z')"
    )
    raw.execute(
        "INSERT INTO participants (session_key, name, id_hash, position)"
        " VALUES ('old', 'dr-who', 'ab12', 0)"
    )
    raw.execute("UPDATE meta SET value = 7 WHERE key = 'serial'")
    return raw


def _version(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])


def test_a_version_1_inventory_is_upgraded_keeping_identity_and_records(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    raw = _version_1(path)
    lineage = raw.execute("SELECT value FROM meta WHERE key = 'lineage'").fetchone()[0]
    raw.close()
    assert _version(path) == 1
    with Inventory.open(path) as inventory:
        assert _version(path) == SCHEMA_VERSION
        assert (inventory.lineage, inventory.serial) == (lineage, 7)
        old = inventory.session("old")
        assert old is not None
        assert (old.session_id, old.participants[0].id_hash, old.applied) == ("S-old", "ab12", None)
        inventory.lock("reconciler apply", 42, "ci", T0)  # the table version 2 added
        assert inventory.lock_info() is not None


def test_a_failed_upgrade_leaves_the_inventory_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    raw = _version_1(path)

    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration 2 failed")

    with pytest.raises(RuntimeError, match="migration 2 failed"):
        migrate(raw, migrations=(MIGRATIONS[0], broken))
    tables = {
        row[0]
        for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    }
    raw.close()
    assert "half_done" not in tables
    assert _version(path) == 1


def test_an_inventory_from_a_newer_reconciler_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Inventory.open(path, create=True).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(InventoryError, match="written by a newer reconciler"):
        Inventory.open(path)


def test_opening_and_reading_an_up_to_date_inventory_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Inventory.open(path, create=True) as inventory, inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a"))
    before = path.read_bytes()
    with Inventory.open(path) as inventory:
        assert inventory.sessions()
        assert inventory.lock_info() is None
        assert inventory.serial == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]
