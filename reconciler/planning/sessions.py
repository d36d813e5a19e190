"""Plan one managed session: pair desired, recorded and live; diff; classify each
difference with the lifecycle rules at the server's time.

Times in reasons are shown in the manifest's own offset: live times are moved into it
before the rules see them (which changes no instant).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from reconciler.manifests import PREVENT_CANCEL
from reconciler.planning import fingerprint, rules
from reconciler.planning.diff import field_changes
from reconciler.planning.plan import Change, Item, Kind, Status
from reconciler.planning.rules import Verdict
from reconciler.planning.state import (
    DesiredParticipant,
    DesiredSession,
    LiveParticipant,
    LiveSession,
    SessionRecord,
)
from reconciler.planning.times import write_instant

_UNCANCEL_HINT = (
    "a cancelled session never comes back: give the manifest a new metadata.name to"
    " schedule a new session, or delete the manifest"
)


_NOT_SENT = ("source", "prevent_cancel")
"""What a create's payload leaves out: the inventory's business, not the API's."""


@dataclass(frozen=True)
class Context:
    """What every item of one session shares."""

    target: str
    now: datetime
    starts_at: datetime | None
    session_id: str | None = None


def create(desired: DesiredSession, now: datetime) -> Item:
    """A session no record names: create it with its participants, if it starts later."""
    verdict = rules.may_create(desired.start, now.astimezone(desired.start.tzinfo))
    changes = tuple(
        Change(name, None, value) for name, value in desired.fields().items() if value is not None
    )
    changes += tuple(
        Change(f"participants.{participant.name}", None, participant.fields())
        for participant in desired.participants
    )
    context = Context(_target(desired.key), now, desired.start)
    item = _item(context, Kind.CREATE_SESSION, verdict, changes)
    # Not the source file: file layout is not desired state, and moving a document
    # between files must not change the plan. The applier records it from the manifests.
    payload = {name: value for name, value in desired.to_json().items() if name not in _NOT_SENT}
    return replace(item, payload=payload) if verdict.allowed else item


def recorded(
    desired: DesiredSession, record: SessionRecord, live: LiveSession | None, now: datetime
) -> Iterator[Item]:
    """Items for a session the inventory names (`live` is None when it is gone)."""
    zone = desired.start.tzinfo
    context = Context(_target(desired.key), now.astimezone(zone), desired.start, record.session_id)
    if live is None:
        yield _gone(context)
    else:
        yield from _session(desired, record, _in_zone(live, zone), context)


def canceled(desired: DesiredSession, record: SessionRecord, now: datetime) -> Item:
    """A session cancelled, here or by hand, that the manifest still wants: never
    re-planned as a change (cancelling is irreversible)."""
    context = Context(_target(desired.key), now, desired.start, record.session_id)
    return _unreconcilable(
        context, Kind.UPDATE_SESSION, "the session was cancelled", _UNCANCEL_HINT
    )


def history(desired: DesiredSession, record: SessionRecord, now: datetime) -> Iterator[Item]:
    """A finished session is not refreshed: compare the manifest with what was last
    applied, and block any change."""
    context = Context(_target(desired.key), now, desired.start, record.session_id)
    applied = record.applied
    if applied is None or not applied.differs_from(desired):
        return
    end = record.end.astimezone(desired.start.tzinfo)
    finished = rules.refuse(
        f"the session finished at {write_instant(end, keep_offset=True)}",
        "a finished session is history: revert the change in the manifest",
    )
    changes = field_changes(applied.fields(), desired.fields())
    if changes:
        yield _item(context, Kind.UPDATE_SESSION, finished, changes)
    before = {participant.name: participant for participant in applied.participants}
    for participant in desired.participants:
        old = before.pop(participant.name, None)
        kind = Kind.ADD_PARTICIPANT if old is None else Kind.UPDATE_PARTICIPANT
        diff = field_changes(old.fields() if old else {}, participant.fields())
        if diff:
            yield _item(_of(context, participant.name), kind, finished, diff)
    for name in sorted(before):
        yield _item(_of(context, name), Kind.CANCEL_PARTICIPANT, finished, ())


def removed(record: SessionRecord, live: LiveSession, now: datetime) -> Item | None:
    """A recorded session whose manifest is gone (and which this run owns): cancel it."""
    zone = record.applied.start.tzinfo if record.applied is not None else None
    live = _in_zone(live, zone)
    context = Context(_target(record.key), now.astimezone(zone), live.start, live.session_id)
    if live.canceled or rules.phase_of(live, now) is rules.Phase.FINISHED:
        return None
    verdict = rules.may_cancel(live, context.now)
    if verdict.allowed and record.applied is not None and record.applied.prevent_cancel:
        verdict = Verdict(
            False,
            reason=f'it is protected: its manifest was annotated {PREVENT_CANCEL}: "true"'
            " when last applied",
            hint=f'to cancel it, put the manifest back with {PREVENT_CANCEL}: "false", apply,'
            " then delete it; to stop managing it and leave it live, run"
            f" `reconciler state forget {record.key}`",
            never=False,
        )
    return _item(
        context,
        Kind.CANCEL_SESSION,
        verdict,
        (),
        fingerprint=fingerprint.of_session(live),
        reason="its manifest was removed",
    )


def _session(
    desired: DesiredSession, record: SessionRecord, live: LiveSession, context: Context
) -> Iterator[Item]:
    now = context.now
    changes = field_changes(live.fields(), desired.fields())
    verdicts: dict[str, Verdict] = {}
    for change in changes:
        if change.field == "start_time":
            verdicts[change.field] = rules.may_move_start(live, change.new, now)
        elif change.field != "end_time":
            verdicts[change.field] = rules.may_edit(live, now)
    start_moves = "start_time" in verdicts and verdicts["start_time"].allowed
    for change in changes:
        if change.field == "end_time":
            start = desired.start if start_moves else live.start
            verdicts[change.field] = rules.may_move_end(live, start, change.new, now)
    if changes:
        print_ = fingerprint.of_session(live)
        yield from _split(context, Kind.UPDATE_SESSION, changes, verdicts, print_)
    yield from _participants(desired, record, live, context)


def _participants(
    desired: DesiredSession, record: SessionRecord, live: LiveSession, context: Context
) -> Iterator[Item]:
    edit = rules.may_edit(live, context.now)
    wanted = {participant.name for participant in desired.participants}
    for participant in desired.participants:
        id_hash = record.participant_hash(participant.name)
        found = live.participant(id_hash) if id_hash is not None else None
        yield from _participant(
            participant, id_hash, found, live, edit, _of(context, participant.name)
        )
    for entry in record.participants:
        found = live.participant(entry.id_hash)
        if entry.name in wanted or found is None or found.removed:
            continue
        yield _item(
            _of(context, entry.name),
            Kind.CANCEL_PARTICIPANT,
            edit,
            (),
            fingerprint=fingerprint.of_participant(found),
            participant_hash=entry.id_hash,
            reason="its entry was removed from the manifest",
        )


def _participant(
    participant: DesiredParticipant,
    id_hash: str | None,
    found: LiveParticipant | None,
    live: LiveSession,
    edit: Verdict,
    context: Context,
) -> Iterator[Item]:
    if id_hash is None:
        changes = field_changes({}, participant.fields())
        item = _item(
            context, Kind.ADD_PARTICIPANT, edit, changes, fingerprint=fingerprint.of_session(live)
        )
        yield replace(item, payload={"name": participant.name, **participant.fields()})
    elif found is None or found.removed:
        yield _unreconcilable(
            context,
            Kind.UPDATE_PARTICIPANT,
            "the participant was removed from the live session",
            "a removed participant never comes back: give the entry a new name to invite"
            " them again with a new link",
        )
    else:
        changes = field_changes(found.fields(), participant.fields())
        if changes:
            yield _item(
                context,
                Kind.UPDATE_PARTICIPANT,
                edit,
                changes,
                fingerprint=fingerprint.of_participant(found),
                participant_hash=id_hash,
            )


def _split(
    context: Context,
    kind: Kind,
    changes: tuple[Change, ...],
    verdicts: dict[str, Verdict],
    print_: str,
) -> Iterator[Item]:
    """One action for the legal changes, one blocked item per distinct refusal."""
    legal = tuple(change for change in changes if verdicts[change.field].allowed)
    if legal:
        expires = min(
            until for change in legal if (until := verdicts[change.field].expires_at) is not None
        )
        yield _item(context, kind, rules.allow(expires), legal, fingerprint=print_)
    refusals: dict[str, list[Change]] = {}
    for change in changes:
        verdict = verdicts[change.field]
        if not verdict.allowed:
            refusals.setdefault(verdict.reason, []).append(change)
    for changes_refused in refusals.values():
        verdict = verdicts[changes_refused[0].field]
        yield _item(context, kind, verdict, tuple(changes_refused), fingerprint=print_)


def _item(
    context: Context,
    kind: Kind,
    verdict: Verdict,
    changes: tuple[Change, ...],
    *,
    fingerprint: str | None = None,
    participant_hash: str | None = None,
    reason: str = "",
) -> Item:
    if verdict.allowed:
        return Item(
            status=Status.ACTION,
            kind=kind,
            target=context.target,
            reason=reason or _describe(kind),
            changes=changes,
            session_id=context.session_id,
            participant_hash=participant_hash,
            fingerprint=fingerprint,
            expires_at=verdict.expires_at,
            starts_at=context.starts_at,
        )
    return Item(
        status=Status.BLOCKED,
        kind=kind,
        target=context.target,
        reason=verdict.reason,
        changes=changes,
        session_id=context.session_id,
        participant_hash=participant_hash,
        fingerprint=fingerprint,
        never=verdict.never,
        hint=verdict.hint,
        starts_at=context.starts_at,
    )


def _unreconcilable(context: Context, kind: Kind, reason: str, hint: str) -> Item:
    return Item(
        status=Status.UNRECONCILABLE,
        kind=kind,
        target=context.target,
        reason=reason,
        session_id=context.session_id,
        hint=hint,
        never=True,
        starts_at=context.starts_at,
    )


def _gone(context: Context) -> Item:
    return _unreconcilable(
        context,
        Kind.UPDATE_SESSION,
        "the recorded session no longer exists in Coviu",
        f"run `reconciler state forget {context.target}` to let the next plan create it again",
    )


def _describe(kind: Kind) -> str:
    return kind.value.replace("_", " ")


def _target(key: str) -> str:
    return f"Session/{key}"


def _of(context: Context, name: str) -> Context:
    return replace(context, target=f"{context.target}/participants/{name}")


def _in_zone(live: LiveSession, zone: tzinfo | None) -> LiveSession:
    if zone is None:
        return live
    return replace(live, start=live.start.astimezone(zone), end=live.end.astimezone(zone))
