"""Migrations: an inventory written by an older reconciler opens, upgraded, with nothing
lost; one from a newer reconciler is refused; a failed upgrade changes nothing; opening
an up-to-date one writes nothing. On both backends: SQLite keeps the version in `PRAGMA
user_version`, PostgreSQL in the `inventory_version` table."""

from __future__ import annotations

import pytest

from reconciler.inventory import SCHEMA_VERSION, Inventory, InventoryError, Location
from reconciler.inventory import PostgresLocation as Postgres
from reconciler.inventory.connection import Database
from reconciler.inventory.schema import MIGRATIONS, migrate
from tests.inventory import stores
from tests.inventory.samples import T0, record


def _version_1(location: Location) -> Database:
    """An inventory as the first release wrote it: identity and records, no lock table."""
    raw = stores.open_database(location)
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
    raw.execute("UPDATE meta SET value = '7' WHERE key = 'serial'")
    return raw


def _version(location: Location) -> int:
    """The version the store says it is, read behind the inventory's back."""
    if isinstance(location, Postgres):
        (row,) = stores.run_sql(location, "SELECT version FROM inventory_version")
    else:
        (row,) = stores.run_sql(location, "PRAGMA user_version")
    return int(row[0])


def _pretend_written_by_version(location: Location, version: int) -> None:
    if isinstance(location, Postgres):
        stores.run_sql(location, "UPDATE inventory_version SET version = ?", (version,))
    else:
        stores.run_sql(location, f"PRAGMA user_version = {version}")


def test_a_version_1_inventory_is_upgraded_keeping_identity_and_records(
    state_location: Location,
) -> None:
    raw = _version_1(state_location)
    lineage = raw.execute("SELECT value FROM meta WHERE key = 'lineage'").fetchone()[0]
    raw.close()
    assert _version(state_location) == 1
    assert "lock" not in stores.tables(state_location)
    with Inventory.open(state_location) as inventory:
        assert _version(state_location) == SCHEMA_VERSION
        assert (inventory.lineage, inventory.serial) == (lineage, 7)
        old = inventory.session("old")
        assert old is not None
        assert (old.session_id, old.participants[0].id_hash, old.applied) == ("S-old", "ab12", None)
        inventory.lock("reconciler apply", 42, "ci", T0)  # the table version 2 added
        assert inventory.lock_info() is not None
        assert inventory.pending() == ()  # the journal version 3 added


def test_a_failed_upgrade_leaves_the_inventory_as_it_was(state_location: Location) -> None:
    raw = _version_1(state_location)
    before = stores.footprint(state_location)

    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("migration 2 failed")

    try:
        with pytest.raises(RuntimeError, match="migration 2 failed"):
            migrate(raw, migrations=(MIGRATIONS[0], broken))
    finally:
        raw.close()
    assert "half_done" not in stores.tables(state_location)
    assert _version(state_location) == 1
    assert stores.footprint(state_location) == before


def test_an_inventory_from_a_newer_reconciler_is_refused(created: Location) -> None:
    _pretend_written_by_version(created, SCHEMA_VERSION + 1)
    before = stores.footprint(created)
    for create in (False, True):
        with pytest.raises(InventoryError, match="written by a newer reconciler") as caught:
            Inventory.open(created, create=create)
        assert str(created) in str(caught.value)
        assert f"inventory version {SCHEMA_VERSION + 1}" in str(caught.value)
    assert stores.footprint(created) == before


def test_opening_and_reading_an_up_to_date_inventory_writes_nothing(created: Location) -> None:
    with Inventory.open(created) as inventory, inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a"))
        batch.intend(run="run-1", target="Session/a", kind="create_session", intent={})
    before = stores.footprint(created)
    with Inventory.open(created) as inventory:
        assert inventory.sessions()
        assert inventory.snapshot()[0] == 1
        assert inventory.session("a") is not None
        assert inventory.lock_info() is None
        assert inventory.pending()
        assert inventory.journal()
        assert inventory.serial == 1
    with Inventory.open(created, create=True) as again:
        assert again.serial == 1
    assert stores.footprint(created) == before
