"""Times as the APIs write them (RFC 1123 or ISO 8601), read as aware UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache


class ApiTimeError(ValueError):
    """A time in an answer that is neither RFC 1123 nor ISO 8601 with an offset."""


@lru_cache(maxsize=8192)
def parse_api_time(text: str) -> datetime:
    """Read an RFC 1123 (`Wed, 08 Jun 2016 04:07:11 GMT`) or ISO 8601 time, in UTC."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value) if value[:4].isdigit() else _rfc1123(value)
    except (ValueError, TypeError, IndexError) as error:
        raise ApiTimeError(f"not an RFC 1123 or ISO 8601 time: {text[:40]!r}") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ApiTimeError(f"time has no UTC offset: {text[:40]!r}")
    return parsed.astimezone(UTC)


def _rfc1123(value: str) -> datetime:
    parsed = parsedate_to_datetime(value)
    if parsed.tzinfo is None:
        # email.utils reads "-0000" as "no zone known"; HTTP dates are always GMT.
        raise ValueError("no zone")
    return parsed


def format_api_time(value: datetime) -> str:
    """Write an aware time as ISO 8601 in UTC with a Z, which both APIs accept."""
    if value.tzinfo is None:
        raise ValueError("a naive time cannot be sent: it names no instant")
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"
