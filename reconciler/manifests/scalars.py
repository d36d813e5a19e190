"""Plain YAML scalars typed by the YAML 1.2 core schema, and the explicit tags we allow.

Under YAML 1.1 (PyYAML's default) `no`, `on` and `yes` are booleans and `2026-12-01`
is a date; under 1.2 they stay text, so a clinic's `state: no` means what it says
and times reach the models as written.
"""

from __future__ import annotations

import re
from typing import Any, Final

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"

WORDS: Final[dict[str, Any]] = {
    "": None,
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_OCTAL_HEX = re.compile(r"0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_TEXT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS: Final[dict[str, float]] = {
    **{
        f"{sign}.{word}": float(f"{sign}inf")
        for sign in ("", "+", "-")
        for word in ("inf", "Inf", "INF")
    },
    **{f".{word}": float("nan") for word in ("nan", "NaN", "NAN")},
}
NUMBER_START = frozenset("-+.0123456789")


def number(text: str) -> int | float | None:
    if _DECIMAL.fullmatch(text):
        return int(text)
    if _OCTAL_HEX.fullmatch(text):
        return int(text, 0)
    if _FLOAT_TEXT.fullmatch(text):
        return float(text)
    return _SPECIAL_FLOATS.get(text)


def tagged(tag: str, text: str) -> Any:
    """Apply an explicit core-schema tag, e.g. `!!str 0123`; raise ValueError otherwise."""
    if tag in (STR, "!"):
        return text
    if tag == NULL and WORDS.get(text, 0) is None:
        return None
    if tag == BOOL and isinstance(WORDS.get(text), bool):
        return WORDS[text]
    if tag == INT and (_DECIMAL.fullmatch(text) or _OCTAL_HEX.fullmatch(text)):
        return int(text, 0) if _OCTAL_HEX.fullmatch(text) else int(text)
    if tag == FLOAT and (typed := number(text)) is not None:
        return float(typed)
    if tag in (NULL, BOOL, INT, FLOAT):
        raise ValueError(f"cannot read {text!r} as {short_tag(tag)}")
    raise ValueError(f"unsupported tag {short_tag(tag)}")


def short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")
