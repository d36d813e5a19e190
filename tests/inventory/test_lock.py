"""The lock: one holder at a time, who it is, and how a stale one goes away: removed by a
person with SQLite, freed by the server with PostgreSQL when the holder's connection ends."""

from __future__ import annotations

import pytest

from reconciler.inventory import Inventory, InventoryError, Location, LockedError, LockInfo
from tests.inventory import stores
from tests.inventory.samples import T0, record

ADVICE = {
    "sqlite": "if that run is gone, remove the lock with `reconciler state unlock`",
    "postgresql": "the database frees the lock when that run's connection ends",
}
"""What a refused run is told to do, per backend."""


def test_lock_records_who_holds_it_and_since_when(backend: str, created: Location) -> None:
    with Inventory.open(created) as holder, Inventory.open(created) as other:
        taken = holder.lock("reconciler apply", 4242, "ci-runner-7", T0)
        assert taken == LockInfo("reconciler apply", 4242, "ci-runner-7", T0)
        assert taken.taken_over is None
        assert other.lock_info() == taken
    with Inventory.open(created) as later:
        # The holder's connection has ended: a SQLite row stays until someone removes
        # it; PostgreSQL freed the lock with the connection.
        assert later.lock_info() == {"sqlite": taken, "postgresql": None}[backend]


def test_a_second_lock_is_refused_naming_the_holder(backend: str, created: Location) -> None:
    with Inventory.open(created) as first, Inventory.open(created) as second:
        held = first.lock("reconciler apply", 4242, "ci-runner-7", T0)
        with pytest.raises(LockedError) as caught:
            second.lock("reconciler apply", 99, "laptop", T0)
        assert first.lock_info() == held
    assert caught.value.lock == held
    message = str(caught.value)
    assert message.startswith(f"{created}: locked by ")
    assert "reconciler apply (pid 4242 on ci-runner-7) since 2026-11-30T08:00:00Z" in message
    assert ADVICE[backend] in message
    assert isinstance(caught.value, InventoryError)


def test_the_holder_cannot_take_its_own_lock_twice(created: Location) -> None:
    with Inventory.open(created) as holder:
        held = holder.lock("reconciler apply", 4242, "ci-runner-7", T0)
        with pytest.raises(LockedError) as caught:
            holder.lock("reconciler apply", 4242, "ci-runner-7", T0)
        assert caught.value.lock == held
        assert holder.lock_info() == held


def test_unlock_removes_whatever_lock_is_there_and_returns_it(inventory: Inventory) -> None:
    held = inventory.lock("reconciler apply", 1, "host", T0)
    assert inventory.unlock() == held
    assert inventory.lock_info() is None
    assert inventory.unlock() is None
    assert inventory.lock("reconciler apply", 2, "host", T0).pid == 2


def test_once_unlocked_another_run_may_lock(created: Location) -> None:
    with Inventory.open(created) as first, Inventory.open(created) as second:
        first.lock("reconciler apply", 1, "host", T0)
        first.unlock()
        assert second.lock("reconciler apply", 2, "host", T0).taken_over is None
        with pytest.raises(LockedError):
            first.lock("reconciler apply", 1, "host", T0)


def test_unlock_removes_the_lock_of_a_run_that_is_gone(created: Location) -> None:
    with Inventory.open(created) as run:
        dead = run.lock("reconciler apply", 4242, "ci-runner-7", T0)
    with Inventory.open(created) as person:
        assert person.unlock() == dead
        assert person.lock_info() is None
        assert stores.run_sql(created, "SELECT count(*) FROM lock") == [(0,)]


def test_unlock_of_a_live_runs_lock_from_elsewhere(backend: str, created: Location) -> None:
    with Inventory.open(created) as running, Inventory.open(created) as person:
        held = running.lock("reconciler apply", 4242, "ci-runner-7", T0)
        if backend == "sqlite":
            # A person has checked that run is gone: the row is all there is.
            assert person.unlock() == held
            assert running.lock_info() is None
        else:
            with pytest.raises(InventoryError, match="still connected") as caught:
                person.unlock()
            assert not isinstance(caught.value, LockedError)
            assert "reconciler apply (pid 4242 on ci-runner-7)" in str(caught.value)
            assert "frees its lock when its connection ends" in str(caught.value)
            assert person.lock_info() == held
            assert running.unlock() == held


def test_locking_does_not_move_the_serial(inventory: Inventory) -> None:
    inventory.lock("reconciler apply", 1, "host", T0)
    inventory.unlock()
    assert inventory.serial == 0


def test_a_batch_that_asks_for_no_lock_is_refused_while_locked(created: Location) -> None:
    with Inventory.open(created) as holder, Inventory.open(created) as other:
        held = holder.lock("reconciler apply", 1, "host", T0)
        with pytest.raises(LockedError) as caught, other.writing(now=T0, if_unlocked=True) as batch:
            batch.put(record(other, "a"))
        assert caught.value.lock == held
        with holder.writing(now=T0) as batch:  # the holder itself writes as it applies
            batch.put(record(holder, "b"))
        assert [r.key for r in other.sessions()] == ["b"]
        holder.unlock()
        with other.writing(now=T0, if_unlocked=True) as batch:
            batch.put(record(other, "a"))
        assert [r.key for r in holder.sessions()] == ["a", "b"]


def test_an_inventory_not_created_yet_cannot_be_locked(state_location: Location) -> None:
    with (
        Inventory.open(state_location) as inventory,
        pytest.raises(InventoryError, match="does not exist yet"),
    ):
        inventory.lock("reconciler apply", 1, "host", T0)
    assert not stores.exists(state_location)
