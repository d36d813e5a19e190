"""Entry links for sending invitations: the one view that shows them (DESIGN.md §9).

An entry URL lets whoever holds it join the consultation as that participant, so every
other output of reconciler hides it. This one shows it, because handing each participant
their link is the point, and only on stdout: the warning goes to stderr, and nothing is
logged or written anywhere. Formats: text for a person, CSV (RFC 4180, with a header
row) for a mail merge, JSON (versioned) for a program.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Any, Final

from reconciler.planning.times import write_instant
from reconciler.refresh import EntryLink

LINKS_FORMAT: Final = "reconciler-links"
LINKS_VERSION: Final = 1
COLUMNS: Final = (
    "session",
    "session_id",
    "start_time",
    "participant",
    "display_name",
    "role",
    "entry_url",
)
WARNING: Final = (
    "warning: each entry URL lets whoever holds it join the session as that participant:"
    " send it to that person only, never to a chat, ticket or log"
)


def as_text(links: Sequence[EntryLink]) -> str:
    """Per session a head line (key, id, start), then one row per participant."""
    if not links:
        return "No entry links: no active recorded session was chosen.\n"
    lines: list[str] = []
    for (key, session_id, start), group in groupby(
        links, key=lambda link: (link.session, link.session_id, link.start)
    ):
        rows = [
            (link.participant, _shown(link.display_name), link.role, _url(link)) for link in group
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        lines.append(f"Session/{key} (session {session_id}), starts {_when(start)}")
        lines += [
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + f"  {row[3]}"
            for row in rows
        ]
        lines.append("")
    return "\n".join(lines)


def as_csv(links: Sequence[EntryLink]) -> str:
    """A header row, then one row per link; CRLF line ends and quoting as RFC 4180 says."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for link in links:
        writer.writerow(
            [
                link.session,
                link.session_id,
                _when(link.start),
                link.participant,
                link.display_name or "",
                link.role,
                _url(link),
            ]
        )
    return out.getvalue()


def as_json(links: Sequence[EntryLink], *, checked_at: datetime, targets: dict[str, str]) -> str:
    """`{format, version, checked_at, targets, links: [{session, session_id, start_time,
    participant, display_name, role, entry_url}]}`; times in UTC."""
    document: dict[str, Any] = {
        "format": LINKS_FORMAT,
        "version": LINKS_VERSION,
        "checked_at": write_instant(checked_at),
        "targets": {"coviu": targets["coviu"], "auvious": targets["auvious"]},
        "links": [
            {
                "session": link.session,
                "session_id": link.session_id,
                "start_time": write_instant(link.start),
                "participant": link.participant,
                "display_name": link.display_name,
                "role": link.role,
                "entry_url": _url(link),
            }
            for link in links
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _url(link: EntryLink) -> str:
    return link.entry_url.get_secret_value()


def _shown(name: str | None) -> str:
    """A display name as typed, or quoted and escaped if it holds a control character."""
    if name is None:
        return "(none)"
    return name if name.isprintable() else json.dumps(name, ensure_ascii=False)


def _when(moment: datetime) -> str:
    return write_instant(moment, keep_offset=True)
