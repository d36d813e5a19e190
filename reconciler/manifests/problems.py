"""What is wrong with a manifest, and exactly where: the unit every loader error is made of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import InputError


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake, at `path:line:col` (1-based; 0 when the whole file is meant)."""

    path: str
    line: int = 0
    column: int = 0
    kind: str = ""
    name: str = ""
    field: str = ""
    message: str = ""

    @property
    def subject(self) -> str:
        """`Kind/name` of the document, with `?` for whichever part is unknown."""
        if not (self.kind or self.name):
            return ""
        return f"{self.kind or '?'}/{self.name or '?'}"

    def render(self) -> str:
        """`path:line:col: Kind/name: field: message`, leaving out the parts not known.

        One line, always: control characters a document carries (in a name, a key) are
        escaped, so no manifest can forge a line of output or drive a terminal.
        """
        where = self.path
        if self.line:
            where += f":{self.line}:{self.column}"
        parts = [where, self.subject, self.field, self.message]
        return printable(": ".join(part for part in parts if part))


def printable(text: str) -> str:
    """`text` with every non-printable character written as an escape, such as `\\n`."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    if char in "\n\r\t":
        return repr(char)[1:-1]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code <= 0xFF
        else f"\\u{code:04x}"
        if code <= 0xFFFF
        else f"\\U{code:08x}"
    )


def field_text(loc: Sequence[str | int]) -> str:
    """`spec.participants[1].role` from `('spec', 'participants', 1, 'role')`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class ManifestError(InputError):
    """Manifests or project config that cannot be used; `problems` lists every one found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(set(problems)))  # a check may repeat a model's finding
        count = len(self.problems)
        first = self.problems[0].render() if count else "invalid manifests"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{first}{more}")
