"""The lock: one holder at a time, who it is, and how a person removes a stale one."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.inventory import Inventory, InventoryError, LockedError, LockInfo
from tests.inventory.samples import T0, record


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    Inventory.open(path, create=True).close()
    return path


def test_lock_records_who_holds_it_and_since_when(path: Path) -> None:
    with Inventory.open(path) as inventory:
        taken = inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
        assert taken == LockInfo("reconciler apply", 4242, "ci-runner-7", T0)
    with Inventory.open(path) as later:
        assert later.lock_info() == taken


def test_a_second_lock_is_refused_naming_the_holder(path: Path) -> None:
    with Inventory.open(path) as first, Inventory.open(path) as second:
        held = first.lock("reconciler apply", 4242, "ci-runner-7", T0)
        with pytest.raises(LockedError) as caught:
            second.lock("reconciler apply", 99, "laptop", T0)
    assert caught.value.lock == held
    message = str(caught.value)
    assert "reconciler apply (pid 4242 on ci-runner-7) since 2026-11-30T08:00:00Z" in message
    assert "reconciler state unlock" in message
    assert isinstance(caught.value, InventoryError)


def test_unlock_removes_whatever_lock_is_there_and_returns_it(path: Path) -> None:
    with Inventory.open(path) as inventory:
        held = inventory.lock("reconciler apply", 1, "host", T0)
        assert inventory.unlock() == held
        assert inventory.lock_info() is None
        assert inventory.unlock() is None
        assert inventory.lock("reconciler apply", 2, "host", T0).pid == 2


def test_locking_does_not_move_the_serial(path: Path) -> None:
    with Inventory.open(path) as inventory:
        inventory.lock("reconciler apply", 1, "host", T0)
        inventory.unlock()
        assert inventory.serial == 0


def test_a_batch_that_asks_for_no_lock_is_refused_while_locked(path: Path) -> None:
    with Inventory.open(path) as holder, Inventory.open(path) as other:
        holder.lock("reconciler apply", 1, "host", T0)
        with pytest.raises(LockedError), other.writing(now=T0, if_unlocked=True) as batch:
            batch.put(record(other, "a"))
        with holder.writing(now=T0) as batch:  # the holder itself writes as it applies
            batch.put(record(holder, "b"))
        assert [r.key for r in other.sessions()] == ["b"]


def test_an_inventory_not_created_yet_cannot_be_locked(tmp_path: Path) -> None:
    with (
        Inventory.open(tmp_path / "none.db") as inventory,
        pytest.raises(InventoryError, match="does not exist yet"),
    ):
        inventory.lock("reconciler apply", 1, "host", T0)
    assert not (tmp_path / "none.db").exists()
