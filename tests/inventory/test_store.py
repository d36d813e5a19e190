"""The inventory as its callers see it: open, read, write in batches, and fail clearly.

Every test about what the inventory does runs on both backends (`state_location`); the
few about SQLite's file itself (permissions, damage, a folder in its place, another
program holding its write lock) run on SQLite alone.
"""

from __future__ import annotations

import re
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.errors import ReconcilerError
from reconciler.inventory import Inventory, InventoryError, Location, parse_location, session_key
from tests.inventory import stores
from tests.inventory.samples import T0, record
from tests.postgres import inventory_text


def test_open_of_a_missing_inventory_is_empty_and_creates_nothing(state_location: Location) -> None:
    with Inventory.open(state_location) as inventory:
        assert not inventory.exists
        assert (inventory.serial, inventory.lineage, inventory.location) == (0, "", state_location)
        assert inventory.sessions() == ()
        assert inventory.snapshot() == (0, ())
        assert inventory.session("anything") is None
        assert inventory.pending() == ()
        assert inventory.lock_info() is None
        assert inventory.unlock() is None
    assert not stores.exists(state_location)


def test_open_of_an_empty_store_reads_it_as_missing_and_leaves_it_empty(
    state_location: Location,
) -> None:
    # An empty file (a creator killed before its first migration) or an empty schema
    # (made by an administrator for a role that may not create one): not an inventory yet.
    stores.make_empty(state_location)
    before = stores.footprint(state_location)
    with Inventory.open(state_location) as inventory:
        assert not inventory.exists
        assert inventory.sessions() == ()
    assert stores.footprint(state_location) == before


def test_open_with_create_makes_an_empty_inventory_with_a_lineage(state_location: Location) -> None:
    with Inventory.open(state_location, create=True) as inventory:
        assert inventory.exists
        assert inventory.serial == 0
        assert inventory.sessions() == ()
        assert re.fullmatch(r"[0-9a-f]{32}", inventory.lineage)
    assert stores.exists(state_location)


def test_open_with_create_uses_an_empty_store_made_beforehand(state_location: Location) -> None:
    stores.make_empty(state_location)
    with (
        Inventory.open(state_location, create=True) as inventory,
        inventory.writing(now=T0) as batch,
    ):
        batch.put(record(inventory, "a"))
    with Inventory.open(state_location) as again:
        assert [r.key for r in again.sessions()] == ["a"]


def test_runs_creating_one_inventory_at_once_make_one_inventory(
    backend: str, tmp_path: Path
) -> None:
    def create(location: Location) -> str:
        with Inventory.open(location, create=True) as inventory:
            return inventory.lineage

    # A race: give it many chances to show (a SQLite file is cheap to make).
    for attempt in range({"sqlite": 40, "postgresql": 10}[backend]):
        with (
            inventory_text(backend, tmp_path, f"{attempt}.db") as text,
            ThreadPoolExecutor(max_workers=6) as pool,
        ):
            lineages = [pool.submit(create, parse_location(text)) for _ in range(6)]
            assert len({lineage.result() for lineage in lineages}) == 1


def test_lineage_and_salt_are_made_once_and_kept(state_location: Location) -> None:
    with Inventory.open(state_location, create=True) as first:
        lineage, hashed = first.lineage, first.hash_id("participant-1")
    with Inventory.open(state_location, create=True) as again:
        assert again.lineage == lineage
        assert again.hash_id("participant-1") == hashed


def test_each_inventory_hashes_ids_with_its_own_salt(
    backend: str, tmp_path: Path, state_location: Location
) -> None:
    with (
        inventory_text(backend, tmp_path, "b.db") as other,
        Inventory.open(state_location, create=True) as a,
        Inventory.open(parse_location(other), create=True) as b,
    ):
        assert a.lineage != b.lineage
        assert a.hash_id("participant-1") != b.hash_id("participant-1")
        assert re.fullmatch(r"[0-9a-f]{64}", a.hash_id("participant-1"))
        assert a.hash_id("participant-1") != a.hash_id("participant-2")


def test_missing_inventories_hash_alike_within_one_process(
    backend: str, tmp_path: Path, state_location: Location
) -> None:
    with (
        inventory_text(backend, tmp_path, "b.db") as other,
        Inventory.open(state_location) as a,
        Inventory.open(parse_location(other)) as b,
    ):
        assert a.hash_id("participant-1") == b.hash_id("participant-1")


def test_put_then_read_gives_back_the_same_record(inventory: Inventory) -> None:
    ids = {"patient": "pid-2", "dr-who": "pid-1", "nurse": "pid-3"}
    stored = record(inventory, "cardiology", participant_ids=ids)
    with inventory.writing(now=T0) as batch:
        assert batch.put(stored)
    assert inventory.session("cardiology") == stored
    assert [p.name for p in inventory.sessions()[0].participants] == ["patient", "dr-who", "nurse"]
    applied = inventory.sessions()[0].applied
    assert applied is not None
    assert applied.start.isoformat() == "2026-12-01T09:00:00+11:00"  # the manifest's offset


def test_records_are_there_for_the_next_connection(created: Location) -> None:
    with Inventory.open(created) as writer, writer.writing(now=T0) as batch:
        stored = record(writer, "a", canceled=True)
        batch.put(stored)
    with Inventory.open(created) as reader:
        assert reader.sessions() == (stored,)
        assert reader.snapshot() == (1, (stored,))


def test_sessions_are_sorted_by_key(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        for key in ("zeta", "alpha", "mid"):
            batch.put(record(inventory, key))
    assert [r.key for r in inventory.sessions()] == ["alpha", "mid", "zeta"]


def test_serial_moves_by_one_per_batch_that_changes_something(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a"))
        batch.put(record(inventory, "b"))
    assert inventory.serial == 1
    with inventory.writing(now=T0) as batch:
        assert not batch.put(record(inventory, "a"))  # the same record again
        assert not batch.forget("never-recorded")
    assert inventory.serial == 1
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a", canceled=True))
    assert inventory.serial == 2


def test_put_replaces_the_participants_of_its_key(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a", participant_ids={"x": "1", "y": "2"}))
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a", participant_ids={"y": "2"}))
    stored = inventory.session("a")
    assert stored is not None
    assert [p.name for p in stored.participants] == ["y"]


def test_forget_removes_the_record_and_its_participants(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a", participant_ids={"x": "1", "y": "2"}))
        batch.put(record(inventory, "b"))
    with inventory.writing(now=T0) as batch:
        assert batch.forget("a")
    assert [r.key for r in inventory.sessions()] == ["b"]
    count = "SELECT count(*) FROM participants WHERE session_key = ?"
    assert stores.run_sql(inventory.location, count, ("a",)) == [(0,)]
    assert stores.run_sql(inventory.location, count, ("b",)) == [(1,)]


def test_an_error_inside_a_batch_writes_nothing(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "kept"))

    def crash_halfway() -> None:
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "new"))
            batch.forget("kept")
            raise RuntimeError("applier crashed")

    with pytest.raises(RuntimeError, match="applier crashed"):
        crash_halfway()
    assert [r.key for r in inventory.sessions()] == ["kept"]
    assert inventory.serial == 1
    with Inventory.open(inventory.location) as other:
        assert [r.key for r in other.sessions()] == ["kept"]


def test_a_live_session_recorded_for_another_key_is_refused(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "first", session_id="S1"))

    def claim_s1_again() -> None:
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "other"))
            batch.put(record(inventory, "second", session_id="S1"))

    with pytest.raises(InventoryError, match=r"S1 is already recorded for Session/first"):
        claim_s1_again()
    assert [(r.key, r.session_id) for r in inventory.sessions()] == [("first", "S1")]
    assert inventory.serial == 1


def test_writing_before_the_inventory_exists_is_refused(state_location: Location) -> None:
    with (
        Inventory.open(state_location) as inventory,
        pytest.raises(InventoryError, match="does not exist"),
        inventory.writing(now=T0),
    ):
        pass
    assert not stores.exists(state_location)


def test_a_batch_refuses_writes_after_its_block(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        pass
    with pytest.raises(RuntimeError, match="batch has ended"):
        batch.put(record(inventory, "late"))


def test_a_write_that_cannot_wait_for_another_is_reported(created: Location) -> None:
    with Inventory.open(created) as first, Inventory.open(created, timeout=0) as second:
        with first.writing(now=T0) as batch:
            batch.put(record(first, "a"))
            with (
                pytest.raises(InventoryError, match="another reconciler is using it") as caught,
                second.writing(now=T0) as late,
            ):
                late.put(record(second, "b"))
            assert str(created) in str(caught.value)
        assert [r.key for r in second.sessions()] == ["a"]
        assert second.serial == 1


def test_a_store_of_another_program_is_refused_and_left_alone(
    backend: str, state_location: Location
) -> None:
    stores.make_empty(state_location)
    stores.run_sql(state_location, "CREATE TABLE sessions (seq INTEGER PRIMARY KEY)")
    before = stores.footprint(state_location)
    advice = {"sqlite": "name another file", "postgresql": "name another schema with ?schema="}
    for create in (False, True):
        with pytest.raises(InventoryError, match="not a reconciler inventory") as caught:
            Inventory.open(state_location, create=create)
        assert str(state_location) in str(caught.value)
        assert advice[backend] in str(caught.value)
    assert stores.footprint(state_location) == before
    assert stores.tables(state_location) == {"sessions"}


def test_an_unreadable_record_names_its_session_and_the_way_out(inventory: Inventory) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "broken"))
        batch.put(record(inventory, "fine"))
    stores.run_sql(
        inventory.location, "UPDATE sessions SET applied = '{not json' WHERE key = 'broken'"
    )
    with pytest.raises(InventoryError, match=r"Session/broken: .*state forget broken"):
        inventory.sessions()
    assert inventory.session("fine") is not None


# What only a SQLite file has: folders and permissions, damage to the file itself.


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / ".reconciler" / "state.db"


def test_open_of_a_missing_file_creates_no_folder(path: Path) -> None:
    with Inventory.open(path) as inventory:
        assert inventory.sessions() == ()
    assert not path.parent.exists()


def test_open_with_create_makes_folders_and_a_file_only_its_owner_reads(path: Path) -> None:
    Inventory.open(path, create=True).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_that_is_not_sqlite_is_an_inventory_error_naming_it(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"these are not the rows you are looking for\n" * 200)
    with pytest.raises(InventoryError, match=re.escape(str(path))) as caught:
        Inventory.open(path)
    assert "damaged or not an inventory" in str(caught.value)
    assert isinstance(caught.value, ReconcilerError)


def test_a_damaged_inventory_is_an_inventory_error_naming_it(path: Path) -> None:
    with Inventory.open(path, create=True) as inventory, inventory.writing(now=T0) as batch:
        for number in range(200):
            batch.put(record(inventory, f"session-{number}"))
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xa5" * (len(data) - page)  # every page but the first, overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(InventoryError, match=re.escape(str(path))), Inventory.open(path) as damaged:
        damaged.sessions()


def test_another_program_writing_the_file_makes_a_write_wait_then_give_up(path: Path) -> None:
    Inventory.open(path, create=True).close()
    with (
        closing(sqlite3.connect(path, isolation_level=None)) as other_program,
        Inventory.open(path, timeout=0.1) as inventory,
    ):
        other_program.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held
        with (
            pytest.raises(InventoryError, match="another reconciler is using it"),
            inventory.writing(now=T0) as batch,
        ):
            batch.put(record(inventory, "a"))
        other_program.execute("ROLLBACK")
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "a"))
        assert inventory.serial == 1


def test_a_folder_where_the_file_should_be_is_refused(path: Path) -> None:
    path.mkdir(parents=True)
    with pytest.raises(InventoryError, match="is a folder"):
        Inventory.open(path)


@pytest.mark.parametrize(("text", "key"), [("cardiology", "cardiology"), ("Session/x-1", "x-1")])
def test_session_key_accepts_a_name_or_session_slash_name(text: str, key: str) -> None:
    assert session_key(text) == key


@pytest.mark.parametrize("text", ["SnapshotApproval/review", "", "Session/", "a\nb"])
def test_session_key_refuses_what_names_no_session(text: str) -> None:
    with pytest.raises(InventoryError):
        session_key(text)


def test_a_callers_own_error_inside_a_batch_is_not_blamed_on_the_inventory(
    inventory: Inventory,
) -> None:
    # A bug of the caller (a bad value of its own) must surface as itself: calling it
    # damage would send the user to restore a backup, losing newer records.
    def buggy_caller() -> None:
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "kept"))
            int("not a number")

    with pytest.raises(ValueError, match="invalid literal"):
        buggy_caller()
    assert inventory.sessions() == ()


def test_a_writing_open_puts_a_sqlite_inventory_in_write_ahead_mode_and_reading_keeps_it(
    tmp_path: Path,
) -> None:
    """A commit through the write-ahead log costs about a third of one through the rollback
    journal: every run that writes switches the file once, and it stays switched."""
    path = tmp_path / "state.db"
    with Inventory.open(path, create=True) as inventory, inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a"))
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Inventory.open(path) as inventory:  # a plan reads it as it is
        assert [each.key for each in inventory.sessions()] == ["a"]
    assert not (tmp_path / "state.db-wal").exists()  # a clean close folds the log back
