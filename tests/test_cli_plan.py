"""`reconciler plan` from the command line, on the embedded emulator in a scratch folder:
what it shows in each format, its exit codes, the flags that shape it, the errors it
reports, that it writes nothing but `--out`, and that no join capability ever shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner

from reconciler import engine
from reconciler.cli import main
from reconciler.clients import LiveSession, ParticipantDraft, SessionDraft, Urls, connect
from reconciler.clients.targets import AUVIOUS_ENV, COVIU_ENV
from reconciler.inventory import Inventory
from reconciler.planning import DesiredParticipant, DesiredSession, ParticipantRecord, SessionRecord
from tests.capabilities import assert_no_capability

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "clinic"
SYDNEY = timezone(timedelta(hours=11))
CLOCK = datetime(2026, 12, 4, 9, 0, tzinfo=SYDNEY)
"""The embedded emulator's clock: reconciler.yaml sets it when the database is created."""
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=SYDNEY)
STATE = Path(".reconciler/state.db")
SETTINGS = (*COVIU_ENV, *AUVIOUS_ENV, "RECONCILER_STATE", "NO_COLOR")
"""What the environment may set that `tree` clears."""
JWT_HEADER = "eyJhbGciOiAiSFMyNTYi"
"""How every access token the emulator issues begins (its base64url JOSE header)."""


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clinic repository as the working folder: a reconciler.yaml that sets the
    emulator's clock, and an environment with no API settings from the machine."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "reconciler.yaml").write_text(f"emulator:\n  clock: {CLOCK.isoformat()}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass(frozen=True)
class Person:
    name: str
    display_name: str
    role: Literal["host", "guest"] = "guest"
    state: str | None = None


def session(
    name: str,
    start: datetime = MONDAY,
    *,
    title: str = "Follow-up",
    labels: str = "{clinic: cardiology}",
    people: Sequence[Person] = (),
) -> str:
    """A Session manifest (30 minutes long)."""
    lines = [
        "apiVersion: reconciler/v1",
        "kind: Session",
        "metadata:",
        f"  name: {name}",
        f"  labels: {labels}",
        "spec:",
        f"  session_name: {title}",
        f"  start_time: {start.isoformat()}",
        "  duration: 30m",
    ]
    if people:
        lines.append("  participants:")
    for person in people:
        lines += [
            f"    - name: {person.name}",
            f"      display_name: {person.display_name}",
            f"      role: {person.role}",
        ]
        if person.state is not None:
            lines.append(f'      state: "{person.state}"')
    return "\n".join(lines) + "\n"


def write(*documents: str, name: str = "sessions.yaml") -> Path:
    path = Path(name)
    path.write_text("---\n".join(documents))
    return path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def reconciler(*args: str) -> Run:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return Run(result.exit_code, result.stdout, result.stderr)


def plan(*args: str) -> Run:
    return reconciler("plan", *args)


def creates(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("+ create Session/")]


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


# Live state, made through the clients, as an earlier apply would have left it.


def go_live(draft: SessionDraft) -> LiveSession:
    """Create `draft` in the embedded emulator of the working folder."""

    async def create() -> LiveSession:
        targets = engine.targets_for([Path(".")], flags=Urls(), environ={})
        async with connect(targets) as clients:
            return await clients.coviu.create_session(draft)

    return asyncio.run(create())


def draft_of(title: str, start: datetime, people: Sequence[Person]) -> SessionDraft:
    return SessionDraft(
        session_name=title,
        start_time=start,
        end_time=start + timedelta(minutes=30),
        participants=tuple(
            ParticipantDraft(display_name=p.display_name, role=p.role, state=p.state)
            for p in people
        ),
    )


def remember(key: str, live: LiveSession, people: Sequence[Person], *, title: str) -> None:
    """Record `live` as `Session/<key>` in the inventory, as apply does."""
    by_display = {found.display_name: found for found in live.participants}
    with Inventory.open(STATE, create=True) as inventory, inventory.writing(now=CLOCK) as batch:
        batch.put(
            SessionRecord(
                key=key,
                session_id=live.session_id,
                start=live.start_time,
                end=live.end_time,
                participants=tuple(
                    ParticipantRecord(
                        person.name,
                        inventory.hash_id(
                            by_display[person.display_name].participant_id.get_secret_value()
                        ),
                    )
                    for person in people
                ),
                applied=DesiredSession(
                    key=key,
                    session_name=title,
                    start=live.start_time.astimezone(SYDNEY),
                    end=live.end_time.astimezone(SYDNEY),
                    participants=tuple(
                        DesiredParticipant(p.name, p.display_name, p.role, state=p.state)
                        for p in people
                    ),
                    labels={"clinic": "cardiology"},
                    source="sessions.yaml",
                ),
            )
        )


DOCTOR = Person("dr-marsh", "Dr Helena Marsh", "host", "provider-2291")
PATIENT = Person("bernard", "Bernard Quill", "guest", "40213")


# What it shows


def test_plan_lists_creates_and_a_summary_that_says_until_when_it_holds(tree: Path) -> None:
    write(session("first"), session("second", MONDAY + timedelta(hours=2)))

    run = plan()

    assert run.code == 0, run.err
    assert creates(run.out) == ["+ create Session/first", "+ create Session/second"]
    assert run.out.startswith("Plan made at 2026-12-04T09:00:00+11:00 (server time)")
    summary = run.out.splitlines()[-1]
    # The first create stops being legal when its session starts, less a minute's margin.
    assert summary == "Plan: 2 to create. Valid until 2026-12-07T08:59:00+11:00."


def test_plan_json_is_the_versioned_document_byte_for_byte_stable(tree: Path) -> None:
    write(session("first", people=[DOCTOR, PATIENT]), session("second", MONDAY + timedelta(days=1)))

    first, second = plan("--format", "json"), plan("--format", "json")

    assert first.code == second.code == 0
    assert first.out == second.out
    document = json.loads(first.out)
    assert (document["format"], document["version"]) == ("reconciler-plan", 2)
    assert document["simulated"] is False
    assert document["summary"]["create_session"] == 2
    assert [action["target"] for action in document["actions"]] == [
        "Session/first",
        "Session/second",
    ]
    payload = document["actions"][0]["payload"]
    assert [person["name"] for person in payload["participants"]] == ["dr-marsh", "bernard"]


def test_plan_markdown_leads_with_the_summary_and_folds_the_details(tree: Path) -> None:
    write(session("first"))

    run = plan("--format", "markdown")

    assert run.code == 0, run.err
    assert run.out.startswith("### reconciler plan: 1 to create. Valid until")
    assert "<details><summary>Actions (1)</summary>" in run.out
    assert "+ create Session/first" in run.out


def test_plan_out_saves_the_json_document(tree: Path) -> None:
    write(session("first"), session("second", MONDAY + timedelta(hours=1)))

    saved = plan("--out", "plan.json")
    printed = plan("--format", "json")

    assert saved.code == 0, saved.err
    assert creates(saved.out) == ["+ create Session/first", "+ create Session/second"]
    assert Path("plan.json").read_text() == printed.out


def test_plan_writes_nothing_but_the_emulators_own_database(tree: Path) -> None:
    write(session("first"))
    before = files_under(tree)

    for output_format in ("text", "json", "markdown"):
        assert plan("--format", output_format, "--detailed-exitcode").code == 2

    written = files_under(tree) - before
    assert not (tree / STATE).exists()
    # The embedded emulator keeps its (API-side) data in SQLite: that is all.
    assert {path for path in written if not path.startswith(".reconciler/emulator.db")} == set()


def test_the_embedded_emulator_lives_beside_the_inventory_whichever_folder_runs(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(session("first"))
    (tree / "team").mkdir()
    monkeypatch.chdir(tree / "team")

    # From a subfolder, naming the project: its clock, its database, nothing here.
    shown = reconciler("emulator", "clock", "..")
    assert shown.out.strip() == "2026-12-03T22:00:00Z"  # reconciler.yaml's 09:00 +11:00
    assert plan("..", "--detailed-exitcode").code == 2

    assert (tree / ".reconciler" / "emulator.db").exists()
    assert list((tree / "team").iterdir()) == []


# Exit codes


def test_detailed_exitcode_is_0_when_live_matches_the_manifests(tree: Path) -> None:
    write(session("consult", title="Cardiology review", people=[DOCTOR, PATIENT]))
    live = go_live(draft_of("Cardiology review", MONDAY, [DOCTOR, PATIENT]))
    remember("consult", live, [DOCTOR, PATIENT], title="Cardiology review")

    run = plan("--detailed-exitcode")

    assert run.code == 0, run.out + run.err
    assert "No changes: live matches the manifests." in run.out


def test_a_selector_that_matches_nothing_is_an_error_not_an_empty_plan(tree: Path) -> None:
    write(session("first"))

    run = plan("--detailed-exitcode", "--selector", "clinic=nowhere")

    assert run.code == 1, run.out
    assert "error: --selector clinic=nowhere: matches no manifest" in run.err
    assert run.out == ""


def test_detailed_exitcode_is_2_for_changes_to_apply(tree: Path) -> None:
    write(session("first"))

    assert plan("--detailed-exitcode").code == 2
    assert plan().code == 0  # without the flag, a plan that worked exits 0


def test_detailed_exitcode_is_3_for_what_cannot_be_done(tree: Path) -> None:
    write(session("yesterday", CLOCK - timedelta(days=1)))

    run = plan("--detailed-exitcode")

    assert run.code == 3
    assert "! create Session/yesterday" in run.out
    assert "possible: never" in run.out
    assert run.out.splitlines()[-1] == "Plan: nothing to do; 1 blocked."


def test_detailed_exitcode_3_wins_over_2(tree: Path) -> None:
    write(session("yesterday", CLOCK - timedelta(days=1)), session("monday"))

    run = plan("--detailed-exitcode")

    assert run.code == 3
    assert creates(run.out) == ["+ create Session/monday"]


def test_example_clinic_plans_twelve_creates(tree: Path) -> None:
    run = plan(str(EXAMPLE))

    assert run.code == 0, run.err
    assert len(creates(run.out)) == 12
    assert "Plan: 12 to create; 1 unreconcilable." in run.out
    # Its SnapshotApproval names a snapshot that this emulator does not have.
    assert "! SnapshotApproval/dermatology-wound-review-2026-12-09" in run.out
    assert plan(str(EXAMPLE), "--detailed-exitcode").code == 3


# Flags that shape the plan


def test_selector_limits_the_plan_to_matching_labels(tree: Path) -> None:
    write(
        session("heart", labels="{clinic: cardiology, site: parramatta}"),
        session("skin", labels="{clinic: dermatology, site: parramatta}"),
        session("knee", labels="{clinic: physio, site: penrith}"),
    )

    assert creates(plan("--selector", "clinic=dermatology").out) == ["+ create Session/skin"]
    assert creates(plan("-l", "site=parramatta").out) == [
        "+ create Session/heart",
        "+ create Session/skin",
    ]
    both = plan("-l", "site=parramatta,clinic=cardiology")
    assert creates(both.out) == ["+ create Session/heart"]


def test_at_in_the_future_blocks_a_create_and_says_it_was_simulated(tree: Path) -> None:
    write(session("monday"))
    later = (MONDAY + timedelta(hours=1)).isoformat()

    run = plan("--at", later, "--detailed-exitcode")
    document = json.loads(plan("--at", later, "--format", "json").out)

    assert run.code == 3
    assert "(simulated with --at)" in run.out
    assert "! create Session/monday" in run.out
    assert "server's time" not in run.out  # the reason speaks of the simulated time
    assert creates(run.out) == []
    assert document["simulated"] is True
    assert document["created_at"] == "2026-12-06T23:00:00Z"
    assert [item["target"] for item in document["blocked"]] == ["Session/monday"]


# Errors


@pytest.mark.parametrize(
    "selector", ["clinic", "=cardiology", "clinic!=cardiology", "clinic=a,site"]
)
def test_malformed_selector_is_an_error_without_a_traceback(tree: Path, selector: str) -> None:
    write(session("first"))

    run = plan("--selector", selector)

    assert run.code == 1
    assert run.out == ""
    assert run.err.startswith("error: --selector ")
    assert "expected key=value" in run.err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tomorrow", "not an ISO 8601"),
        ("2026-12-05T10:00:00", "no offset"),
        ("2026-13-05T10:00:00Z", ""),
    ],
)
def test_malformed_or_naive_at_is_an_error_without_a_traceback(
    tree: Path, text: str, says: str
) -> None:
    write(session("first"))

    run = plan("--at", text)

    assert run.code == 1
    assert run.out == ""
    assert run.err.startswith(f"error: --at {text!r}")
    assert says in run.err
    assert not (tree / ".reconciler").exists()  # refused before anything was opened


def test_manifest_errors_exit_1_naming_file_line_and_column(tree: Path) -> None:
    broken = session("first").replace("+11:00", "")  # a naive start_time
    write(session("fine"), broken)  # its start_time is on line 9 + 1 + 8

    run = plan("--format", "json")

    assert run.code == 1
    assert run.out == ""
    assert "sessions.yaml:18:3: Session/first: spec.start_time: has no UTC offset" in run.err
    assert "Traceback" not in run.err


# Secrets


def test_no_participant_id_entry_url_or_token_in_any_output(tree: Path) -> None:
    leaving = Person("old-carer", "Joanne Tillotson", "guest")
    people = [DOCTOR, PATIENT, leaving]
    live = go_live(draft_of("Cardiology review", MONDAY, people))
    remember("consult", live, people, title="Cardiology review")
    renamed = Person(DOCTOR.name, "Dr H. Marsh", DOCTOR.role, DOCTOR.state)
    nurse = Person("nurse", "Community nurse", "guest", "rn-7")
    write(session("consult", title="Cardiology review (moved)", people=[renamed, PATIENT, nurse]))

    runs = [
        reconciler("-v", "plan", "--out", "plan.json"),
        plan("--format", "json"),
        plan("--format", "markdown"),
    ]
    text = runs[0].out

    assert "~ update Session/consult" in text
    assert "+ add Session/consult/participants/nurse" in text
    assert "~ update Session/consult/participants/dr-marsh" in text
    assert "- cancel Session/consult/participants/old-carer" in text
    seen = "\n".join([*(run.out + run.err for run in runs), Path("plan.json").read_text()])
    assert_no_capability(live, seen, count=6)
    assert JWT_HEADER not in seen
    assert "demo-secret" not in seen
    # The participants are named by key and by the keyed hash of their id instead.
    document = json.loads(runs[1].out)
    hashes = {item["participant_hash"] for item in document["actions"]} - {None}
    assert len(hashes) == 2
