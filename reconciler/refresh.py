"""Refresh: read from the live APIs exactly what the planner needs, and no more.

Finished and cancelled sessions are history and never read again. The rest are read in
one listing that starts at the earliest start among them, so the number of requests
grows with the pages of active sessions, not with the number of sessions ever managed.
A recorded session the listing misses (moved earlier, or gone) is read on its own.

Participant ids are join capabilities: they are hashed with the inventory's key the
moment they arrive, and only the hash reaches the planner. The one exception is `links`,
which pairs each recorded participant with their entry URL for `reconciler links`, the
command whose job is to show them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from reconciler.clients import (
    Clients,
    NotFoundError,
    SessionCanceledError,
    SessionFilter,
)
from reconciler.clients import LiveParticipant as ApiParticipant
from reconciler.clients import LiveSession as ApiSession
from reconciler.clients import Snapshot as ApiSnapshot
from reconciler.errors import ReconcilerError
from reconciler.planning import (
    DesiredApproval,
    DesiredSession,
    LiveParticipant,
    LiveSession,
    LiveSnapshot,
    Observation,
    SessionRecord,
    optional_text,
    worth_reading,
)
from reconciler.planning.adopt import unmanaged_sessions
from reconciler.planning.times import shown_in

HashId = Callable[[str], str]


async def observe(
    clients: Clients,
    records: Sequence[SessionRecord],
    approvals: Sequence[DesiredApproval],
    *,
    now: datetime,
    hash_id: HashId,
    desired: Sequence[DesiredSession] = (),
    unmanaged_since: datetime | None = None,
) -> Observation:
    """What the planner needs to know of the live APIs at `now` to plan `desired`.

    `unmanaged_since`: list from no later than this instant, so that the unmanaged
    sessions running now are among them (drift lists them; a plan only counts them).
    """
    before = clients.coviu.requests + clients.auvious.requests
    also = worth_reading(desired, records, now)
    with _first_error():
        async with asyncio.TaskGroup() as group:
            sessions = group.create_task(
                read_sessions(clients, records, now=now, also=also, since=unmanaged_since)
            )
            snapshots = group.create_task(_snapshots(clients, approvals))
    reading = sessions.result()
    unrecorded = (live(session, hash_id) for session in reading.unrecorded)
    unmanaged = unmanaged_sessions(unrecorded, records, now)
    return Observation(
        sessions={
            session_id: live(session, hash_id) for session_id, session in reading.found.items()
        },
        canceled=frozenset(reading.canceled),
        unmanaged=len(unmanaged),
        unmanaged_sessions=unmanaged,
        snapshots=snapshots.result(),
        requests=clients.coviu.requests + clients.auvious.requests - before,
    )


@dataclass(frozen=True)
class Reading:
    """Live sessions as the API answered them (participant ids and links included: only
    `reconciler links` may show them; everything else hashes them with `live`)."""

    found: dict[str, ApiSession]
    """The active records' sessions (and those asked for besides), by id, if they exist."""
    canceled: set[str]
    """Ids of those that answered as cancelled."""
    unrecorded: tuple[ApiSession, ...]
    """Sessions of the listing that no record names (`planning.unmanaged_sessions` says
    which of them a plan could be about)."""


async def read_sessions(
    clients: Clients,
    records: Sequence[SessionRecord],
    *,
    now: datetime,
    also: frozenset[str] = frozenset(),
    since: datetime | None = None,
) -> Reading:
    """The live sessions of the records that are not history at `now` (and of `also`, by
    id): one listing from the earliest start among them (or `since`, if earlier), then a
    read of each one the listing missed (moved earlier by hand, cancelled, or gone)."""
    active = [record for record in records if not record.is_history(now)]
    recorded = {record.session_id for record in records}
    earliest = min([now, *(record.start for record in active), *([since] if since else [])])
    where = SessionFilter(starting_from=earliest, include_canceled=True, deleted_participants=True)
    listing = await clients.coviu.list_sessions(where)
    wanted = {record.session_id for record in active} | also
    found = {session.session_id: session for session in listing if session.session_id in wanted}
    unrecorded = tuple(session for session in listing if session.session_id not in recorded)
    canceled = {session_id for session_id, session in found.items() if session.canceled_at}
    for session_id in sorted(wanted - found.keys()):
        try:
            found[session_id] = await clients.coviu.get_session(
                session_id, deleted_participants=True
            )
        except SessionCanceledError:
            canceled.add(session_id)
        except NotFoundError:
            pass  # gone: the planner reports it
    return Reading(found, canceled, unrecorded)


async def _snapshots(
    clients: Clients, approvals: Sequence[DesiredApproval]
) -> dict[str, tuple[LiveSnapshot, ...]]:
    interactions = sorted({approval.interaction_id for approval in approvals})
    async with asyncio.TaskGroup() as group:  # `observe` unwraps the ExceptionGroup
        tasks = [group.create_task(clients.auvious.list_snapshots(name)) for name in interactions]
    return {
        name: tuple(snapshot(found) for found in task.result())
        for name, task in zip(interactions, tasks, strict=True)
    }


@contextmanager
def _first_error() -> Iterator[None]:
    """Concurrent reads fail as an ExceptionGroup; the user is told the first API error
    (the others are the same outage seen twice), as the CLI reports any ReconcilerError."""
    try:
        yield
    except ExceptionGroup as group:
        found = group.subgroup(ReconcilerError)
        if found is None:
            raise
        first: BaseException = found
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__  # keep the transport error under the API error


def live(session: ApiSession, hash_id: HashId) -> LiveSession:
    """An API session as the planner compares it, its participants named by hash."""
    return LiveSession(
        session_id=session.session_id,
        session_name=session.session_name,
        start=session.start_time,
        end=session.end_time,
        picture=optional_text(session.picture),
        canceled=session.canceled_at is not None,
        participants=tuple(participant(found, hash_id) for found in session.participants),
    )


def participant(found: ApiParticipant, hash_id: HashId) -> LiveParticipant:
    """An API participant as the planner compares it: its id replaced by the id's hash."""
    return LiveParticipant(
        id_hash=hash_id(found.participant_id.get_secret_value()),
        display_name=found.display_name,
        role=found.role,
        picture=optional_text(found.picture),
        state=optional_text(found.state),
        removed=found.removed,
    )


def snapshot(found: ApiSnapshot) -> LiveSnapshot:
    """An Auvious snapshot as the planner compares it."""
    return LiveSnapshot(
        snapshot_id=found.id,
        interaction_id=found.interaction_id,
        state=found.state,
        type=found.type,
        version=found.version,
    )


# Entry links: the one reading whose participant ids leave this module (see `links`).


@dataclass(frozen=True)
class EntryLink:
    """A recorded participant's entry URL: whoever holds it joins the session as them."""

    session: str
    """The session's key (`metadata.name`)."""
    session_id: str
    start: datetime
    """The live start, in the offset the manifest last applied wrote."""
    participant: str
    """The participant's key in the manifest."""
    display_name: str | None
    role: str
    entry_url: SecretStr


def links(record: SessionRecord, session: ApiSession, hash_id: HashId) -> tuple[EntryLink, ...]:
    """The entry links of `record`'s participants in the live `session`, paired by the
    keyed hash of each live id, in the record's (the manifest's) order. Participants no
    record names (added by hand) and removed ones are left out."""
    by_hash = {
        hash_id(found.participant_id.get_secret_value()): found
        for found in session.participants
        if not found.removed
    }
    zone = record.applied.start.tzinfo if record.applied is not None else None
    start = shown_in(session.start_time, zone)
    paired = [(entry.name, by_hash.get(entry.id_hash)) for entry in record.participants]
    return tuple(
        EntryLink(
            session=record.key,
            session_id=session.session_id,
            start=start,
            participant=name,
            display_name=found.display_name,
            role=found.role,
            entry_url=found.entry_url,
        )
        for name, found in paired
        if found is not None and found.entry_url is not None
    )
