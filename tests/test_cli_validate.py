"""`reconciler validate` on the examples, and where it looks when given no PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "clinic"


def test_validate_example_clinic_says_what_it_checked() -> None:
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 13 manifests (12 Sessions, 1 SnapshotApproval) in 5 files")
    assert "reconciler.yaml" in result.output


def test_validate_defaults_to_the_current_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE)
    result = CliRunner().invoke(main, ["validate", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {
        "version": 1,
        "valid": True,
        "files": 5,
        "manifests": 13,
        "config": "reconciler.yaml",
        "problems": [],
    }


def test_validate_github_format_on_valid_input_prints_no_annotation() -> None:
    result = CliRunner().invoke(main, ["validate", "--format", "github", str(EXAMPLE)])
    assert result.exit_code == 0
    assert "::error" not in result.output


def test_validate_refuses_an_unknown_format() -> None:
    result = CliRunner().invoke(main, ["validate", "--format", "xml", str(EXAMPLE)])
    assert result.exit_code == 2
    assert "xml" in result.output
