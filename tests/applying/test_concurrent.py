"""Two `reconciler apply` runs on one inventory: the inventory's lock lets exactly one
proceed, the other stops at once naming the holder, and nothing is made twice. With
PostgreSQL the lock is the server's: a run killed with SIGKILL loses it with its
connection, and the next run proceeds at once, takes over the dead run's lock row, and
resolves the dead run's interrupted creates from the journal.

Nothing waits for wall-clock time. The served emulator holds the first creates it gets at
a gate (its injected `sleep`) until the test opens it, so the run holding the lock is still
mid-apply, by construction, while the other one tries to take it; the killed run's creates
are held there for good, so they are known never to have been made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from signal import SIGKILL
from urllib.parse import urlsplit

import pytest

from reconciler.inventory import Inventory, PostgresLocation
from tests.applying import served
from tests.applying.served import (
    Gate,
    Run,
    World,
    converged,
    count,
    gated_world,
    holder,
    journal,
    lock_info,
    reading,
    runs,
    sqlite_rows,
    wait_for,
)
from tests.postgres import postgres_url

pytestmark = pytest.mark.network
__all__ = ["runs"]  # the fixture, used by name

SESSIONS = 24
PARALLELISM = 3


@pytest.fixture
def gate() -> Gate:
    return Gate(holds=PARALLELISM)


@pytest.fixture
def world(tmp_path: Path, state_text: str, gate: Gate) -> Iterator[World]:
    """On each backend in turn."""
    with gated_world(tmp_path, state_text, gate, sessions=SESSIONS) as world:
        yield world


@pytest.fixture
def postgres_world(tmp_path: Path, gate: Gate) -> Iterator[World]:
    with postgres_url() as url, gated_world(tmp_path, url, gate, sessions=SESSIONS) as world:
        yield world


def applying(world: World, name: str) -> Run:
    return Run.start(world, name, "apply", "--auto-approve", "--parallelism", str(PARALLELISM))


def test_of_two_applies_started_at_once_one_proceeds_and_the_other_names_it(
    world: World, gate: Gate, runs: list[Run]
) -> None:
    runs.extend([applying(world, "first"), applying(world, "second")])
    # Whichever takes the lock plans, then waits at the gate with its first creates: it
    # cannot end before the gate opens, so the first to end is the one that was refused.
    wait_for(lambda: any(run.ended() for run in runs), "one of the two applies to end")
    refused = next(run for run in runs if run.ended())
    proceeding = next(run for run in runs if run is not refused)
    assert not proceeding.ended()
    gate.open()
    assert proceeding.wait() == 0, proceeding.output()
    assert refused.wait() == 1, refused.output()

    out, err = refused.output()
    assert f"locked by {holder(proceeding)}" in err
    if isinstance(world.location, PostgresLocation):
        assert "the database frees the lock when that run's connection ends" in err
        password = urlsplit(world.state).password
        assert password is None or password not in err
    else:
        assert "`reconciler state unlock`" in err
    assert "Traceback" not in out + err
    assert "Consultation" not in out, "the refused run showed a plan"
    out, err = proceeding.output()
    assert "Traceback" not in out + err
    assert "took over" not in err

    converged(world)
    # Every write was the proceeding run's: the refused one journaled nothing.
    entries = journal(world)
    assert len({entry.run for entry in entries}) == 1
    assert Counter(entry.kind for entry in entries)["create_session"] == SESSIONS


def test_a_killed_apply_loses_the_lock_with_its_connection_and_the_next_run_takes_over(
    postgres_world: World, gate: Gate, runs: list[Run]
) -> None:
    world = postgres_world
    killed = applying(world, "killed")
    runs.append(killed)

    def stalled_at_the_gate() -> bool:
        """It holds the lock, and each of its parallel creates is journaled and waiting at
        the gate: the run can go no further until the gate opens."""
        held = lock_info(world.location)
        if held is None or held.pid != killed.pid:
            return False
        with Inventory.open(world.location) as inventory:
            pending = len(inventory.pending())
        return pending == gate.waiting == PARALLELISM

    wait_for(stalled_at_the_gate, "the apply to hold the lock with its creates in flight")
    killed.process.send_signal(SIGKILL)
    assert killed.wait() == -SIGKILL
    with Inventory.open(world.location) as inventory:
        interrupted = [entry.target for entry in inventory.pending()]
    assert len(interrupted) == PARALLELISM

    # The server frees the lock when it sees the connection close; the row naming the
    # dead run stays, and is no lock any more.
    wait_for(lambda: lock_info(world.location) is None, "the server to free the lock")
    with reading(world.location) as rows:
        assert rows("SELECT pid FROM lock") == [(killed.pid,)]
    # Its creates stay at the gate: they are never made, and the next run's pass.
    assert gate.waiting == PARALLELISM
    assert count(sqlite_rows(world.emulator_db, "SELECT count(*) FROM sessions")) == 0

    after = served.run(world, "apply", "--auto-approve")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "Traceback" not in after.stdout + after.stderr
    took_over = f"note: took over the lock of {holder(killed)} since "
    assert took_over in after.stderr
    assert "its connection to the inventory ended" in after.stderr
    for target in interrupted:
        assert (
            f"recovered   {target} (create session, interrupted earlier): it was not created"
            " before the run stopped"
        ) in after.stdout

    converged(world)
    states = Counter((entry.kind, entry.state.value) for entry in journal(world))
    assert states[("create_session", "not_applied")] == PARALLELISM
    assert states[("create_session", "applied")] == SESSIONS
    assert states[("create_session", "pending")] == 0
