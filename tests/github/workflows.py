"""The repository's GitHub workflows, read as GitHub reads them, and a stand-in runner
that executes one step's `run:` script as GitHub's would.

The tests run the workflow's own scripts rather than copies, so a change to the YAML is
what they test. GitHub's runner is stood in for by what a script sees of it: `bash
--noprofile --norc -eo pipefail` (a job whose `defaults.run.shell` is `bash`), the
step's `env:` with each `${{ … }}` replaced by the value the test gives for it, the
files `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` under `$RUNNER_TEMP`, and the step's
`if:` (tests/github/conditions.py). A default variable the step needs beyond these,
such as `GITHUB_SHA`, the test passes to `Runner.run`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.github.conditions import JobStatus, evaluate

ROOT = Path(__file__).resolve().parents[2]
REUSABLE = ROOT / ".github" / "workflows" / "reconcile.yml"
EXAMPLE_CALLER = ROOT / "examples" / "github" / "reconcile.yml"
EXAMPLE_CLINIC = ROOT / "examples" / "clinic"
WORKFLOW_FILES = (*sorted((ROOT / ".github" / "workflows").glob("*.yml")), EXAMPLE_CALLER)
SCRIPTS = Path(sysconfig.get_path("scripts"))
"""Where this Python's console scripts are: the `reconciler` and `python` a step runs."""
STEP_TIMEOUT_SECONDS = 120
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_STEP_OUTPUT = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+)")


def load(path: Path) -> dict[str, Any]:
    """A workflow file as data (YAML 1.2, as GitHub reads it: `on` is a key, not true)."""
    document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} is not a mapping"
    return document


def step_env(job: str, step_id: str, *, path: Path = REUSABLE) -> dict[str, str]:
    """The env a step gets from the workflow: the job's `env:`, then its own on top."""
    job_env = load(path)["jobs"][job].get("env") or {}
    own = step(job, step_id, path=path).get("env") or {}
    return {str(name): str(text) for name, text in {**job_env, **own}.items()}


def step(job: str, step_id: str, *, path: Path = REUSABLE) -> dict[str, Any]:
    """The step with id `step_id` of `job`."""
    for candidate in load(path)["jobs"][job]["steps"]:
        if candidate.get("id") == step_id:
            return dict(candidate)
    raise AssertionError(f"{path.name}: job {job} has no step with id {step_id!r}")


@dataclass
class StepResult:
    """What a step did: its exit code, its output, and what it wrote for the runner."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    skipped: bool = False


@dataclass
class Runner:
    """One job's run on a stand-in runner: steps run in `workspace`, outputs accumulate
    for `steps.<id>.outputs.<name>`, and `values` answers every other expression.
    `failed` is the job's state as the status functions of `if:` see it: set once a step
    fails, or by a test standing for an earlier step (the install) that failed."""

    workspace: Path
    temp: Path
    job: str
    values: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    path_prefix: tuple[Path, ...] = ()
    failed: bool = False

    @property
    def summary(self) -> Path:
        return self.temp / "step-summary.md"

    def runs(self, step_id: str) -> bool:
        """Whether the step runs now, by its `if:` (`success()` when it has none)."""
        condition = str(step(self.job, step_id).get("if", "success()"))
        return evaluate(condition, status=JobStatus(failed=self.failed), output=self._output)

    def run(self, step_id: str, **extra_env: str) -> StepResult:
        """Run the step's script as the runner would, unless its `if:` skips it (then
        its outputs are empty); `extra_env` adds to its env."""
        spec = step(self.job, step_id)
        if not self.runs(step_id):
            self.outputs[step_id] = {}
            return StepResult(0, "", "", {}, skipped=True)
        assert load(REUSABLE)["defaults"]["run"]["shell"] == "bash"
        assert "shell" not in spec, "the tests run every step with the workflow's default shell"
        output_file = self.temp / f"output-{step_id}"
        output_file.write_text("")
        env = {**self._base_env(), **self._step_env(step_id), **extra_env}
        env["GITHUB_OUTPUT"] = str(output_file)
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", spec["run"]],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT_SECONDS,
        )
        outputs = _parse_outputs(output_file.read_text())
        self.outputs[step_id] = outputs
        self.failed = self.failed or result.returncode != 0
        return StepResult(result.returncode, result.stdout, result.stderr, outputs)

    def _base_env(self) -> dict[str, str]:
        path = os.pathsep.join([*map(str, self.path_prefix), str(SCRIPTS), os.environ["PATH"]])
        return {
            "PATH": path,
            "HOME": os.environ.get("HOME", str(self.temp)),
            "LANG": "C.UTF-8",
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_SERVER_URL": "https://github.com",
        }

    def _step_env(self, step_id: str) -> dict[str, str]:
        return {name: self._value(text) for name, text in step_env(self.job, step_id).items()}

    def _value(self, text: str) -> str:
        """`text` with its expression evaluated; an expression the test did not give
        fails, so a workflow change cannot slip past with an empty value."""
        whole = _EXPRESSION.fullmatch(text)
        if whole is None:
            assert "${{" not in text, f"only whole-value expressions are supported: {text!r}"
            return text
        expression = whole.group(1)
        if _STEP_OUTPUT.fullmatch(expression):
            return self._output(expression)
        if expression.startswith("secrets."):
            return self.values.get(expression, "")
        assert expression in self.values, f"the test gives no value for ${{{{ {expression} }}}}"
        return self.values[expression]

    def _output(self, expression: str) -> str:
        """`steps.X.outputs.Y`'s value: empty if step X did not set it (or did not run)."""
        output = _STEP_OUTPUT.fullmatch(expression)
        assert output is not None, expression
        return self.outputs.get(output.group(1), {}).get(output.group(2), "")


def _parse_outputs(text: str) -> dict[str, str]:
    """`name=value` lines, as the scripts write them (no multi-line values)."""
    outputs = {}
    for line in text.splitlines():
        name, separator, value = line.partition("=")
        assert separator, f"not a name=value output line: {line!r}"
        outputs[name] = value
    return outputs


def inputs(**overrides: str) -> dict[str, str]:
    """The expressions of the reusable workflow's inputs, as a caller that gives only
    `install` (and `overrides`) makes them evaluate."""
    values = {
        "inputs.path || '.'": ".",
        "inputs.selector": "",
        "inputs.coviu-url": "",
        "inputs.auvious-url": "",
    }
    return {**values, **overrides}


def clinic_repository(tmp_path: Path, *, snapshots: bool = True) -> Path:
    """A clinic's repository (`tmp_path/repo`) holding the example clinic under `clinic/`,
    without the example's hidden folders; `snapshots=False` leaves out its snapshot
    decision, whose placeholder ids are unreconcilable."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE_CLINIC, root / "clinic", ignore=shutil.ignore_patterns(".*"))
    if not snapshots:
        shutil.rmtree(root / "clinic" / "snapshots")
    return root


def make_runner(
    workspace: Path,
    tmp_path: Path,
    *,
    job: str,
    values: Mapping[str, str] | None = None,
    path_prefix: tuple[Path, ...] = (),
) -> Runner:
    """A stand-in runner for `job` in `workspace`, its temp folder under `tmp_path`, with
    the caller's inputs as `inputs(**values)` makes them."""
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    return Runner(
        workspace, temp, job=job, values=inputs(**(values or {})), path_prefix=path_prefix
    )
