"""Adopting live sessions into the inventory: the pure half of `reconciler import`.

Losing the inventory must not be a disaster (DESIGN.md §4): a live session can be tied
to a manifest again. `match_participants` pairs a manifest's participants with a live
session's by display name and state (what a person can see is theirs); `draft` writes
the manifest of a session nobody manages, so that planning it finds nothing to change.
Nothing here reads a clock, a file or the network; live participants are named by their
position in the session, so the caller hashes their ids with the inventory it writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from pydantic import TypeAdapter, ValidationError

from reconciler.errors import InputError
from reconciler.manifests import API_VERSION
from reconciler.manifests.fields import PATTERN_MESSAGES, Labels, WebUrl
from reconciler.planning.naming import participant_name, session_name
from reconciler.planning.state import (
    DesiredParticipant,
    LiveParticipant,
    LiveSession,
    SessionRecord,
    optional_text,
)
from reconciler.planning.times import write_instant

_WEB_URL: TypeAdapter[str] = TypeAdapter(WebUrl)
_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)


class AdoptionError(InputError):
    """A live session or participant that cannot be adopted as asked; nothing was written."""


@dataclass(frozen=True)
class Matching:
    """How a manifest's participants pair with a live session's."""

    adopted: tuple[tuple[str, int], ...]
    """Participant key, and the position of its live participant in the session."""
    missing: tuple[str, ...]
    """Keys no live participant matches: the next plan adds them, each with a new link."""
    unmanaged: tuple[int, ...]
    """Positions of live participants (not removed) that no key matched: left alone."""


def match_participants(
    target: str, desired: Sequence[DesiredParticipant], live: Sequence[LiveParticipant]
) -> Matching:
    """Pair each of `desired` with the one live participant (not removed) of the same
    display name and state; refuse when several are alike (which one is theirs?)."""
    present = [index for index, found in enumerate(live) if not found.removed]
    claimed: dict[int, str] = {}
    adopted: list[tuple[str, int]] = []  # in the manifest's order, as apply records them
    missing: list[str] = []
    for participant in desired:
        alike = [index for index in present if _alike(participant, live[index])]
        if not alike:
            missing.append(participant.name)
        elif len(alike) > 1:
            raise AdoptionError(
                f"{target}/participants/{participant.name}: {len(alike)} live participants"
                f" have {_described(participant)}: cannot tell which one is theirs; nothing"
                " was written. Make them differ in Coviu (a state, say) and import again"
            )
        elif alike[0] in claimed:
            raise AdoptionError(
                f"{target}/participants/{participant.name}: the manifest's entries"
                f" {claimed[alike[0]]} and {participant.name} both have"
                f" {_described(participant)}, and one live participant does: cannot tell"
                " whose it is; nothing was written. Give them different display names or states"
            )
        else:
            claimed[alike[0]] = participant.name
            adopted.append((participant.name, alike[0]))
    unmanaged = tuple(index for index in present if index not in claimed)
    return Matching(adopted=tuple(adopted), missing=tuple(missing), unmanaged=unmanaged)


def _alike(desired: DesiredParticipant, live: LiveParticipant) -> bool:
    return desired.display_name == live.display_name and optional_text(
        desired.state
    ) == optional_text(live.state)


def _described(participant: DesiredParticipant) -> str:
    state = f"state {participant.state!r}" if participant.state else "no state"
    return f"display name {participant.display_name!r} and {state}"


def label_selector(selector: Mapping[str, str]) -> dict[str, str]:
    """`--selector` pairs as labels for every generated manifest, so that the same
    selector picks exactly them out; refused if a manifest could not carry them."""
    for key, value in selector.items():
        try:
            _LABELS.validate_python({key: value})  # the manifests' own label type
        except ValidationError as error:
            problem = error.errors()[0]
            pattern = str((problem.get("ctx") or {}).get("pattern"))
            raise AdoptionError(
                f"--selector {key}={value}: not a label a manifest can carry:"
                f" {PATTERN_MESSAGES.get(pattern, problem['msg'])}"
            ) from None
    return dict(sorted(selector.items()))


def unmanaged_sessions(
    sessions: Iterable[LiveSession], records: Sequence[SessionRecord], now: datetime
) -> tuple[LiveSession, ...]:
    """Live sessions a plan could be about (not cancelled, not finished at `now`) that no
    record names, soonest first (sessions starting together: as listed). The one rule of
    what "unmanaged" means, for plan's count, drift's list and import's choice."""
    recorded = {record.session_id for record in records}
    found = [
        session
        for session in sessions
        if session.session_id not in recorded and not session.canceled and session.end > now
    ]
    return tuple(sorted(found, key=lambda session: session.start))


@dataclass(frozen=True)
class Draft:
    """The manifest written for a live session nobody manages."""

    key: str
    session_id: str
    document: dict[str, Any]
    """The manifest as YAML holds it: plain values, keys in the order they are written."""
    participants: tuple[tuple[str, int], ...]
    """Each participant key, and the position of its live participant in the session."""
    notes: tuple[str, ...] = ()
    """What was left out, and why."""


@dataclass(frozen=True)
class Skipped:
    """A live session no manifest can describe as it is: it stays unmanaged."""

    session_id: str
    reason: str


def draft(
    session: LiveSession, *, taken: set[str], zone: tzinfo, labels: Mapping[str, str]
) -> Draft | Skipped:
    """The manifest of `session`, its times written in `zone`, named uniquely against
    `taken` (which the name joins)."""
    if not (session.session_name or "").strip():
        return Skipped(session.session_id, "it has no session name, which a manifest needs")
    if session.picture is not None and not _web_url(session.picture):
        return Skipped(session.session_id, "its picture is not an http(s) URL")
    start, end = session.start.astimezone(zone), session.end.astimezone(zone)
    key = session_name(session.session_name, start, taken)
    taken.add(key)
    entries, chosen, notes = _participants(session.participants)
    spec: dict[str, Any] = {
        "session_name": session.session_name,
        "start_time": write_instant(start, keep_offset=True),
        "end_time": write_instant(end, keep_offset=True),
    }
    if session.picture is not None:
        spec["picture"] = session.picture
    if entries:
        spec["participants"] = entries
    metadata: dict[str, Any] = {"name": key}
    if labels:
        metadata["labels"] = dict(sorted(labels.items()))
    document = {"apiVersion": API_VERSION, "kind": "Session", "metadata": metadata, "spec": spec}
    return Draft(key, session.session_id, document, chosen, notes)


def _participants(
    live: Sequence[LiveParticipant],
) -> tuple[list[dict[str, Any]], tuple[tuple[str, int], ...], tuple[str, ...]]:
    """Manifest entries for the live participants a manifest can name, and notes on the
    rest (they stay unmanaged)."""
    entries: list[dict[str, Any]] = []
    chosen: list[tuple[str, int]] = []
    nameless, bad_pictures = 0, []
    for index, found in enumerate(live):
        if found.removed:
            continue
        if found.display_name is None or not found.display_name.strip():
            nameless += 1
            continue
        if found.picture is not None and not _web_url(found.picture):
            bad_pictures.append(found.display_name)
            continue
        key = participant_name(found.display_name, [name for name, _ in chosen])
        entry: dict[str, Any] = {
            "name": key,
            "display_name": found.display_name,
            "role": found.role.lower(),
        }
        entry |= {field: getattr(found, field) for field in ("picture", "state")}
        entries.append({name: value for name, value in entry.items() if value is not None})
        chosen.append((key, index))
    notes = []
    if nameless:
        notes.append(
            f"{nameless} participant(s) without a display name left out (a manifest needs"
            " one): they stay unmanaged"
        )
    notes += [
        f"participant {name!r} left out: their picture is not an http(s) URL; they stay unmanaged"
        for name in bad_pictures
    ]
    return entries, tuple(chosen), tuple(notes)


def _web_url(text: str) -> bool:
    try:
        _WEB_URL.validate_python(text)
    except ValidationError:
        return False
    return True
