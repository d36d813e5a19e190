"""Durations as people write them: `30m`, `1h30m`, `90s`, `2d`, or ISO 8601 `PT30M`."""

from __future__ import annotations

import re
from datetime import timedelta

_SHORT = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_ISO = re.compile(r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?")


class DurationError(ValueError):
    """Text that is not a duration."""


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`, `PT1H30M` or a number of seconds; a leading `-` goes backwards."""
    raw = text.strip()
    sign = -1 if raw.startswith("-") else 1
    body = raw[1:] if raw[:1] in ("+", "-") else raw
    problem = DurationError(f"not a duration: {text!r} (try 30m, 1h30m, 2d or PT30M)")
    if body.isascii() and body.isdecimal():
        parts = {"d": 0, "h": 0, "m": 0, "s": int(body)}
    else:
        pattern = _ISO if body.upper().startswith("P") else _SHORT
        match = pattern.fullmatch(body.upper() if pattern is _ISO else body.lower())
        if not body.isascii() or match is None or not any(match.groupdict().values()):
            raise problem
        parts = {key: int(value or 0) for key, value in match.groupdict().items()}
    try:
        return sign * timedelta(
            days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"]
        )
    except OverflowError:
        raise DurationError(f"duration is too long: {text!r}") from None
