"""What YAML text becomes: documents of plain data, with a position for every part.

`reconciler.manifests.composer` builds them; the loader validates their data and
uses their positions to say `file:line:col` about any mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from reconciler.manifests.problems import Problem, field_text

Loc = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and sequence indexes from the root."""


def position_of(text: str, offset: int) -> tuple[int, int]:
    """0-based line and column of a character offset, counting lines by `\\n` alone."""
    return text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What the loader refuses to read. Generous for any clinic; small for an attacker."""

    max_file_bytes: int = 32 * 1024 * 1024
    max_scalar_chars: int = 64 * 1024
    max_depth: int = 32
    max_document_nodes: int = 100_000
    """Counted after aliases are expanded, so `&a [*b, *b, …]` chains cannot explode."""


DEFAULT_LIMITS: Final = Limits()


@dataclass(frozen=True)
class Issue:
    """A problem found while reading YAML, at a 0-based line and column."""

    line: int
    column: int
    message: str
    loc: Loc = ()
    syntax: bool = field(default=False, compare=False)
    """A syntax error (as opposed to a character the reader refused, or a limit)."""

    def problem(self, path: str, *, kind: str = "", name: str = "") -> Problem:
        """This issue as a Problem of file `path`, at the issue's own 1-based position."""
        line, column, field = self.line + 1, self.column + 1, field_text(self.loc)
        return Problem(path, line, column, kind, name, field, self.message)


@dataclass
class Document:
    """One YAML document: its data, where each part of it is, and what was wrong with it."""

    data: Any
    line: int
    column: int
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    complete: bool = True
    """False when an issue stopped the reading of this document; `data` is then partial."""
    written: dict[Loc, str] = field(default_factory=dict)
    """How each value that YAML typed (a number, a boolean, null) was written."""

    def problem(
        self, path: str, loc: Loc, message: str, *, kind: str = "", name: str = ""
    ) -> Problem:
        """A Problem about `loc` in this document of file `path`, at its 1-based position."""
        line, column = self.mark(loc)
        return Problem(path, line + 1, column + 1, kind, name, field_text(loc), message)

    def mark(self, loc: Loc) -> tuple[int, int]:
        """The position of `loc`, or of its nearest ancestor that has one (0-based)."""
        for end in range(len(loc), 0, -1):
            found = self.marks.get(loc[:end])
            if found is not None:
                return found
        return self.line, self.column


@dataclass
class Parsed:
    """Everything read from one text: its documents, and a syntax error that ended it."""

    documents: list[Document]
    error: Issue | None = None
