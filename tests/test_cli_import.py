"""`reconciler import` from the command line, on the embedded emulator in a scratch
folder: adopting one live session for a manifest, generating manifests for every live
session nobody manages, what each refuses (leaving no file and no record behind), and
that what they adopt then plans, applies and cancels as the inventory's own."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.clients import LiveSession
from reconciler.emulator import DEFAULT_CLIENTS, make_app
from reconciler.emulator.embedded import move_clock
from reconciler.inventory import Inventory
from tests.capabilities import assert_no_capability
from tests.emulator.api import Coviu
from tests.test_cli_plan import (
    CLOCK,
    DOCTOR,
    MONDAY,
    PATIENT,
    STATE,
    Person,
    Run,
    reconciler,
    session,
    tree,
    write,
)

__all__ = ["tree"]  # the fixture, used by name

EMULATOR_DB = Path(".reconciler/emulator.db")
NURSE = Person("nurse", "Community nurse", "guest", "rn-7")
TUESDAY = MONDAY + timedelta(days=1)


# The live API, changed by hand (any body Coviu takes, not only what the clients send)


def by_hand(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the embedded emulator's Coviu API as a person's own script would."""

    async def call() -> Any:
        app = make_app(db=EMULATOR_DB, initial_clock=CLOCK)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://e.test") as http:
                coviu = await Coviu.login(http, DEFAULT_CLIENTS[0])
                response = await coviu.call(method, path, json=body)
                assert response.status_code == 200, response.text
                return response.json()
        finally:
            app.state.emulator.store.close()

    return asyncio.run(call())


def made_by_hand(
    title: str | None,
    start: datetime = MONDAY,
    *,
    minutes: int = 30,
    people: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> LiveSession:
    body = {
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(minutes=minutes)).isoformat(),
        "participants": people or [],
        **fields,
    }
    if title is not None:
        body["session_name"] = title
    return LiveSession.model_validate(by_hand("POST", "/sessions", body))


def person_of(someone: Person) -> dict[str, Any]:
    return {"display_name": someone.display_name, "role": someone.role, "state": someone.state}


def participant_id(live: LiveSession, display_name: str) -> str:
    for found in live.participants:
        if found.display_name == display_name:
            return found.participant_id.get_secret_value()
    raise AssertionError(f"no participant {display_name!r}")


def inventory_now() -> tuple[int, tuple[object, ...]] | None:
    """The inventory's serial and records; None while it does not exist."""
    if not STATE.exists():
        return None
    with Inventory.open(STATE) as inventory:
        return inventory.snapshot()


def statuses() -> dict[str, str]:
    document = json.loads(reconciler("state", "list", "--format", "json").out)
    return {row["key"]: row["status"] for row in document["sessions"]}


def stored() -> bytes:
    """The inventory's bytes (with its WAL): what import recorded, at rest."""
    return b"".join(path.read_bytes() for path in Path(".reconciler").glob("state.db*"))


def import_(*args: str) -> Run:
    return reconciler("import", *args)


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# import --generate: the round trip


def test_generate_writes_manifests_that_plan_no_change_and_adopts_them(tree: Path) -> None:
    (tree / "schemas").mkdir()
    (tree / "schemas" / "manifest.json").write_text("{}")
    write(session("managed", TUESDAY, title="Already managed", people=[DOCTOR]))
    assert reconciler("apply", "--auto-approve").code == 0
    cardiology = made_by_hand(
        "Cardiology follow-up",
        picture="https://example.org/room.png",
        people=[
            {**person_of(DOCTOR), "role": "HOST", "picture": "https://example.org/marsh.png"},
            {"display_name": "Bernard Quill", "state": "007"},
            {"display_name": "no", "state": ""},
            {"role": "guest", "state": "anonymous"},  # no display name: cannot be named
        ],
    )
    odd = made_by_hand("Zoë's: check-up #2 (✓) — 李雷", people=[{"display_name": "Zoë"}])
    twins = [made_by_hand("Group session"), made_by_hand("Group session")]
    running = made_by_hand("Running", CLOCK + timedelta(minutes=30), minutes=120)
    finished = made_by_hand("Finished", CLOCK + timedelta(minutes=10), minutes=10)
    canceled = made_by_hand("Cancelled", TUESDAY)
    by_hand("DELETE", f"/sessions/{canceled.session_id}")
    move_clock(EMULATOR_DB, to=CLOCK + timedelta(minutes=40))  # one runs, one has finished

    run = import_("--generate", "imported")

    assert run.code == 0, run.err
    written = {
        "cardiology-follow-up-2026-12-06-2200.yaml",
        "zoe-s-check-up-2-2026-12-06-2200.yaml",
        "group-session-2026-12-06-2200.yaml",
        "group-session-2026-12-06-2200-2.yaml",
        "running-2026-12-03-2230.yaml",
    }
    assert set(files_in(tree / "imported")) == written
    for name in written:
        assert f"wrote imported/{name}: Session/{name.removesuffix('.yaml')} adopts" in run.out
    assert "1 participant(s) without a display name left out" in run.out
    assert "Adopted 5 live session(s) into the inventory" in run.out
    cardiology_file = (tree / "imported" / "cardiology-follow-up-2026-12-06-2200.yaml").read_text()
    assert cardiology_file.startswith("# yaml-language-server: $schema=../schemas/manifest.json\n")
    assert f"live Coviu session {cardiology.session_id}" in cardiology_file
    assert "start_time: 2026-12-06T22:00:00Z\n" in cardiology_file
    assert "      role: host\n      picture: https://example.org/marsh.png\n" in cardiology_file
    assert "state: '007'" in cardiology_file
    # Twins (same name, same start) are told apart in the order they were made.
    twin = (tree / "imported" / "group-session-2026-12-06-2200-2.yaml").read_text()
    assert twins[1].session_id in twin
    # Valid manifests; a plan with nothing to do; recorded as adopted.
    assert reconciler("validate").code == 0
    plan = reconciler("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert "No changes: live matches the manifests." in plan.out
    assert "1 live participant(s) not in the inventory" in plan.out  # the nameless one
    assert statuses() == {
        "managed": "applied",
        **{name.removesuffix(".yaml"): "adopted" for name in written},
    }
    assert finished.session_id not in json.dumps(statuses())
    # Nothing is left to generate; no join capability shows anywhere.
    again = import_("--generate", "imported")
    assert again.code == 0, again.err
    assert "No unmanaged live sessions" in again.out
    assert set(files_in(tree / "imported")) == written
    texts = [(tree / "imported" / name).read_text() for name in written]
    for live in (cardiology, odd, running):
        count = 2 * len(live.participants)
        assert_no_capability(
            live, run.out, run.err, plan.out, again.out, *texts, stored(), count=count
        )
    assert running.session_id in run.out


def test_generate_labels_them_so_that_the_selector_picks_them_out(tree: Path) -> None:
    write(session("managed", TUESDAY, labels="{clinic: cardiology}"))
    assert reconciler("apply", "--auto-approve").code == 0
    adopted = made_by_hand("Walk-in")

    run = import_("--generate", "imported", "--selector", "source=import,batch=1")

    assert run.code == 0, run.err
    assert "`reconciler plan --selector batch=1,source=import` selects exactly them" in run.out
    text = (tree / "imported" / "walk-in-2026-12-06-2200.yaml").read_text()
    assert "  labels:\n    batch: '1'\n    source: import\n" in text
    by_hand("PUT", f"/sessions/{adopted.session_id}", {"session_name": "Renamed by hand"})
    selected = reconciler("plan", "--selector", "source=import", "--format", "json")
    document = json.loads(selected.out)
    assert [item["target"] for item in document["actions"]] == ["Session/walk-in-2026-12-06-2200"]
    assert document["summary"]["ignored"]["out_of_scope"] == 1  # Session/managed


def test_generate_writes_times_at_the_offset_asked_for(tree: Path) -> None:
    made_by_hand("Evening clinic")

    run = import_("--generate", "imported", "--utc-offset", "+11:00")

    assert run.code == 0, run.err
    text = (tree / "imported" / "evening-clinic-2026-12-07-0900.yaml").read_text()
    assert "start_time: 2026-12-07T09:00:00+11:00\n" in text
    assert "end_time: 2026-12-07T09:30:00+11:00\n" in text
    assert "yaml-language-server" not in text  # no schemas in this repository
    assert reconciler("plan", "--detailed-exitcode").code == 0


def test_generated_names_avoid_every_declared_manifest_and_recorded_key(tree: Path) -> None:
    write(session("walk-in-2026-12-06-2200", TUESDAY))  # declared, never applied
    made_by_hand("Walk-in")

    run = import_("--generate", "imported")

    assert run.code == 0, run.err
    assert files_in(tree / "imported") == ["walk-in-2026-12-06-2200-2.yaml"]


def test_generate_with_nothing_unmanaged_writes_nothing(tree: Path) -> None:
    write(session("managed", TUESDAY))
    assert reconciler("apply", "--auto-approve").code == 0
    before = inventory_now()

    run = import_("--generate", "imported")

    assert run.code == 0, run.err
    assert "No unmanaged live sessions" in run.out
    assert not (tree / "imported").exists()
    assert inventory_now() == before


# import --generate: refusals leave nothing behind


def test_generate_refuses_an_existing_file_before_writing_anything(tree: Path) -> None:
    made_by_hand("Walk-in")
    made_by_hand("Other")
    (tree / "imported").mkdir()
    (tree / "imported" / "walk-in-2026-12-06-2200.yaml").write_text("# mine\n")

    run = import_("--generate", "imported")

    assert run.code == 1
    assert run.err.startswith("error: imported/walk-in-2026-12-06-2200.yaml: already exists")
    assert files_in(tree / "imported") == ["walk-in-2026-12-06-2200.yaml"]
    assert (tree / "imported" / "walk-in-2026-12-06-2200.yaml").read_text() == "# mine\n"
    assert inventory_now() is None


def test_generate_refuses_a_folder_outside_the_project(tree: Path) -> None:
    made_by_hand("Walk-in")

    run = import_("--generate", "../elsewhere")

    assert run.code == 1
    assert "error: ../elsewhere: outside the project" in run.err
    assert not (tree.parent / "elsewhere").exists()
    assert inventory_now() is None


def test_generate_while_an_apply_holds_the_lock_leaves_no_file_and_no_record(tree: Path) -> None:
    write(session("managed", TUESDAY))
    assert reconciler("apply", "--auto-approve").code == 0
    made_by_hand("Walk-in")
    with Inventory.open(STATE) as inventory:
        inventory.lock("reconciler apply", 4242, "another-host", CLOCK)
    before = inventory_now()

    run = import_("--generate", "imported/new")

    assert run.code == 1
    assert "reconciler apply" in run.err
    assert not (tree / "imported").exists()  # nor the folders made for the files
    assert inventory_now() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--utc-offset", "Australia/Sydney"], "--utc-offset 'Australia/Sydney'"),
        (["--selector", "source=not ok"], "--selector source=not ok"),
    ],
)
def test_generate_refuses_bad_options(tree: Path, args: list[str], message: str) -> None:
    made_by_hand("Walk-in")

    run = import_("--generate", "imported", *args)

    assert run.code == 1
    assert message in run.err
    assert not (tree / "imported").exists()
    assert inventory_now() is None


# import Session/NAME SESSION_ID


def test_import_adopts_the_participants_matched_by_display_name_and_state(tree: Path) -> None:
    write(session("physio", people=[DOCTOR, PATIENT, NURSE]))
    live = made_by_hand(
        "Follow-up",
        people=[
            {**person_of(DOCTOR), "role": "guest"},  # the role differs: updated, not added
            {**person_of(PATIENT), "state": "40213"},
            {**person_of(PATIENT), "state": ""},
            {"display_name": "Visitor", "role": "host"},
            person_of(NURSE),
        ],
    )
    by_hand("DELETE", f"/participants/{participant_id(live, NURSE.display_name)}")

    run = import_("Session/physio", live.session_id)

    assert run.code == 0, run.err
    assert run.out.startswith(f"adopted Session/physio: live session {live.session_id},")
    assert "  participant dr-marsh: adopted (id hash " in run.out
    assert "  participant bernard: adopted (id hash " in run.out
    assert "  participant nurse: no live participant has that display name and state" in run.out
    assert "2 live participant(s) the manifest does not name: 'Bernard Quill' (guest)," in run.out
    assert "'Visitor' (host)" in run.out
    assert "+ add Session/physio/participants/nurse" in run.out
    assert "Run `reconciler plan`" in run.out
    assert statuses() == {"physio": "adopted"}
    plan = reconciler("plan", "--detailed-exitcode", "--format", "json")
    assert plan.code == 2
    actions = [(item["kind"], item["target"]) for item in json.loads(plan.out)["actions"]]
    assert actions == [
        ("update_participant", "Session/physio/participants/dr-marsh"),
        ("add_participant", "Session/physio/participants/nurse"),
    ]
    assert_no_capability(live, run.out, run.err, plan.out, stored(), count=10)


def test_import_then_apply_records_the_manifest_and_the_next_plan_is_empty(tree: Path) -> None:
    write(session("physio", people=[DOCTOR, NURSE]))
    live = made_by_hand("Follow-up", people=[person_of(DOCTOR)])
    assert import_("physio", live.session_id).code == 0

    applied = reconciler("apply", "--auto-approve")

    assert applied.code == 0, applied.err
    assert "+ add Session/physio/participants/nurse" in applied.out
    assert statuses() == {"physio": "applied"}
    again = reconciler("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes" in again.out


def test_a_removed_manifest_cancels_its_adopted_session_only_once_applied(tree: Path) -> None:
    write(session("other", TUESDAY), name="other.yaml")
    write(session("physio"))
    live = made_by_hand("Follow-up")
    assert import_("Session/physio", live.session_id).code == 0
    Path("sessions.yaml").unlink()

    never_applied = reconciler("plan", "--format", "json")

    # Adopted but never applied: the inventory cannot tell this run owns it.
    targets = [item["target"] for item in json.loads(never_applied.out)["actions"]]
    assert targets == ["Session/other"]
    write(session("physio"))
    assert reconciler("apply", "--auto-approve").code == 0
    Path("sessions.yaml").unlink()
    once_applied = reconciler("plan")
    assert f"- cancel Session/physio (session {live.session_id})" in once_applied.out


def test_importing_the_same_session_again_says_so_and_writes_nothing(tree: Path) -> None:
    write(session("physio"))
    live = made_by_hand("Follow-up")
    assert import_("Session/physio", live.session_id).code == 0
    before = inventory_now()

    run = import_("physio", live.session_id)

    assert run.code == 0, run.err
    assert run.out == (
        f"Session/physio is already recorded for live session {live.session_id}: nothing"
        " to adopt, nothing written\n"
    )
    assert inventory_now() == before


def _refusal(case: str) -> tuple[str, str]:
    """Set the scene of one refusal; the session id to import, and what is said."""
    write(session("physio", people=[PATIENT]), session("other", TUESDAY))
    live = made_by_hand("Follow-up", people=[person_of(PATIENT)])
    if case == "ambiguous":
        twin = made_by_hand("Follow-up", people=[person_of(PATIENT), person_of(PATIENT)])
        return twin.session_id, "Session/physio/participants/bernard: 2 live participants"
    if case == "name-taken":
        assert import_("other", made_by_hand("Other").session_id).code == 0
        return live.session_id, "Session/other is already recorded for live session"
    if case == "id-taken":
        assert import_("Session/physio", live.session_id).code == 0
        return live.session_id, f"live session {live.session_id} is already recorded as"
    if case == "cancelled":
        by_hand("DELETE", f"/sessions/{live.session_id}")
        return live.session_id, f"live session {live.session_id} was cancelled"
    if case == "finished":
        move_clock(EMULATOR_DB, to=MONDAY + timedelta(hours=1))
        return live.session_id, f"live session {live.session_id} finished at"
    if case == "unknown":
        return "no-such-session", "live session no-such-session: Coviu"
    if case == "no-manifest":
        return live.session_id, "Session/absent: no manifest under . declares it"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["ambiguous", "name-taken", "id-taken", "cancelled", "finished", "unknown", "no-manifest"],
)
def test_import_refuses_and_changes_nothing(tree: Path, case: str) -> None:
    session_id, message = _refusal(case)
    key = {"name-taken": "other", "id-taken": "other", "no-manifest": "absent"}.get(case, "physio")
    before = inventory_now()

    run = import_(f"Session/{key}", session_id)

    assert run.code == 1
    assert run.err.startswith("error: "), run.err
    assert message in run.err
    assert "Traceback" not in run.err
    assert inventory_now() == before


def test_import_needs_a_name_and_an_id(tree: Path) -> None:
    write(session("physio"))

    run = import_("Session/physio")

    assert run.code == 1
    assert "give Session/NAME and the live SESSION_ID" in run.err
    assert inventory_now() is None


def _killed_create(name: str) -> None:
    """What a killed apply leaves: the create of Session/NAME sent (the session exists
    live) and its journal entry pending, with no record yet."""
    with Inventory.open(STATE) as inventory:
        record = inventory.session(name)
        assert record is not None
        assert record.applied is not None
        with inventory.writing(now=CLOCK) as batch:
            batch.forget(name)
            batch.intend(
                run="killed",
                target=f"Session/{name}",
                kind="create_session",
                intent={"session": record.applied.to_json()},
            )


@pytest.mark.parametrize("form", ["generate", "one"])
def test_import_waits_for_an_interrupted_apply_to_be_resolved(tree: Path, form: str) -> None:
    write(session("physio", people=[PATIENT]), session("other", TUESDAY))
    assert reconciler("apply", "--auto-approve").code == 0
    live_id = json.loads(reconciler("state", "show", "physio", "--format", "json").out)[
        "session_id"
    ]
    _killed_create("physio")
    write(session("physio", people=[PATIENT]), session("other", TUESDAY), session("spare"))
    before = inventory_now()

    args = ["--generate", "imported"] if form == "generate" else ["spare", live_id]
    run = import_(*args)

    # Adopting the session the killed create made, under another name, would let the
    # next plan conclude the create never happened and make it a second time.
    assert run.code == 1
    assert "an interrupted apply left 1 write(s) unresolved" in run.err
    assert inventory_now() == before
    assert not (tree / "imported").exists()
    replanned = reconciler("plan")
    assert "recovered" in replanned.err
    assert "+ create Session/physio" not in replanned.out


def test_generate_lists_from_a_day_back_not_the_whole_history(tree: Path) -> None:
    long_stay = made_by_hand("Long stay", CLOCK + timedelta(hours=1), minutes=5 * 24 * 60)
    recent = made_by_hand("Ward round", CLOCK + timedelta(days=2), minutes=24 * 60)
    # Both run now: the ward round started 12 hours ago, the long stay over two days ago.
    move_clock(EMULATOR_DB, to=CLOCK + timedelta(days=2, hours=12))

    run = import_("--generate", "imported")

    assert run.code == 0, run.err
    assert files_in(tree / "imported") == ["ward-round-2026-12-05-2200.yaml"]
    written = (tree / "imported" / "ward-round-2026-12-05-2200.yaml").read_text()
    assert recent.session_id in written
    assert long_stay.session_id not in written


def test_import_one_while_an_apply_holds_the_lock_writes_nothing(tree: Path) -> None:
    write(session("managed", TUESDAY), session("physio", people=[PATIENT]))
    assert reconciler("apply", "--auto-approve", "--only", "Session/managed").code == 0
    live = made_by_hand("Follow-up", people=[person_of(PATIENT)])
    with Inventory.open(STATE) as inventory:
        inventory.lock("reconciler apply", 4242, "another-host", CLOCK)
    before = inventory_now()

    run = import_("Session/physio", live.session_id)

    assert run.code == 1
    assert "locked by reconciler apply" in run.err
    assert inventory_now() == before
