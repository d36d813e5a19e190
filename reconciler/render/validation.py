"""The result of `reconciler validate`, as text, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence

from reconciler.manifests import ManifestSet, Problem

JSON_VERSION = 1


def _files_with(problems: Sequence[Problem]) -> int:
    return len({problem.path for problem in problems})


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def text(loaded: ManifestSet | None, problems: Sequence[Problem]) -> list[str]:
    """One line per problem, then a summary line."""
    if problems:
        return [problem.render() for problem in problems] + [
            f"{_plural(len(problems), 'problem')} in {_plural(_files_with(problems), 'file')}"
        ]
    assert loaded is not None
    kinds = ", ".join(
        f"{_plural(loaded.count(kind), kind)}" for kind in ("Session", "SnapshotApproval")
    )
    config = f"; config {loaded.config_path}" if loaded.config_path else ""
    return [
        f"ok: {_plural(len(loaded.manifests), 'manifest')} ({kinds})"
        f" in {_plural(len(loaded.files), 'file')}{config}"
    ]


def as_json(loaded: ManifestSet | None, problems: Sequence[Problem]) -> str:
    """A versioned document: `valid`, counts, and every problem with its position."""
    document = {
        "version": JSON_VERSION,
        "valid": not problems,
        "files": len(loaded.files) if loaded else None,
        "manifests": len(loaded.manifests) if loaded else None,
        "config": loaded.config_path if loaded else None,
        "problems": [
            {
                "path": problem.path,
                "line": problem.line or None,
                "column": problem.column or None,
                "kind": problem.kind or None,
                "name": problem.name or None,
                "field": problem.field or None,
                "message": problem.message,
            }
            for problem in problems
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def github(loaded: ManifestSet | None, problems: Sequence[Problem]) -> list[str]:
    """`::error file=…,line=…,col=…,title=…::…` workflow commands, then the text summary."""
    lines = []
    for problem in problems:
        properties = [f"file={_property(_repository_path(problem.path))}"]
        if problem.line:
            properties += [f"line={problem.line}", f"col={problem.column}"]
        if problem.subject:
            properties.append(f"title={_property(problem.subject)}")
        message = ": ".join(part for part in (problem.field, problem.message) if part)
        lines.append(f"::error {','.join(properties)}::{_data(message)}")
    return lines + text(loaded, problems)[-1:]


def _repository_path(path: str) -> str:
    """`path` as GitHub names the pull request's files: `./a//b.yaml` is `a/b.yaml`
    (an annotation on a path GitHub does not know is not shown on the file)."""
    return posixpath.normpath(path)


def _data(value: str) -> str:
    """Escape a workflow command's message (GitHub's own rules)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    """Escape a workflow command's property value."""
    return _data(value).replace(":", "%3A").replace(",", "%2C")
