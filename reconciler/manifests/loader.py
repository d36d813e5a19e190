"""Load a manifest tree: find the files, read them safely, validate, and report every problem.

Everything that can go wrong with the user's files becomes a `Problem` at
`path:line:col`; all of them are collected and raised together as one
`ManifestError`, so a run shows every mistake at once and no traceback ever does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.manifests.config import ProjectConfig, find_config, read_config
from reconciler.manifests.documents import DEFAULT_LIMITS, Document, Limits, parse
from reconciler.manifests.explain import explain, yaml_type
from reconciler.manifests.files import discover, display, is_config_file, read_text
from reconciler.manifests.models import Session, SnapshotApproval, manifests_adapter
from reconciler.manifests.problems import ManifestError, Problem, field_text


@dataclass(frozen=True)
class Source:
    """Where a manifest was written: its file, and the line and column its document starts."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where it came from."""

    manifest: Session | SnapshotApproval
    source: Source

    @property
    def key(self) -> str:
        """`Kind/name`: how the manifest is named everywhere, unique in a tree."""
        return f"{self.manifest.kind}/{self.manifest.metadata.name}"


@dataclass(frozen=True)
class ManifestSet:
    """Everything a run reads from the user's files."""

    manifests: tuple[LoadedManifest, ...]
    files: tuple[str, ...]
    config: ProjectConfig = field(default_factory=ProjectConfig)
    config_path: str | None = None

    def count(self, kind: str) -> int:
        return sum(1 for loaded in self.manifests if loaded.manifest.kind == kind)


@dataclass
class _Read:
    """Documents read so far, waiting to be validated together (one pydantic call is faster)."""

    documents: list[tuple[str, Document]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def load(paths: Sequence[Path] = (), *, limits: Limits = DEFAULT_LIMITS) -> ManifestSet:
    """Load every manifest under `paths` (default: the current folder) and the project config.

    Raises ManifestError listing every problem found, if there is any.
    """
    roots = list(paths) or [Path(".")]
    read = _Read()
    config_file = find_config(roots[0]) if roots[0].exists() else None
    files = list(discover(roots, read.problems))
    explicit_configs = [path for path in files if is_config_file(Path(path))]
    files = [path for path in files if path not in explicit_configs]
    config, config_path = _load_config(config_file, explicit_configs, limits, read.problems)
    for path in files:
        _read_file(path, limits, read)
    manifests = _validate(read)
    if not manifests and not read.problems:
        where = ", ".join(str(root) for root in roots)
        read.problems.append(
            Problem(where, message="no manifests found (looked for *.yaml and *.yml files)")
        )
    if read.problems:
        raise ManifestError(read.problems)
    return ManifestSet(tuple(manifests), tuple(files), config, config_path)


def _read_file(path: str, limits: Limits, read: _Read) -> None:
    text = read_text(path, limits)
    if isinstance(text, Problem):
        read.problems.append(text)
        return
    parsed = parse(text, limits=limits)
    for document in parsed.documents:
        _accept(path, document, read)
    if parsed.error is not None:
        error = parsed.error
        read.problems.append(Problem(path, error.line + 1, error.column + 1, message=error.message))


def _accept(path: str, document: Document, read: _Read) -> None:
    """Keep a document for validation, or record why it cannot be a manifest."""
    kind, name = _identity(document.data)
    for issue in document.issues:
        read.problems.append(
            Problem(
                path,
                issue.line + 1,
                issue.column + 1,
                kind,
                name,
                field_text(issue.loc),
                issue.message,
            )
        )
    if document.data is None and not document.issues:
        return  # an empty document, such as a trailing `---`
    if not isinstance(document.data, dict):
        read.problems.append(
            Problem(
                path,
                document.line + 1,
                document.column + 1,
                message=f"a manifest must be a mapping of fields, not {yaml_type(document.data)}",
            )
        )
        return
    if document.complete:
        read.documents.append((path, document))


def _validate(read: _Read) -> list[LoadedManifest]:
    """Validate every kept document in one pass; turn each error into a Problem."""
    documents = read.documents
    _check_unique_names(documents, read.problems)
    try:
        models = manifests_adapter.validate_python([document.data for _, document in documents])
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            index = detail["loc"][0]
            assert isinstance(index, int)
            path, document = documents[index]
            read.problems.append(_problem(path, document, detail))
        return []
    return [
        LoadedManifest(model, Source(path, document.line + 1, document.column + 1))
        for model, (path, document) in zip(models, documents, strict=True)
    ]


def _problem(path: str, document: Document, detail: Any) -> Problem:
    kind, name = _identity(document.data)
    loc, message = explain(detail, skip=1)
    line, column = document.mark(loc)
    return Problem(path, line + 1, column + 1, kind, name, field_text(loc), message)


def _check_unique_names(documents: list[tuple[str, Document]], problems: list[Problem]) -> None:
    """A name may be used once across all manifests: report every later use, naming the first."""
    first: dict[str, tuple[str, str, int, int]] = {}
    for path, document in documents:
        kind, name = _identity(document.data)
        if not name:
            continue
        line, column = document.mark(("metadata", "name"))
        if name in first:
            other_kind, other_path, other_line, other_column = first[name]
            problems.append(
                Problem(
                    path,
                    line + 1,
                    column + 1,
                    kind,
                    name,
                    "metadata.name",
                    f"{name!r} is already used by {other_kind or '?'}/{name} at"
                    f" {other_path}:{other_line + 1}:{other_column + 1}; names must be unique",
                )
            )
        else:
            first[name] = (kind, path, line, column)


def _load_config(
    found: Path | None, explicit: list[str], limits: Limits, problems: list[Problem]
) -> tuple[ProjectConfig, str | None]:
    path = explicit[0] if explicit else (display(found) if found else None)
    if path is None:
        return ProjectConfig(), None
    return read_config(path, limits, problems), path


def _identity(data: Any) -> tuple[str, str]:
    """`(kind, name)` of a document as far as it can be read, for naming it in problems."""
    if not isinstance(data, dict):
        return "", ""
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return (kind if isinstance(kind, str) else ""), (name if isinstance(name, str) else "")
