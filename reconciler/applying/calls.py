"""Plan items as the client calls they stand for, and finding what a lost create made.

Shared by the run (which looks at once when a create's answer is lost) and by recovery
(which looks for the creates of a run that was killed): a session is found by its
natural key (name, start, end and participants), a participant by its fields, and never
one that the inventory already records for something else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.clients import (
    CoviuClient,
    ParticipantChanges,
    ParticipantDraft,
    ParticipantLookup,
    SessionChanges,
    SessionDraft,
)
from reconciler.clients import LiveParticipant as ApiParticipant
from reconciler.clients import LiveSession as ApiSession
from reconciler.planning import (
    DesiredParticipant,
    DesiredSession,
    Item,
    ParticipantRecord,
    SessionRecord,
)
from reconciler.planning.state import PARTICIPANT_FIELDS
from reconciler.refresh import participant

HashId = Callable[[str], str]


def session_key(target: str) -> str:
    """`k` of `Session/k` or `Session/k/participants/p`."""
    return target.split("/")[1]


def participant_name(target: str) -> str:
    """`p` of `Session/k/participants/p`."""
    return target.split("/")[3]


def draft_of(session: DesiredSession) -> SessionDraft:
    """The create call of a session, with its participants."""
    return SessionDraft(
        session_name=session.session_name,
        start_time=session.start,
        end_time=session.end,
        picture=session.picture,
        participants=tuple(participant_draft(p.fields()) for p in session.participants),
    )


def participant_draft(fields: Mapping[str, Any]) -> ParticipantDraft:
    """The add call of a participant, from its fields (other keys are ignored)."""
    return ParticipantDraft(
        **{name: value for name, value in fields.items() if name in PARTICIPANT_FIELDS}
    )


def session_changes(item: Item) -> SessionChanges:
    return SessionChanges(**{change.field: change.new for change in item.changes})


def participant_changes(item: Item) -> ParticipantChanges:
    return ParticipantChanges(**{change.field: change.new for change in item.changes})


def created_record(
    session: DesiredSession, created: ApiSession, participants: tuple[ParticipantRecord, ...]
) -> SessionRecord:
    """The record of a session just created (or found made) from `session`."""
    return SessionRecord(
        key=session.key,
        session_id=created.session_id,
        start=created.start_time,
        end=created.end_time,
        participants=participants,
        applied=session,
    )


def with_participant(record: SessionRecord, name: str, id_hash: str) -> SessionRecord:
    """`record` with participant `name` recorded as `id_hash`."""
    kept = tuple(p for p in record.participants if p.name != name)
    return replace(record, participants=(*kept, ParticipantRecord(name, id_hash)))


def without_participant(record: SessionRecord, name: str) -> SessionRecord:
    """`record` without participant `name` (its link was cancelled)."""
    return replace(record, participants=tuple(p for p in record.participants if p.name != name))


def participant_records(
    found: ApiSession, wanted: Sequence[DesiredParticipant], hash_id: HashId
) -> tuple[ParticipantRecord, ...]:
    """The wanted participants found in `found`, matched by fields (in order among
    equals), as records; one that is not there is left out."""
    free = [p for p in found.participants if not p.removed]
    records = []
    for want in wanted:
        match = next((p for p in free if _fields(p, hash_id) == want.fields()), None)
        if match is None:
            continue
        free.remove(match)
        records.append(
            ParticipantRecord(want.name, hash_id(match.participant_id.get_secret_value()))
        )
    return tuple(records)


async def find_created(
    coviu: CoviuClient, session: DesiredSession, *, taken: Collection[str], hash_id: HashId
) -> tuple[ApiSession, tuple[ParticipantRecord, ...]] | None:
    """The live session a create of `session` made, if it exists: same name, start, end
    and participants, not cancelled, recorded for no other key (`taken`: recorded ids)."""
    for found in await coviu.find_sessions(draft_of(session)):
        if found.canceled_at is not None or found.session_id in taken:
            continue
        records = participant_records(found, session.participants, hash_id)
        if len(records) == len(session.participants):
            return found, records
    return None


async def find_added(
    coviu: CoviuClient,
    session_id: str,
    fields: Mapping[str, Any],
    *,
    taken: Collection[str],
    hash_id: HashId,
) -> ApiParticipant | None:
    """The participant an add with `fields` made, if it exists and no record names it
    (`taken`: recorded id hashes of that session)."""
    lookup = ParticipantLookup(session_id, participant_draft(fields))
    for found in await coviu.find_participants(lookup):
        if hash_id(found.participant_id.get_secret_value()) not in taken:
            return found
    return None


def _fields(found: ApiParticipant, hash_id: HashId) -> dict[str, Any]:
    return participant(found, hash_id).fields()
