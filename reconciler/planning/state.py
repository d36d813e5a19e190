"""What the planner compares: the desired state, the inventory's records, and the live
state, each already normalized into plain frozen values.

These are the planner's inputs and nothing else. Building them is someone else's job:
`desired_state()` reads manifests, the inventory persists `SessionRecord`s, and the
refresh turns API answers into `Observation`s. Keeping the planner's inputs free of
pydantic models, SQLite rows and HTTP makes it a pure function that tests can feed
directly (DESIGN.md §2).

Normalized means comparable: times are aware instants (kept in the manifest's own offset
for display; `==` compares instants), roles are lower-case, empty text is `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from reconciler.planning.times import read_instant, write_instant


def optional_text(value: str | None) -> str | None:
    """Empty text is no text: the APIs answer either for a field never set."""
    return value or None


PARTICIPANT_FIELDS = ("display_name", "role", "picture", "state")
"""A participant's fields the API holds, desired and live alike: what is compared."""


def participant_fields(participant: DesiredParticipant | LiveParticipant) -> dict[str, Any]:
    """`PARTICIPANT_FIELDS` of a desired or a live participant, by their API names."""
    return {
        "display_name": participant.display_name,
        "role": participant.role,
        "picture": participant.picture,
        "state": participant.state,
    }


def session_fields(session: DesiredSession | LiveSession) -> dict[str, Any]:
    """A desired or live session's own fields, by their API names."""
    return {
        "session_name": session.session_name,
        "start_time": session.start,
        "end_time": session.end,
        "picture": session.picture,
    }


@dataclass(frozen=True)
class DesiredParticipant:
    """A participant as a manifest declares it; `name` is its key within the session."""

    name: str
    display_name: str
    role: str = "guest"
    picture: str | None = None
    state: str | None = None

    def fields(self) -> dict[str, Any]:
        """The fields the API holds, by their API names."""
        return participant_fields(self)


@dataclass(frozen=True)
class DesiredSession:
    """A session as a manifest declares it; `key` is its `metadata.name`."""

    key: str
    session_name: str
    start: datetime
    end: datetime
    picture: str | None = None
    participants: tuple[DesiredParticipant, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    """The manifest file, as the user named it: which PATHs own this session."""
    prevent_cancel: bool = False
    """Annotated `reconciler/prevent-cancel: "true"`: never cancelled, even once its
    manifest is gone (the record of what was applied keeps the flag)."""

    def fields(self) -> dict[str, Any]:
        """The session's own fields, by their API names."""
        return session_fields(self)

    def differs_from(self, other: DesiredSession) -> bool:
        """Whether `other` asks for anything else than this spec: labels, annotations and
        the file a manifest lives in are not desired state of the live session."""
        return self != replace(
            other, labels=self.labels, source=self.source, prevent_cancel=self.prevent_cancel
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON value that `from_json` reads back into an equal session."""
        return {
            "key": self.key,
            "session_name": self.session_name,
            "start_time": write_instant(self.start, keep_offset=True),
            "end_time": write_instant(self.end, keep_offset=True),
            "picture": self.picture,
            "participants": [
                {"name": participant.name, **participant.fields()}
                for participant in self.participants
            ],
            "labels": dict(sorted(self.labels.items())),
            "source": self.source,
            # Only when set: records and digests made before the annotation read alike.
            **({"prevent_cancel": True} if self.prevent_cancel else {}),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> DesiredSession:
        """The session `to_json` wrote."""
        return cls(
            key=value["key"],
            session_name=value["session_name"],
            start=read_instant(value["start_time"]),
            end=read_instant(value["end_time"]),
            picture=value.get("picture"),
            participants=tuple(
                DesiredParticipant(
                    name=item["name"],
                    display_name=item["display_name"],
                    role=item.get("role", "guest"),
                    picture=item.get("picture"),
                    state=item.get("state"),
                )
                for item in value.get("participants", ())
            ),
            labels=dict(value.get("labels", {})),
            source=value.get("source"),
            prevent_cancel=bool(value.get("prevent_cancel", False)),
        )


@dataclass(frozen=True)
class DesiredApproval:
    """A snapshot-review decision as a manifest declares it."""

    key: str
    interaction_id: str
    snapshot_id: str
    decision: str
    """`approved` or `discarded`."""
    reviewer_endpoint_id: str
    snapshot_type: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Desired:
    """Everything the manifests ask for, and a digest of it that ignores file layout."""

    sessions: tuple[DesiredSession, ...] = ()
    approvals: tuple[DesiredApproval, ...] = ()
    digest: str = ""
    declared: frozenset[str] = frozenset()
    """Every Session key the manifests declare, selected or not: none of them is ever
    treated as removed."""
    scope: tuple[str, ...] = ()
    """The PATHs the manifests were read from, resolved: a recorded session is owned by
    this run (and may be cancelled when its manifest is gone) only if its source file
    lies under one of them."""
    selector: Mapping[str, str] = field(default_factory=dict)
    """Only objects whose labels carry all of these were planned."""
    only: frozenset[str] = frozenset()
    """`--only`: if any, only these `Kind/name` targets were planned."""

    @cached_property
    def selected(self) -> frozenset[str]:
        """The keys of the Sessions that were read and selected."""
        return frozenset(session.key for session in self.sessions)


@dataclass(frozen=True)
class ParticipantRecord:
    """The inventory's link between a participant key and its live participant.

    The live id is a join capability (DESIGN.md §9), so only a keyed hash of it is kept.
    """

    name: str
    id_hash: str


@dataclass(frozen=True)
class SessionRecord:
    """The inventory's link between `Session/<key>` and its live session, and what was
    last applied to it."""

    key: str
    session_id: str
    start: datetime
    """The live start time when the record was last written."""
    end: datetime
    canceled: bool = False
    participants: tuple[ParticipantRecord, ...] = ()
    applied: DesiredSession | None = None
    """The desired session last applied (None for an adopted session)."""

    def is_history(self, now: datetime) -> bool:
        """Finished or cancelled: never refreshed again, never changed again."""
        return self.canceled or self.end <= now

    def participant_hash(self, name: str) -> str | None:
        """The recorded id hash of participant `name`, if it has one."""
        for participant in self.participants:
            if participant.name == name:
                return participant.id_hash
        return None


@dataclass(frozen=True)
class LiveParticipant:
    """A live participant, named by the keyed hash of its id (never the id itself)."""

    id_hash: str
    display_name: str | None
    role: str
    picture: str | None = None
    state: str | None = None
    removed: bool = False

    def fields(self) -> dict[str, Any]:
        """The participant's fields, by their API names."""
        return participant_fields(self)


@dataclass(frozen=True)
class LiveSession:
    """A live Coviu session, normalized."""

    session_id: str
    session_name: str | None
    start: datetime
    end: datetime
    picture: str | None = None
    canceled: bool = False
    participants: tuple[LiveParticipant, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The session's own fields, by their API names."""
        return session_fields(self)

    def participant(self, id_hash: str) -> LiveParticipant | None:
        """The live participant whose id hashes to `id_hash`."""
        for participant in self.participants:
            if participant.id_hash == id_hash:
                return participant
        return None


@dataclass(frozen=True)
class LiveSnapshot:
    """A live Auvious snapshot; `state` is None while it has no image yet."""

    snapshot_id: str
    interaction_id: str
    state: str | None
    type: str | None = None
    version: int = 0


@dataclass(frozen=True)
class Observation:
    """What the refresh read from the live APIs."""

    sessions: Mapping[str, LiveSession] = field(default_factory=dict)
    """Live sessions by id: every recorded session that is not history, if it exists."""
    canceled: frozenset[str] = frozenset()
    """Recorded session ids that answered as cancelled (Coviu hides them otherwise)."""
    unmanaged: int = 0
    """Live sessions seen that no inventory record names: never touched, only counted."""
    unmanaged_sessions: tuple[LiveSession, ...] = ()
    """Those sessions themselves, when the refresh was asked to keep them (drift lists
    them; a plan only counts them)."""
    snapshots: Mapping[str, tuple[LiveSnapshot, ...]] = field(default_factory=dict)
    """Snapshots of each interaction a SnapshotApproval names."""
    requests: int = 0
    """How many API requests the refresh took."""
