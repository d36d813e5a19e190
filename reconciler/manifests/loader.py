"""Load a manifest tree: find the files, read them safely, validate, and report every problem.

Everything that can go wrong with the user's files becomes a `Problem` at
`path:line:col`; all of them are collected and raised together as one
`ManifestError`, so a run shows every mistake at once and no traceback ever does.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from reconciler.manifests.cache import ParseCache
from reconciler.manifests.checks import identity, repeated_names, session_problems
from reconciler.manifests.composer import parse
from reconciler.manifests.config import ProjectConfig, find_config, read_config
from reconciler.manifests.documents import DEFAULT_LIMITS, Document, Limits
from reconciler.manifests.explain import explain, yaml_type
from reconciler.manifests.files import discover, is_config_file, read_text
from reconciler.manifests.models import Session, SnapshotApproval, manifests_adapter
from reconciler.manifests.problems import ManifestError, Problem


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


def load(
    paths: Sequence[Path] = (),
    *,
    limits: Limits = DEFAULT_LIMITS,
    allow_empty: bool = False,
    cache: Path | None = None,
) -> ManifestSet:
    """Load every manifest under `paths` (default: the current folder) and the project config.

    Raises ManifestError listing every problem found, if there is any; finding no
    manifest at all is one, unless `allow_empty`. With `cache` (a folder), files parsed
    before are not parsed again (see `manifests.cache`).
    """
    with _cycle_collector_paused():
        roots = list(paths) or [Path(".")]
        parsed = ParseCache.open(cache, roots, limits) if cache is not None else None
        try:
            loaded = _load(roots, limits, allow_empty, parsed)
        except ManifestError:
            if parsed is None or not parsed.hits:
                raise
            # Cached documents hold no positions: read again for exact messages.
            return _load(roots, limits, allow_empty, None)
        if parsed is not None:
            parsed.save()
        return loaded


def load_config(first: Path = Path("."), *, limits: Limits = DEFAULT_LIMITS) -> ProjectConfig:
    """The project config that applies to a tree whose first PATH is `first` (defaults
    when there is none); raises ManifestError if it has problems."""
    problems: list[Problem] = []
    config, _ = _load_configs(first, [], limits, problems)
    if problems:
        raise ManifestError(problems)
    return config


def find_config_path(first: Path) -> Path | None:
    """The `reconciler.yaml` that applies to a tree whose first PATH is `first`: `first`
    itself if it is one, else found by walking up. Relative if `first` is."""
    if is_config_file(first) and first.is_file():
        return first
    located = find_config(first) if first.exists() else None
    # Said as the user said the PATH: absolute if it was, else relative to here.
    if located is not None and not first.is_absolute():
        located = Path(os.path.relpath(located))
    return located


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Loading makes millions of small objects and no reference cycles: the cycle collector
    would only walk them again and again (about a third of the load time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(
    roots: list[Path], limits: Limits, allow_empty: bool, cache: ParseCache | None
) -> ManifestSet:
    read = _Read()
    found = list(discover(roots, read.problems))
    files = [path for path in found if not is_config_file(Path(path))]
    config, config_path = _load_configs(roots[0], found, limits, read.problems)
    for path in files:
        _read_file(path, limits, read, cache)
    manifests = _validate(read)
    if not manifests and not read.problems and not allow_empty:
        where = ", ".join(str(root) for root in roots)
        message = (
            f"no manifests in the {len(files)} YAML file{'s' if len(files) != 1 else ''} found"
            if files
            else "no manifests found (looked for *.yaml and *.yml files, skipping hidden folders)"
        )
        read.problems.append(Problem(where, message=message))
    if read.problems:
        raise ManifestError(read.problems)
    return ManifestSet(tuple(manifests), tuple(files), config, config_path)


def _read_file(path: str, limits: Limits, read: _Read, cache: ParseCache | None) -> None:
    text = read_text(path, limits)
    if isinstance(text, Problem):
        read.problems.append(text)
        return
    parsed = cache.get(path, text) if cache is not None else None
    if parsed is None:
        parsed = parse(text, limits=limits)
        if cache is not None:
            cache.put(path, text, parsed)
    for document in parsed.documents:
        _accept(path, document, read)
    if parsed.error is not None:
        read.problems.append(parsed.error.problem(path))


def _accept(path: str, document: Document, read: _Read) -> None:
    """Keep a document for validation, or record why it cannot be a manifest."""
    kind, name = identity(document.data)
    read.problems.extend(issue.problem(path, kind=kind, name=name) for issue in document.issues)
    if (document.data is None and not document.issues) or not document.complete:
        return  # an empty document (a trailing `---`), or one whose reading was stopped
    if not isinstance(document.data, dict):
        message = f"a manifest must be a mapping of fields, not {yaml_type(document.data)}"
        read.problems.append(document.problem(path, (), message))
        return
    read.documents.append((path, document))


def _validate(read: _Read) -> list[LoadedManifest]:
    """Validate every kept document in one pass; turn each error into a Problem."""
    documents = read.documents
    read.problems.extend(repeated_names(documents))
    for path, document in documents:
        read.problems.extend(session_problems(path, document))
    try:
        models = manifests_adapter.validate_python([document.data for _, document in documents])
    except ValidationError as error:
        by_document: dict[int, list[ErrorDetails]] = {}
        for detail in error.errors(include_url=False):
            by_document.setdefault(int(detail["loc"][0]), []).append(detail)
        for index, details in by_document.items():
            path, document = documents[index]
            read.problems.extend(_problems(path, document, details))
        return []
    return [
        LoadedManifest(model, Source(path, document.line + 1, document.column + 1))
        for model, (path, document) in zip(models, documents, strict=True)
    ]


def _problems(path: str, document: Document, details: list[ErrorDetails]) -> list[Problem]:
    kind, name = identity(document.data)
    return [
        document.problem(path, loc, message, kind=kind, name=name)
        for loc, message in explain(details, skip=1, written=document.written)
    ]


def _load_configs(
    first_root: Path, found: list[str], limits: Limits, problems: list[Problem]
) -> tuple[ProjectConfig, str | None]:
    """The project config that applies (found by walking up from the first PATH, or given
    as it), after checking it and every other `reconciler.yaml` in the tree."""
    located = find_config_path(first_root)
    used = str(located) if located is not None else None
    config, checked = ProjectConfig(), set()
    for path in [used, *(path for path in found if is_config_file(Path(path)))]:
        if path is None or os.path.realpath(path) in checked:
            continue
        checked.add(os.path.realpath(path))
        loaded = read_config(path, limits, problems)
        if path == used:
            config = loaded
    return config, used
