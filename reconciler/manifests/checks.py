"""Checks on the raw documents that the models cannot make, or make too late.

Names must be unique across every file, which no single model can see. And pydantic
runs a model's cross-field checks only once all its fields are valid; repeating the
session's checks here on the raw data means they are reported in the same run as
every other mistake (the models keep them too, for objects built in code).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.manifests.documents import Document, Loc
from reconciler.manifests.models import END_OR_DURATION, participant_used_twice
from reconciler.manifests.problems import Problem

_ABSENT = object()


def identity(data: Any) -> tuple[str, str]:
    """`(kind, name)` of a raw document as far as they can be read, for naming it."""
    if not isinstance(data, dict):
        return "", ""
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return (kind if isinstance(kind, str) else ""), (name if isinstance(name, str) else "")


def repeated_names(documents: list[tuple[str, Document]]) -> Iterator[Problem]:
    """Every later use of a `metadata.name`, naming the place of its first use."""
    first: dict[str, tuple[str, str, Document]] = {}
    for path, document in documents:
        kind, name = identity(document.data)
        if not name:
            continue
        if name not in first:
            first[name] = (kind, path, document)
            continue
        other_kind, other_path, other = first[name]
        line, column = other.mark(("metadata", "name"))
        yield document.problem(
            path,
            ("metadata", "name"),
            f"{name!r} is already used by {other_kind or '?'}/{name} at"
            f" {other_path}:{line + 1}:{column + 1}; names must be unique",
            kind=kind,
            name=name,
        )


def session_problems(path: str, document: Document) -> Iterator[Problem]:
    """A Session's end given twice or not at all, and participant names used twice."""
    kind, name = identity(document.data)
    spec = document.data.get("spec") if kind == "Session" else None
    if not isinstance(spec, dict):
        return
    given = [spec.get(field, _ABSENT) for field in ("end_time", "duration")]
    has_end, has_duration = (value is not _ABSENT for value in given)
    if None not in given and has_end == has_duration:  # an empty one is reported as such
        loc: Loc = ("spec", "end_time") if has_end else ("spec",)
        yield document.problem(path, loc, END_OR_DURATION, kind=kind, name=name)
    participants = spec.get("participants")
    seen: set[str] = set()
    for index, participant in enumerate(participants if isinstance(participants, list) else []):
        key = participant.get("name") if isinstance(participant, dict) else None
        if isinstance(key, str) and key in seen:
            loc = ("spec", "participants", index, "name")
            yield document.problem(path, loc, participant_used_twice(key), kind=kind, name=name)
        elif isinstance(key, str):
            seen.add(key)
