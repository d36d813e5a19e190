"""Resolve the writes an interrupted apply left pending in the journal.

A run killed between committing an intent and committing its outcome (kill -9, a lost
machine) leaves a `pending` journal entry: the call may or may not have happened. Before
anything is planned again, each one is resolved from the live API and recorded:

- a create is looked for by its natural key (name, start, end, participants) among
  sessions no record names; found, it is recorded as made; not found, it never happened
  and the plan will create it;
- a participant add is looked for by its fields among the session's unrecorded ones;
- a cancel is confirmed by reading the session (and recorded as cancelled);
- updates and snapshot decisions change no ids: the plan reads them live anyway.

Only a run that holds the inventory's lock may recover: otherwise the entries may be
another run's writes in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from reconciler.applying import calls
from reconciler.applying.report import Recovered
from reconciler.clients import Clients, NotFoundError, SessionCanceledError
from reconciler.inventory import Entry, Inventory, State
from reconciler.planning import DesiredSession, Kind, SessionRecord


async def recover(
    clients: Clients, inventory: Inventory, *, wall: Callable[[], datetime]
) -> tuple[Recovered, ...]:
    """Resolve every pending journal entry; what was found of each, oldest first."""
    if not inventory.exists:
        return ()
    found = []
    for entry in inventory.pending():
        try:
            happened, record, message = await _resolve(clients, inventory, entry)
        except (KeyError, TypeError, ValueError):
            # An entry no reconciler writes (a hand edit): settle it rather than stop
            # every later run, and say what to check.
            happened, record = None, None
            message = "its journal entry cannot be read: check Coviu for what it made"
        with inventory.writing(now=wall()) as batch:
            if record is not None:
                batch.put(record)
            state = State.NOT_APPLIED if happened is False else State.RECOVERED
            batch.settle(entry.id, state, {"recovered": message})
        found.append(Recovered(entry.target, entry.kind, happened is not False, message))
    return tuple(found)


Resolution = tuple[bool | None, SessionRecord | None, str]
"""Whether the write happened (None: not known, and no matter), the record to write,
and what to tell the user."""


async def _resolve(clients: Clients, inventory: Inventory, entry: Entry) -> Resolution:
    kind = Kind(entry.kind)
    if kind is Kind.CREATE_SESSION:
        return await _create(clients, inventory, entry.intent)
    if kind is Kind.ADD_PARTICIPANT:
        return await _add(clients, inventory, entry)
    if kind is Kind.CANCEL_SESSION:
        return await _cancel(clients, inventory, entry)
    if kind is Kind.UPDATE_SESSION:
        return await _update(clients, inventory, entry)
    return None, None, "an interrupted change; this plan compares it with live again"


async def _create(clients: Clients, inventory: Inventory, intent: Any) -> Resolution:
    session = DesiredSession.from_json(intent["session"])
    if inventory.session(session.key) is not None:
        return None, None, "the session is recorded already"
    taken = {record.session_id for record in inventory.sessions()}
    found = await calls.find_created(clients.coviu, session, taken=taken, hash_id=inventory.hash_id)
    if found is None:
        return False, None, "it was not created before the run stopped"
    created, participants = found
    record = calls.created_record(session, created, participants)
    return (
        True,
        record,
        f"it was created before the run stopped: recorded session {created.session_id}",
    )


async def _add(clients: Clients, inventory: Inventory, entry: Entry) -> Resolution:
    record = inventory.session(calls.session_key(entry.target))
    if record is None:
        return False, None, "its session is no longer recorded"
    name = calls.participant_name(entry.target)
    if record.participant_hash(name) is not None:
        return None, None, "the participant is recorded already"
    taken = {participant.id_hash for participant in record.participants}
    try:
        found = await calls.find_added(
            clients.coviu,
            entry.intent["session_id"],
            entry.intent["participant"],
            taken=taken,
            hash_id=inventory.hash_id,
        )
    except (SessionCanceledError, NotFoundError):
        return False, None, "its session is gone"
    if found is None:
        return False, None, "it was not added before the run stopped"
    id_hash = inventory.hash_id(found.participant_id.get_secret_value())
    added = calls.with_participant(record, name, id_hash)
    return True, added, "it was added before the run stopped: recorded"


async def _cancel(clients: Clients, inventory: Inventory, entry: Entry) -> Resolution:
    record = inventory.session(calls.session_key(entry.target))
    try:
        await clients.coviu.get_session(entry.intent["session_id"])
    except SessionCanceledError:
        canceled = replace(record, canceled=True) if record is not None else None
        return True, canceled, "it was cancelled before the run stopped: recorded"
    except NotFoundError:
        return None, None, "the session no longer exists"
    return False, None, "it was not cancelled before the run stopped"


async def _update(clients: Clients, inventory: Inventory, entry: Entry) -> Resolution:
    """Whether or not it happened, record the session's times as they are: the refresh
    lists active sessions from the earliest recorded start, and a finished one is judged
    by its recorded end."""
    record = inventory.session(calls.session_key(entry.target))
    if record is None:
        return None, None, "its session is no longer recorded"
    try:
        live = await clients.coviu.get_session(entry.intent["session_id"])
    except (SessionCanceledError, NotFoundError):
        return None, None, "the session is cancelled or gone; this plan reports it"
    moved = replace(record, start=live.start_time, end=live.end_time)
    return None, moved, "the session's times are recorded as they are live"
