"""`reconciler drift` from the command line: a project applied to the embedded emulator,
then changed out of band through the emulator's API with the project's own clients, as a
person in the Coviu console or another tool would. What drift reports, what it says the
next plan does, its exit codes, its JSON document, and that it writes nothing and shows no
join capability."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from reconciler.clients import (
    Clients,
    LiveParticipant,
    LiveSession,
    ParticipantChanges,
    ParticipantDraft,
    SessionChanges,
    SessionDraft,
)
from reconciler.inventory import Inventory
from reconciler.planning import DesiredSession, SessionRecord
from tests.applying.test_cli_apply import (
    TUESDAY,
    Run,
    apply,
    cancel_out_of_band,
    live_sessions,
    reconciler,
    recorded_id,
    with_clients,
)
from tests.capabilities import assert_no_capability
from tests.test_cli_plan import (
    CLOCK,
    DOCTOR,
    JWT_HEADER,
    MONDAY,
    PATIENT,
    STATE,
    session,
    tree,
    write,
)

__all__ = ["tree"]  # the fixture, used by name


def drift(*args: str) -> Run:
    return reconciler("drift", *args)


def applied(*documents: str) -> None:
    """Write the manifests and apply them: the state drift compares with."""
    write(*documents)
    run = apply("--auto-approve")
    assert run.code == 0, run.out + run.err


def participant(key: str, display_name: str) -> LiveParticipant:
    """The live participant of `Session/<key>` shown as `display_name`."""
    session_id = recorded_id(key)
    (found,) = [
        each
        for each in _live(session_id).participants
        if each.display_name == display_name and not each.removed
    ]
    return found


def _live(session_id: str) -> LiveSession:
    async def read(clients: Clients) -> LiveSession:
        return await clients.coviu.get_session(session_id, deleted_participants=True)

    return with_clients(read)


def rename(session_id: str, name: str) -> None:
    async def change(clients: Clients) -> None:
        await clients.coviu.update_session(session_id, SessionChanges(session_name=name))

    with_clients(change)


def consult() -> str:
    return session("consult", title="Cardiology review", people=[DOCTOR, PATIENT])


def skin() -> str:
    labels = "{clinic: dermatology}"
    return session("skin", TUESDAY, title="Skin check", labels=labels, people=[DOCTOR])


# No drift


def test_drift_finds_nothing_right_after_apply(tree: Path) -> None:
    applied(consult(), skin())

    run = drift("--detailed-exitcode")

    assert run.code == 0, run.out + run.err
    assert run.out.startswith("Drift checked at 2026-12-04T09:00:00+11:00 (server time)")
    assert "No drift: live matches what was last applied (2 session(s) checked)." in run.out


# Changed out of band


def test_drift_reports_a_rename_an_end_time_and_a_display_name_changed_by_hand(
    tree: Path,
) -> None:
    applied(consult())
    session_id = recorded_id("consult")
    later = MONDAY + timedelta(minutes=45)
    doctor = participant("consult", DOCTOR.display_name)

    async def change(clients: Clients) -> None:
        renamed = SessionChanges(session_name="Renamed by hand", end_time=later)
        await clients.coviu.update_session(session_id, renamed)
        changes = ParticipantChanges(display_name="Dr H. Marsh")
        await clients.coviu.update_participant(doctor.participant_id, changes)

    with_clients(change)
    run = drift("--detailed-exitcode")

    assert run.code == 2, run.out + run.err
    assert (
        f"~ Session/consult (session {session_id}): changed out of band (last applied → live)"
    ) in run.out
    assert '    session_name: "Cardiology review" → "Renamed by hand"' in run.out
    assert "    end_time: 2026-12-07T09:30:00+11:00 → 2026-12-07T09:45:00+11:00" in run.out
    assert '    display_name: "Dr Helena Marsh" → "Dr H. Marsh"' in run.out
    assert "~ Session/consult/participants/dr-marsh" in run.out
    assert run.out.count("next: the next apply sets it back to the manifest's value") == 3
    assert run.out.splitlines()[-1].startswith("Drift in 1 of 1 session(s) checked: 2 session")
    # And so it is: the plan sets all three back.
    plan = reconciler("plan")
    assert '    session_name: "Renamed by hand" → "Cardiology review"' in plan.out


def test_a_manifest_changed_to_match_the_hand_change_has_nothing_to_undo(tree: Path) -> None:
    applied(consult())
    session_id = recorded_id("consult")
    rename(session_id, "Renamed by hand")
    write(session("consult", title="Renamed by hand", people=[DOCTOR, PATIENT]))

    run = drift("--detailed-exitcode")

    assert run.code == 2
    assert '    session_name: "Cardiology review" → "Renamed by hand"' in run.out
    assert "      next: the manifest already matches live: nothing to undo" in run.out


# Final


def test_drift_reports_a_session_cancelled_by_hand_as_final_and_plan_never_undoes_it(
    tree: Path,
) -> None:
    applied(consult(), skin())
    cancel_out_of_band(recorded_id("skin"))

    run = drift("--detailed-exitcode")

    assert run.code == 3, run.out + run.err
    assert f"! Session/skin (session {recorded_id('skin')}): cancelled by hand  [final]" in run.out
    assert (
        "    next: final: a cancelled session never comes back; delete the manifest, or give it"
        " a new metadata.name to schedule a new one"
    ) in run.out
    plan = reconciler("plan", "--detailed-exitcode")
    assert plan.code == 3
    assert "create Session/skin" not in plan.out
    assert "update Session/skin" not in plan.out
    assert "! Session/skin" in plan.out
    assert "why: the session was cancelled" in plan.out
    # As advised, the manifest goes: nothing is left to do, for drift as for plan.
    write(consult())
    assert drift("--detailed-exitcode").code == 0
    assert reconciler("plan", "--detailed-exitcode").code == 0


def test_a_participant_removed_by_hand_is_final_and_one_added_by_hand_shows_no_id(
    tree: Path,
) -> None:
    applied(consult())
    session_id = recorded_id("consult")
    patient = participant("consult", PATIENT.display_name)

    async def change(clients: Clients) -> None:
        await clients.coviu.cancel_participant(patient.participant_id)
        visitor = ParticipantDraft(display_name="Visitor", role="guest")
        await clients.coviu.add_participant(session_id, visitor)

    with_clients(change)
    run = drift("--detailed-exitcode")
    document = json.loads(drift("--format", "json").out)

    assert run.code == 3, run.out
    assert "- Session/consult/participants/bernard" in run.out
    assert "removed by hand  [final]" in run.out
    assert (
        f'+ Session/consult (session {session_id}): participant added by hand: "Visitor" (guest)'
    ) in run.out
    added = [item for item in document["items"] if item["kind"] == "participant_added"]
    assert [(item["display_name"], item["role"]) for item in added] == [("Visitor", "guest")]
    (live,) = live_sessions()
    assert_no_capability(live, run.out + run.err, json.dumps(document), count=6)


def test_a_recorded_session_that_no_longer_exists_is_final(tree: Path) -> None:
    applied(consult())
    record = _record("consult")
    ghost = SessionRecord(
        "ghost", "no-such-session", record.start, record.end, applied=_as("ghost", record)
    )
    with Inventory.open(STATE) as inventory, inventory.writing(now=CLOCK) as batch:
        batch.put(ghost)
    write(consult(), session("ghost", title="Ghost"))

    run = drift("--detailed-exitcode")

    assert run.code == 3, run.out
    assert "! Session/ghost (session no-such-session): no longer exists in Coviu  [final]" in (
        run.out
    )
    assert "run `reconciler state forget Session/ghost` to let the next plan create it" in run.out


def _record(key: str) -> SessionRecord:
    with Inventory.open(STATE) as inventory:
        record = inventory.session(key)
    assert record is not None
    return record


def _as(key: str, record: SessionRecord) -> DesiredSession:
    assert record.applied is not None
    return DesiredSession(
        key=key,
        session_name="Ghost",
        start=record.applied.start,
        end=record.applied.end,
        labels={"clinic": "cardiology"},
        source="sessions.yaml",
    )


# Unmanaged, scope


def test_a_session_created_by_hand_is_listed_as_unmanaged(tree: Path) -> None:
    applied(consult())
    start = MONDAY + timedelta(days=2)
    draft = SessionDraft(
        session_name="Walk-in",
        start_time=start,
        end_time=start + timedelta(minutes=20),
        participants=(ParticipantDraft(display_name="Drop-in patient"),),
    )
    made = with_clients(lambda clients: clients.coviu.create_session(draft))

    run = drift("--detailed-exitcode")
    document = json.loads(drift("--format", "json").out)

    assert run.code == 0, run.out  # listed, but not drift: reconciler never touches it
    assert "Unmanaged (1): live sessions no inventory record names" in run.out
    (row,) = [line for line in run.out.splitlines() if made.session_id in line]
    assert '"Walk-in"' in row
    assert "2026-12-09T09:00:00+11:00  2026-12-09T09:20:00+11:00  1" in row
    assert document["unmanaged"] == [
        {
            "session_id": made.session_id,
            "session_name": "Walk-in",
            "start_time": "2026-12-08T22:00:00Z",
            "end_time": "2026-12-08T22:20:00Z",
            "participants": 1,
        }
    ]
    assert_no_capability(made, run.out, count=2)


def test_a_selector_limits_the_report(tree: Path) -> None:
    applied(consult(), skin())
    for key in ("consult", "skin"):
        rename(recorded_id(key), "Renamed by hand")

    both = drift()
    only = drift("--selector", "clinic=dermatology", "--detailed-exitcode")

    assert "~ Session/consult " in both.out
    assert "~ Session/skin " in both.out
    assert only.code == 2
    assert "~ Session/skin " in only.out
    assert "Session/consult" not in only.out
    assert "Drift in 1 of 1 session(s) checked" in only.out


# The document


def test_json_is_a_versioned_document_with_stable_keys(tree: Path) -> None:
    applied(consult())
    session_id = recorded_id("consult")
    rename(session_id, "Renamed by hand")

    run = drift("--format", "json", "--detailed-exitcode")

    assert run.code == 2
    document = json.loads(run.out)
    assert list(document) == [
        "format",
        "version",
        "checked_at",
        "scope",
        "targets",
        "summary",
        "items",
        "unmanaged",
    ]
    assert (document["format"], document["version"]) == ("reconciler-drift", 1)
    assert document["checked_at"] == "2026-12-03T22:00:00Z"
    assert document["summary"]["session_changed"] == 1
    assert document["summary"]["sessions_checked"] == 1
    (item,) = document["items"]
    assert item == {
        "kind": "session_changed",
        "target": "Session/consult",
        "session_id": session_id,
        "compared_with": "applied",
        "field": "session_name",
        "applied": "Cardiology review",
        "live": "Renamed by hand",
        "manifest": "Cardiology review",
        "display_name": None,
        "role": None,
        "final": False,
        "next": "set_back",
        "says": "the next apply sets it back to the manifest's value",
        "starts_at": "2026-12-06T22:00:00Z",
    }


# Read-only, errors, secrets


def test_drift_writes_nothing_and_leaves_pending_journal_entries_to_plan(tree: Path) -> None:
    applied(consult())
    with Inventory.open(STATE) as inventory, inventory.writing(now=CLOCK) as batch:
        batch.intend(run="killed", target="Session/consult", kind="update_session", intent={})
    before = (tree / STATE).read_bytes()

    run = drift("--detailed-exitcode")

    assert run.code == 0, run.out + run.err
    assert "note: an interrupted apply left 1 write(s) unsettled" in run.err
    assert "run `reconciler plan` or `reconciler apply` first" in run.err
    assert (tree / STATE).read_bytes() == before
    with Inventory.open(STATE) as inventory:
        assert len(inventory.pending()) == 1  # a plan would have resolved it


def test_a_usage_error_exits_1_not_2(tree: Path) -> None:
    run = drift("--no-such-option")

    assert run.code == 1


def test_a_malformed_selector_is_an_error_naming_it(tree: Path) -> None:
    write(consult())

    run = drift("--selector", "clinic")

    assert run.code == 1
    assert run.err.startswith("error: --selector 'clinic'")


def test_drift_and_plan_never_show_a_participant_id_or_entry_url(tree: Path) -> None:
    applied(consult())
    doctor = participant("consult", DOCTOR.display_name)
    with_clients(
        lambda clients: clients.coviu.update_participant(
            doctor.participant_id, ParticipantChanges(display_name="Dr H. Marsh")
        )
    )

    runs = [
        reconciler("-v", "drift"),
        drift("--format", "json"),
        reconciler("-v", "plan"),
        reconciler("plan", "--format", "json"),
    ]

    assert "display_name" in runs[0].out
    (live,) = live_sessions()
    seen = "\n".join(run.out + run.err for run in runs)
    assert_no_capability(live, seen, count=4)
    assert JWT_HEADER not in seen


def test_an_adopted_session_renamed_by_hand_is_compared_with_its_manifest(tree: Path) -> None:
    write(consult())
    start = MONDAY
    draft = SessionDraft(
        session_name="Cardiology review",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        participants=(),
    )
    made = with_clients(lambda clients: clients.coviu.create_session(draft))
    assert reconciler("import", "Session/consult", made.session_id).code == 0
    rename(made.session_id, "Renamed by hand")

    run = drift("--detailed-exitcode")

    assert run.code == 2, run.out
    assert (
        "differs from its manifest (adopted by import, not applied since: manifest → live)"
        in run.out
    )
    assert 'session_name: "Cardiology review" → "Renamed by hand"' in run.out


def test_the_json_scope_names_the_only_targets(tree: Path) -> None:
    applied(consult(), skin())

    document = json.loads(drift("--format", "json", "--only", "Session/skin").out)

    assert document["scope"]["only"] == ["Session/skin"]
    assert document["summary"]["sessions_checked"] == 1
