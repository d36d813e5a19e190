"""The walkthrough in examples/clinic/README.md works as written on a fresh checkout:
every `sh` command in it is run, in order, as a user would type it (in a copy of the
repository's examples, with the scratch folder moved into the test's own), and each
exits as the README says, printing what the README shows.

The commands are read from the README, not copied here, so the two cannot drift apart:
a command added to the README without an expectation here fails the test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.test_cli_plan import SETTINGS

REPO = Path(__file__).resolve().parents[1]
README = REPO / "examples" / "clinic" / "README.md"
SCRATCH = "/tmp/clinic"  # noqa: S108 (text in the README, replaced before running)

EXPECTED: tuple[tuple[str, int, str], ...] = (
    # (the command as the README gives it, its exit code, text its output must hold)
    ("reconciler validate examples/clinic", 0, "ok: 13 manifests (12 Sessions"),
    ("reconciler plan examples/clinic", 0, "Plan: 12 to create; 1 unreconcilable."),
    ("reconciler plan examples/clinic --out plan.json", 0, "12 to create"),
    ("reconciler emulator clock examples/clinic --advance 3d", 0, "2026-12-06T22:00:00Z"),
    ("reconciler apply plan.json", 1, "refused: the plan expired"),
    ("reconciler emulator clock examples/clinic --set 2026-12-04T09:00:00+11:00", 0, ""),
    ("reconciler apply plan.json", 0, "applied         12"),
    ("reconciler plan examples/clinic", 0, "Plan: nothing to do; 1 unreconcilable."),
    (
        "rm -rf /tmp/clinic && cp -r examples/clinic /tmp/clinic && rm -rf /tmp/clinic/.reconciler",
        0,
        "",
    ),
    ("reconciler apply --auto-approve /tmp/clinic", 0, "applied         12"),
    ("reconciler emulator clock /tmp/clinic --set 2026-12-07T09:10:00+11:00", 0, "22:10:00Z"),
    ("rm /tmp/clinic/sessions/cardiology.yaml", 0, ""),
    (
        "reconciler plan /tmp/clinic --detailed-exitcode",
        3,
        "Plan: 1 to cancel (1 irreversible); 2 blocked, 1 unreconcilable.",
    ),
    ("reconciler apply --auto-approve /tmp/clinic", 0, "applied          1"),
    ("reconciler drift /tmp/clinic --detailed-exitcode", 0, "No drift"),
)


def commands_in(readme: str) -> list[str]:
    """Every command of the README's `sh` blocks, without its trailing comment."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_the_readme_gives_exactly_the_commands_this_test_runs() -> None:
    assert commands_in(README.read_text(encoding="utf-8")) == [
        command for command, _, _ in EXPECTED
    ]


def test_the_example_clinic_walkthrough_works_as_written(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(
        REPO / "examples" / "clinic",
        checkout / "examples" / "clinic",
        ignore=shutil.ignore_patterns(".reconciler", "plan.json"),
    )
    (checkout / ".git").mkdir()  # reconciler.yaml is looked for up to the git root
    scratch = tmp_path / "scratch"
    environ = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    (tmp_path / "home").mkdir()
    environ["HOME"] = str(tmp_path / "home")

    for command, code, shown in EXPECTED:
        ran = subprocess.run(
            ["bash", "-c", command.replace(SCRATCH, str(scratch))],
            cwd=checkout,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        said = ran.stdout + ran.stderr
        assert ran.returncode == code, f"{command}: exit {ran.returncode}\n{said}"
        assert shown in said, f"{command}: {shown!r} not in\n{said}"
        assert "Traceback" not in said
