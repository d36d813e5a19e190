"""Names for what `reconciler import --generate` writes: manifest names made from what
the live API holds (free text, any script) that the manifest format accepts.

A `metadata.name` or participant key is at most 63 of `[a-z0-9-]`, starting and ending
with a letter or digit (`manifests.fields.NAME_PATTERN`). Text is folded to ASCII
(`Zoë` → `zoe`), everything else becomes `-`; a name already taken gets `-2`, `-3`, …
and is cut, never its date, so it stays within the limit.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Collection
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from reconciler.errors import InputError

MAX_NAME = 63
STAMP = "%Y-%m-%d-%H%M"
"""How a session's start is written into its name: 2026-12-07-0900."""
_STAMP_CHARS = len("-2026-12-07-0900")
_WORDS = re.compile(r"[a-z0-9]+")
_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")


class OffsetError(InputError):
    """A `--utc-offset` that is not a fixed offset like +11:00."""


def slug(text: str | None, *, fallback: str, limit: int = MAX_NAME) -> str:
    """`text` as lower-case ASCII words joined by `-`, at most `limit` long; `fallback`
    when nothing of it is left (no text, or only punctuation or another script)."""
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    joined = "-".join(_WORDS.findall(folded.lower()))
    return joined[:limit].strip("-") or fallback


def unique(stem: str, taken: Collection[str], *, tail: str = "") -> str:
    """`stem` + `tail`, or with `-2`, `-3`, … after it: the first not in `taken`. The stem
    is cut to keep the name within `MAX_NAME`; `tail` (a date, say) is kept whole."""
    for number in itertools.count(1):
        suffix = "" if number == 1 else f"-{number}"
        room = MAX_NAME - len(tail) - len(suffix)
        name = f"{stem[:room].rstrip('-')}{tail}{suffix}"
        if name not in taken:
            return name
    raise AssertionError("unreachable")  # pragma: no cover - count() never ends


def session_name(title: str | None, start: datetime, taken: Collection[str]) -> str:
    """The `metadata.name` of a generated Session: its title's slug and its start as
    written (`follow-up-2026-12-07-0900`), unique against `taken`."""
    stem = slug(title, fallback="session", limit=MAX_NAME - _STAMP_CHARS)
    return unique(stem, taken, tail=f"-{start.strftime(STAMP)}")


def participant_name(display_name: str | None, taken: Collection[str]) -> str:
    """A participant key from its display name (`Dr. Mei Chen` → `dr-mei-chen`), unique
    within its session."""
    return unique(slug(display_name, fallback="participant"), taken)


def parse_offset(text: str) -> tzinfo:
    """`+11:00`, `-05:30` or `+00:00` as a fixed offset (`Z` for UTC too)."""
    if text.strip() in ("Z", "z"):
        return UTC
    found = _OFFSET.fullmatch(text.strip())
    hours, minutes = (int(found[2]), int(found[3])) if found else (99, 99)
    if found is None or hours > 23 or minutes > 59:
        raise OffsetError(
            f"--utc-offset {text!r}: expected a fixed offset from UTC like +11:00, -05:30"
            " or +00:00 (a time zone name is not an offset: its offset changes with"
            " daylight saving)"
        )
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if found[1] == "-" else offset)
