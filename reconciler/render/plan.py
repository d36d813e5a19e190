"""Plans for people: a terminal view, and a pull-request comment.

No logic lives here: every decision was made by the planner, and these functions only
lay it out. Times are shown in the offset the manifest wrote them in; values that came
from the live API are moved into that offset too. (The JSON view is
`reconciler.planning.plan_document`, printed as is.)
"""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any, Final

from reconciler.planning import (
    SAFETY_MARGIN,
    Change,
    Item,
    Kind,
    Plan,
    Sealer,
    Status,
    plan_document,
    unkeyed_seal,
)
from reconciler.planning.times import shown_in, write_instant

NOTHING: Final = "(none)"
_LABELS: Final = {
    "cancel_session": "to cancel",
    "cancel_participant": "participant(s) to cancel",
    "update_session": "to update",
    "create_session": "to create",
    "add_participant": "participant(s) to add",
    "update_participant": "participant(s) to update",
    "approve_snapshot": "snapshot(s) to approve",
    "discard_snapshot": "snapshot(s) to discard",
}
_STYLES: Final = {
    "+": "\x1b[32m",
    "~": "\x1b[33m",
    "-": "\x1b[31m",
    "!": "\x1b[35m",
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
}
_RESET: Final = "\x1b[0m"


def as_json(plan: Plan, *, targets: dict[str, str], seal: Sealer = unkeyed_seal) -> str:
    """The plan's versioned JSON document, keys in their fixed order, sealed by `seal`."""
    document = plan_document(plan, targets=targets, seal=seal)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def budget_warning(plan: Plan, budget: int | None) -> str:
    """A warning when the plan cancels more than the cancel budget allows."""
    if budget is None or plan.cancels <= budget:
        return ""
    return (
        f"Warning: this plan cancels {plan.cancels} sessions and participants, more than the"
        f" cancel budget of {budget}: `reconciler apply` refuses it unless given"
        " --allow-mass-cancel."
    )


def as_text(plan: Plan, *, where: str, colour: bool = False, budget: int | None = None) -> str:
    """The terminal view: actions, blocked and unreconcilable items, then the summary."""
    paint = _painter(colour)
    lines = [f"Plan made at {_when(plan.created_at, _zone(plan))} {_clock(plan)}, {where}.", ""]
    if plan.actions:
        for item in plan.actions:
            lines += _action(item, paint)
        lines.append("")
    if plan.blocked:
        lines.append(paint("bold", f"Blocked ({len(plan.blocked)}): not possible now"))
        for item in plan.blocked:
            lines += _problem(item, paint)
        lines.append("")
    if plan.unreconcilable:
        lines.append(
            paint("bold", f"Unreconcilable ({len(plan.unreconcilable)}): will never be possible")
        )
        for item in plan.unreconcilable:
            lines += _problem(item, paint)
        lines.append("")
    lines.append(paint("bold", summary(plan)))
    warning = budget_warning(plan, budget)
    if warning:
        lines.append(paint("-", warning))
    ignored = ignored_line(plan)
    if ignored:
        lines.append(paint("dim", ignored))
    return "\n".join(lines) + "\n"


def summary(plan: Plan) -> str:
    """One line: counts per action, blocked, unreconcilable, and until when it holds."""
    if not plan.considered and not plan.actions and not plan.has_problems:
        return "Nothing to compare: no manifest was selected."
    if not plan.actions and not plan.has_problems:
        head = "No changes: live matches the manifests."
    else:
        parts = [
            f"{count} {_LABELS[kind]}"
            for kind, count in plan.counts.items()
            if count and kind not in ("blocked", "unreconcilable")
        ]
        head = "Plan: " + (", ".join(parts) if parts else "nothing to do")
        if plan.irreversible:
            head += f" ({plan.irreversible} irreversible)"
        extra = [
            f"{plan.counts[name]} {name}"
            for name in ("blocked", "unreconcilable")
            if plan.counts[name]
        ]
        head += ("; " + ", ".join(extra) if extra else "") + "."
    if plan.actions:
        head += " " + _validity(plan)
    return head


def ignored_line(plan: Plan) -> str:
    """What the plan left alone on purpose, if anything."""
    ignored = plan.ignored
    parts = [
        (ignored.unmanaged_sessions, "live session(s) not in the inventory (never touched)"),
        (ignored.unmanaged_participants, "live participant(s) not in the inventory"),
        (ignored.history, "finished or cancelled session(s) not refreshed"),
        (ignored.out_of_scope, "recorded session(s) outside these PATHs or the selector"),
    ]
    shown = [f"{count} {what}" for count, what in parts if count]
    return "Left alone: " + "; ".join(shown) + "." if shown else ""


def as_markdown(plan: Plan, *, where: str, limit: int = 60_000, budget: int | None = None) -> str:
    """A pull-request comment: the summary first, what needs a reviewer's eye called out,
    the details collapsed; shortened, with a note, to stay under `limit` characters."""
    head = [
        f"### reconciler plan: {summary(plan).removeprefix('Plan: ')}",
        "",
        f"Made at {_when(plan.created_at, _zone(plan))} {_clock(plan)}, {where}."
        f" Manifests `{plan.manifest_digest[:19]}`.",
        "",
    ]
    callouts = (
        ("irreversible action(s)", [item for item in plan.actions if item.kind.irreversible]),
        ("blocked", list(plan.blocked)),
        ("unreconcilable", list(plan.unreconcilable)),
    )
    warning = budget_warning(plan, budget)
    if warning:
        head += [f"> **{warning}**", ""]
    for title, items in callouts:
        if items:
            named = ", ".join(f"`{_safe(item.target)}`" for item in items[:20])
            more = f" and {len(items) - 20} more" if len(items) > 20 else ""
            head += [f"> **{len(items)} {title}:** {named}{more}", ""]
    ignored = ignored_line(plan)
    sections = [
        (f"Actions ({len(plan.actions)})", [_action(item, _plain) for item in plan.actions]),
        (f"Blocked ({len(plan.blocked)})", [_problem(item, _plain) for item in plan.blocked]),
        (
            f"Unreconcilable ({len(plan.unreconcilable)})",
            [_problem(item, _plain) for item in plan.unreconcilable],
        ),
    ]
    tail = [ignored, ""] if ignored else []
    return _fit(head, [(title, items) for title, items in sections if items], tail, limit)


def _fit(
    head: list[str], sections: list[tuple[str, list[list[str]]]], tail: list[str], limit: int
) -> str:
    """Join the comment; while it is too long, drop whole items from the longest section."""
    kept = [list(items) for _, items in sections]
    while True:
        dropped = [
            len(items) - len(shown) for (_, items), shown in zip(sections, kept, strict=True)
        ]
        text = _join(head, [title for title, _ in sections], kept, dropped, tail)
        if len(text) <= limit or not any(kept):
            return text
        longest = max(range(len(kept)), key=lambda index: len(kept[index]))
        del kept[longest][-max(1, len(kept[longest]) // 4) :]


def _join(
    head: list[str],
    titles: list[str],
    kept: list[list[list[str]]],
    dropped: list[int],
    tail: list[str],
) -> str:
    out = list(head)
    if any(dropped):
        out += [
            "> **Shortened:** this plan is too long for one comment; some items are left"
            " out below. Run `reconciler plan` or read the saved plan for all of it.",
            "",
        ]
    for title, items, cut in zip(titles, kept, dropped, strict=True):
        note = [f"… {cut} more item(s) left out"] if cut else []
        out += [
            f"<details><summary>{title}</summary>",
            "",
            "```diff",
            *(_safe(line) for item in items for line in item),
            *note,
            "```",
            "</details>",
            "",
        ]
    return "\n".join(out + tail)


def _action(item: Item, paint: Any) -> list[str]:
    symbol = item.kind.symbol
    head = f"{symbol} {item.kind.verb} {item.target}"
    if item.session_id and item.kind is not Kind.CREATE_SESSION:
        head += f" (session {item.session_id})"
    if item.kind.irreversible:
        head += "  [irreversible]"
    lines = [paint(symbol, head)]
    lines += _changes(item)
    if item.kind in (Kind.CANCEL_SESSION, Kind.CANCEL_PARTICIPANT):
        lines.append(f"    why: {item.reason}")
    return lines


def _problem(item: Item, paint: Any) -> list[str]:
    zone = item.starts_at.tzinfo if item.starts_at is not None else None
    verb = "" if item.status is Status.UNRECONCILABLE else f"{item.kind.verb} "
    head = f"! {verb}{item.target}"
    if item.session_id:
        head += f" (session {item.session_id})"
    lines = [paint("!", head)]
    lines += _changes(item)
    lines.append(f"    why: {item.reason}")
    if item.legal_from is not None:
        lines.append(f"    possible from: {_when(item.legal_from, zone)}")
    elif item.never and item.status is Status.BLOCKED:
        lines.append("    possible: never")
    if item.hint:
        lines.append(f"    hint: {item.hint}")
    return lines


def _changes(item: Item) -> list[str]:
    """Each change as `field: old → new`; a create or an add shows only the new values."""
    zone = item.starts_at.tzinfo if item.starts_at is not None else None
    new_only = item.kind in (Kind.CREATE_SESSION, Kind.ADD_PARTICIPANT)
    return [f"    {_change(change, zone, new_only=new_only)}" for change in item.changes]


def _change(change: Change, zone: tzinfo | None, *, new_only: bool) -> str:
    if new_only:
        return f"{change.field}: {_value(change.new, zone)}"
    return f"{change.field}: {_value(change.old, zone)} → {_value(change.new, zone)}"


def _value(value: Any, zone: tzinfo | None) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, dict):
        return ", ".join(
            f"{name} {_value(field, zone)}" for name, field in value.items() if field is not None
        )
    if isinstance(value, datetime):
        return _when(value, zone)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _when(moment: datetime, zone: tzinfo | None) -> str:
    return write_instant(shown_in(moment, zone), keep_offset=True)


def _zone(plan: Plan) -> tzinfo | None:
    """The offset to show plan-wide times in: the manifests' usual one."""
    if plan.zone is not None:
        return plan.zone
    for item in (*plan.actions, *plan.blocked, *plan.unreconcilable):
        if item.starts_at is not None:
            return item.starts_at.tzinfo
    return None


def _validity(plan: Plan) -> str:
    if plan.valid_until is None:
        return "It does not expire."
    until = _when(plan.valid_until, _zone(plan))
    if plan.expired_on_arrival:
        return (
            f"Expired already ({until}): an action stops being legal within the"
            f" {_margin()} safety margin, so apply will refuse this plan."
        )
    return f"Valid until {until}."


def _margin() -> str:
    return f"{int(SAFETY_MARGIN.total_seconds())} s"


def _clock(plan: Plan) -> str:
    return "(simulated with --at)" if plan.simulated else "(server time)"


def _plain(style: str, text: str) -> str:
    return text


def _painter(colour: bool) -> Any:
    def paint(style: str, text: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if colour and style in _STYLES else text

    return paint


def _safe(line: str) -> str:
    """A line that cannot close the code block it is shown in."""
    return line.replace("```", "`\u200b``")
