"""Drift for people and for machines: a terminal view, and a versioned JSON document.

No logic lives here: `planning.drift` decided what drifted and what the next plan does
about it; these functions lay it out. Times are shown in the manifest's offset, as in a
plan. Text that came from the live API (a name someone typed in Coviu) is shown quoted
and escaped, so it cannot forge a line of output. Participants appear by manifest key,
or, when added by hand, by display name and role: never by id or entry URL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo
from itertools import groupby
from typing import Any, Final

from reconciler.planning import DRIFT_FORMAT, DRIFT_VERSION, Drift, DriftItem, DriftKind
from reconciler.planning.times import shown_in, write_instant

NOTHING: Final = "(none)"
_HEADS: Final = {
    DriftKind.SESSION_CANCELED: "cancelled by hand",
    DriftKind.SESSION_GONE: "no longer exists in Coviu",
    DriftKind.SESSION_CHANGED: "changed out of band",
    DriftKind.PARTICIPANT_CHANGED: "changed out of band",
    DriftKind.PARTICIPANT_REMOVED: "removed by hand",
    DriftKind.PARTICIPANT_ADDED: "participant added by hand",
}
_COUNTED: Final = {
    DriftKind.SESSION_CHANGED: "session field(s) changed",
    DriftKind.PARTICIPANT_CHANGED: "participant field(s) changed",
    DriftKind.PARTICIPANT_ADDED: "participant(s) added by hand",
    DriftKind.PARTICIPANT_REMOVED: "participant(s) removed by hand",
    DriftKind.SESSION_CANCELED: "session(s) cancelled by hand",
    DriftKind.SESSION_GONE: "session(s) gone",
}


def as_text(drift: Drift, *, where: str) -> str:
    """The terminal view: each drifted object with what the next plan does, the
    unmanaged sessions, then a summary."""
    zone = drift.zone
    lines = [f"Drift checked at {_when(drift.checked_at, zone)} (server time), {where}.", ""]
    for _, group in groupby(drift.items, key=lambda item: (item.target, item.kind)):
        lines += _object(list(group))
    if drift.items:
        lines.append("")
    if drift.unmanaged:
        lines += _unmanaged(drift, zone)
        lines.append("")
    lines.append(summary(drift))
    if drift.history:
        lines.append(f"Not read: {drift.history} finished or cancelled session(s) (history).")
    return "\n".join(lines) + "\n"


def summary(drift: Drift) -> str:
    """One line: how many sessions drifted, and how, and how much of it is final."""
    if not drift.items:
        if not drift.checked:
            return "No drift: no active recorded session in this run's scope to compare."
        return f"No drift: live matches what was last applied ({drift.checked} session(s) checked)."
    parts = [
        f"{count} {_COUNTED[DriftKind(kind)]}" for kind, count in drift.counts.items() if count
    ]
    line = f"Drift in {drift.drifted} of {drift.checked} session(s) checked: " + ", ".join(parts)
    if drift.final:
        line += f" ({drift.final} final: cannot be undone)"
    return line + "."


def _object(items: Sequence[DriftItem]) -> list[str]:
    """One drifted object: a head line, then each field's change with its next step."""
    first = items[0]
    head = f"{first.kind.symbol} {first.target} (session {first.session_id})"
    if first.kind is DriftKind.PARTICIPANT_ADDED:
        return [
            line
            for item in items
            for line in (
                f"{head}: {_HEADS[item.kind]}: {_text(item.display_name)} ({item.role})",
                f"    next: {item.says}",
            )
        ]
    if first.kind not in (DriftKind.SESSION_CHANGED, DriftKind.PARTICIPANT_CHANGED):
        final = "  [final]" if first.kind.final else ""
        return [f"{head}: {_HEADS[first.kind]}{final}", f"    next: {first.says}"]
    if first.compared_with == "manifest":
        head += (
            ": differs from its manifest (adopted by import, not applied since: manifest → live)"
        )
    else:
        head += f": {_HEADS[first.kind]} (last applied → live)"
    lines = [head]
    zone = first.starts_at.tzinfo
    for item in items:
        change = f"    {item.field}: {_value(item.applied, zone)} → {_value(item.live, zone)}"
        if item.compared_with == "applied" and item.manifest not in (item.applied, item.live):
            change += f"  (manifest now: {_value(item.manifest, zone)})"
        lines += [change, f"      next: {item.says}"]
    return lines


def _unmanaged(drift: Drift, zone: tzinfo | None) -> list[str]:
    rows = [("SESSION ID", "NAME", "START", "END", "PARTICIPANTS")]
    rows += [
        (
            session.session_id,
            _text(session.session_name),
            _when(session.start, zone),
            _when(session.end, zone),
            str(sum(1 for found in session.participants if not found.removed)),
        )
        for session in drift.unmanaged
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        f"Unmanaged ({len(drift.unmanaged)}): live sessions no inventory record names;"
        " reconciler never touches them (`reconciler import` adopts them)",
        *(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ),
    ]


def as_json(drift: Drift, *, targets: dict[str, str]) -> str:
    """The versioned drift document, keys in their fixed order."""
    return json.dumps(document(drift, targets=targets), indent=2, ensure_ascii=False) + "\n"


def document(drift: Drift, *, targets: dict[str, str]) -> dict[str, Any]:
    """`{format, version, checked_at, scope, targets, summary, items, unmanaged}`."""
    return {
        "format": DRIFT_FORMAT,
        "version": DRIFT_VERSION,
        "checked_at": write_instant(drift.checked_at),
        "scope": {
            "paths": list(drift.paths),
            "selector": dict(sorted(drift.selector.items())),
            "only": list(drift.only),
        },
        "targets": {"coviu": targets["coviu"], "auvious": targets["auvious"]},
        "summary": {
            "sessions_checked": drift.checked,
            "sessions_drifted": drift.drifted,
            **drift.counts,
            "final": drift.final,
            "history": drift.history,
            "unmanaged": len(drift.unmanaged),
        },
        "items": [_item(item) for item in drift.items],
        "unmanaged": [
            {
                "session_id": session.session_id,
                "session_name": session.session_name,
                "start_time": write_instant(session.start),
                "end_time": write_instant(session.end),
                "participants": sum(1 for found in session.participants if not found.removed),
            }
            for session in drift.unmanaged
        ],
    }


def _item(item: DriftItem) -> dict[str, Any]:
    return {
        "kind": item.kind.value,
        "target": item.target,
        "session_id": item.session_id,
        "compared_with": item.compared_with,
        "field": item.field,
        "applied": _json(item.applied),
        "live": _json(item.live),
        "manifest": _json(item.manifest),
        "display_name": item.display_name,
        "role": item.role,
        "final": item.kind.final,
        "next": item.next.value,
        "says": item.says,
        "starts_at": _json(item.starts_at),
    }


def _json(value: Any) -> Any:
    return write_instant(value) if isinstance(value, datetime) else value


def _value(value: Any, zone: tzinfo | None) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, datetime):
        return _when(value, zone)
    return _text(value) if isinstance(value, str) else str(value)


def _text(value: str | None) -> str:
    """Quoted and escaped: live text may hold anything, a line break included."""
    return NOTHING if value is None else json.dumps(value, ensure_ascii=False)


def _when(moment: datetime, zone: tzinfo | None) -> str:
    return write_instant(shown_in(moment, zone), keep_offset=True)
