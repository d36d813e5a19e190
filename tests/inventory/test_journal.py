"""The apply journal: an intent committed before each write, settled after it; what a
killed run leaves pending; and a lock whose run has died being taken over."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.inventory import Inventory, Location, LockedError, LockInfo, State
from tests.inventory.samples import T0, record


def _intend(inventory: Inventory, target: str) -> int:
    with inventory.writing(now=T0) as batch:
        return batch.intend(
            run="run-1", target=target, kind="create_session", intent={"session": {"key": "k"}}
        )


def test_an_intent_is_pending_until_settled_and_survives_reopening(created: Location) -> None:
    with Inventory.open(created) as inventory:
        entry = _intend(inventory, "Session/a")
    with Inventory.open(created) as later:
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


def test_the_journal_keeps_entries_in_order_and_gives_the_latest(inventory: Inventory) -> None:
    entries = [_intend(inventory, f"Session/{name}") for name in ("a", "b", "c")]
    assert entries == sorted(entries)
    assert [entry.target for entry in inventory.journal()] == [
        "Session/a",
        "Session/b",
        "Session/c",
    ]
    assert [entry.id for entry in inventory.journal(limit=2)] == entries[1:]


def test_journal_entries_do_not_move_the_serial_but_the_records_settled_with_them_do(
    inventory: Inventory,
) -> None:
    entry = _intend(inventory, "Session/a")
    assert inventory.serial == 0
    with inventory.writing(now=T0) as batch:
        batch.put(record(inventory, "a"))
        batch.settle(entry, State.APPLIED, None)
    assert inventory.serial == 1


def test_an_outcome_and_its_record_land_together_or_not_at_all(inventory: Inventory) -> None:
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


def _lock_then_die(location: Location) -> LockInfo:
    """The lock of a run that ended without unlocking: its connection is gone, its row
    is left behind."""
    with Inventory.open(location) as run:
        return run.lock("reconciler apply", 4242, "ci-runner-7", T0)


def test_a_lock_whose_run_is_gone_is_taken_over_and_says_whose_it_was(created: Location) -> None:
    dead = _lock_then_die(created)
    with Inventory.open(created) as inventory:
        taken = inventory.lock(
            "reconciler apply", 99, "ci-runner-7", T0, abandoned=lambda held: held.pid == 4242
        )
        assert taken.taken_over == dead
        assert inventory.lock_info() == LockInfo("reconciler apply", 99, "ci-runner-7", T0)


def test_only_postgresql_knows_unasked_that_a_dead_runs_lock_is_free(
    backend: str, created: Location
) -> None:
    dead = _lock_then_die(created)
    with Inventory.open(created) as inventory:
        if backend == "sqlite":
            # The row is all there is: only the caller can tell that its run is gone.
            with pytest.raises(LockedError) as caught:
                inventory.lock("reconciler apply", 99, "laptop", T0, abandoned=lambda _: False)
            assert caught.value.lock == dead
            assert inventory.lock_info() == dead
        else:
            # The server freed the advisory lock when the run's connection ended.
            assert inventory.lock_info() is None
            taken = inventory.lock("reconciler apply", 99, "laptop", T0, abandoned=lambda _: False)
            assert taken.taken_over == dead
            assert inventory.lock_info() == LockInfo("reconciler apply", 99, "laptop", T0)


def test_a_lock_whose_run_may_be_alive_is_never_taken_over(created: Location) -> None:
    with Inventory.open(created) as running, Inventory.open(created) as inventory:
        held = running.lock("reconciler apply", 4242, "ci-runner-7", T0)
        with pytest.raises(LockedError) as caught:
            inventory.lock("reconciler apply", 99, "laptop", T0, abandoned=lambda _: False)
        assert caught.value.lock == held
        assert inventory.lock_info() == held


def test_only_sqlite_trusts_the_caller_that_a_live_runs_lock_is_abandoned(
    backend: str, created: Location
) -> None:
    with Inventory.open(created) as running, Inventory.open(created) as inventory:
        held = running.lock("reconciler apply", 4242, "ci-runner-7", T0)
        if backend == "sqlite":
            taken = inventory.lock("reconciler apply", 99, "laptop", T0, abandoned=lambda _: True)
            assert taken.taken_over == held
            assert running.lock_info() == LockInfo("reconciler apply", 99, "laptop", T0)
        else:
            # The server knows the holder's connection is alive, whatever the caller says.
            with pytest.raises(LockedError) as caught:
                inventory.lock("reconciler apply", 99, "laptop", T0, abandoned=lambda _: True)
            assert caught.value.lock == held
            assert inventory.lock_info() == held
