"""The field types of manifests: what each accepts, and how a refusal is worded.

Patterns and lengths are checked by pydantic-core (fast, in Rust); the few checks it
cannot make are small functions here. Each type also fixes its JSON Schema, so an
editor refuses exactly what the loader refuses.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from reconciler.durations import DurationError, parse_duration

NAME_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
LABEL_KEY_PATTERN: Final = (
    r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN: Final = r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$"
NOT_BLANK_PATTERN: Final = r"\S"
MAX_URL_CHARS: Final = 2048

PATTERN_MESSAGES: Final[dict[str, str]] = {
    NAME_PATTERN: (
        "must be 1 to 63 lower-case letters, digits and '-', starting and ending with a"
        " letter or digit"
    ),
    LABEL_KEY_PATTERN: (
        "a label key is up to 63 letters, digits, '-', '_' and '.', starting and ending"
        " with a letter or digit, with an optional DNS prefix and '/'"
    ),
    LABEL_VALUE_PATTERN: (
        "a label value is empty or up to 63 letters, digits, '-', '_' and '.', starting and"
        " ending with a letter or digit"
    ),
    NOT_BLANK_PATTERN: "must not be blank",
}
"""What to tell the user when a value does not match one of the patterns above."""

_ISO_DATE_TIME: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?"
)
_ISO_OFFSET: Final = r"([Zz]|[+-][0-9]{2}:?[0-9]{2})"
_ISO_TIME_PATTERN: Final = f"{_ISO_DATE_TIME}{_ISO_OFFSET}$"
_ISO_SHAPE = re.compile(f"{_ISO_DATE_TIME}{_ISO_OFFSET}?$")
"""An ISO 8601 time, its offset optional here so that a missing one gets its own message."""
_DATE_ONLY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_RFC1123_PATTERN: Final = (
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$"
)
_RFC1123 = re.compile(_RFC1123_PATTERN)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME_EXAMPLES: Final = (
    "ISO 8601 with an offset (2026-12-01T09:00:00+11:00)"
    " or RFC 1123 (Tue, 01 Dec 2026 22:00:00 GMT)"
)
_DURATION_PATTERN: Final = (
    r"^(([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?|P([0-9]+D)?(T([0-9]+H)?([0-9]+M)?([0-9]+S)?)?)$"
)


def _read_time(value: Any) -> Any:
    """Let ISO 8601 through to pydantic; read RFC 1123 here; refuse numbers and the like."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("time_type", f"expected a time as text: {_TIME_EXAMPLES}")
    if _ISO_SHAPE.match(value):
        return value  # pydantic reads it, and refuses it without an offset
    if _DATE_ONLY.match(value.strip()):
        raise PydanticCustomError(
            "time_date_only",
            "is a date without a time of day: write it like 2026-12-01T09:00:00+11:00",
        )
    if not _RFC1123.match(value):
        raise PydanticCustomError("time_parsing", f"not a time: use {_TIME_EXAMPLES}")
    try:
        parsed = parsedate_to_datetime(value)
    except ValueError:
        raise PydanticCustomError("time_parsing", "not a real date and time") from None
    named = _WEEKDAYS.index(value[:3])
    if named != parsed.weekday():
        raise PydanticCustomError(
            "time_weekday",
            f"{parsed:%d %b %Y} is a {parsed:%A}, not a {_DAY_NAMES[named]}: check the date",
        )
    return parsed


def _read_duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or value.strip().isdecimal():
        raise PydanticCustomError(
            "duration_type", "write a duration with its unit, like 30m, 1h30m or PT30M"
        )
    try:
        duration = parse_duration(value)
    except DurationError as error:
        raise PydanticCustomError("duration_parsing", str(error)) from None
    if duration <= timedelta(0):
        raise PydanticCustomError("duration_positive", "must be longer than zero")
    return duration


def _check_web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url_scheme", "must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise PydanticCustomError("url_credentials", "must not carry a user name or password")
    if _SPACE_OR_CONTROL.search(value):
        raise PydanticCustomError("url_characters", "must not contain spaces or control characters")
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _present(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("value_missing", "is empty: give a value, or remove the line")
    return value


def _either_case(*words: str) -> dict[str, Any]:
    """A JSON Schema for words accepted in any case, suggesting the lower-case spelling."""
    spelled = "|".join("".join(f"[{c.upper()}{c}]" for c in word) for word in words)
    return {"anyOf": [{"enum": list(words)}, {"type": "string", "pattern": f"^(?:{spelled})$"}]}


Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
Text = Annotated[str, Field(min_length=1, pattern=NOT_BLANK_PATTERN)]
Labels = Annotated[
    dict[
        Annotated[str, Field(pattern=LABEL_KEY_PATTERN, max_length=317)],
        Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)],
    ],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": LABEL_KEY_PATTERN, "maxLength": 317},
            "additionalProperties": {
                "type": "string",
                "pattern": LABEL_VALUE_PATTERN,
                "maxLength": 63,
            },
            "description": "Free key/value pairs, used by --selector.",
        }
    ),
]
PREVENT_CANCEL: Final = "reconciler/prevent-cancel"
"""The annotation that keeps a session from being cancelled, even after its manifest
is deleted: the inventory records it when the session is applied."""
RESERVED_ANNOTATIONS: Final[dict[str, tuple[str, ...]]] = {PREVENT_CANCEL: ("true", "false")}
"""The `reconciler/` annotations this version reads, and the values each accepts: any
other key under `reconciler/` is a mistake (a typo would silently protect nothing)."""
MAX_ANNOTATION_CHARS: Final = 4096


def _check_annotation_key(key: str) -> str:
    if key.startswith("reconciler/") and key not in RESERVED_ANNOTATIONS:
        close = difflib.get_close_matches(key, RESERVED_ANNOTATIONS, n=1)
        hint = (
            f"did you mean {close[0]!r}?" if close else f"known: {', '.join(RESERVED_ANNOTATIONS)}"
        )
        raise PydanticCustomError(
            "unknown_annotation",
            f"unknown annotation {key!r} (the reconciler/ prefix is reserved); {hint}",
        )
    return key


Annotations = Annotated[
    dict[
        Annotated[
            str,
            Field(pattern=LABEL_KEY_PATTERN, max_length=317),
            AfterValidator(_check_annotation_key),
        ],
        Annotated[str, Field(max_length=MAX_ANNOTATION_CHARS)],
    ],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": LABEL_KEY_PATTERN, "maxLength": 317},
            "additionalProperties": {"type": "string", "maxLength": MAX_ANNOTATION_CHARS},
            "properties": {
                PREVENT_CANCEL: {
                    "enum": list(RESERVED_ANNOTATIONS[PREVENT_CANCEL]),
                    "description": '"true": never cancel this session, even after its'
                    " manifest is deleted (the inventory remembers).",
                }
            },
            "description": "Free key/value notes; keys under reconciler/ are read by the"
            " reconciler itself.",
        }
    ),
]
TIME_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "anyOf": [{"pattern": _ISO_TIME_PATTERN}, {"pattern": _RFC1123_PATTERN}],
    "description": f"A moment with its UTC offset: {_TIME_EXAMPLES}.",
}
DURATION_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "minLength": 2,
    "pattern": _DURATION_PATTERN,
    "description": "How long: 30m, 1h30m, 90s, 2d, or ISO 8601 PT30M.",
}
Time = Annotated[AwareDatetime, BeforeValidator(_read_time), WithJsonSchema(TIME_SCHEMA)]
Duration = Annotated[timedelta, BeforeValidator(_read_duration), WithJsonSchema(DURATION_SCHEMA)]
OptionalTime = Annotated[Time | None, BeforeValidator(_present), WithJsonSchema(TIME_SCHEMA)]
"""Optional, but an empty value is a mistake there, not the same as leaving the line out."""
OptionalDuration = Annotated[
    Duration | None, BeforeValidator(_present), WithJsonSchema(DURATION_SCHEMA)
]
WebUrl = Annotated[
    str,
    Field(max_length=MAX_URL_CHARS),
    AfterValidator(_check_web_url),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": MAX_URL_CHARS,
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+([/?#][^\s]*)?$",
            "description": "An http:// or https:// URL.",
        }
    ),
]
Role = Annotated[
    Literal["host", "guest"], BeforeValidator(_lower), WithJsonSchema(_either_case("host", "guest"))
]
Decision = Annotated[
    Literal["approved", "discarded"],
    BeforeValidator(_lower),
    WithJsonSchema(_either_case("approved", "discarded")),
]
