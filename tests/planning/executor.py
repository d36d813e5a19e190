"""A test-only applier: each plan item as the one client call it stands for.

It is deliberately naive (no preconditions, no journal, no retries): the differential
test wants to know what the API says to exactly the call an item describes. Blocked and
unreconcilable items are attempted the same way, to check the API refuses them too.

Like the real inventory it keeps records (written after each accepted call) and only the
keyed hash of each participant id; unlike it, it also keeps the ids themselves, by hash,
because it has no other way to address a participant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import SecretStr

from reconciler.applying.calls import draft_of, participant_draft
from reconciler.clients import (
    Clients,
    LiveParticipant,
    LiveSession,
    ParticipantChanges,
    SessionChanges,
)
from reconciler.planning import (
    Desired,
    DesiredApproval,
    DesiredParticipant,
    DesiredSession,
    Item,
    Kind,
    ParticipantRecord,
    SessionRecord,
    Status,
)
from tests.planning.strategies import hash_id


@dataclass
class Ledger:
    """The test's inventory: records by key, and participant ids by their hash."""

    records: dict[str, SessionRecord] = field(default_factory=dict)
    participant_ids: dict[str, str] = field(default_factory=dict)

    def remember(self, session: LiveSession, names: Iterable[str]) -> tuple[ParticipantRecord, ...]:
        """Record the ids of `session`'s participants, named in order by `names`."""
        return tuple(
            self.participant(name, found)
            for name, found in zip(names, session.participants, strict=True)
        )

    def participant(self, name: str, found: LiveParticipant) -> ParticipantRecord:
        secret = found.participant_id.get_secret_value()
        self.participant_ids[hash_id(secret)] = secret
        return ParticipantRecord(name, hash_id(secret))


@dataclass
class Executor:
    """Carries out plan items against the clients, keeping the ledger up to date."""

    clients: Clients
    desired: Desired
    ledger: Ledger

    async def run(self, item: Item) -> None:
        """Make the call `item` stands for; raises whatever the client raises."""
        if item.kind is Kind.CREATE_SESSION:
            await self._create(item)
        elif item.kind is Kind.UPDATE_SESSION:
            await self._update_session(item)
        elif item.kind is Kind.CANCEL_SESSION:
            await self.clients.coviu.cancel_session(self._session_id(item))
            key = _session_key(item)
            self.ledger.records[key] = replace(self.ledger.records[key], canceled=True)
        elif item.kind is Kind.ADD_PARTICIPANT:
            await self._add_participant(item)
        elif item.kind is Kind.UPDATE_PARTICIPANT:
            changes = _changed(item) or self._participant(item).fields()
            await self.clients.coviu.update_participant(
                self._participant_id(item), ParticipantChanges(**changes)
            )
        elif item.kind is Kind.CANCEL_PARTICIPANT:
            await self.clients.coviu.cancel_participant(self._participant_id(item))
        else:
            await self._decide(item)

    async def _create(self, item: Item) -> None:
        key = _session_key(item)
        wanted = self._session(key)
        if item.payload is not None:
            sent = DesiredSession.from_json(item.payload)
            assert sent == replace(wanted, source=None), "the payload is not the manifest"
        created = await self.clients.coviu.create_session(draft_of(wanted))
        self.ledger.records[key] = SessionRecord(
            key=key,
            session_id=created.session_id,
            start=created.start_time,
            end=created.end_time,
            participants=self.ledger.remember(created, (p.name for p in wanted.participants)),
            applied=wanted,
        )

    async def _update_session(self, item: Item) -> None:
        key = _session_key(item)
        # An unreconcilable item names no change: attempt all the manifest wants.
        changes = _changed(item) or self._session(key).fields()
        updated = await self.clients.coviu.update_session(
            self._session_id(item), SessionChanges(**changes)
        )
        if item.status is Status.ACTION:
            record = self.ledger.records[key]
            self.ledger.records[key] = replace(
                record, start=updated.start_time, end=updated.end_time, applied=self._session(key)
            )

    async def _add_participant(self, item: Item) -> None:
        key, name = _participant_key(item)
        fields = item.payload if item.payload is not None else _changed(item)
        added = await self.clients.coviu.add_participant(
            self._session_id(item), participant_draft(fields)
        )
        record = self.ledger.records[key]
        entry = self.ledger.participant(name, added)
        self.ledger.records[key] = replace(record, participants=(*record.participants, entry))

    async def _decide(self, item: Item) -> None:
        approval = self._approval(item)
        snapshot_id = item.snapshot_id or approval.snapshot_id
        if item.kind is Kind.APPROVE_SNAPSHOT:
            await self.clients.auvious.approve_snapshot(
                snapshot_id,
                user_endpoint_id=approval.reviewer_endpoint_id,
                snapshot_type=approval.snapshot_type,
            )
        else:
            await self.clients.auvious.discard_snapshot(
                snapshot_id, user_endpoint_id=approval.reviewer_endpoint_id
            )

    def _session_id(self, item: Item) -> str:
        return item.session_id or self.ledger.records[_session_key(item)].session_id

    def _participant_id(self, item: Item) -> SecretStr:
        key, name = _participant_key(item)
        id_hash = item.participant_hash or self.ledger.records[key].participant_hash(name)
        assert id_hash is not None, f"{item.target}: no recorded participant"
        return SecretStr(self.ledger.participant_ids[id_hash])

    def _session(self, key: str) -> DesiredSession:
        return next(session for session in self.desired.sessions if session.key == key)

    def _participant(self, item: Item) -> DesiredParticipant:
        key, name = _participant_key(item)
        return next(p for p in self._session(key).participants if p.name == name)

    def _approval(self, item: Item) -> DesiredApproval:
        key = item.target.removeprefix("SnapshotApproval/")
        return next(approval for approval in self.desired.approvals if approval.key == key)


def _changed(item: Item) -> dict[str, Any]:
    return {change.field: change.new for change in item.changes}


def _session_key(item: Item) -> str:
    return item.target.split("/")[1]


def _participant_key(item: Item) -> tuple[str, str]:
    _, key, _, name = item.target.split("/")
    return key, name
