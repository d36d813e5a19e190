"""Pydantic's validation errors, said the way a clinic's staff can act on them.

Each error becomes the loc it is about (the field to point at) and a message: unknown
fields and kinds get a "did you mean", patterns are described in words, and a value
of the wrong YAML type says how to write it instead.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Union

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from reconciler.manifests.documents import Loc
from reconciler.manifests.fields import PATTERN_MESSAGES
from reconciler.manifests.models import KINDS

_QUOTED = re.compile(r"'([^']*)'")
_TIME_HINT = (
    "use ISO 8601 with an offset (2026-12-01T09:00:00+11:00) or RFC 1123"
    " (Tue, 01 Dec 2026 22:00:00 GMT)"
)


def explain(
    details: Sequence[ErrorDetails],
    *,
    skip: int = 0,
    root: type[BaseModel] | None = None,
    written: Mapping[Loc, str] | None = None,
) -> list[tuple[Loc, str]]:
    """For each error of one document: the loc it is about, and what to tell the user.

    `skip` drops leading loc parts (a list index); without a `root` model, the first
    remaining part is the manifest's kind (pydantic's discriminator tag). A misspelt
    field that is also required is one mistake, said once, at the misspelling. `written`
    says how typed values were written (`02134`, not 2134), for quoting them back.
    """
    explained = [_explain(detail, skip, root, written or {}) for detail in details]
    missing = {loc for loc, _, kind, _ in explained if kind == "missing"}
    meant = {(*loc[:-1], suggestion) for loc, _, _, suggestion in explained if suggestion}
    said = []
    for loc, message, kind, suggestion in explained:
        if kind == "missing" and loc in meant:
            continue
        if suggestion and (*loc[:-1], suggestion) in missing:
            message += f" ({suggestion} is required)"
        said.append((loc, message))
    return said


def _explain(
    detail: ErrorDetails, skip: int, root: type[BaseModel] | None, written: Mapping[Loc, str]
) -> tuple[Loc, str, str, str]:
    """`(loc, message, error type, suggested field name or "")` for one error."""
    loc = list(detail["loc"][skip:])
    model = root
    if root is None and loc and isinstance(loc[0], str) and loc[0] in KINDS:
        model = KINDS[str(loc.pop(0))]
    if loc and loc[-1] == "[key]":
        loc.pop()
    at = (detail.get("ctx") or {}).get("at")
    if at:
        loc.extend(int(part) if part.isdecimal() else part for part in str(at).split("."))
    kind = detail["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return ("kind",), _unknown_kind(detail), kind, ""
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        allowed = _fields_at(model, loc[:-1])
        suggestion = _closest(name, allowed)
        return tuple(loc), _unknown_field(name, allowed, suggestion), kind, suggestion or ""
    return tuple(loc), _message(detail, written.get(tuple(loc))), kind, ""


def _unknown_kind(detail: ErrorDetails) -> str:
    known = ", ".join(KINDS)
    document = detail.get("input")
    if detail["type"] == "union_tag_not_found":
        return f"is required: one of {known}"
    if isinstance(document, dict) and document.get("kind") is None:
        return f"is empty: write one of {known}"
    tag = (detail.get("ctx") or {}).get("tag", "")
    return f"unknown kind {tag!r}{_did_you_mean(str(tag), list(KINDS))} (kinds: {known})"


def _unknown_field(name: str, allowed: list[str], suggestion: str | None) -> str:
    if suggestion:
        return f"unknown field {name!r}; did you mean {suggestion!r}?"
    if allowed:
        return f"unknown field {name!r} (allowed here: {', '.join(allowed)})"
    return f"unknown field {name!r}"


def _closest(word: str, choices: list[str]) -> str | None:
    """The choice `word` was most likely meant to be, if any is close."""
    by_case = {choice.lower(): choice for choice in choices}
    close = by_case.get(word.lower().replace("-", "_"))
    if close is None:
        matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
        close = matches[0] if matches else None
    return close


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = _closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def _fields_at(model: type[BaseModel] | None, loc: list[str | int]) -> list[str]:
    """The field names a document may use at `loc` inside `model`."""
    target: Any = model
    for part in loc:
        target = _unwrap(target)
        if isinstance(part, int):
            args = typing.get_args(target)
            target = args[0] if args else None
        elif isinstance(target, type) and issubclass(target, BaseModel):
            target = _field_annotation(target, part)
        else:
            return []
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [info.alias or name for name, info in target.model_fields.items()]
    return []


def _field_annotation(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """The model or collection inside `Annotated[...]` and `X | None`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = options[0] if len(options) == 1 else None
        else:
            return annotation


def _message(detail: ErrorDetails, as_written: str | None) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    value = detail.get("input")
    shown = value if as_written is None else _Written(as_written)
    if kind == "missing":
        return "is required"
    if kind == "string_pattern_mismatch":
        return f"{PATTERN_MESSAGES.get(str(ctx.get('pattern')), detail['msg'])}{_got(shown)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long: at most {ctx.get('max_length')} characters"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = _QUOTED.findall(expected)
        hint = _did_you_mean(value, choices) if isinstance(value, str) and len(choices) > 1 else ""
        return f"must be {expected}{_got(shown)}{hint}"
    if kind == "url_scheme" and isinstance(value, str):
        scheme = value.partition(":")[0] if ":" in value else ""
        return f"{detail['msg']} (got {scheme + ':' if scheme else 'no scheme'})"
    if kind == "string_type":
        return f"expected text, not {yaml_type(value, as_written)}{_quote_hint(value, as_written)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of fields, not {yaml_type(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, not {yaml_type(value)}"
    if kind == "timezone_aware":
        return "has no UTC offset: add one, like 2026-12-01T09:00:00+11:00, or Z for UTC"
    if kind.startswith(("datetime_", "date_")) or kind == "time_parsing":
        return f"not a time{_got(shown)}: {_TIME_HINT}"
    if kind == "value_error" and ctx.get("error"):
        return str(ctx["error"])  # a validator's own words, without "Value error, "
    return _sentence(detail["msg"])


class _Written(str):
    """A value as it was written in the YAML, shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return f" (got {_yaml_text(value)})"
    if isinstance(value, str | int | float) and len(str(value)) <= 80:
        return f" (got {value!r})"
    return ""


def _quote_hint(value: Any, as_written: str | None) -> str:
    if isinstance(value, bool | int | float):
        text = as_written if as_written is not None else _yaml_text(value)
        return f': to mean the text, write it in quotes, like "{text}"'
    return ""


def _yaml_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def yaml_type(value: Any, as_written: str | None = None) -> str:
    """How YAML would describe the kind of `value` (written as `as_written`, if known)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"true/false ({as_written or _yaml_text(value)})"
    if isinstance(value, int | float):
        return f"a number ({as_written or value})"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return "a value of another kind"


def _sentence(message: str) -> str:
    """Pydantic's message, with the capital it starts with dropped to fit after `field: `."""
    return message[:1].lower() + message[1:]
