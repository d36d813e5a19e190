"""The apply journal: an intent committed before each write, settled after it; what a
killed run leaves pending; and a lock whose run has died being taken over."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.inventory import Inventory, LockedError, LockInfo, State
from tests.inventory.samples import T0, record


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    Inventory.open(path, create=True).close()
    return path


def _intend(inventory: Inventory, target: str) -> int:
    with inventory.writing(now=T0) as batch:
        return batch.intend(
            run="run-1", target=target, kind="create_session", intent={"session": {"key": "k"}}
        )


def test_an_intent_is_pending_until_settled_and_survives_reopening(path: Path) -> None:
    with Inventory.open(path) as inventory:
        entry = _intend(inventory, "Session/a")
    with Inventory.open(path) as later:
        (pending,) = later.pending()
        assert (pending.id, pending.target, pending.state) == (entry, "Session/a", State.PENDING)
        assert pending.intent == {"session": {"key": "k"}}
        with later.writing(now=T0 + timedelta(seconds=1)) as batch:
            batch.settle(entry, State.APPLIED, {"session_id": "s-1"})
        assert later.pending() == ()
        (settled,) = later.journal()
        assert settled.state is State.APPLIED
        assert settled.result == {"session_id": "s-1"}
        assert settled.ended_at == T0 + timedelta(seconds=1)


def test_journal_entries_do_not_move_the_serial_but_the_records_settled_with_them_do(
    path: Path,
) -> None:
    with Inventory.open(path) as inventory:
        entry = _intend(inventory, "Session/a")
        assert inventory.serial == 0
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "a"))
            batch.settle(entry, State.APPLIED, None)
        assert inventory.serial == 1


def test_an_outcome_and_its_record_land_together_or_not_at_all(path: Path) -> None:
    with Inventory.open(path) as inventory:
        entry = _intend(inventory, "Session/a")
        with pytest.raises(RuntimeError):
            _settle_then_die(inventory, entry)
        assert inventory.session("a") is None
        assert [pending.id for pending in inventory.pending()] == [entry]


def _settle_then_die(inventory: Inventory, entry: int) -> None:
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a"))
        batch.settle(entry, State.APPLIED, None)
        raise RuntimeError("killed between the two")


def test_a_lock_whose_run_is_gone_is_taken_over_and_says_whose_it_was(path: Path) -> None:
    with Inventory.open(path) as inventory:
        dead = inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
        taken = inventory.lock(
            "reconciler apply", 99, "ci-runner-7", T0, abandoned=lambda held: held.pid == 4242
        )
        assert taken.taken_over == dead
        assert inventory.lock_info() == LockInfo("reconciler apply", 99, "ci-runner-7", T0)


def test_a_lock_whose_run_may_be_alive_is_never_taken_over(path: Path) -> None:
    with Inventory.open(path) as inventory:
        held = inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
        with pytest.raises(LockedError) as caught:
            inventory.lock("reconciler apply", 99, "laptop", T0, abandoned=lambda _: False)
        assert caught.value.lock == held
        assert inventory.lock_info() == held
