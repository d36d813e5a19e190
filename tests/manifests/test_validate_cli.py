"""`reconciler validate --format text|json|github`: what CI and people read, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.manifests import Problem
from tests.manifests.samples import SESSION, SESSION_NAME, SNAPSHOT, edit, named, validate, write


def test_valid_manifests_print_a_summary_and_exit_0(repo: Path) -> None:
    write(repo, "a.yaml", SESSION + "---\n" + SNAPSHOT)
    write(repo, "b.yaml", named(SESSION, "b"))
    assert validate(str(repo)) == (
        0,
        "ok: 3 manifests (2 Sessions, 1 SnapshotApproval) in 2 files\n",
    )


def test_text_output_is_one_line_per_problem_then_a_summary(repo: Path) -> None:
    path = write(repo, "a.yaml", edit(SESSION, "role: HOST", "role: admin"))
    missing = repo / "missing.yaml"
    code, output = validate(str(path), str(missing))
    assert code == 1
    assert output.splitlines() == [
        f"{path}:14:7: Session/{SESSION_NAME}: spec.participants[0].role:"
        " must be 'host' or 'guest' (got 'admin')",
        f"{missing}: no such file or folder",
        "2 problems in 2 files",
    ]


def test_json_output_of_valid_manifests(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    code, output = validate("--format", "json", str(repo))
    assert code == 0
    assert json.loads(output) == {
        "version": 1,
        "valid": True,
        "files": 1,
        "manifests": 1,
        "config": None,
        "problems": [],
    }


def test_json_output_lists_every_problem_with_its_position(repo: Path) -> None:
    path = write(
        repo, "a.yaml", edit(SESSION, "start_time: 2026-12-01T09:00:00+11:00", "start_time: soon")
    )
    missing = repo / "missing"
    code, output = validate("--format", "json", str(path), str(missing))
    assert code == 1
    report = json.loads(output)
    assert (report["version"], report["valid"]) == (1, False)
    assert report["problems"][0] == {
        "path": str(path),
        "line": 8,
        "column": 3,
        "kind": "Session",
        "name": SESSION_NAME,
        "field": "spec.start_time",
        "message": report["problems"][0]["message"],
    }
    assert report["problems"][0]["message"].startswith("not a time (got 'soon')")
    assert report["problems"][1] == {
        "path": str(missing),
        "line": None,
        "column": None,
        "kind": None,
        "name": None,
        "field": None,
        "message": "no such file or folder",
    }
    assert len(report["problems"]) == 2


def test_github_output_is_one_error_annotation_per_problem(repo: Path) -> None:
    path = write(repo, "a.yaml", edit(SESSION, "role: HOST", "role: admin"))
    code, output = validate("--format", "github", str(path))
    assert code == 1
    assert output.splitlines() == [
        f"::error file={path},line=14,col=7,title=Session/{SESSION_NAME}::"
        "spec.participants[0].role: must be 'host' or 'guest' (got 'admin')",
        "1 problem in 1 file",
    ]


def test_github_output_escapes_percent_colon_and_comma_in_properties(repo: Path) -> None:
    folder = repo / "50%,a:b"
    text = edit(named(SESSION, '"x:y,z%"'), "role: HOST", "role: '100%'")
    path = write(folder, "a.yaml", text)
    code, output = validate("--format", "github", str(path))
    assert code == 1
    escaped_path = str(path).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert "50%25%2Ca%3Ab" in escaped_path
    lines = output.splitlines()
    assert lines[0] == (
        f"::error file={escaped_path},line=4,col=3,title=Session/x%3Ay%2Cz%25::"
        "metadata.name: must be 1 to 63 lower-case letters, digits and '-', starting and"
        " ending with a letter or digit (got 'x:y,z%25')"
    )
    assert lines[1] == (
        f"::error file={escaped_path},line=14,col=7,title=Session/x%3Ay%2Cz%25::"
        "spec.participants[0].role: must be 'host' or 'guest' (got '100%25')"
    )
    assert lines[2] == "2 problems in 1 file"


def test_github_output_of_a_file_level_problem_has_no_line(repo: Path) -> None:
    missing = repo / "missing.yaml"
    code, output = validate("--format", "github", str(missing))
    assert code == 1
    assert output.splitlines() == [
        f"::error file={missing}::no such file or folder",
        "1 problem in 1 file",
    ]


def test_github_output_escapes_a_newline_in_the_message(repo: Path) -> None:
    path = write(repo, "a.yaml", named(SESSION, '"line\\nbreak"'))
    code, output = validate("--format", "github", str(path))
    assert code == 1
    first = output.splitlines()[0]
    assert first.startswith(f"::error file={path},line=4,col=3,title=Session/line%0Abreak::")
    assert first.endswith("(got 'line\\nbreak')")


def test_text_output_escapes_control_characters_a_document_carries(repo: Path) -> None:
    path = write(repo, "a.yaml", named(SESSION, '"line\\nbreak\\tand\\e[2J"'))
    code, output = validate(str(path))
    assert code == 1
    name = r"line\nbreak\tand\x1b[2J"
    assert output.splitlines() == [
        f"{path}:4:3: Session/{name}: metadata.name: must be 1 to 63 lower-case letters,"
        " digits and '-', starting and ending with a letter or digit"
        f" (got '{name}')",
        "1 problem in 1 file",
    ]


def test_a_problem_renders_on_one_line_whatever_it_carries() -> None:
    problem = Problem(
        "a\rb.yaml",
        1,
        2,
        "Session",
        "x\x00\u200b\U000e0001y",
        "spec.labels.k\x7f",
        "café: ok\x9b",
    )
    assert problem.render() == (
        r"a\rb.yaml:1:2: Session/x\x00\u200b\U000e0001y: spec.labels.k\x7f: café: ok\x9b"
    )
