"""Manifests as a clinic might write them, drawn by hypothesis, and written out as YAML.

A spec keeps what was *written* (a role in any case, a time in any offset, with a
fraction of a second, an end given as a duration) so that a test can build, on its own,
what the live API would hold for it: times in UTC at whole seconds, roles lower-case,
empty text as none. The planner's normalization is then checked against that, not
against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

from hypothesis import strategies as st

from tests.conftest import T0

SECOND = timedelta(seconds=1)
HASH_KEY = b"tests.planning: the inventory's secret salt"


def hash_id(participant_id: str) -> str:
    """The keyed hash a test's inventory gives a participant id (HMAC-SHA256)."""
    return hmac.new(HASH_KEY, participant_id.encode(), hashlib.sha256).hexdigest()


# --- values ---------------------------------------------------------------------------------

_LETTERS = st.characters(categories=("L", "N", "P", "S"), codec="utf-8")
text = st.tuples(_LETTERS, st.text(st.one_of(_LETTERS, st.just(" ")), max_size=12)).map("".join)
"""Short text that is not blank: letters of any script, digits, punctuation, spaces."""
pictures = st.builds(
    "https://example.org/{}/{}.png".format,
    st.sampled_from(["rooms", "people"]),
    st.integers(0, 99),
)
offsets = st.integers(-12 * 4, 14 * 4).map(lambda quarters: timezone(quarters * 15 * 60 * SECOND))
"""UTC offsets as the world uses them: whole quarters of an hour, -12:00 to +14:00."""
roles = st.sampled_from(["host", "guest"]).flatmap(
    lambda role: st.lists(st.booleans(), min_size=len(role), max_size=len(role)).map(
        lambda upper: "".join(c.upper() if up else c for c, up in zip(role, upper, strict=True))
    )
)
"""`host` or `guest`, in any mix of cases."""
labels = st.dictionaries(
    st.sampled_from(["clinic", "site", "team"]), st.sampled_from(["a", "b", "cardiology"])
)


def names(prefix: str, count: int) -> list[str]:
    """`count` distinct manifest names."""
    return [f"{prefix}-{index}" for index in range(count)]


# --- specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipantSpec:
    name: str
    display_name: str
    role: str
    """As written: any case."""
    picture: str | None = None
    state: str | None = None
    """As written: may be empty, which means none."""

    def document(self) -> dict[str, Any]:
        written: dict[str, Any] = {"name": self.name, "display_name": self.display_name}
        written["role"] = self.role
        if self.picture is not None:
            written["picture"] = self.picture
        if self.state is not None:
            written["state"] = self.state
        return written


@dataclass(frozen=True)
class SessionSpec:
    key: str
    session_name: str
    start: datetime
    """As written: any offset, maybe a fraction of a second."""
    end: datetime
    picture: str | None = None
    participants: tuple[ParticipantSpec, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    end_as_duration: bool = False
    start_as_rfc1123: bool = False

    @property
    def live_start(self) -> datetime:
        """The start as Coviu keeps it: in UTC, the fraction of a second dropped."""
        return self.start.astimezone(UTC).replace(microsecond=0)

    @property
    def live_end(self) -> datetime:
        return self.end.astimezone(UTC).replace(microsecond=0)

    def document(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"session_name": self.session_name}
        if self.start_as_rfc1123:
            spec["start_time"] = format_datetime(self.start.astimezone(UTC), usegmt=True)
        else:
            spec["start_time"] = self.start.isoformat()
        if self.end_as_duration:
            spec["duration"] = f"{int((self.end - self.start).total_seconds())}s"
        else:
            spec["end_time"] = self.end.isoformat()
        if self.picture is not None:
            spec["picture"] = self.picture
        if self.participants:
            spec["participants"] = [participant.document() for participant in self.participants]
        return _manifest("Session", self.key, self.labels, spec)


@dataclass(frozen=True)
class ApprovalSpec:
    key: str
    interaction_id: str
    snapshot_id: str
    decision: str
    """As written: `approved` or `discarded`, any case."""
    reviewer_endpoint_id: str
    snapshot_type: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """The snapshot state that satisfies the decision."""
        return self.decision.upper()

    def document(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "interaction_id": self.interaction_id,
            "snapshot_id": self.snapshot_id,
            "decision": self.decision,
            "reviewer_endpoint_id": self.reviewer_endpoint_id,
        }
        if self.snapshot_type is not None:
            spec["snapshot_type"] = self.snapshot_type
        return _manifest("SnapshotApproval", self.key, self.labels, spec)


Spec = SessionSpec | ApprovalSpec


def _manifest(
    kind: str, name: str, labels: Mapping[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "reconciler/v1", "kind": kind, "metadata": metadata, "spec": spec}


def yaml_documents(specs: Sequence[Spec]) -> str:
    """The manifests as one multi-document YAML text, every scalar double-quoted."""
    return "".join("---\n" + _block(spec.document(), 0) for spec in specs)


def _block(value: dict[str, Any], indent: int) -> str:
    pad = " " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:\n{_block(item, indent + 2)}")
        elif isinstance(item, list):
            entries = "".join(f"{pad}  -\n{_block(entry, indent + 4)}" for entry in item)
            lines.append(f"{pad}{key}:\n{entries}")
        else:
            lines.append(f"{pad}{key}: {json.dumps(item, ensure_ascii=False)}\n")
    return "".join(lines)


# --- strategies -----------------------------------------------------------------------------


@st.composite
def instants(draw: st.DrawFn, earliest: datetime, within: timedelta) -> datetime:
    """An instant in [earliest, earliest + within] in a random offset, sometimes with a
    fraction of a second."""
    seconds = draw(st.integers(0, int(within.total_seconds())))
    fraction = draw(st.sampled_from([0, 0, 0, 250_000, 999_999]))
    moment = earliest + timedelta(seconds=seconds, microseconds=fraction)
    return moment.astimezone(draw(offsets))


@st.composite
def participant_specs(draw: st.DrawFn, name: str) -> ParticipantSpec:
    return ParticipantSpec(
        name=name,
        display_name=draw(text),
        role=draw(roles),
        picture=draw(st.none() | pictures),
        state=draw(st.none() | st.just("") | text),
    )


@st.composite
def session_specs(draw: st.DrawFn, key: str) -> SessionSpec:
    """A session starting between a minute and a week after T0, lasting a minute to 3h."""
    start = draw(instants(T0 + timedelta(minutes=1), timedelta(days=7)))
    end = start + timedelta(seconds=draw(st.integers(60, 3 * 3600)))
    rfc1123 = start.microsecond == 0 and draw(st.booleans())
    count = draw(st.integers(0, 3))
    return SessionSpec(
        key=key,
        session_name=draw(text),
        start=start.astimezone(UTC) if rfc1123 else start,
        end=end.astimezone(draw(offsets)),
        picture=draw(st.none() | pictures),
        participants=tuple(draw(participant_specs(name)) for name in names("p", count)),
        labels=draw(labels),
        end_as_duration=draw(st.booleans()),
        start_as_rfc1123=rfc1123,
    )


@st.composite
def approval_specs(draw: st.DrawFn, key: str) -> ApprovalSpec:
    decision = draw(st.sampled_from(["approved", "Approved", "discarded", "DISCARDED"]))
    return ApprovalSpec(
        key=key,
        interaction_id=draw(st.sampled_from(["conv-1", "conv-2"])),
        snapshot_id=f"snap-{key}",
        decision=decision,
        reviewer_endpoint_id=draw(st.sampled_from(["ep-reviewer-1", "ep-reviewer-2"])),
        snapshot_type=draw(st.none() | st.sampled_from(["wound-photo", "rash"])),
        labels=draw(labels),
    )


@st.composite
def manifest_sets(draw: st.DrawFn) -> tuple[tuple[SessionSpec, ...], tuple[ApprovalSpec, ...]]:
    """One to four sessions and up to three snapshot approvals, every name distinct."""
    sessions = tuple(draw(session_specs(key)) for key in names("session", draw(st.integers(1, 4))))
    approvals = tuple(draw(approval_specs(key)) for key in names("review", draw(st.integers(0, 3))))
    return sessions, approvals
