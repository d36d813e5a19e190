"""Finding manifest files and reading their text, refusing what is not UTF-8 YAML text."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from reconciler.manifests.documents import Limits, position_of
from reconciler.manifests.problems import Problem

YAML_SUFFIXES = (".yaml", ".yml")
CONFIG_NAMES = ("reconciler.yaml", "reconciler.yml")


def is_config_file(path: Path) -> bool:
    """Whether `path` is named like project config, wherever it is: never a manifest."""
    return path.name in CONFIG_NAMES


def discover(roots: Iterable[Path], problems: list[Problem]) -> Iterator[str]:
    """Paths to read, as the user would write them, in a stable order, each once."""
    seen: set[str] = set()
    for root in roots:
        try:
            found: Iterable[str] = _walk(root) if stat.S_ISDIR(root.stat().st_mode) else [str(root)]
        except FileNotFoundError:
            problems.append(Problem(str(root), message="no such file or folder"))
            continue
        except OSError as error:
            problems.append(Problem(str(root), message=f"cannot read: {error.strerror or error}"))
            continue
        for path in found:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                yield path


def _walk(root: Path) -> Iterator[str]:
    """YAML files under `root` (project configs too), skipping hidden folders and files.

    Linked folders are followed, each real folder once, so a link loop ends."""
    visited = {os.path.realpath(root)}
    for folder, subfolders, names in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(subfolders):
            real = os.path.realpath(os.path.join(folder, name))
            if not name.startswith(".") and real not in visited:
                visited.add(real)  # claimed now, so a second link to it is not walked
                kept.append(name)
        subfolders[:] = kept
        for name in sorted(names):
            if name.lower().endswith(YAML_SUFFIXES) and not name.startswith("."):
                yield os.path.join(folder, name)


def read_text(path: str, limits: Limits) -> str | Problem:
    """The file's text, or the reason it is not YAML text we are willing to read."""
    try:
        size = os.path.getsize(path)
        if size > limits.max_file_bytes:
            return Problem(
                path,
                message=f"file is too large: {size:,} bytes (the limit is"
                f" {limits.max_file_bytes:,})",
            )
        with open(path, "rb") as stream:
            data = stream.read(limits.max_file_bytes + 1)
    except OSError as error:
        return Problem(path, message=f"cannot read: {error.strerror or error}")
    if len(data) > limits.max_file_bytes:  # it grew while we looked
        return Problem(path, message=f"file is too large (the limit is {limits.max_file_bytes:,})")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return Problem(path, 1, 1, message="file is UTF-32: save it as UTF-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem(path, 1, 1, message="file is UTF-16: save it as UTF-8")
    if b"\x00" in data:
        line, column = _position(data, data.index(b"\x00"))
        return Problem(path, line, column, message="binary file (a NUL byte), not YAML text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = _position(data, error.start)
        return Problem(
            path,
            line,
            column,
            message=f"not UTF-8 text (byte 0x{data[error.start]:02x}): save it as UTF-8",
        )

    odd_break = _ODD_LINE_BREAK.search(text)
    if odd_break:
        line, column = position_of(text, odd_break.start())
        return Problem(
            path,
            line + 1,
            column + 1,
            message=f"character U+{ord(odd_break.group()):04X} (a Unicode line break) is not"
            " allowed: editors and YAML parsers disagree on where its lines end; remove it",
        )
    return text


_ODD_LINE_BREAK = re.compile("[\u0085\u2028\u2029]")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    before = data[:offset].decode("utf-8", errors="replace")
    line, column = position_of(before, len(before))
    return line + 1, column + 1
