"""A cache of parsed manifest files, by their content: a file not changed since the last
run is not parsed again.

Only a file that parsed cleanly is kept: its documents' data and where each starts, in
JSON, which keeps every type the parser makes (mappings with text keys, lists, text,
integers, floats, booleans, null) exactly. A cached document carries no positions for its
parts, so a run that finds any problem loads again without the cache, and every message
points where it always does. A file is looked up by the SHA-256 of its text (and of the
limits, this version of reconciler and of ruamel.yaml), so a changed file is always
parsed again.

The cache lives in the user's own cache folder, never in the manifest tree: a file
there could be committed by a pull request, and would make a plan show what its YAML
does not say. A folder that others may write to is not used. The library reads no
environment: the engine names the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import __version__ as ruamel_version

from reconciler import __version__
from reconciler.manifests.documents import Document, Limits, Parsed

FORMAT: Final = 1
CACHE_VARIABLE: Final = "RECONCILER_CACHE_DIR"


def cache_folder(environ: Mapping[str, str]) -> Path | None:
    """The folder an environment names for the cache: RECONCILER_CACHE_DIR (`off`: no
    cache), else reconciler/ in the user's cache folder (XDG_CACHE_HOME, or ~/.cache)."""
    chosen = environ.get(CACHE_VARIABLE)
    if chosen:
        return None if chosen.strip().lower() == "off" else Path(chosen)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or "~", ".cache")
    return Path(os.path.expanduser(base)) / "reconciler"


@dataclass
class ParseCache:
    """The parsed files of one manifest tree: read once, written back if anything changed."""

    path: Path
    salt: str
    entries: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    """File path → (content key, its documents as [line, column, data])."""
    used: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    hits: int = 0

    @classmethod
    def open(cls, folder: Path, roots: Iterable[Path], limits: Limits) -> ParseCache | None:
        """The cache of the tree at `roots` under `folder`; None if `folder` cannot be
        made or is not the user's own."""
        if not _private_folder(folder):
            return None
        tree = "\0".join(os.path.realpath(root) for root in roots)
        name = hashlib.sha256(tree.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        salt = f"{FORMAT}\0{__version__}\0{ruamel_version}\0{limits!r}\0"
        cache = cls(folder / f"parsed-{name}.json", salt)
        cache.entries = _read(cache.path)
        return cache

    def key(self, text: str) -> str:
        """The content key of a file's text."""
        data = (self.salt + text).encode("utf-8", "surrogatepass")
        return hashlib.sha256(data).hexdigest()

    def get(self, path: str, text: str) -> Parsed | None:
        """The parse of `text` read from `path`, if the cache holds it."""
        key = self.key(text)
        found = self.entries.get(path)
        if found is None or found[0] != key:
            return None
        self.used[path] = found
        self.hits += 1
        return Parsed([Document(data, line, column) for line, column, data in found[1]])

    def put(self, path: str, text: str, parsed: Parsed) -> None:
        """Keep the parse of `text` from `path`, if it is clean."""
        clean = parsed.error is None and all(
            document.complete and not document.issues for document in parsed.documents
        )
        if clean:
            documents = [[doc.line, doc.column, doc.data] for doc in parsed.documents]
            self.used[path] = (self.key(text), documents)

    def save(self) -> None:
        """Write back the entries of the files read this run, if they differ from what
        was read; quietly not, if the folder cannot be written."""
        if self.used == self.entries:
            return
        try:
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".parsed-")
        except OSError:
            return
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump({"format": FORMAT, "entries": self.used}, stream, separators=(",", ":"))
            os.replace(temporary, self.path)
        except (OSError, ValueError):
            with suppress(OSError):
                os.unlink(temporary)


def _read(path: Path) -> dict[str, tuple[str, list[Any]]]:
    try:
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
        if content.get("format") != FORMAT:
            return {}
        return {name: (str(entry[0]), list(entry[1])) for name, entry in content["entries"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return {}  # none yet, or unreadable: parse everything, and write it anew


def _private_folder(folder: Path) -> bool:
    """Whether `folder` exists (made if need be) as the user's own, writable by no one else."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = folder.stat()
    except OSError:
        return False
    mine = not hasattr(os, "getuid") or status.st_uid == os.getuid()
    return mine and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
