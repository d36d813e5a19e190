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
    body = raw.lstrip("+-")
    if body.isdigit():
        return sign * timedelta(seconds=int(body))
    pattern = _ISO if body.upper().startswith("P") else _SHORT
    match = pattern.fullmatch(body.upper() if pattern is _ISO else body.lower())
    if not body or match is None or not any(match.groupdict().values()):
        raise DurationError(f"not a duration: {text!r} (try 30m, 1h30m, 2d or PT30M)")
    parts = {key: int(value or 0) for key, value in match.groupdict().items()}
    return sign * timedelta(
        days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"]
    )
