"""Field-level differences, after normalization: the only way two values are compared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.planning.plan import Change


def field_changes(live: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[Change, ...]:
    """A `Change` for each field of `desired` whose value differs from `live`'s, in
    `desired`'s field order. Instants compare as instants (an offset is no change)."""
    return tuple(
        Change(name, live.get(name), value)
        for name, value in desired.items()
        if live.get(name) != value
    )
