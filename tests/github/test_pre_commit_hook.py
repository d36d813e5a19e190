"""`.pre-commit-hooks.yaml`: the hook pre-commit installs in a clinic's repository runs
this project's `reconciler validate` on the whole tree it is given."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.github.workflows import EXAMPLE_CLINIC, ROOT, SCRIPTS, clinic_repository

HOOKS = ROOT / ".pre-commit-hooks.yaml"


def _hook() -> dict[str, Any]:
    hooks = YAML(typ="safe").load(HOOKS.read_text(encoding="utf-8"))
    [hook] = [hook for hook in hooks if hook["id"] == "reconciler-validate"]
    return dict(hook)


def _run_hook(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The hook's command, as pre-commit runs it (entry, then args; no file names)."""
    command, *rest = shlex.split(_hook()["entry"])
    return subprocess.run(
        [str(SCRIPTS / command), *rest, *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_hook_runs_the_projects_console_script_once_on_the_whole_tree() -> None:
    hook = _hook()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    command, subcommand = shlex.split(hook["entry"])
    assert command in scripts
    assert subcommand == "validate"
    assert hook["language"] == "python", "pre-commit installs this repository to run it"
    assert hook["pass_filenames"] is False, "duplicate names are checked across the tree"
    files = re.compile(hook["files"])
    assert [bool(files.search(name)) for name in ("a.yaml", "b/c.yml", "d.json", "e.yaml.txt")] == [
        True,
        True,
        False,
        False,
    ]


def test_the_hook_passes_the_example_clinic() -> None:
    result = _run_hook(ROOT, str(EXAMPLE_CLINIC.relative_to(ROOT)))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: 13 manifests")


def test_the_hook_fails_a_tree_whose_files_are_fine_alone_but_clash(tmp_path: Path) -> None:
    repository = clinic_repository(tmp_path)
    duplicate = (repository / "clinic" / "sessions" / "cardiology.yaml").read_text()
    (repository / "clinic" / "sessions" / "copy.yaml").write_text(duplicate)

    result = _run_hook(repository, "clinic/")

    assert result.returncode == 1
    assert (
        "clinic/sessions/copy.yaml:8:3: Session/cardiology-2026-12-07-0900: metadata.name:"
        " 'cardiology-2026-12-07-0900' is already used by Session/cardiology-2026-12-07-0900"
        " at clinic/sessions/cardiology.yaml:8:3"
    ) in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
