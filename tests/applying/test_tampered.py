"""A saved plan is a file anyone can edit. Its seal stops an edit by anyone without the
inventory's salt (tests/security/test_plan_file.py); these edits are re-sealed with it, as
by someone who can read the inventory, to show the second line of defence: what apply
sends must come from the manifests and the inventory (which the digest and the serial
vouch for), never from the file alone. And a damaged journal entry never stops later
runs."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from reconciler import engine
from reconciler.clients import SessionChanges, Urls, connect
from reconciler.inventory import Inventory
from reconciler.planning import Kind, sealed_content
from tests.applying.test_cli_apply import (
    apply,
    counts,
    live_sessions,
    reconciler,
    recorded_id,
    rename_out_of_band,
    result_lines,
)
from tests.test_cli_plan import DOCTOR, MONDAY, PATIENT, STATE, session, tree, write

__all__ = ["tree"]  # the fixture


def _edit(change: Any) -> None:
    """Change plan.json, and seal it again with the inventory's key."""
    document = json.loads(Path("plan.json").read_text())
    change(document)
    with Inventory.open(STATE) as inventory:
        document["seal"] = inventory.seal(sealed_content(document))
    Path("plan.json").write_text(json.dumps(document))


def _two_sessions() -> None:
    write(session("first", title="Cardiology"), session("second", MONDAY + timedelta(hours=2)))
    assert apply("--auto-approve").code == 0


def _rename_first_and_save_the_plan() -> None:
    write(
        session("first", title="Cardiology review"),
        session("second", MONDAY + timedelta(hours=2)),
    )
    assert reconciler("plan", "--out", "plan.json").code == 0


def test_an_update_edited_into_a_cancel_of_a_managed_session_is_never_sent(tree: Path) -> None:
    _two_sessions()
    write(
        session("first", title="Cardiology review"), session("second", MONDAY + timedelta(hours=2))
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    second = recorded_id("second")

    def cancel_second(document: dict[str, Any]) -> None:
        (action,) = document["actions"]
        action.update(kind="cancel_session", target="Session/second", session_id=second)

    _edit(cancel_second)
    run = apply("plan.json")

    assert run.code == 0
    (line,) = result_lines(run.out)
    assert line.startswith("skipped     - Session/second (cancel session")
    assert "a plan made now has no such action" in line
    assert {found.session_id for found in live_sessions()} >= {second}  # not cancelled


def test_a_create_added_for_a_recorded_session_makes_no_duplicate(tree: Path) -> None:
    _two_sessions()
    write(
        session("first", title="Cardiology review"), session("second", MONDAY + timedelta(hours=2))
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    document = json.loads(Path("plan.json").read_text())
    create = {
        **document["actions"][0],
        "kind": "create_session",
        "target": "Session/second",
        "session_id": None,
        "payload": {"key": "second", "session_name": "Follow-up"},
    }
    _edit(lambda value: value["actions"].append(create))

    run = apply("plan.json")

    assert counts(run.out) == {"applied": 1, "failed": 0, "skipped": 1, "not started": 0}
    assert sorted(found.session_name or "" for found in live_sessions()) == [
        "Cardiology review",
        "Follow-up",
    ]


def test_a_rename_edited_to_send_other_values_is_never_sent(tree: Path) -> None:
    _two_sessions()
    write(
        session("first", title="Cardiology review"), session("second", MONDAY + timedelta(hours=2))
    )
    assert reconciler("plan", "--out", "plan.json").code == 0

    def other_name(document: dict[str, Any]) -> None:
        document["actions"][0]["changes"][0]["new"] = "Something else entirely"

    _edit(other_name)
    run = apply("plan.json")

    (line,) = result_lines(run.out)
    assert "a plan made now would send something else" in line
    assert "Something else entirely" not in {found.session_name for found in live_sessions()}


def test_a_saved_rename_of_a_session_renamed_by_hand_since_is_skipped_as_changed(
    tree: Path,
) -> None:
    _two_sessions()
    write(
        session("first", title="Cardiology review"), session("second", MONDAY + timedelta(hours=2))
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    rename_out_of_band(recorded_id("first"), "Renamed by hand")

    (line,) = result_lines(apply("plan.json").out)

    assert "the session changed since the plan was made" in line


def test_an_interrupted_update_records_the_sessions_times_as_they_are_live(tree: Path) -> None:
    write(session("first", people=(DOCTOR, PATIENT)))
    assert apply("--auto-approve").code == 0
    moved = MONDAY + timedelta(hours=6)
    write(session("first", moved, people=(DOCTOR, PATIENT)))
    # The run that moved it was killed after its PUT, before recording it.
    live_id = recorded_id("first")
    _put_start(live_id, moved)
    with Inventory.open(STATE) as inventory, inventory.writing(now=MONDAY) as batch:
        batch.intend(
            run="killed",
            target="Session/first",
            kind=Kind.UPDATE_SESSION.value,
            intent={"session_id": live_id, "changes": {"start_time": moved.isoformat()}},
        )

    planned = engine.plan([Path(".")], flags=Urls(), state=None, environ={})

    assert [found.target for found in planned.recovered] == ["Session/first"]
    with Inventory.open(STATE) as inventory:
        record = inventory.session("first")
        assert record is not None
        assert record.start == moved
        assert inventory.pending() == ()


def test_a_damaged_journal_entry_is_settled_and_later_runs_go_on(tree: Path) -> None:
    write(session("first"))
    assert apply("--auto-approve").code == 0
    with Inventory.open(STATE) as inventory, inventory.writing(now=MONDAY) as batch:
        batch.intend(run="x", target="Session/first", kind="create_session", intent={})

    first = reconciler("plan")
    second = reconciler("plan", "--detailed-exitcode")

    assert "its journal entry cannot be read" in first.err
    assert second.code == 0
    assert second.err == ""


def _put_start(session_id: str, start: Any) -> None:
    async def put() -> None:
        targets = engine.targets_for([Path(".")], flags=Urls(), environ={})
        async with connect(targets) as clients:
            await clients.coviu.update_session(
                session_id, SessionChanges(start_time=start, end_time=start + timedelta(minutes=30))
            )

    asyncio.run(put())
