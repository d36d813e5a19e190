"""The pull-request job's own scripts (validate, find the inventory, plan, pass or fail
the check), run as a runner would on a clinic repository with this reconciler on PATH
against the embedded emulator: no credentials, no network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.github.workflows import SCRIPTS, Runner, clinic_repository, make_runner

BAD_MANIFEST = """\
apiVersion: reconciler/v1
kind: Session
metadata: {name: Bad_Name}
spec: {}
"""


def _runner(workspace: Path, tmp_path: Path, **values: str) -> Runner:
    return make_runner(workspace, tmp_path, job="plan", values=values)


def _check(runner: Runner) -> tuple[str, int]:
    """Run the job's steps in order; the plan's exit code and the check's."""
    assert runner.run("validate").returncode == 0
    assert runner.run("inventory").returncode == 0
    plan = runner.run("plan")
    assert plan.returncode == 0, plan.stderr
    return plan.outputs["exitcode"], runner.run("verdict").returncode


def test_the_example_clinic_fails_the_check_for_its_unreconcilable_snapshot(
    tmp_path: Path,
) -> None:
    runner = _runner(clinic_repository(tmp_path), tmp_path, **{"inputs.path || '.'": "clinic"})

    validate = runner.run("validate")
    plan = runner.run("plan")
    verdict = runner.run("verdict")

    assert validate.outputs == {"exitcode": "0"}
    assert plan.returncode == 0, "the plan step keeps the exit code for the last step"
    assert plan.outputs["exitcode"] == "3"
    markdown = Path(plan.outputs["markdown"]).read_text()
    assert markdown.startswith("### reconciler plan: 12 to create; 1 unreconcilable.")
    assert "SnapshotApproval/dermatology-wound-review-2026-12-09" in markdown
    assert Path(plan.outputs["errors"]).read_text() == ""
    assert runner.summary.read_text() == markdown, "the run's summary shows the plan too"
    assert verdict.returncode == 1
    assert (
        "::error title=reconciler plan::blocked, unreconcilable, or over the cancel budget"
        " (raise max_cancels in reconciler.yaml in this pull request if the cancels are"
        " meant): see the plan comment"
    ) in verdict.stdout


def test_changes_pass_the_check_and_so_does_nothing_left_to_do(tmp_path: Path) -> None:
    workspace = clinic_repository(tmp_path, snapshots=False)
    runner = _runner(workspace, tmp_path, **{"inputs.path || '.'": "clinic"})

    assert _check(runner) == ("2", 0)
    subprocess.run(
        [str(SCRIPTS / "reconciler"), "apply", "--auto-approve", "clinic"],
        cwd=workspace,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert _check(runner) == ("0", 0)
    markdown = Path(runner.outputs["plan"]["markdown"]).read_text()
    assert markdown.startswith("### reconciler plan: No changes")


def test_a_bad_manifest_is_annotated_and_fails_the_check_though_the_plan_still_runs(
    tmp_path: Path,
) -> None:
    workspace = clinic_repository(tmp_path) / "clinic"  # a repository whose root is the tree
    (workspace / "sessions" / "bad.yaml").write_text(BAD_MANIFEST)
    runner = _runner(workspace, tmp_path)  # path: "."

    validate = runner.run("validate")
    plan = runner.run("plan")
    verdict = runner.run("verdict")

    assert validate.returncode == 0
    assert validate.outputs == {"exitcode": "1"}
    # Annotations name files from the repository's root, with no `./` (GitHub would not
    # find `./sessions/bad.yaml` among the pull request's files).
    assert "::error file=sessions/bad.yaml,line=3,col=12,title=Session/Bad_Name::" in (
        validate.stdout
    )
    assert plan.outputs["exitcode"] == "1"
    assert "Bad_Name" in Path(plan.outputs["errors"]).read_text()
    assert "Bad_Name" in plan.stderr, "the step's log shows the error"
    assert runner.summary.read_text().startswith("### reconciler plan failed")
    assert verdict.returncode == 1
    assert "::error title=reconciler validate::" in verdict.stdout
    assert "::error title=reconciler plan::no plan (exit 1)" in verdict.stdout


def test_the_check_fails_when_nothing_ran(tmp_path: Path) -> None:
    """As after a failed install: the last step still runs, and names what is missing."""
    runner = _runner(clinic_repository(tmp_path), tmp_path)
    runner.failed = True  # the install step failed

    assert runner.run("validate").skipped
    assert runner.run("plan").skipped
    assert not runner.runs("comment"), "no plan, nothing to comment"
    verdict = runner.run("verdict")

    assert not verdict.skipped
    assert verdict.returncode == 1
    assert "::error title=reconciler validate::no result (exit none)" in verdict.stdout
    assert "::error title=reconciler plan::no plan (exit none)" in verdict.stdout
    assert "have problems" not in verdict.stdout


def test_a_plan_without_a_shared_inventory_is_flagged(tmp_path: Path) -> None:
    runner = _runner(clinic_repository(tmp_path), tmp_path, **{"inputs.path || '.'": "clinic"})

    found = runner.run("inventory")

    assert found.returncode == 0
    assert found.outputs == {"shared": "false"}
    assert "::warning title=reconciler::the inventory is clinic/.reconciler/state.db" in (
        found.stdout
    )


def test_the_selector_reaches_the_plan_as_one_argument_never_as_shell(tmp_path: Path) -> None:
    workspace = clinic_repository(tmp_path)
    runner = _runner(
        workspace,
        tmp_path,
        **{"inputs.path || '.'": "clinic", "inputs.selector": "clinic=cardiology"},
    )
    assert runner.run("plan").outputs["exitcode"] == "2"
    markdown = Path(runner.outputs["plan"]["markdown"]).read_text()
    assert markdown.startswith("### reconciler plan: 3 to create.")

    runner.values["inputs.selector"] = "clinic=$(touch injected); touch injected"
    plan = runner.run("plan")

    assert plan.returncode == 0
    assert not (workspace / "injected").exists()
    assert not (workspace / "clinic" / "injected").exists()
    assert plan.outputs["exitcode"] == "1"
    assert (
        Path(plan.outputs["errors"])
        .read_text()
        .startswith(
            "error: --selector clinic=$(touch injected); touch injected: matches no manifest"
        )
    ), "the whole text reached the reconciler as the selector"


@pytest.mark.parametrize("tree", ["clinic", "clinic/"])
def test_annotations_name_the_file_as_the_pull_request_does(tmp_path: Path, tree: str) -> None:
    workspace = clinic_repository(tmp_path)
    (workspace / "clinic" / "sessions" / "bad.yaml").write_text(BAD_MANIFEST)
    runner = _runner(workspace, tmp_path, **{"inputs.path || '.'": tree})

    validate = runner.run("validate")

    assert "::error file=clinic/sessions/bad.yaml,line=3," in validate.stdout


def test_the_comment_is_posted_for_every_plan_outcome_but_not_without_a_plan(
    tmp_path: Path,
) -> None:
    runner = _runner(clinic_repository(tmp_path), tmp_path)
    for exitcode in ("0", "1", "2", "3"):
        runner.outputs["plan"] = {"exitcode": exitcode}
        assert runner.runs("comment"), exitcode
    runner.failed = True  # e.g. the plan step itself died after writing its exit code
    assert runner.runs("comment")
    assert runner.runs("verdict")
    runner.outputs["plan"] = {}
    assert not runner.runs("comment")
    assert runner.runs("verdict")
