"""Manifests as a clinic writes them, and small helpers to load them and read the problems.

Line numbers in the tests refer to these texts: keep them in step when editing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.manifests import Limits, ManifestError, ManifestSet, Problem, load
from reconciler.manifests.documents import DEFAULT_LIMITS

SESSION_NAME = "cardiology-2026-12-01-0900"

# Line numbers (1-based) are part of the tests: see the comments on the right.
SESSION = """\
apiVersion: reconciler/v1
kind: Session
metadata:
  name: cardiology-2026-12-01-0900
  labels: {clinic: cardiology, site: parramatta}
spec:
  session_name: Cardiology follow-up
  start_time: 2026-12-01T09:00:00+11:00
  end_time: 2026-12-01T09:30:00+11:00
  picture: https://example.org/room.png
  participants:
    - name: dr-who
      display_name: Dr. Who
      role: HOST
      picture: https://example.org/who.png
      state: drwho1234
    - name: patient-0042
      display_name: Jane Citizen
      role: guest
"""
#   1 apiVersion         6 spec:              11 participants:     16 state
#   2 kind               7 session_name       12 - name: dr-who    17 - name: patient-0042
#   3 metadata:          8 start_time         13 display_name      18 display_name
#   4 name               9 end_time           14 role: HOST        19 role: guest
#   5 labels            10 picture            15 picture

SNAPSHOT_NAME = "wound-photo-review-0042"
SNAPSHOT = """\
apiVersion: reconciler/v1
kind: SnapshotApproval
metadata:
  name: wound-photo-review-0042
spec:
  interaction_id: conv-123
  snapshot_id: 5e0c9a
  decision: Approved
  snapshot_type: wound-photo
  reviewer_endpoint_id: ep-reviewer-1
"""


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic alias bomb: `width ** levels` values from a few hundred bytes."""
    names = [chr(ord("a") + index) for index in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(["lol"] * width) + "]"]
    for previous, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
    return "\n".join(lines) + "\n"


def edit(text: str, old: str, new: str) -> str:
    """`text` with the one occurrence of `old` replaced: a test's mistake, made on purpose."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def named(text: str, name: str) -> str:
    """A copy of the sample Session or SnapshotApproval under another metadata.name."""
    for old in (SESSION_NAME, SNAPSHOT_NAME):
        if f"name: {old}\n" in text:
            return edit(text, f"name: {old}\n", f"name: {name}\n")
    raise AssertionError("not a sample manifest")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write a file (and its folders) under `folder`; return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def problems(paths: Sequence[Path], limits: Limits = DEFAULT_LIMITS) -> tuple[Problem, ...]:
    """The problems `load` raises for `paths` (failing the test if it loads fine)."""
    with pytest.raises(ManifestError) as caught:
        load(paths, limits=limits)
    return caught.value.problems


def only_problem(paths: Sequence[Path], limits: Limits = DEFAULT_LIMITS) -> Problem:
    """The single problem of `paths`: a mistake must be reported once, not echoed."""
    found = problems(paths, limits)
    assert len(found) == 1, "\n".join(problem.render() for problem in found)
    return found[0]


def loads(paths: Sequence[Path]) -> ManifestSet:
    """`load`, showing every problem if there is one."""
    try:
        return load(paths)
    except ManifestError as error:
        details = "\n".join(problem.render() for problem in error.problems)
        raise AssertionError(f"expected to load, got:\n{details}") from None


def validate(*args: str) -> tuple[int, str]:
    """Run `reconciler validate ARGS`: its exit code and everything it printed."""
    result = CliRunner().invoke(main, ["validate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"validate crashed: {result.exception!r}\n{result.output}")
    assert "Traceback" not in result.output
    return result.exit_code, result.output
