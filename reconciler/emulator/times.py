"""The emulator's own reading and writing of the two time formats the vendor APIs use.

Kept apart from the manifest loader on purpose: the emulator is an independent witness
of the wire format, so it must not share the reconciler's parsing (or its bugs).
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TimeFormatError(ValueError):
    """A time string is neither RFC 1123 nor ISO 8601 with an offset."""


# Times outside these years are refused: far enough for any schedule, and clear of the
# edges of Python's datetime, where arithmetic overflows.
EARLIEST_YEAR, LATEST_YEAR = 1970, 9000


def parse_time(text: str) -> datetime:
    """Parse an offset-carrying ISO 8601 or an RFC 1123 time into an aware UTC datetime."""
    text = text.strip()
    if not text:
        raise TimeFormatError("empty time")
    try:
        value = _parse_iso(text)
    except TimeFormatError as iso_error:
        if text[:4].isdigit() and "-" in text[:8]:
            raise
        try:
            value = _parse_rfc1123(text)
        except TimeFormatError:
            raise TimeFormatError(
                f"not an ISO 8601 (with offset) or RFC 1123 time: {text!r}"
            ) from iso_error
    return check_supported(value)


def check_supported(value: datetime) -> datetime:
    """The value, if its year is one the emulator supports; TimeFormatError if not."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise TimeFormatError(f"times must fall in the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


def _parse_iso(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise TimeFormatError(f"not an ISO 8601 time: {text!r}") from error
    if value.tzinfo is None:
        raise TimeFormatError(f"time has no offset (add Z or +hh:mm): {text!r}")
    return value


def _parse_rfc1123(text: str) -> datetime:
    try:
        value = email.utils.parsedate_to_datetime(text)
        if value.tzinfo is None:
            raise TimeFormatError(f"time has no zone (add GMT): {text!r}")
        return value.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError) as error:
        if isinstance(error, TimeFormatError):
            raise
        raise TimeFormatError(f"not an RFC 1123 time: {text!r}") from error


def format_rfc1123(value: datetime) -> str:
    """Format as RFC 1123 in GMT at second precision, the way `Date.toUTCString()` does."""
    value = value.astimezone(UTC)
    return (
        f"{_WEEKDAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} "
        f"{value.year:04d} {value.hour:02d}:{value.minute:02d}:{value.second:02d} GMT"
    )


def format_iso(value: datetime) -> str:
    """Format as ISO 8601 in UTC with a `Z`, millisecond precision when there are any."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_millis(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def from_millis(millis: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=millis)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
