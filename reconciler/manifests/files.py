"""Finding manifest files and reading their text, refusing what is not UTF-8 YAML text."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from reconciler.manifests.documents import Limits
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
        if root.is_dir():
            found: Iterable[str] = _walk(root)
        elif root.exists():
            found = [str(root)]
        else:
            problems.append(Problem(str(root), message="no such file or folder"))
            continue
        for path in found:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                yield path


def _walk(root: Path) -> Iterator[str]:
    """YAML files under `root` (project configs too), skipping hidden folders and files."""
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
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
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem(path, 1, 1, message="file is UTF-16: save it as UTF-8")
    if b"\x00" in data:
        line, column = _position(data, data.index(b"\x00"))
        return Problem(path, line, column, message="binary file (a NUL byte), not YAML text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = _position(data, error.start)
        return Problem(
            path,
            line,
            column,
            message=f"not UTF-8 text (byte 0x{data[error.start]:02x}): save it as UTF-8",
        )


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def display(path: Path) -> str:
    """A path as short as it can be said from the current folder."""
    if not path.is_absolute():
        return str(path)
    relative = os.path.relpath(path)
    return str(path) if relative.startswith(os.pardir * 3) else relative
