"""What `reconciler import` records and reports, and the proof that a generated manifest
adopts its live session as it is: the text written reads back as the manifest meant,
and planning it against that session, as recorded, finds nothing to change. A draft
that fails either is not written: its session stays unmanaged, with the reason, rather
than be adopted by a manifest that would change it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import InputError
from reconciler.manifests import LoadedManifest, ManifestSet, Session, Source
from reconciler.manifests.writer import manifest_text, read_back
from reconciler.planning.adopt import Draft, Skipped
from reconciler.planning.desired import desired_state
from reconciler.planning.plan import Plan
from reconciler.planning.planner import make_plan
from reconciler.planning.state import LiveSession, Observation, ParticipantRecord, SessionRecord


@dataclass(frozen=True)
class Imported:
    """What `reconciler import Session/NAME ID` adopted, and what the next plan does there."""

    key: str
    session_id: str
    state: str
    already: bool = False
    """The inventory already recorded this very session under this name: nothing written."""
    adopted: tuple[ParticipantRecord, ...] = ()
    missing: tuple[str, ...] = ()
    """Participant keys no live participant matched: the next plan adds them."""
    unmanaged: tuple[tuple[str | None, str], ...] = ()
    """Live participants the manifest does not name, as display name and role."""
    plan: Plan | None = None
    """The next plan, for this session alone."""


@dataclass(frozen=True)
class Written:
    """One manifest `import --generate` wrote, and the live session it adopted."""

    path: Path
    key: str
    session_id: str
    participants: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generated:
    """What `reconciler import --generate DIR` wrote and adopted."""

    folder: Path
    state: str
    written: tuple[Written, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    """Unmanaged live sessions no manifest could describe as they are."""
    labels: Mapping[str, str] = field(default_factory=dict)


def record_of(
    key: str, session: LiveSession, participants: Sequence[tuple[str, int]]
) -> SessionRecord:
    """The record that adopts `session` as `Session/<key>` (never applied), with each
    participant key and the hash its live participant (by position) carries."""
    return SessionRecord(
        key=key,
        session_id=session.session_id,
        start=session.start,
        end=session.end,
        participants=tuple(
            ParticipantRecord(name, session.participants[index].id_hash)
            for name, index in participants
        ),
    )


def written(
    draft: Draft, session: LiveSession, *, now: datetime, comments: Sequence[str] = ()
) -> str | Skipped:
    """The text of `draft`'s file, after `# comments`; Skipped if the manifest would not
    read back as meant or would change `session` (the hashes in `session` must be the
    ones its record would hold)."""
    text = manifest_text(draft.document, comments=comments)
    try:
        meant = Session.model_validate(draft.document)
        read = read_back(text)
    except (ValidationError, InputError) as error:
        return _skipped(session, f"its manifest would not be valid: {_first_line(error)}")
    if read != meant:
        return _skipped(session, "its manifest would not read back as written")
    loaded = ManifestSet((LoadedManifest(read, Source(f"{draft.key}.yaml", 1, 1)),), ())
    plan = make_plan(
        desired_state(loaded),
        (record_of(draft.key, session, draft.participants),),
        Observation(sessions={session.session_id: session}),
        now=now,
    )
    if plan.actions or plan.has_problems:
        return _skipped(session, "its manifest would not plan as no change")
    return text


def _skipped(session: LiveSession, reason: str) -> Skipped:
    return Skipped(session.session_id, reason)


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return str(error).splitlines()[0]
