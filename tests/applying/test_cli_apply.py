"""`reconciler apply` from the command line, on the embedded emulator in a scratch folder
(and, where a fault must be injected, on a served one): what it does to the live API and
the inventory, what it shows, when it asks, when it refuses a saved plan, how it
re-checks each action right before its call, its lock, and that no join capability ever
shows."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from click.testing import CliRunner

from reconciler import engine
from reconciler.cli import main
from reconciler.clients import (
    Clients,
    LiveSession,
    SessionChanges,
    SessionFilter,
    Urls,
    connect,
)
from reconciler.emulator import make_app
from reconciler.emulator.embedded import move_clock
from reconciler.emulator.server import serve_in_background
from reconciler.inventory import Inventory
from tests.capabilities import assert_no_capability
from tests.conftest import CLINIC_A
from tests.test_cli_plan import (
    CLOCK,
    DOCTOR,
    JWT_HEADER,
    MONDAY,
    PATIENT,
    STATE,
    Person,
    session,
    tree,
    write,
)

__all__ = ["tree"]  # the fixture, used by name

T = TypeVar("T")
TUESDAY = MONDAY + timedelta(days=1)
EMULATOR_DB = Path(".reconciler/emulator.db")
NURSE = Person("nurse", "Community nurse", "guest", "rn-7")


# Running the command


class Terminal(io.BytesIO):
    """What a person types at a terminal: stdin that says it is one."""

    def isatty(self) -> bool:
        return True


class SlowTerminal(Terminal):
    """A person who takes until `until` (the emulator's clock) to answer."""

    def __init__(self, typed: bytes, *, until: datetime) -> None:
        super().__init__(typed)
        self._until: datetime | None = until

    def read1(self, size: int | None = -1, /) -> bytes:
        if self._until is not None:
            move_clock(EMULATOR_DB, to=self._until)
            self._until = None
        return super().read1(size)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def reconciler(*args: str, typed: str | Terminal | None = None) -> Run:
    """Run the command; `typed` is what a person at a terminal answers."""
    stdin = Terminal(typed.encode()) if isinstance(typed, str) else typed
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return Run(result.exit_code, result.stdout, result.stderr)


def apply(*args: str, typed: str | Terminal | None = None) -> Run:
    return reconciler("apply", *args, typed=typed)


def result_lines(text: str) -> list[str]:
    """The line each action printed as it ended (before the closing table)."""
    labels = ("applied ", "failed ", "skipped ", "not started ")
    return [line for line in text.splitlines() if line.startswith(labels)]


def counts(text: str) -> dict[str, int]:
    """The closing table's counts: `  not started      1` lines."""
    found = {}
    for line in text.splitlines():
        label, _, number = line.strip().rpartition(" ")
        if line.startswith("  ") and number.isdigit() and label.strip() in OUTCOMES:
            found[label.strip()] = int(number)
    return found


OUTCOMES = ("applied", "failed", "skipped", "not started")


# The live API and the inventory, read and changed out of band


def with_clients(do: Callable[[Clients], Awaitable[T]], *, urls: Urls | None = None) -> T:
    """Run `do` with clients of the working folder's emulator (or of `urls`)."""

    async def run() -> T:
        environ = {} if urls is None else _credentials()
        targets = engine.targets_for([Path(".")], flags=urls or Urls(), environ=environ)
        async with connect(targets) as clients:
            return await do(clients)

    return asyncio.run(run())


def _credentials() -> dict[str, str]:
    return {
        "COVIU_API_KEY": CLINIC_A.key,
        "COVIU_API_SECRET": CLINIC_A.secret,
        "AUVIOUS_CLIENT_ID": CLINIC_A.key,
        "AUVIOUS_CLIENT_SECRET": CLINIC_A.secret,
    }


def live_sessions(*, urls: Urls | None = None) -> list[LiveSession]:
    """Every session of the team, cancelled ones too, each with removed participants."""

    async def read(clients: Clients) -> list[LiveSession]:
        return await clients.coviu.list_sessions(
            SessionFilter(include_canceled=True, deleted_participants=True)
        )

    if urls is None and not EMULATOR_DB.exists():
        return []  # never created: nothing can be live (and looking would create it)
    return with_clients(read, urls=urls)


def names(sessions: list[LiveSession]) -> list[str]:
    return sorted(found.session_name or "" for found in sessions)


def recorded_id(key: str) -> str:
    with Inventory.open(STATE) as inventory:
        record = inventory.session(key)
    assert record is not None, f"Session/{key} is not recorded"
    return record.session_id


def rename_out_of_band(session_id: str, name: str) -> None:
    async def rename(clients: Clients) -> None:
        await clients.coviu.update_session(session_id, SessionChanges(session_name=name))

    with_clients(rename)


def cancel_out_of_band(session_id: str) -> None:
    async def cancel(clients: Clients) -> None:
        await clients.coviu.cancel_session(session_id)

    with_clients(cancel)


def recorded_sessions() -> list[str]:
    with Inventory.open(STATE) as inventory:
        return [record.key for record in inventory.sessions()]


# PATH mode


def test_apply_creates_each_session_and_a_new_plan_then_has_nothing_to_do(tree: Path) -> None:
    write(
        session("first", title="Cardiology review", people=[DOCTOR, PATIENT]),
        session("second", TUESDAY, title="Physio"),
    )

    run = apply("--auto-approve")

    assert run.code == 0, run.err
    live = {found.session_name or "": found for found in live_sessions()}
    assert sorted(live) == ["Cardiology review", "Physio"]
    first, second = live["Cardiology review"], live["Physio"]
    assert sorted(p.display_name or "" for p in first.participants) == [
        "Bernard Quill",
        "Dr Helena Marsh",
    ]
    # The plan it applied, then a line per action as it ended, naming the session made.
    assert "+ create Session/first" in run.out
    lines = result_lines(run.out)
    assert len(lines) == 2
    assert lines[0].startswith(f"applied     + Session/first (create session, {first.session_id})")
    assert lines[1].startswith(
        f"applied     + Session/second (create session, {second.session_id})"
    )
    # The closing table.
    assert "Apply complete: 2 actions." in run.out
    assert counts(run.out) == {"applied": 2, "failed": 0, "skipped": 0, "not started": 0}
    assert "Not applied:" not in run.out
    # The inventory owns both sessions now, so nothing is left to do.
    assert recorded_id("first") == first.session_id
    assert recorded_id("second") == second.session_id
    again = reconciler("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes" in again.out
    assert apply("--auto-approve").out.splitlines()[-1] == (
        "No changes: the live APIs match the manifests."
    )
    assert len(live_sessions()) == 2


def test_apply_without_a_terminal_or_auto_approve_refuses_before_doing_anything(
    tree: Path,
) -> None:
    write(session("first"))

    run = apply()

    assert run.code == 1
    assert run.err.startswith("error: refusing to apply without confirmation")
    assert "--auto-approve" in run.err
    assert run.out == ""
    assert not (tree / STATE).exists()
    assert not (tree / ".reconciler").exists()  # not even the emulator was opened
    assert live_sessions() == []


@pytest.mark.parametrize("answer", ["no", "y", "Yes please", ""])
def test_anything_but_yes_at_the_prompt_cancels_and_changes_nothing(
    tree: Path, answer: str
) -> None:
    write(session("first"), session("second", TUESDAY))

    run = apply(typed=answer + "\n")

    assert run.code == 1
    assert "Apply these 2 actions? Only 'yes' will be accepted" in run.err
    assert "+ create Session/first" in run.out  # the plan was shown before asking
    assert "Apply cancelled" in run.out
    assert result_lines(run.out) == []
    assert live_sessions() == []
    with Inventory.open(STATE) as inventory:
        assert inventory.sessions() == ()
        assert inventory.journal() == ()
        assert inventory.lock_info() is None


def test_yes_at_the_prompt_applies(tree: Path) -> None:
    write(session("first"), session("second", TUESDAY))

    run = apply(typed="yes\n")

    assert run.code == 0, run.err
    assert "Apply these 2 actions?" in run.err
    assert "Apply complete: 2 actions." in run.out
    assert len(live_sessions()) == 2
    assert recorded_sessions() == ["first", "second"]


def test_a_plan_that_expired_while_the_person_decided_is_refused_after_yes(tree: Path) -> None:
    write(session("first"), session("second", TUESDAY))
    # Between the question and the answer, the server's clock passes the plan's
    # valid_until (a minute before Monday's session starts).
    person = SlowTerminal(b"yes\n", until=MONDAY - timedelta(seconds=30))

    run = apply(typed=person)

    assert run.code == 1
    assert "Apply these 2 actions?" in run.err
    assert "error: the plan expired at 2026-12-06T21:59:00Z" in run.err
    assert result_lines(run.out) == []
    assert live_sessions() == []


def test_auto_approve_does_not_ask_even_on_a_terminal(tree: Path) -> None:
    write(session("first"))

    run = apply("--auto-approve", typed="no\n")

    assert run.code == 0, run.err
    assert "Only 'yes'" not in run.err
    assert len(live_sessions()) == 1


# JSON


def test_json_output_is_one_document_whose_summary_counts_its_results(tree: Path) -> None:
    write(session("first", people=[DOCTOR]), session("second", TUESDAY))

    run = apply("--auto-approve", "--format", "json")

    assert run.code == 0, run.err
    document = json.loads(run.out)  # nothing else on stdout: no plan text, no lines
    assert (document["format"], document["version"]) == ("reconciler-apply", 1)
    assert list(document) == [
        *("format", "version", "summary", "seconds", "recovered", "results", "plan")
    ]
    assert document["seconds"] >= max(result["seconds"] for result in document["results"])
    outcomes = Counter(result["outcome"] for result in document["results"])
    assert document["summary"] == {
        "applied": outcomes["applied"],
        "failed": outcomes["failed"],
        "skipped": outcomes["skipped"],
        "not_started": outcomes["not_started"],
    }
    assert document["summary"]["applied"] == 2
    assert [r["target"] for r in document["results"]] == ["Session/first", "Session/second"]
    assert {r["session_id"] for r in document["results"]} == {
        found.session_id for found in live_sessions()
    }
    assert document["plan"]["format"] == "reconciler-plan"
    assert [a["target"] for a in document["plan"]["actions"]] == [
        "Session/first",
        "Session/second",
    ]


def test_json_output_counts_what_was_not_applied(tree: Path) -> None:
    write(session("first"), session("second", TUESDAY))
    assert apply("--auto-approve").code == 0
    write(
        session("first", title="Renamed", people=[NURSE]),
        session("second", TUESDAY, title="Renamed too"),
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    rename_out_of_band(recorded_id("first"), "Someone else's name")

    run = apply("plan.json", "--format", "json")

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["summary"] == {"applied": 1, "failed": 0, "skipped": 1, "not_started": 1}
    by_target = {r["target"]: r["outcome"] for r in document["results"]}
    assert by_target == {
        "Session/first": "skipped",
        "Session/second": "applied",
        "Session/first/participants/nurse": "not_started",
    }


def test_json_on_a_terminal_never_asks_to_approve_a_plan_it_has_not_shown(tree: Path) -> None:
    write(session("first"))

    run = apply("--format", "json", typed="yes\n")

    # As Terraform's `apply -json`: no question about a plan that was never shown.
    assert run.code == 1
    assert "Apply" not in run.err
    assert "--format json shows no plan to approve: pass --auto-approve" in run.err
    assert run.out == ""
    assert live_sessions() == []
    assert not Path(".reconciler/state.db").exists()


# Saved plans


def saved_actions() -> list[tuple[str, str]]:
    document = json.loads(Path("plan.json").read_text())
    return [(action["kind"], action["target"]) for action in document["actions"]]


def test_a_saved_plan_is_applied_exactly_without_asking(tree: Path) -> None:
    write(session("first", people=[DOCTOR]), session("second", TUESDAY))
    assert reconciler("plan", "--out", "plan.json").code == 0

    run = apply("plan.json", "--format", "json")  # no terminal, no --auto-approve

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert [(r["kind"], r["target"]) for r in document["results"]] == saved_actions()
    assert [r["outcome"] for r in document["results"]] == ["applied", "applied"]
    assert names(live_sessions()) == ["Follow-up", "Follow-up"]
    assert recorded_sessions() == ["first", "second"]
    assert reconciler("plan", "--detailed-exitcode").code == 0


def test_a_saved_plan_applied_a_second_time_is_refused(tree: Path) -> None:
    write(session("first"))
    assert reconciler("plan", "--out", "plan.json").code == 0
    assert apply("plan.json").code == 0

    run = apply("plan.json")

    assert run.code == 1
    assert run.err.startswith("error: plan.json: refused: the inventory changed since")
    assert "serial 0, now" in run.err
    assert len(live_sessions()) == 1  # not created twice


def test_a_saved_plan_is_refused_when_the_manifests_changed_since(tree: Path) -> None:
    write(session("first"))
    assert reconciler("plan", "--out", "plan.json").code == 0
    write(session("first", title="Another title"))

    run = apply("plan.json")

    assert run.code == 1
    assert run.err.startswith("error: plan.json: refused: the manifests changed")
    assert "digest" in run.err
    assert live_sessions() == []
    assert not (tree / STATE).exists()


def test_a_plan_simulated_with_at_is_refused(tree: Path) -> None:
    write(session("first", TUESDAY))
    later = (CLOCK + timedelta(hours=1)).isoformat()
    assert reconciler("plan", "--at", later, "--out", "plan.json").code == 0

    run = apply("plan.json")

    assert run.code == 1
    assert run.err.startswith("error: plan.json: refused: the plan was simulated with --at")
    assert live_sessions() == []
    assert not (tree / STATE).exists()


@pytest.mark.parametrize(
    "extra", [["sessions.yaml"], ["--selector", "clinic=cardiology"]], ids=["path", "selector"]
)
def test_a_saved_plan_is_applied_alone(tree: Path, extra: list[str]) -> None:
    write(session("first"))
    assert reconciler("plan", "--out", "plan.json").code == 0

    run = apply("plan.json", *extra)

    assert run.code == 1
    assert run.err.startswith("error: a saved plan is applied alone")
    assert live_sessions() == []


def test_a_missing_saved_plan_is_an_error_naming_it(tree: Path) -> None:
    write(session("first"))

    run = apply("nowhere.json")

    assert run.code == 1
    assert run.err.startswith("error: nowhere.json: cannot read the plan")
    assert live_sessions() == []


def _wrong_version() -> str:
    document = json.loads(Path("plan.json").read_text())
    document["version"] = 3
    return json.dumps(document)


@pytest.mark.parametrize(
    ("contents", "says"),
    [
        (lambda: "Plan: 1 to create.\n", "it is not JSON"),
        (lambda: '{"actions": []}', "it is not a reconciler plan: format"),
        (lambda: "[1, 2]", "it is not a reconciler plan"),
        (_wrong_version, "it is a version 3 plan; this reconciler applies version 2"),
        (
            lambda: Path("plan.json").read_text().replace('"actions"', '"actionz"'),
            "it is not a reconciler plan: actions",
        ),
    ],
    ids=["text", "json-not-a-plan", "json-list", "wrong-version", "missing-field"],
)
def test_a_malformed_saved_plan_is_refused_whole(
    tree: Path, contents: Callable[[], str], says: str
) -> None:
    write(session("first"))
    assert reconciler("plan", "--out", "plan.json").code == 0
    Path("plan.json").write_text(contents())

    run = apply("plan.json")

    assert run.code == 1
    assert run.err.startswith(f"error: plan.json: {says}"), run.err
    assert run.out == ""
    assert live_sessions() == []
    assert not (tree / STATE).exists()


def test_a_saved_plan_is_refused_once_the_servers_clock_passes_valid_until(tree: Path) -> None:
    write(session("first"), session("second", TUESDAY))
    assert reconciler("plan", "--out", "plan.json").code == 0
    valid_until = datetime.fromisoformat(json.loads(Path("plan.json").read_text())["valid_until"])
    assert valid_until < MONDAY  # a margin before the first session starts
    # The emulator's clock moves to just past valid_until: still before the start.
    moved = reconciler(
        "emulator", "clock", "--set", (valid_until + timedelta(seconds=5)).isoformat()
    )
    assert moved.code == 0, moved.err

    run = apply("plan.json")

    assert run.code == 1
    assert run.err.startswith("error: plan.json: refused: the plan expired at ")
    assert run.out == ""  # refused before it was shown as "about to apply"
    assert live_sessions() == []  # not even the later session, which was still legal
    with Inventory.open(STATE) as inventory:
        assert inventory.sessions() == ()
        assert inventory.lock_info() is None


def _plan_to_create() -> None:
    write(session("first"), session("second", TUESDAY))


def _plan_to_move_a_start() -> None:
    write(session("first"), session("second", TUESDAY))
    assert apply("--auto-approve").code == 0
    write(session("first", MONDAY + timedelta(minutes=10)), session("second", TUESDAY))


def _plan_to_cancel() -> None:
    write(session("first"), session("second", TUESDAY))
    assert apply("--auto-approve").code == 0
    write(session("second", TUESDAY))


@pytest.mark.parametrize(
    "prepare",
    [_plan_to_create, _plan_to_move_a_start, _plan_to_cancel],
    ids=["create", "move-start", "cancel"],
)
def test_a_saved_plan_is_refused_not_crashed_when_the_clock_passed_a_sessions_start(
    tree: Path, prepare: Callable[[], None]
) -> None:
    """Each of these actions is illegal once Monday's session has started."""
    prepare()
    assert reconciler("plan", "--out", "plan.json").code == 0
    assert len(saved_actions()) == (2 if prepare is _plan_to_create else 1)
    before = live_sessions()
    moved = reconciler("emulator", "clock", "--advance", "3d5m")
    assert moved.code == 0, moved.err
    assert datetime.fromisoformat(moved.out.strip()) == MONDAY + timedelta(minutes=5)

    run = apply("plan.json")

    assert run.code == 1
    assert run.err.startswith("error: plan.json: refused: the plan expired at ")
    assert "Traceback" not in run.err
    assert result_lines(run.out) == []
    assert live_sessions() == before


def test_a_rename_still_allowed_while_the_session_runs_is_applied_after_its_start(
    tree: Path,
) -> None:
    write(session("first"))
    assert apply("--auto-approve").code == 0
    write(session("first", title="Cardiology review"))
    assert reconciler("plan", "--out", "plan.json").code == 0
    move_clock(EMULATOR_DB, advance=timedelta(days=3, minutes=5))  # Monday 09:05

    run = apply("plan.json")

    assert run.code == 0, run.err
    (line,) = result_lines(run.out)
    assert line.startswith("applied     ~ Session/first (update session")
    assert names(live_sessions()) == ["Cardiology review"]


# Each action re-checked right before its call


def _two_sessions_applied() -> None:
    write(session("first"), session("second", TUESDAY))
    assert apply("--auto-approve").code == 0


def test_an_action_whose_session_changed_out_of_band_is_skipped_and_the_rest_applied(
    tree: Path,
) -> None:
    _two_sessions_applied()
    write(
        session("first", title="Cardiology review"),
        session("second", TUESDAY, title="Physio review"),
        session("third", TUESDAY + timedelta(hours=2)),
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    first = recorded_id("first")
    rename_out_of_band(first, "Renamed by the front desk")

    run = apply("plan.json")

    assert run.code == 0, run.err
    lines = result_lines(run.out)
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == 1
    assert skipped[0].startswith("skipped     ~ Session/first (update session")
    assert "changed since the plan was made" in skipped[0]
    assert any(line.startswith("applied     ~ Session/second") for line in lines)
    assert any(line.startswith("applied     + Session/third") for line in lines)
    assert counts(run.out) == {"applied": 2, "failed": 0, "skipped": 1, "not started": 0}
    assert "Not applied:" in run.out
    live = {found.session_id: found.session_name for found in live_sessions()}
    assert live[first] == "Renamed by the front desk"  # not overwritten
    assert live[recorded_id("second")] == "Physio review"
    assert "third" in recorded_sessions()


def test_an_update_of_a_session_cancelled_out_of_band_is_skipped_not_an_api_error(
    tree: Path,
) -> None:
    _two_sessions_applied()
    write(
        session("first", title="Cardiology review"),
        session("second", TUESDAY, title="Physio review"),
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    first = recorded_id("first")
    cancel_out_of_band(first)

    run = apply("plan.json")

    assert run.code == 0, run.out + run.err
    lines = result_lines(run.out)
    assert [line.split()[0] for line in lines] == ["skipped", "applied"]
    assert lines[0].startswith("skipped     ~ Session/first (update session")
    assert "the session was cancelled" in lines[0]
    assert counts(run.out) == {"applied": 1, "failed": 0, "skipped": 1, "not started": 0}
    live = {found.session_id: found for found in live_sessions()}
    assert live[first].canceled_at is not None
    assert live[first].session_name == "Follow-up"


def test_participant_changes_of_a_skipped_session_update_are_not_started(tree: Path) -> None:
    write(session("first", people=[DOCTOR]))
    assert apply("--auto-approve").code == 0
    write(session("first", title="Cardiology review", people=[DOCTOR, NURSE]))
    assert reconciler("plan", "--out", "plan.json").code == 0
    assert saved_actions() == [
        ("update_session", "Session/first"),
        ("add_participant", "Session/first/participants/nurse"),
    ]
    first = recorded_id("first")
    rename_out_of_band(first, "Renamed by the front desk")

    run = apply("plan.json")

    assert run.code == 0, run.err
    lines = result_lines(run.out)
    assert lines[0].startswith("skipped     ~ Session/first (update session")
    assert lines[1].startswith("not started + Session/first/participants/nurse")
    assert "its session's update was skipped" in lines[1]
    assert counts(run.out) == {"applied": 0, "failed": 0, "skipped": 1, "not started": 1}
    (live,) = live_sessions()
    assert [p.display_name for p in live.participants] == ["Dr Helena Marsh"]


def test_a_plan_that_updates_a_session_and_cancels_one_of_its_participants_applies_both(
    tree: Path,
) -> None:
    write(session("first", people=[DOCTOR, PATIENT]))
    assert apply("--auto-approve").code == 0
    write(session("first", title="Cardiology review", people=[DOCTOR]))

    run = apply("--auto-approve")

    assert run.code == 0, run.err
    assert counts(run.out) == {"applied": 2, "failed": 0, "skipped": 0, "not started": 0}
    (live,) = live_sessions()
    assert live.session_name == "Cardiology review"
    assert [p.display_name for p in live.participants if not p.removed] == ["Dr Helena Marsh"]


# The lock


def _lock(pid: int, host: str) -> None:
    with Inventory.open(STATE, create=True) as inventory:
        inventory.lock("reconciler apply", pid, host, CLOCK)


def test_apply_fails_at_once_while_a_running_process_holds_the_lock(tree: Path) -> None:
    write(session("first"))
    holder = os.getppid()  # the process that started pytest: running, and not this one
    _lock(holder, engine.this_host())

    run = apply("--auto-approve")

    assert run.code == 1
    assert f"locked by reconciler apply (pid {holder} on {engine.this_host()})" in run.err
    assert "reconciler state unlock" in run.err
    assert run.out == ""  # at once: before planning
    assert live_sessions() == []
    with Inventory.open(STATE) as inventory:
        held = inventory.lock_info()
    assert held is not None
    assert held.pid == holder  # still theirs

    unlocked = reconciler("state", "unlock", "--yes")
    assert unlocked.code == 0, unlocked.err
    after = apply("--auto-approve")
    assert after.code == 0, after.err
    assert len(live_sessions()) == 1


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over_with_a_note(
    tree: Path,
) -> None:
    write(session("first"))
    dead = _dead_pid()
    _lock(dead, engine.this_host())

    run = apply("--auto-approve")

    assert run.code == 0, run.err
    assert f"note: took over the lock of reconciler apply (pid {dead} on" in run.err
    assert "no longer running" in run.err
    assert len(live_sessions()) == 1
    with Inventory.open(STATE) as inventory:
        assert inventory.lock_info() is None  # released at the end


def test_a_lock_of_another_host_is_never_taken_over(tree: Path) -> None:
    write(session("first"))
    _lock(_dead_pid(), "ci-runner-7")  # its pid means nothing here

    run = apply("--auto-approve")

    assert run.code == 1
    assert "locked by reconciler apply (pid " in run.err
    assert " on ci-runner-7)" in run.err
    assert live_sessions() == []


# Failures


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Urls]:
    """An emulator served on a loopback port, its clock at CLOCK; the environment holds
    its credentials."""
    app = make_app(
        db=tmp_path / "served.db",
        initial_clock=CLOCK,
        clients=[CLINIC_A],
        token_ttl_seconds=3600,
    )
    for name, value in _credentials().items():
        monkeypatch.setenv(name, value)
    try:
        with serve_in_background(app) as server:
            yield Urls(coviu=f"{server.base_url}/v1", auvious=server.base_url)
    finally:
        app.state.emulator.store.close()


def _fault(urls: Urls, **settings: object) -> None:
    assert urls.auvious is not None
    response = httpx.post(f"{urls.auvious}/_emulator/faults", json=settings, timeout=10)
    assert response.status_code == 200, response.text


@pytest.mark.network
@pytest.mark.parametrize(
    ("status", "says"),
    [
        (422, "coviu: POST /sessions: 422 "),
        # Maybe handled: not sent again, but looked for.
        (500, "no session like it exists yet: the next plan or apply looks for it again"),
        # Not handled: sent again, up to the policy's tries (default waits: a few seconds).
        (503, "503 injected fault: service unavailable after 5 tries"),
    ],
    ids=["422", "500", "503"],
)
def test_a_failed_create_is_in_the_closing_table_and_the_rest_is_applied(
    tree: Path, served: Urls, status: int, says: str
) -> None:
    assert served.coviu is not None
    assert served.auvious is not None
    where = ("--coviu-url", served.coviu, "--auvious-url", served.auvious)
    write(session("first"))
    assert apply("--auto-approve", *where).code == 0
    write(session("first", title="Cardiology review"), session("second", TUESDAY))
    # Every create fails; reads and updates do not.
    _fault(served, error_rate=1.0, status=status, methods=["POST"], path_prefix="/v1/sessions")

    run = apply("--auto-approve", *where)

    assert run.code == 1
    assert "Apply failed: 2 actions." in run.out
    assert counts(run.out) == {"applied": 1, "failed": 1, "skipped": 0, "not started": 0}
    table = run.out[run.out.index("Not applied:") :]
    (failed,) = [line for line in table.splitlines() if "failed" in line]
    assert failed.startswith("  failed      + Session/second (create session): ")
    assert str(status) in failed
    assert says in failed
    assert "Traceback" not in run.err
    _fault(served)
    live = live_sessions(urls=served)
    assert names(live) == ["Cardiology review"]  # the update went ahead; no create


@pytest.mark.network
def test_a_saved_plan_made_against_another_target_is_refused(
    tree: Path, served: Urls, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served.coviu is not None
    assert served.auvious is not None
    write(session("first"))
    with monkeypatch.context() as embedded:  # no credentials: the embedded emulator
        for name in _credentials():
            embedded.delenv(name)
        assert reconciler("plan", "--out", "plan.json").code == 0

    run = apply("plan.json", "--coviu-url", served.coviu, "--auvious-url", served.auvious)

    assert run.code == 1
    assert run.err.startswith("error: plan.json: refused: the plan was made against")
    assert live_sessions(urls=served) == []
    assert live_sessions() == []


@pytest.mark.network
def test_a_failed_participant_update_names_the_participant_by_key_only(
    tree: Path, served: Urls
) -> None:
    assert served.coviu is not None
    assert served.auvious is not None
    where = ("--coviu-url", served.coviu, "--auvious-url", served.auvious)
    write(session("first", people=[DOCTOR, PATIENT]))
    assert apply("--auto-approve", *where).code == 0
    renamed = Person(PATIENT.name, "B. Quill", PATIENT.role, PATIENT.state)
    write(session("first", people=[DOCTOR, renamed]))
    _fault(served, error_rate=1.0, status=422, methods=["PUT"], path_prefix="/v1/participants")

    runs = [apply("--auto-approve", *where), apply("--auto-approve", "--format", "json", *where)]

    assert [run.code for run in runs] == [1, 1]
    (failed,) = [line for line in result_lines(runs[0].out) if line.startswith("failed")]
    assert failed.startswith("failed      ~ Session/first/participants/bernard")
    assert "422" in failed
    _fault(served)
    (live,) = live_sessions(urls=served)
    with Inventory.open(STATE) as inventory:
        journal = inventory.journal(limit=1000)
    failures = [entry for entry in journal if entry.state.value == "failed"]
    assert len(failures) == 2  # the error is kept in the journal: without the id
    seen = "\n".join(
        [
            *(run.out + run.err for run in runs),
            *(json.dumps([entry.intent, entry.result]) for entry in journal),
        ]
    )
    assert_no_capability(live, seen, count=4)


# Secrets


def test_no_participant_id_entry_url_or_token_in_any_output_inventory_or_journal(
    tree: Path,
) -> None:
    leaving = Person("old-carer", "Joanne Tillotson", "guest")
    write(session("consult", title="Cardiology review", people=[DOCTOR, PATIENT, leaving]))
    runs = [apply("--auto-approve"), reconciler("-v", "apply", "--auto-approve")]
    renamed = Person(DOCTOR.name, "Dr H. Marsh", DOCTOR.role, DOCTOR.state)
    write(session("consult", title="Cardiology review", people=[renamed, PATIENT, NURSE]))
    runs.append(reconciler("-v", "apply", "--auto-approve", "--format", "json"))
    quill = Person(PATIENT.name, "B. Quill", PATIENT.role, PATIENT.state)
    write(session("consult", title="Cardiology review (moved)", people=[renamed, quill, NURSE]))
    runs.append(reconciler("plan", "--out", "plan.json"))
    runs.append(reconciler("-v", "apply", "plan.json"))
    for run in runs:
        assert run.code == 0, run.err
    assert "PUT /participants/*** -> 200" in runs[2].err  # -v logged the calls it made
    kinds = Counter(
        r["kind"] for r in json.loads(runs[2].out)["results"] if r["outcome"] == "applied"
    )
    assert kinds == {"update_participant": 1, "add_participant": 1, "cancel_participant": 1}

    (live,) = live_sessions()
    assert len(live.participants) == 4  # the removed ones too: their ids were capabilities
    with Inventory.open(STATE) as inventory:
        journal = inventory.journal(limit=1000)
    assert len(journal) >= 6
    seen = "\n".join(
        [
            *(run.out + run.err for run in runs),
            Path("plan.json").read_text(),
            *(
                json.dumps([entry.target, entry.kind, entry.intent, entry.result])
                for entry in journal
            ),
        ]
    )
    stored = b"".join(path.read_bytes() for path in (tree / ".reconciler").glob("state.db*"))
    assert_no_capability(live, seen, stored, count=8)
    assert JWT_HEADER not in seen
    assert JWT_HEADER.encode() not in stored


# Usage


def test_parallelism_zero_is_a_usage_error_exiting_1(tree: Path) -> None:
    write(session("first"))

    run = apply("--auto-approve", "--parallelism", "0")

    assert run.code == 1
    assert "--parallelism" in run.err
    assert "Traceback" not in run.err
    assert live_sessions() == []


def test_parallelism_one_applies_in_the_same_order(tree: Path) -> None:
    write(
        session("first"), session("second", TUESDAY), session("third", MONDAY + timedelta(hours=1))
    )

    run = apply("--auto-approve", "--parallelism", "1")

    assert run.code == 0, run.err
    assert [line.split()[2] for line in result_lines(run.out)] == [
        "Session/first",
        "Session/third",
        "Session/second",
    ]
