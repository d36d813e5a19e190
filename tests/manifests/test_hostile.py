"""Hostile input: refused with a problem at `path:line:col`, quickly, and never a traceback.

Each case goes through `load()` and through `reconciler validate` (exit 1, the problem's
`path:line:col` in the output, no "Traceback").
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.manifests import Limits, Problem, composer, load
from tests.manifests.samples import (
    SESSION,
    SESSION_NAME,
    SNAPSHOT,
    billion_laughs,
    edit,
    loads,
    named,
    only_problem,
    problems,
    validate,
    write,
)

NO_PARTICIPANTS = SESSION[: SESSION.index("  participants:\n")]
TOO_DEEP = "nested too deeply (more than 32 levels); the rest of this file was not read"


def refused(path: Path, expected: Problem, *, within: float = 2.0) -> None:
    """`load` reports exactly `expected`, quickly; `reconciler validate` prints just that."""
    started = time.perf_counter()
    assert only_problem([path]) == expected
    assert time.perf_counter() - started < within
    code, output = validate(str(path))
    assert code == 1
    assert output.splitlines() == [expected.render(), "1 problem in 1 file"]


def output_within(seconds: float, *args: str) -> str | None:
    """What `python -m reconciler ARGS` prints, if it ends (in any way) within `seconds`."""
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            check=False,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        return None
    return finished.stdout + finished.stderr


# --- budgets --------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_quickly(repo: Path) -> None:
    path = write(repo, "bomb.yaml", billion_laughs())
    message = (
        "document is too large: over 100,000 values once aliases are expanded (an alias bomb?)"
    )
    refused(path, Problem(str(path), 6, 8, field="f[0]", message=message), within=1.0)


def test_an_alias_bomb_inside_a_manifest_names_the_manifest(repo: Path) -> None:
    bomb = "".join(f"    {line}\n" for line in billion_laughs().splitlines())
    path = write(repo, "session.yaml", NO_PARTICIPANTS + "  extra:\n" + bomb)
    problem = only_problem([path])
    assert (problem.line, problem.column) == (17, 12)
    assert (problem.kind, problem.name, problem.field) == (
        "Session",
        SESSION_NAME,
        "spec.extra.f[0]",
    )
    assert "(an alias bomb?)" in problem.message


def test_a_10_mb_value_is_refused_quickly_with_the_default_limits(repo: Path) -> None:
    huge = "x" * 10_000_000
    path = write(repo, "session.yaml", edit(SESSION, "Cardiology follow-up", huge))
    expected = Problem(
        str(path),
        7,
        17,
        "Session",
        SESSION_NAME,
        "spec.session_name",
        "value is too long: 10,000,000 characters (the limit is 65,536)",
    )
    refused(path, expected, within=3.0)


def test_a_file_over_the_size_limit_is_refused_without_being_read(repo: Path) -> None:
    path = write(repo, "session.yaml", SESSION)
    size = path.stat().st_size
    problem = only_problem([path], Limits(max_file_bytes=size - 1))
    assert problem == Problem(
        str(path), message=f"file is too large: {size:,} bytes (the limit is {size - 1:,})"
    )
    assert problem.render() == f"{path}: {problem.message}"
    assert len(loads([path]).manifests) == 1  # the default limit is far above a clinic's files


def test_a_file_of_exactly_the_size_limit_is_read(repo: Path) -> None:
    path = write(repo, "session.yaml", SESSION)
    loaded = load([path], limits=Limits(max_file_bytes=path.stat().st_size))
    assert len(loaded.manifests) == 1


# --- not UTF-8 text -------------------------------------------------------------------------


def test_a_binary_file_is_refused_at_its_first_nul_byte(repo: Path) -> None:
    path = write(repo, "photo.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    refused(path, Problem(str(path), 3, 1, message="binary file (a NUL byte), not YAML text"))


def test_a_nul_byte_in_a_manifest_is_refused_where_it_is(repo: Path) -> None:
    path = write(repo, "session.yaml", SESSION.replace("kind: Session", "kind: Sess\0ion").encode())
    refused(path, Problem(str(path), 2, 11, message="binary file (a NUL byte), not YAML text"))


def test_bytes_that_are_not_utf_8_are_refused_at_their_line_and_column(repo: Path) -> None:
    latin_1 = edit(SESSION, "Dr. Who", "Dr. Wh\xf6").encode("latin-1")
    path = write(repo, "session.yaml", latin_1)
    message = "not UTF-8 text (byte 0xf6): save it as UTF-8"
    refused(path, Problem(str(path), 13, 27, message=message))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom"])
def test_utf_16_with_a_byte_order_mark_is_refused_saying_so(repo: Path, encoding: str) -> None:
    data = (
        b"\xfe\xff" + SESSION.encode("utf-16-be")
        if encoding == "utf-16-be-bom"
        else SESSION.encode("utf-16")
    )
    path = write(repo, "session.yaml", data)
    refused(path, Problem(str(path), 1, 1, message="file is UTF-16: save it as UTF-8"))


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_utf_32_is_refused_saying_so_not_called_utf_16(repo: Path, encoding: str) -> None:
    path = write(repo, "session.yaml", ("\ufeff" + SESSION).encode(encoding))
    refused(path, Problem(str(path), 1, 1, message="file is UTF-32: save it as UTF-8"))


def test_a_utf_8_byte_order_mark_is_accepted(repo: Path) -> None:
    path = write(repo, "session.yaml", b"\xef\xbb\xbf" + SESSION.encode())
    assert len(loads([path]).manifests) == 1


# --- deep nesting ---------------------------------------------------------------------------


def test_deep_flow_nesting_does_not_crash_or_recurse(repo: Path) -> None:
    # Unclosed: refused at the depth limit, before the parser reaches the end of the text.
    depth = 5 * sys.getrecursionlimit()
    path = write(repo, "deep.yaml", "[" * depth + "\n")
    refused(path, Problem(str(path), 1, 33, field="[0]" * 32, message=TOO_DEEP))


def test_deep_nesting_that_closes_is_refused_at_the_depth_limit(repo: Path) -> None:
    # The stopped document is not also called "not a mapping": just its own problem.
    depth = 5 * sys.getrecursionlimit()
    path = write(repo, "deep.yaml", "[" * depth + "]" * depth + "\n")
    refused(path, Problem(str(path), 1, 33, field="[0]" * 32, message=TOO_DEEP))


def test_deep_block_nesting_is_refused_at_the_depth_limit(repo: Path) -> None:
    path = write(repo, "deep.yaml", "- " * 50_000 + "x\n")
    refused(path, Problem(str(path), 1, 65, field="[0]" * 32, message=TOO_DEEP))


def test_deep_nesting_stops_the_reading_of_its_file_but_not_of_the_others(repo: Path) -> None:
    # Both parsers slow down with every level they scan: after the depth limit, the rest
    # of the file, later documents included, is not read, so their mistakes go unreported.
    deep = "[" * 40 + "]" * 40
    before = named(edit(SESSION, "role: HOST", "role: admin"), "before")
    after = edit(SNAPSHOT, "decision: Approved", "decision: maybe") + "---\nkind: [\n"
    path = write(repo, "a.yaml", f"{before}---\n{deep}\n---\n{after}")
    other = write(repo, "b.yaml", edit(SESSION, "role: HOST", "role: admin"))
    found = problems([repo])
    assert [(problem.path, problem.line, problem.column, problem.message) for problem in found] == [
        (str(path), 14, 7, "must be 'host' or 'guest' (got 'admin')"),
        (str(path), 21, 33, TOO_DEEP),
        (str(other), 14, 7, "must be 'host' or 'guest' (got 'admin')"),
    ]


def test_deep_nesting_inside_a_manifest_names_the_manifest(repo: Path) -> None:
    deep = "{a: " * 40 + "1" + "}" * 40
    path = write(repo, "session.yaml", NO_PARTICIPANTS + f"  x: {deep}\n")
    problem = only_problem([path])
    assert (problem.line, problem.column, problem.kind, problem.name) == (
        11,
        126,  # the 31st `{`: spec and the document itself are the other two levels
        "Session",
        SESSION_NAME,
    )
    assert problem.field == "spec.x" + ".a" * 30
    assert problem.message == TOO_DEEP


@pytest.mark.parametrize(("opening", "field"), [("[", "[0]"), ("{a: ", "a")])
def test_100_000_open_brackets_are_refused_quickly(repo: Path, opening: str, field: str) -> None:
    path = write(repo, "deep.yaml", opening * 100_000)
    output = output_within(5.0, "validate", str(path))
    assert output is not None, "still reading after 5 s"
    column = 1 + 32 * len(opening)
    fields = ".".join([field] * 32) if field == "a" else field * 32
    problem = Problem(str(path), 1, column, field=fields, message=TOO_DEEP)
    assert output.splitlines() == [problem.render(), "1 problem in 1 file"]


# --- many documents -------------------------------------------------------------------------


def test_a_hundred_thousand_empty_documents_are_read_quickly(repo: Path) -> None:
    path = write(repo, "many.yaml", "---\n" * 100_000 + SESSION)
    started = time.perf_counter()
    loaded = loads([path])
    assert time.perf_counter() - started < 5.0
    assert [str(manifest.source) for manifest in loaded.manifests] == [
        f"{path}:100000:1"
    ]  # its `---`


def test_every_one_of_twenty_thousand_bad_documents_is_reported(repo: Path) -> None:
    path = write(repo, "many.yaml", "--- x\n" * 20_000)
    started = time.perf_counter()
    found = problems([path])
    assert time.perf_counter() - started < 5.0
    not_a_mapping = "a manifest must be a mapping of fields, not text"
    assert found[0] == Problem(str(path), 1, 1, message=not_a_mapping)
    assert found[-1] == Problem(str(path), 20_000, 1, message=not_a_mapping)
    assert len(found) == 20_000
    code, output = validate(str(path))
    assert code == 1
    assert output.splitlines()[-1] == "20000 problems in 1 file"


# --- control characters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("character", "code_point"),
    [
        ("\x07", "U+0007"),  # bell
        ("\x1b", "U+001B"),  # escape: terminal control sequences
        ("\x7f", "U+007F"),  # delete
        ("\x9b", "U+009B"),  # C1 control sequence introducer
        ("\ufffe", "U+FFFE"),  # not a character
    ],
)
def test_a_control_character_is_refused_at_its_line_and_column(
    repo: Path, character: str, code_point: str
) -> None:
    text = edit(SESSION, "Cardiology follow-up", f"Cardiology{character} follow-up")
    path = write(repo, "session.yaml", text)
    message = f"character {code_point} is not allowed in YAML"
    refused(path, Problem(str(path), 7, 27, message=message))


def test_a_control_character_inside_quotes_is_refused_too(repo: Path) -> None:
    text = edit(SESSION, "Cardiology follow-up", "'Cardiology\x1b[2J follow-up'")
    path = write(repo, "session.yaml", text)
    refused(path, Problem(str(path), 7, 28, message="character U+001B is not allowed in YAML"))


def test_a_control_character_after_non_ascii_text_is_refused_at_its_line_and_column(
    repo: Path,
) -> None:
    # libyaml says where in UTF-8 bytes; the column is in characters, as editors count.
    path = write(repo, "notes.yaml", "# Zoë's clinic: " + "é" * 40 + "\na: 1\nb: x\x07y\n")
    refused(path, Problem(str(path), 3, 5, message="character U+0007 is not allowed in YAML"))


def test_control_characters_of_a_document_cannot_forge_lines_of_the_text_output(
    repo: Path,
) -> None:
    forged = r"x\n::error file=README.md,line=1::forged\e]0;title\a"
    path = write(repo, "session.yaml", named(SESSION, f'"{forged}"'))
    code, output = validate(str(path))
    assert code == 1
    assert len(output.splitlines()) == 2  # the problem, then the summary
    assert "\x1b" not in output
    assert "\x07" not in output
    escaped = r"x\n::error file=README.md,line=1::forged\x1b]0;title\x07"
    assert output.startswith(f"{path}:4:3: Session/{escaped}: metadata.name: ")


def line_break_refused(code_point: str) -> str:
    return (
        f"character {code_point} (a Unicode line break) is not allowed: editors and YAML"
        " parsers disagree on where its lines end; remove it"
    )


@pytest.mark.parametrize(
    ("character", "code_point"),
    [("\x85", "U+0085"), ("\u2028", "U+2028"), ("\u2029", "U+2029")],
)
@pytest.mark.parametrize(
    ("old", "new", "line", "column"),
    [
        # Unquoted, quoted, in a comment: anywhere, at its 1-based line and column.
        ("Cardiology follow-up", "Cardiology{}follow-up", 7, 27),
        ("Cardiology follow-up", "'Cardiology{}follow-up'", 7, 28),
        ("display_name: Dr. Who", "display_name: Dr. Who  # Zoë{}", 13, 35),
    ],
)
def test_a_unicode_line_break_is_refused_wherever_it_is(
    repo: Path, character: str, code_point: str, old: str, new: str, line: int, column: int
) -> None:
    # libyaml reads U+0085, U+2028 and U+2029 as line breaks (YAML 1.1), editors, grep -n
    # and the pure parser mostly do not: every later line number would be off by one.
    text = edit(SESSION, old, new.format(character))
    path = write(repo, "session.yaml", edit(text, "role: HOST", "role: admin"))
    refused(path, Problem(str(path), line, column, message=line_break_refused(code_point)))


def test_only_the_first_unicode_line_break_of_a_file_is_reported(repo: Path) -> None:
    text = "# \u2029\n" + edit(SESSION, "Cardiology follow-up", "Cardiology\u2028follow-up")
    path = write(repo, "session.yaml", text)
    refused(path, Problem(str(path), 1, 3, message=line_break_refused("U+2029")))


def test_a_unicode_line_break_in_reconciler_yaml_is_refused_too(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    config = write(repo, "reconciler.yaml", "state: inventory\u2028.db\n")
    problem = only_problem([repo])
    assert Path(problem.path).resolve() == config.resolve()
    assert (problem.line, problem.column) == (1, 17)
    assert problem.message == line_break_refused("U+2028")


# --- the file system ------------------------------------------------------------------------


def test_a_symlink_loop_in_a_folder_does_not_hang(repo: Path) -> None:
    write(repo, "clinic/a.yaml", SESSION)
    clinic = repo / "clinic"
    (clinic / "loop").symlink_to(clinic, target_is_directory=True)
    (clinic / "nested").mkdir()
    (clinic / "nested" / "up").symlink_to(repo, target_is_directory=True)
    (clinic / "x.yaml").symlink_to(clinic / "y.yaml")
    (clinic / "y.yaml").symlink_to(clinic / "x.yaml")
    message = f"cannot read: {os.strerror(errno.ELOOP)}"
    started = time.perf_counter()
    found = problems([clinic])
    assert time.perf_counter() - started < 5.0
    assert found == (
        Problem(str(clinic / "x.yaml"), message=message),
        Problem(str(clinic / "y.yaml"), message=message),
    )
    code, output = validate(str(clinic))
    assert code == 1
    assert output.splitlines() == [problem.render() for problem in found] + [
        "2 problems in 2 files"
    ]


def test_a_symlink_loop_given_as_a_path_says_what_is_wrong(repo: Path) -> None:
    (repo / "x.yaml").symlink_to(repo / "y.yaml")
    (repo / "y.yaml").symlink_to(repo / "x.yaml")
    problem = only_problem([repo / "x.yaml"])
    assert problem.message == f"cannot read: {os.strerror(errno.ELOOP)}"


def test_an_unreadable_file_is_one_problem(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(repo, "session.yaml", SESSION)

    def refuse(file: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))

    # chmod 000 does not stop root (CI may run as root): refuse the read itself instead.
    monkeypatch.setattr("reconciler.manifests.files.open", refuse, raising=False)
    refused(path, Problem(str(path), message=f"cannot read: {os.strerror(errno.EACCES)}"))


def test_a_path_traversal_looking_name_is_an_invalid_name(repo: Path) -> None:
    path = write(repo, "session.yaml", named(SESSION, "../../etc/passwd"))
    message = (
        "must be 1 to 63 lower-case letters, digits and '-', starting and ending with a letter"
        " or digit (got '../../etc/passwd')"
    )
    refused(path, Problem(str(path), 4, 3, "Session", "../../etc/passwd", "metadata.name", message))
    assert not (repo / "etc").exists()


def test_an_escaped_lone_surrogate_does_not_crash_validate_without_the_c_parser(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(composer, "default_events", composer.python_events)
    path = write(repo, "session.yaml", named(SESSION, '"a\\ud800"'))
    code, output = validate(str(path))
    assert code == 1
    assert f"{path}:4:" in output
