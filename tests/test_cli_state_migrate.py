"""`reconciler state migrate`: moving an inventory between backends loses nothing (records,
serial, identity, journal), retires the old one so nobody plans against a stale copy,
and refuses, changing nothing, whenever a move would be unsafe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.inventory import Inventory, InventoryError, State, parse_location
from tests.inventory.samples import T0, record
from tests.postgres import inventory_text, postgres_url, server_url

DIRECTIONS = [
    ("sqlite", "postgresql"),
    ("postgresql", "sqlite"),
    ("sqlite", "sqlite"),
]


@pytest.fixture(params=DIRECTIONS, ids=["-to-".join(pair) for pair in DIRECTIONS])
def ends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Where an inventory is moved from, and to: fresh locations on each backend."""
    if "postgresql" in request.param:
        server_url()
    with ExitStack() as stack:
        source = stack.enter_context(inventory_text(request.param[0], tmp_path, "old.db"))
        destination = stack.enter_context(inventory_text(request.param[1], tmp_path, "new.db"))
        yield source, destination


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["state", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def migrate(source: str, destination: str) -> tuple[int, str, str]:
    return invoke("migrate", "--from", source, "--to", destination)


def _fill(text: str) -> None:
    """Two records (one with two participants), and a journal with a settled and a
    pending entry, as an interrupted apply leaves it."""
    with Inventory.open(parse_location(text), create=True) as inventory:
        with inventory.writing(now=T0) as batch:
            batch.put(
                record(
                    inventory,
                    "cardiology-0900",
                    participant_ids={"dr-who": "pid-secret-1", "patient": "pid-secret-2"},
                )
            )
            done = batch.intend(run="r1", target="coviu", kind="create", intent={"key": "a"})
            batch.settle(done, State.APPLIED, {"session_id": "sess-cardiology-0900"})
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "allergy-1000", canceled=True))
            batch.intend(run="r2", target="coviu", kind="cancel", intent={"key": "b"})


def _interrupted_move(source: str, destination: str) -> None:
    """What a move leaves when it dies after the copy landed, before the source was
    retired: the filled source, and its copy."""
    _fill(source)
    with Inventory.open(parse_location(source)) as old:
        content = old.dump()
    with Inventory.open(parse_location(destination), create=True) as new:
        assert new.receive(content)


def test_a_move_keeps_records_serial_identity_and_journal(ends: tuple[str, str]) -> None:
    source, destination = ends
    _fill(source)
    with Inventory.open(parse_location(source)) as old:
        before = (old.lineage, old.serial, old.sessions(), old.journal(), old.dump())
        hashed = old.hash_id("pid-secret-1")

    code, out, err = migrate(source, destination)

    assert (code, err) == (0, "")
    assert "2 sessions, 3 participants, 2 journal entries" in out
    with Inventory.open(parse_location(destination)) as new:
        assert (new.lineage, new.serial, new.sessions(), new.journal(), new.dump()) == before
        # The salt came along: a participant's id still hashes to what is recorded.
        assert new.hash_id("pid-secret-1") == hashed
        assert [entry.state for entry in new.pending()] == [State.PENDING]
        # The next journal entry follows the moved ones rather than reusing an id.
        with new.writing(now=T0) as batch:
            next_id = batch.intend(run="r3", target="coviu", kind="create", intent={})
        assert next_id == max(entry.id for entry in before[3]) + 1
        assert new.lock_info() is None


def test_the_old_inventory_is_retired_and_names_the_new_one(ends: tuple[str, str]) -> None:
    source, destination = ends
    _fill(source)
    assert migrate(source, destination)[0] == 0

    with pytest.raises(InventoryError, match="was moved to") as refused:
        Inventory.open(parse_location(source))
    assert str(parse_location(destination)) in str(refused.value)
    code, _, err = invoke("list", "--state", source)
    assert code == 1
    assert "state migrate" in err
    assert "Traceback" not in err


def test_an_interrupted_move_is_finished_by_running_it_again(ends: tuple[str, str]) -> None:
    source, destination = ends
    _interrupted_move(source, destination)

    code, out, _ = migrate(source, destination)

    assert code == 0
    assert "already there" in out
    with pytest.raises(InventoryError, match="was moved to"):
        Inventory.open(parse_location(source))


def test_a_destination_holding_another_inventory_is_refused_and_nothing_changes(
    ends: tuple[str, str],
) -> None:
    source, destination = ends
    _fill(source)
    with Inventory.open(parse_location(destination), create=True) as other:
        with other.writing(now=T0) as batch:
            batch.put(record(other, "dermatology-1400"))
        theirs = other.dump()

    code, _, err = migrate(source, destination)

    assert code == 1
    assert "already holds another inventory" in err
    with Inventory.open(parse_location(destination)) as other:
        assert other.dump() == theirs
    with Inventory.open(parse_location(source)) as old:  # not retired
        assert len(old.sessions()) == 2


def test_a_stale_copy_in_the_destination_is_refused_not_overwritten(
    ends: tuple[str, str],
) -> None:
    source, destination = ends
    _interrupted_move(source, destination)
    # An apply to the old inventory after the interrupted move.
    with Inventory.open(parse_location(source)) as old, old.writing(now=T0) as batch:
        batch.put(record(old, "dermatology-1400"))

    code, _, err = migrate(source, destination)

    assert code == 1
    assert "older copy of this inventory" in err
    with Inventory.open(parse_location(source)) as old:
        assert len(old.sessions()) == 3


def test_an_inventory_held_by_an_apply_is_not_moved(ends: tuple[str, str]) -> None:
    source, destination = ends
    _fill(source)
    with Inventory.open(parse_location(source)) as old:
        old.lock("reconciler apply", 4242, "ci-runner-7", T0)
        code, _, err = migrate(source, destination)
    assert code == 1
    assert "locked by reconciler apply (pid 4242 on ci-runner-7)" in err
    with Inventory.open(parse_location(destination)) as new:
        assert not new.exists


def test_moving_nothing_or_onto_itself_is_refused(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.db")
    code, _, err = migrate(missing, str(tmp_path / "new.db"))
    assert (code, err.strip()) == (1, f"error: {missing}: no inventory there to move")
    assert not (tmp_path / "new.db").exists()

    _fill(str(tmp_path / "old.db"))
    code, _, err = migrate(str(tmp_path / "old.db"), str(tmp_path / "." / "old.db"))
    assert code == 1
    assert "name the same inventory" in err


def test_no_password_is_ever_shown(tmp_path: Path) -> None:
    parts = urlsplit(server_url())
    netloc = f"{parts.username}:hunter2-not-it@{parts.hostname}:{parts.port or 5432}"
    wrong_password = urlunsplit(parts._replace(netloc=netloc))
    _fill(str(tmp_path / "old.db"))

    code, out, err = migrate(str(tmp_path / "old.db"), wrong_password)

    assert code == 1
    assert "hunter2" not in out + err
    assert "cannot connect to the inventory's database" in err
    assert f"{parts.username}@{parts.hostname}" in err  # names where, without the password
    with Inventory.open(tmp_path / "old.db") as old:  # not retired
        assert old.exists


def test_a_copy_used_since_an_interrupted_move_is_kept_and_the_source_retired(
    ends: tuple[str, str],
) -> None:
    source, destination = ends
    _interrupted_move(source, destination)
    with Inventory.open(parse_location(destination)) as new:
        # The project was pointed at the copy and an apply ran against it.
        with new.writing(now=T0) as batch:
            batch.put(record(new, "dermatology-1400"))
            batch.intend(run="r3", target="coviu", kind="create", intent={"key": "c"})
        ahead = new.dump()

    code, out, err = migrate(source, destination)

    assert (code, err) == (0, "")
    assert "has been used since (serial 3)" in out
    with Inventory.open(parse_location(destination)) as new:
        assert new.dump() == ahead
    with pytest.raises(InventoryError, match="was moved to"):
        Inventory.open(parse_location(source))


def test_copies_that_both_changed_after_an_interrupted_move_are_left_for_a_person(
    ends: tuple[str, str],
) -> None:
    source, destination = ends
    _interrupted_move(source, destination)
    with Inventory.open(parse_location(destination)) as new:
        with new.writing(now=T0) as batch:
            batch.intend(run="r3", target="coviu", kind="create", intent={"key": "c"})
            batch.put(record(new, "dermatology-1400"))
        with new.writing(now=T0) as batch:
            batch.put(record(new, "dermatology-1500"))
        theirs = new.dump()
    with Inventory.open(parse_location(source)) as old, old.writing(now=T0) as batch:
        batch.intend(run="r4", target="coviu", kind="create", intent={"key": "d"})
        batch.put(record(old, "allergy-1100"))
    with Inventory.open(parse_location(source)) as old:
        ours = old.dump()

    code, _, err = migrate(source, destination)

    assert code == 1
    assert "both have been written since an interrupted move" in err
    assert "DROP SCHEMA" not in err
    with Inventory.open(parse_location(destination)) as new:
        assert new.dump() == theirs
    with Inventory.open(parse_location(source)) as old:  # not retired, unchanged
        assert old.dump() == ours


def test_the_same_inventory_under_another_spelling_is_refused_and_left_alone() -> None:
    with postgres_url() as url:
        _fill(url)
        other_spelling = url.replace("postgresql://", "postgres://", 1)

        code, _, err = migrate(url, other_spelling)

        assert code == 1
        assert "--from and --to name the same inventory" in err
        with Inventory.open(parse_location(url)) as inventory:  # not retired
            assert len(inventory.sessions()) == 2
            assert inventory.lock_info() is None


def test_a_run_that_opened_the_inventory_before_the_move_cannot_write_to_it(
    ends: tuple[str, str],
) -> None:
    source, destination = ends
    _fill(source)
    with Inventory.open(parse_location(source)) as earlier:
        assert migrate(source, destination)[0] == 0

        with pytest.raises(InventoryError, match="was moved to"):
            earlier.lock("reconciler apply", 4242, "ci-runner-7", T0)
        with pytest.raises(InventoryError, match="was moved to"), earlier.writing(now=T0) as batch:
            batch.put(record(earlier, "dermatology-1400"))
