"""What every workflow of the repository (and the example a clinic copies) must hold to:
actions pinned to commits, no expression inside a shell script, least privilege."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.github.workflows import EXAMPLE_CALLER, REUSABLE, ROOT, WORKFLOW_FILES, load

_USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<reference>\S+)(?P<rest>.*)$")
_PINNED = re.compile(r"(?P<name>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40})")
_RELEASE_COMMENT = re.compile(r"\s+#\s+(?P<version>v\d+\.\d+\.\d+)\s*$")
_ANY_COMMENT = re.compile(r"\s+#\s+\S.*$")


def _uses_values(node: Any) -> Iterator[str]:
    """Every `uses:` value in a workflow's data, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses":
                yield str(value)
            else:
                yield from _uses_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _uses_values(item)


def _uses_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, reference, what follows it) for each `uses:` line of the file."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _USES_LINE.match(line)
        if match:
            found.append((number, match["reference"], match["rest"]))
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_name)
def test_every_uses_is_pinned_to_a_commit_with_a_comment_naming_it(path: Path) -> None:
    lines = _uses_lines(path)
    assert sorted(reference for _, reference, _ in lines) == sorted(_uses_values(load(path))), (
        f"{_name(path)}: every uses: must be on a line of its own, as `uses: X@SHA # vX.Y.Z`"
    )
    assert lines, f"{_name(path)} uses nothing: is it still a workflow?"
    for number, reference, rest in lines:
        where = f"{_name(path)}:{number}: {reference}"
        assert _PINNED.fullmatch(reference), f"{where} is not pinned to a 40-hex commit"
        if "/.github/workflows/" in reference:
            assert _ANY_COMMENT.fullmatch(rest), f"{where} says nothing about the commit"
        else:
            assert _RELEASE_COMMENT.fullmatch(rest), f"{where} lacks its `# vX.Y.Z` release"


def test_an_action_is_pinned_to_one_commit_and_release_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for _, reference, rest in _uses_lines(path):
            name, _, sha = reference.partition("@")
            pins.setdefault(name, set()).add(f"{sha}{rest.strip()}")
    assert {name: len(found) for name, found in pins.items()} == dict.fromkeys(pins, 1), pins


def _scripts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) of every script of the workflow: each `run:`, and each
    actions/github-script `with.script`."""
    for job_id, job in load(path)["jobs"].items():
        for index, spec in enumerate(job.get("steps", [])):
            where = f"{_name(path)}: {job_id} step {spec.get('id', index)}"
            if "run" in spec:
                yield f"{where} run:", str(spec["run"])
            if str(spec.get("uses", "")).startswith("actions/github-script@"):
                yield f"{where} with.script:", str(spec["with"]["script"])


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_name)
def test_no_expression_is_written_into_a_script(path: Path) -> None:
    """`${{ }}` in `run:` or in github-script's `script:` is pasted into the code before
    bash or node reads it: an input or a branch name would become code. Values reach
    scripts through `env:`."""
    for where, script in _scripts(path):
        assert "${{" not in script, f"{where} expands ${{{{ }}}}"


def test_the_script_check_reads_the_comments_github_script() -> None:
    wheres = [where for where, _ in _scripts(REUSABLE)]
    assert ".github/workflows/reconcile.yml: plan step comment with.script:" in wheres


def test_secrets_reach_only_the_steps_that_run_the_reconciler() -> None:
    """Not the job's `env:` (every step would get them), nor `pip install`."""
    for job_id, job in load(REUSABLE)["jobs"].items():
        job_env = " ".join(str(value) for value in (job.get("env") or {}).values())
        assert "secrets." not in job_env, f"job {job_id} gives every step a secret"
        for spec in job["steps"]:
            own = " ".join(str(value) for value in (spec.get("env") or {}).values())
            if "secrets." in own:
                assert "reconciler " in spec["run"], f"{job_id}: {spec.get('name')} gets a secret"
                assert "pip" not in spec["run"], f"{job_id}: {spec.get('name')} gets a secret"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_name)
def test_every_workflow_limits_its_token(path: Path) -> None:
    document = load(path)
    for job_id, job in document["jobs"].items():
        granted = job.get("permissions", document.get("permissions"))
        assert isinstance(granted, dict), (
            f"{_name(path)}: job {job_id} gets {granted or 'the default token'}: name each scope"
        )
        assert set(granted.values()) <= {"read", "write", "none"}


def test_only_the_plan_job_may_write_and_only_its_comment() -> None:
    jobs = load(REUSABLE)["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read"}
    caller = load(EXAMPLE_CALLER)
    assert caller["permissions"] == {}
    assert caller["jobs"]["reconcile"]["permissions"] == jobs["plan"]["permissions"]


def test_applies_queue_and_are_never_cancelled() -> None:
    concurrency = load(REUSABLE)["jobs"]["apply"]["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    assert "${{ inputs.path }}" in concurrency["group"]


def test_the_example_gives_the_required_inputs_every_secret_by_name_and_one_commit() -> None:
    declared = load(REUSABLE)["on"]["workflow_call"]
    call = load(EXAMPLE_CALLER)["jobs"]["reconcile"]
    required = {name for name, spec in declared["inputs"].items() if spec.get("required")}
    assert required <= set(call["with"])
    assert set(call["with"]) <= set(declared["inputs"])
    assert set(call["secrets"]) == set(declared["secrets"])
    for name, value in call["secrets"].items():
        assert value == f"${{{{ secrets.{name} }}}}"
    workflow_sha = call["uses"].rpartition("@")[2]
    assert call["with"]["install"].endswith(f"@{workflow_sha}"), (
        "the example installs the reconciler of the commit whose workflow it calls"
    )


EXAMPLE_README = ROOT / "examples" / "github" / "README.md"
_PRE_COMMIT_REV = re.compile(r"^\s*rev:\s*(?P<sha>[0-9a-f]{40})\b", re.MULTILINE)


def _example_pins() -> set[str]:
    """The reconciler commits the example caller and its README's pre-commit set-up pin."""
    call = load(EXAMPLE_CALLER)["jobs"]["reconcile"]
    pins = {call["uses"].rpartition("@")[2], call["with"]["install"].rpartition("@")[2]}
    return pins | {match["sha"] for match in _PRE_COMMIT_REV.finditer(EXAMPLE_README.read_text())}


def test_the_example_pins_one_commit_everywhere() -> None:
    assert len(_example_pins()) == 1, _example_pins()


def test_the_pinned_commit_holds_the_workflow_and_the_hook() -> None:
    """The commit a clinic copies must have both files it names (checked where this
    clone's history holds that commit)."""
    [sha] = _example_pins()
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git clone: the pinned commit cannot be looked at")
    known = subprocess.run(
        [git, "cat-file", "-e", f"{sha}^{{commit}}"], cwd=ROOT, capture_output=True, check=False
    )
    if known.returncode != 0:
        pytest.skip(f"{sha} is not in this clone's history (a shallow clone?)")
    for path in (".github/workflows/reconcile.yml", ".pre-commit-hooks.yaml"):
        found = subprocess.run(
            [git, "cat-file", "-e", f"{sha}:{path}"], cwd=ROOT, capture_output=True, check=False
        )
        assert found.returncode == 0, f"the example pins {sha}, which has no {path}"
