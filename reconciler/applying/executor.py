"""Carry out a plan's actions: in order, within bounds, journaled, each re-checked first.

Groups run one after another in the order of DESIGN.md §6 (cancellations, session
updates, creates, participant changes, snapshot decisions); within a group up to
`parallelism` actions run at once, soonest-starting first. An action on a participant
waits for its session's update and is not started if that update did not apply.

Right before its call, every action reads its object again and asks
`planning.preconditions` whether it is still the object the plan saw and whether the
rules allow the action at the server's time now; if not, it is skipped with the reason.

Every write is journaled: the intent is committed before the call, the outcome and the
inventory records it changes after it, in one transaction. A create whose answer is lost
is looked for at once (by its natural key) and never sent again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from reconciler.applying import calls
from reconciler.applying.report import Outcome, Result
from reconciler.clients import (
    Clients,
    NotFoundError,
    OutcomeUnknownError,
    RequestRejectedError,
    SessionCanceledError,
)
from reconciler.clients import LiveSession as ApiSession
from reconciler.errors import ReconcilerError
from reconciler.inventory import Inventory, State
from reconciler.planning import (
    Desired,
    DesiredSession,
    Item,
    Kind,
    LiveSession,
    Plan,
    SessionRecord,
    of_session,
)
from reconciler.planning.preconditions import (
    check_create,
    check_session,
    check_snapshot,
    participant_of,
)
from reconciler.planning.times import write_instant
from reconciler.refresh import live, snapshot

DATE_RESOLUTION = timedelta(seconds=1)
"""The server's `Date` header is cut to whole seconds: its clock may be up to a second
later, so rules are checked as of one second after it."""

T = TypeVar("T")
Step = tuple[Outcome, str, str | None]
"""What an action came to: its outcome, why (or what to know), the session concerned."""

_AFTER_UPDATE = frozenset({Kind.ADD_PARTICIPANT, Kind.UPDATE_PARTICIPANT})
"""Participant changes that run after their session's update, and so wait for it (a
participant cancel runs with the cancellations, before any update)."""


class Applier:
    """Applies plans with one set of clients to one locked inventory."""

    def __init__(
        self,
        *,
        clients: Clients,
        inventory: Inventory,
        desired: Desired,
        run: str,
        wall: Callable[[], datetime],
        parallelism: int = 4,
        on_result: Callable[[Result], None] | None = None,
    ) -> None:
        self._clients = clients
        self._inventory = inventory
        self._sessions = {session.key: session for session in desired.sessions}
        self._run = run
        self._wall = wall
        self._parallelism = max(1, parallelism)
        self._on_result = on_result
        self._expected: dict[str, str] = {}

    async def apply(
        self, plan: Plan, *, unvouched: Mapping[tuple[str, str], str] | None = None
    ) -> tuple[Result, ...]:
        """Carry out every action of `plan`; one result per action, in plan order.
        Actions named in `unvouched` (by kind and target) are skipped with its reason."""
        unvouched = unvouched or {}
        actions = sorted(plan.actions, key=lambda item: item.sort_key)
        results: dict[int, Result] = {}
        updates: dict[str | None, int] = {
            item.session_id: index
            for index, item in enumerate(actions)
            if item.kind is Kind.UPDATE_SESSION and item.session_id is not None
        }
        limit = asyncio.Semaphore(self._parallelism)
        groups = itertools.groupby(range(len(actions)), key=lambda index: actions[index].kind.group)
        for _, members in groups:
            async with asyncio.TaskGroup() as tasks:
                for index in members:
                    item = actions[index]
                    why = _waiting_on(item, updates, results)
                    refused = unvouched.get((item.kind.value, item.target))
                    if refused is not None:
                        self._done(results, index, Result(item, Outcome.SKIPPED, refused))
                    elif why is not None:
                        self._done(results, index, Result(item, Outcome.NOT_STARTED, why))
                    else:
                        tasks.create_task(self._one(index, item, limit, results))
        return tuple(results[index] for index in range(len(actions)))

    async def _one(
        self, index: int, item: Item, limit: asyncio.Semaphore, results: dict[int, Result]
    ) -> None:
        async with limit:
            started = time.monotonic()
            try:
                outcome, message, session_id = await self._act(item)
            except ReconcilerError as error:
                # An API error, or an inventory that refused the record: this action
                # failed; whatever its journal entry says, the next run settles.
                outcome, message, session_id = Outcome.FAILED, str(error), item.session_id
            seconds = time.monotonic() - started
        self._done(results, index, Result(item, outcome, message, session_id, seconds))

    def _done(self, results: dict[int, Result], index: int, result: Result) -> None:
        results[index] = result
        if self._on_result is not None:
            self._on_result(result)

    async def _act(self, item: Item) -> Step:
        if item.kind is Kind.CREATE_SESSION:
            return await self._create(item)
        if item.kind in (Kind.APPROVE_SNAPSHOT, Kind.DISCARD_SNAPSHOT):
            return await self._decide(item)
        return await self._on_session(item)

    # Sessions

    async def _create(self, item: Item) -> Step:
        session = self._wanted(item)
        if session is None:
            return Outcome.SKIPPED, "no manifest read declares this session", None
        reason = check_create(session.start, await self._now())
        if reason is not None:
            return Outcome.SKIPPED, reason, None
        if self._inventory.session(session.key) is not None:
            return Outcome.SKIPPED, "the session is recorded already", None
        draft = calls.draft_of(session)
        entry = self._intend(item, {"session": session.to_json()})
        coviu, hash_id, note = self._clients.coviu, self._inventory.hash_id, ""
        try:
            created = await self._write(entry, coviu.create_session(draft))
            participants = calls.participant_records(created, session.participants, hash_id)
        except OutcomeUnknownError as error:
            # Look before anything is created again. Not found (or the look fails), the
            # entry stays pending: a slow server may commit later, and the next run
            # looks again before it creates anything.
            found = await calls.find_created(
                coviu, session, taken=self._recorded_ids(), hash_id=hash_id
            )
            if found is None:
                return Outcome.FAILED, _not_found(error, "session"), None
            (created, participants), note = found, "its answer was lost; found the session it made"
        if len(participants) < len(session.participants):
            note = "some participants came back changed: the next plan shows them"
        record = calls.created_record(session, created, participants)
        self._settle(entry, State.APPLIED, _made(record), record)
        return Outcome.APPLIED, note, created.session_id

    async def _on_session(self, item: Item) -> Step:
        """An update or cancel of a session, or a change to one of its participants."""
        session_id = item.session_id
        if session_id is None:
            return Outcome.SKIPPED, "the plan names no live session", None
        try:
            found = await self._clients.coviu.get_session(session_id, deleted_participants=True)
        except SessionCanceledError:
            return Outcome.SKIPPED, "the session was cancelled since the plan was made", session_id
        except NotFoundError:
            return Outcome.SKIPPED, "the session no longer exists", session_id
        current = live(found, self._inventory.hash_id)
        expected = self._expected.get(session_id, item.fingerprint)
        reason = check_session(item, current, await self._now(), expected=expected)
        if reason is not None:
            return Outcome.SKIPPED, reason, session_id
        if item.kind is Kind.UPDATE_SESSION:
            await self._update(item, session_id)
        elif item.kind is Kind.CANCEL_SESSION:
            await self._cancel(item, session_id)
        elif item.kind is Kind.ADD_PARTICIPANT:
            return await self._add(item, session_id)
        else:
            await self._participant(item, found, current)
        return Outcome.APPLIED, "", session_id

    async def _update(self, item: Item, session_id: str) -> None:
        changes = {change.field: _json(change.new) for change in item.changes}
        sent = calls.session_changes(item)
        entry = self._intend(item, {"session_id": session_id, "changes": changes})
        updated = await self._write(entry, self._clients.coviu.update_session(session_id, sent))
        record = self._record(item)
        if record is not None:
            record = replace(record, start=updated.start_time, end=updated.end_time)
        self._settle(entry, State.APPLIED, {"session_id": session_id}, record)
        self._expected[session_id] = of_session(live(updated, self._inventory.hash_id))

    async def _cancel(self, item: Item, session_id: str) -> None:
        entry = self._intend(item, {"session_id": session_id})
        await self._write(entry, self._clients.coviu.cancel_session(session_id))
        record = self._record(item)
        self._settle(
            entry,
            State.APPLIED,
            {"session_id": session_id},
            replace(record, canceled=True) if record is not None else None,
        )

    # Participants

    async def _add(self, item: Item, session_id: str) -> Step:
        fields = dict(item.payload or {})
        name = calls.participant_name(item.target)
        draft = calls.participant_draft(fields)
        entry = self._intend(item, {"session_id": session_id, "participant": fields})
        coviu, hash_id, note = self._clients.coviu, self._inventory.hash_id, ""
        try:
            added = await self._write(entry, coviu.add_participant(session_id, draft))
        except OutcomeUnknownError as error:
            record = self._record(item)
            taken = {entry.id_hash for entry in record.participants} if record else set()
            found = await calls.find_added(coviu, session_id, fields, taken=taken, hash_id=hash_id)
            if found is None:  # pending: the next run looks again
                return Outcome.FAILED, _not_found(error, "participant"), session_id
            added, note = found, "its answer was lost; found the participant it made"
        id_hash = hash_id(added.participant_id.get_secret_value())
        record = self._record(item)
        if record is not None:
            record = calls.with_participant(record, name, id_hash)
        result = {"session_id": session_id, "participant_hash": id_hash}
        self._settle(entry, State.APPLIED, result, record)
        return Outcome.APPLIED, note, session_id

    async def _participant(self, item: Item, found: ApiSession, current: LiveSession) -> None:
        """Update or cancel a participant: its real id comes from the fresh read."""
        wanted = participant_of(item, current)
        assert wanted is not None  # check_session made sure
        secret = next(
            p.participant_id
            for p in found.participants
            if self._inventory.hash_id(p.participant_id.get_secret_value()) == wanted.id_hash
        )
        intent = {"session_id": found.session_id, "participant_hash": wanted.id_hash}
        if item.kind is Kind.UPDATE_PARTICIPANT:
            changes = calls.participant_changes(item)
            entry = self._intend(item, intent)
            await self._write(entry, self._clients.coviu.update_participant(secret, changes))
            self._settle(entry, State.APPLIED, intent)
            return
        entry = self._intend(item, intent)
        await self._write(entry, self._clients.coviu.cancel_participant(secret))
        record = self._record(item)
        if record is not None:
            record = calls.without_participant(record, calls.participant_name(item.target))
        self._settle(entry, State.APPLIED, intent, record)

    # Snapshots

    async def _decide(self, item: Item) -> Step:
        snapshot_id = item.snapshot_id
        if snapshot_id is None:
            return Outcome.SKIPPED, "the plan names no snapshot", None
        auvious = self._clients.auvious
        try:
            found = await auvious.get_snapshot(snapshot_id)
        except NotFoundError:
            return Outcome.SKIPPED, "the snapshot no longer exists", None
        reason = check_snapshot(item, snapshot(found))
        if reason is not None:
            return Outcome.SKIPPED, reason, None
        payload = item.payload or {}
        endpoint = str(payload.get("user_endpoint_id", ""))
        entry = self._intend(item, {"snapshot_id": snapshot_id, "kind": item.kind.value})
        if item.kind is Kind.APPROVE_SNAPSHOT:
            kind = payload.get("snapshot_type")
            call = auvious.approve_snapshot(
                snapshot_id, user_endpoint_id=endpoint, snapshot_type=kind
            )
        else:
            call = auvious.discard_snapshot(snapshot_id, user_endpoint_id=endpoint)
        await self._write(entry, call)
        self._settle(entry, State.APPLIED, {"snapshot_id": snapshot_id})
        return Outcome.APPLIED, "", None

    # The journal and the records

    def _intend(self, item: Item, intent: Mapping[str, Any]) -> int:
        with self._inventory.writing(now=self._wall()) as batch:
            return batch.intend(
                run=self._run, target=item.target, kind=item.kind.value, intent=intent
            )

    def _settle(
        self,
        entry: int,
        state: State,
        result: Mapping[str, Any] | None,
        record: SessionRecord | None = None,
    ) -> None:
        with self._inventory.writing(now=self._wall()) as batch:
            if record is not None:
                batch.put(record)
            batch.settle(entry, state, result)

    async def _write(self, entry: int, call: Awaitable[T]) -> T:
        """Await a write. A refusal (4xx: nothing changed) settles its journal entry as
        failed; any other failure may have changed something (an answer lost on every
        try, a create answered with a body that does not parse), so the entry stays
        pending and the next run reads what became of it before anything is redone."""
        try:
            return await call
        except RequestRejectedError as error:
            self._settle(entry, State.FAILED, {"error": str(error)})
            raise

    def _record(self, item: Item) -> SessionRecord | None:
        return self._inventory.session(calls.session_key(item.target))

    def _recorded_ids(self) -> set[str]:
        return {record.session_id for record in self._inventory.sessions()}

    def _wanted(self, item: Item) -> DesiredSession | None:
        return self._sessions.get(calls.session_key(item.target))

    async def _now(self) -> datetime:
        now = await self._clients.coviu.server_time()
        if now is None:
            now = self._wall()
        return now + DATE_RESOLUTION


def settle_applied(
    inventory: Inventory,
    desired: Desired,
    fresh: Plan,
    results: Sequence[Result],
    *,
    now: datetime,
) -> int:
    """Record the manifest as applied for every session that now matches it: nothing of
    it blocked or unreconcilable in a plan made at the start of this run (`fresh`), and
    every action it had there applied. Its protection (`reconciler/prevent-cancel`) is
    recorded for every recorded session whatever else happened: it concerns no API call,
    and must hold from the first apply that sees it. How many records changed."""
    applied = {
        (result.item.kind, result.item.target)
        for result in results
        if result.outcome is Outcome.APPLIED
    }
    unsettled = {calls.session_key(item.target) for item in fresh.problems}
    unsettled |= {
        calls.session_key(item.target)
        for item in fresh.actions
        if (item.kind, item.target) not in applied
    }
    changed = 0
    records = {record.key: record for record in inventory.sessions()}
    with inventory.writing(now=now) as batch:
        for session in desired.sessions:
            record = records.get(session.key)
            if record is None or record.canceled:
                continue
            if session.key not in unsettled:
                changed += batch.put(replace(record, applied=session))
            elif record.applied is not None:
                protection = replace(record.applied, prevent_cancel=session.prevent_cancel)
                changed += batch.put(replace(record, applied=protection))
    return changed


def _waiting_on(
    item: Item, updates: Mapping[str | None, int], results: Mapping[int, Result]
) -> str | None:
    """Why a participant change cannot start: its session's update did not apply."""
    waited = updates.get(item.session_id) if item.kind in _AFTER_UPDATE else None
    if waited is None or results[waited].outcome is Outcome.APPLIED:
        return None
    return f"its session's update was {results[waited].outcome.value.replace('_', ' ')}"


def _not_found(error: OutcomeUnknownError, what: str) -> str:
    return (
        f"{error.call}: {error.happened}, and no {what} like it exists yet: the next plan"
        " or apply looks for it again before making it"
    )


def _made(record: SessionRecord) -> dict[str, Any]:
    return {
        "session_id": record.session_id,
        "participants": {p.name: p.id_hash for p in record.participants},
    }


def _json(value: Any) -> Any:
    return write_instant(value) if isinstance(value, datetime) else value
