"""The push job's own scripts: the guard that refuses an inventory on the runner, then
plan the merged commit and apply exactly that plan, on both inventory backends."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reconciler.inventory import parse_location
from reconciler.render.state import listing_json
from tests.github.workflows import EXAMPLE_CLINIC, SCRIPTS, Runner, clinic_repository, make_runner
from tests.postgres import postgres_url

FAKE_RECONCILER = """\
#!/bin/sh
# Stands in for `reconciler`: prints $FAKE_OUTPUT, exits with $FAKE_EXIT.
printf '%s\\n' "$FAKE_OUTPUT"
exit "${FAKE_EXIT:-0}"
"""


def _listing(location: str) -> str:
    """`reconciler state list --format json` as it prints it for an empty inventory."""
    return listing_json(
        parse_location(location), exists=False, serial=0, lineage="", records=[], lock=None
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A clinic's repository holding the example clinic without its snapshot decision."""
    return clinic_repository(tmp_path, snapshots=False)


def _runner(workspace: Path, tmp_path: Path, *, state: str = "", fake: bool = False) -> Runner:
    prefix: tuple[Path, ...] = ()
    if fake:
        bin_dir = tmp_path / "fake-bin"
        bin_dir.mkdir()
        script = bin_dir / "reconciler"
        script.write_text(FAKE_RECONCILER)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        prefix = (bin_dir,)
    values = {
        "inputs.path || '.'": "clinic",
        "secrets.RECONCILER_STATE": state,
        "github.event.repository.default_branch": "main",
        "github.token": "ghs_not-a-token",
    }
    return make_runner(workspace, tmp_path, job="apply", values=values, path_prefix=prefix)


def _git(where: Path, *args: str) -> str:
    """git in `where`, as a person with a name (commits need one); its output."""
    identity = ("-c", "user.name=Clinic Admin", "-c", "user.email=admin@clinic.example")
    result = subprocess.run(
        ["git", *identity, *args], cwd=where, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _pushed(workspace: Path, tmp_path: Path) -> str:
    """Make `workspace` a clone whose origin is a bare repository holding its files as
    one commit on `main`; that commit."""
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    _git(workspace, "init", "--quiet", "--initial-branch=main")
    _git(workspace, "add", ".")
    _git(workspace, "commit", "--quiet", "-m", "a week of sessions")
    _git(workspace, "remote", "add", "origin", str(origin))
    _git(workspace, "push", "--quiet", "origin", "main")
    return _git(workspace, "rev-parse", "HEAD")


def test_the_newest_commit_of_the_branch_goes_on(workspace: Path, tmp_path: Path) -> None:
    merged = _pushed(workspace, tmp_path)

    tip = _runner(workspace, tmp_path).run("tip", GITHUB_SHA=merged)

    assert tip.returncode == 0, tip.stdout + tip.stderr
    assert f"{merged} is the newest commit on main" in tip.stdout


def test_a_rerun_of_an_older_run_is_refused_once_a_newer_commit_is_on_the_branch(
    workspace: Path, tmp_path: Path
) -> None:
    older = _pushed(workspace, tmp_path)
    (workspace / "clinic" / "sessions" / "cardiology.yaml").unlink()
    _git(workspace, "commit", "--quiet", "-am", "cardiology moves to another tree")
    _git(workspace, "push", "--quiet", "origin", "main")
    newer = _git(workspace, "rev-parse", "HEAD")
    _git(workspace, "checkout", "--quiet", older)  # as the old run checks it out
    runner = _runner(workspace, tmp_path, state=str(tmp_path / "state.db"))

    tip = runner.run("tip", GITHUB_SHA=older)

    assert tip.returncode == 1
    assert (
        f"::error title=reconciler::refusing to apply {older}: a newer commit is on main"
        f" ({newer}): re-run the newest run instead"
    ) in tip.stdout
    assert runner.run("guard").skipped
    assert runner.run("plan").skipped
    assert runner.run("apply").skipped


def test_the_tip_check_fails_when_the_branch_cannot_be_read(
    workspace: Path, tmp_path: Path
) -> None:
    merged = _pushed(workspace, tmp_path)
    runner = _runner(workspace, tmp_path)
    runner.values["github.event.repository.default_branch"] = "trunk"

    tip = runner.run("tip", GITHUB_SHA=merged)

    assert tip.returncode == 1
    assert "::error title=reconciler::cannot read trunk from origin" in tip.stdout


def test_the_guard_refuses_an_inventory_on_the_runner(workspace: Path, tmp_path: Path) -> None:
    guard = _runner(workspace, tmp_path).run("guard")

    assert guard.returncode == 1
    assert (
        "::error title=reconciler::refusing to apply: the inventory would be"
        " clinic/.reconciler/state.db on this runner, which is thrown away after the job."
        " Set the RECONCILER_STATE secret to the whole postgresql:// URL, password included."
    ) in guard.stdout
    assert not (workspace / "clinic" / ".reconciler" / "state.db").exists()


@pytest.mark.parametrize(
    "location",
    [
        "postgresql://ci@db.clinic.example:5432/ops?sslmode=require&schema=cardiology",
        "postgres://ci@db.clinic.example/ops?schema=reconciler",
    ],
)
def test_the_guard_accepts_a_postgresql_inventory(
    workspace: Path, tmp_path: Path, location: str
) -> None:
    runner = _runner(workspace, tmp_path, fake=True)

    guard = runner.run("guard", FAKE_OUTPUT=_listing(location))

    assert guard.returncode == 0, guard.stdout + guard.stderr
    assert f"inventory: {location}" in guard.stdout


@pytest.mark.parametrize("location", ["/var/lib/reconciler/state.db", "postgresql.db"])
def test_the_guard_refuses_every_file_inventory(
    workspace: Path, tmp_path: Path, location: str
) -> None:
    runner = _runner(workspace, tmp_path, fake=True)

    guard = runner.run("guard", FAKE_OUTPUT=_listing(location))

    assert guard.returncode == 1
    assert f"the inventory would be {location} on this runner" in guard.stdout


def test_the_guard_fails_when_the_inventory_cannot_be_read(workspace: Path, tmp_path: Path) -> None:
    runner = _runner(workspace, tmp_path, fake=True)

    guard = runner.run(
        "guard", FAKE_OUTPUT="error: cannot connect to the inventory's database", FAKE_EXIT="1"
    )

    assert guard.returncode == 1
    assert "::error title=reconciler::cannot read the inventory" in guard.stdout


def test_a_failed_apply_fails_the_job_and_still_shows_its_report(
    workspace: Path, tmp_path: Path
) -> None:
    runner = _runner(workspace, tmp_path, fake=True)
    runner.outputs["plan"] = {"exitcode": "2", "saved": str(tmp_path / "plan.json")}

    apply = runner.run("apply", FAKE_OUTPUT="error: the plan expired", FAKE_EXIT="1")

    assert apply.returncode == 1
    assert "error: the plan expired" in apply.stdout
    assert "error: the plan expired" in runner.summary.read_text()


@pytest.mark.parametrize(("exitcode", "applies"), [("0", False), ("2", True), ("3", True)])
def test_the_apply_step_runs_only_when_the_plan_has_changes(
    workspace: Path, tmp_path: Path, exitcode: str, applies: bool
) -> None:
    runner = _runner(workspace, tmp_path, fake=True)
    runner.outputs["plan"] = {"exitcode": exitcode, "saved": str(tmp_path / "plan.json")}

    apply = runner.run("apply", FAKE_OUTPUT="Apply complete: 1 action.")

    assert apply.skipped is not applies
    assert ("Apply complete: 1 action." in apply.stdout) is applies


def test_nothing_is_planned_or_applied_once_the_guard_has_refused(
    workspace: Path, tmp_path: Path
) -> None:
    runner = _runner(workspace, tmp_path, state=str(tmp_path / "state.db"))

    assert runner.run("guard").returncode == 1
    plan = runner.run("plan")
    apply = runner.run("apply")

    assert plan.skipped
    assert apply.skipped
    assert not (tmp_path / "state.db").exists()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """RECONCILER_STATE as the secret gives it: a file (refused by the guard, used
    anyway below) or a fresh PostgreSQL schema (skipped without a server)."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
        return
    with postgres_url() as url:
        yield url


def test_a_merge_plans_the_commit_and_applies_exactly_that_plan(
    workspace: Path, tmp_path: Path, shared_state: str
) -> None:
    runner = _runner(workspace, tmp_path, state=shared_state)
    guard = runner.run("guard")
    shared = shared_state.startswith(("postgresql://", "postgres://"))
    assert guard.returncode == (0 if shared else 1), guard.stdout + guard.stderr
    password = urlsplit(shared_state).password
    if password:
        assert password not in guard.stdout + guard.stderr
    runner.failed = False  # past the guard's refusal of a file, to run the rest on it too

    plan = runner.run("plan")
    assert plan.returncode == 0, plan.stderr
    assert plan.outputs["exitcode"] == "2"
    saved = json.loads(Path(plan.outputs["saved"]).read_text())
    assert saved["summary"]["create_session"] == 12
    apply = runner.run("apply")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert "Apply complete: 12 actions." in apply.stdout
    summary = runner.summary.read_text()
    assert summary.startswith("### reconciler plan: 12 to create.")
    assert "Apply complete: 12 actions." in summary

    again = runner.run("plan")
    assert again.returncode == 0
    assert again.outputs["exitcode"] == "0"
    assert "nothing differs: nothing to apply" in again.stdout
    if password:
        for step in (plan, apply, again):
            assert password not in step.stdout + step.stderr
        assert password not in runner.summary.read_text()


def test_a_merge_whose_manifests_change_after_the_plan_applies_nothing(
    workspace: Path, tmp_path: Path, shared_state: str
) -> None:
    """The apply step applies the plan file, never the tree as it is by then."""
    runner = _runner(workspace, tmp_path, state=shared_state)
    plan = runner.run("plan")
    assert plan.outputs["exitcode"] == "2"
    psychology = workspace / "clinic" / "sessions" / "psychology.yaml"
    psychology.write_text(psychology.read_text().replace("Psychology session", "Review"))

    apply = runner.run("apply")

    assert apply.returncode == 1
    assert (
        "refused: the manifests changed since the plan was made (their digest differs)"
    ) in apply.stdout
    assert "refused: the manifests changed" in runner.summary.read_text()
    assert not [line for line in apply.stdout.splitlines() if line.startswith("applied")]
    assert _live_sessions(workspace, shared_state) == []
    password = urlsplit(shared_state).password
    if password:
        assert password not in plan.stdout + plan.stderr + apply.stdout + apply.stderr
        assert password not in runner.summary.read_text()


def test_a_merge_with_an_unreconcilable_item_warns_and_applies_the_rest(
    workspace: Path, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLE_CLINIC / "snapshots", workspace / "clinic" / "snapshots")
    runner = _runner(workspace, tmp_path, state=str(tmp_path / "state.db"))

    plan = runner.run("plan")
    apply = runner.run("apply")

    assert plan.outputs["exitcode"] == "3"
    assert (
        "::warning title=reconciler plan::blocked, unreconcilable, or over the cancel budget:"
        " see the plan in the run's summary. Blocked and unreconcilable items stay as they are"
        " and the rest is applied"
    ) in plan.stdout
    assert apply.returncode == 0
    assert "Apply complete: 12 actions." in apply.stdout


def test_a_merge_that_cancels_more_than_the_budget_fails_the_job_and_applies_nothing(
    workspace: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    runner = _runner(workspace, tmp_path, state=str(state))
    runner.run("plan")
    assert runner.run("apply").returncode == 0
    before = _live_sessions(workspace, state)
    config = workspace / "clinic" / "reconciler.yaml"
    config.write_text(config.read_text() + "max_cancels: 1\n")
    (workspace / "clinic" / "sessions" / "dermatology.yaml").unlink()  # none protected

    plan = runner.run("plan")
    apply = runner.run("apply")

    # `plan --detailed-exitcode` counts a plan over the budget as 3; the apply step
    # still runs (it applies what it can of a 3), and refuses the plan whole.
    assert plan.outputs["exitcode"] == "3"
    assert not apply.skipped
    assert apply.returncode == 1
    refusal = (
        "refusing to apply: the plan cancels 3 sessions and participants, more than the"
        " cancel budget of 1"
    )
    assert refusal in apply.stdout
    assert refusal in runner.summary.read_text()
    assert _live_sessions(workspace, state) == before
    assert len(before) == 12


def _live_sessions(workspace: Path, state: Path | str) -> list[tuple[str, int]]:
    """The inventory's sessions that are not cancelled, with their participant counts."""
    command = ["state", "list", "clinic", "--state", str(state), "--format", "json"]
    listing = subprocess.run(
        [str(SCRIPTS / "reconciler"), *command],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    sessions = json.loads(listing.stdout)["sessions"]
    return sorted((s["key"], s["participants"]) for s in sessions if not s["canceled"])


def test_a_merge_whose_plan_fails_fails_the_job(workspace: Path, tmp_path: Path) -> None:
    (workspace / "clinic" / "sessions" / "bad.yaml").write_text("kind: Session\n")
    runner = _runner(workspace, tmp_path, state=str(tmp_path / "state.db"))

    plan = runner.run("plan")

    assert plan.returncode == 1
    assert "clinic/sessions/bad.yaml" in plan.stderr
    assert "exitcode" not in plan.outputs
