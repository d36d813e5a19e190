"""The manifest kinds, exactly as DESIGN.md §3 describes them: what a clinic declares.

Models are frozen and refuse unknown fields. They hold no positions and do no I/O: the
loader maps their errors back to `file:line:col`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests.fields import (
    RESERVED_ANNOTATIONS,
    Annotations,
    Decision,
    Labels,
    Name,
    OptionalDuration,
    OptionalTime,
    Role,
    Text,
    Time,
    WebUrl,
)

API_VERSION = "reconciler/v1"
END_OR_DURATION = "give exactly one of end_time or duration"


def participant_used_twice(name: str) -> str:
    """What to say about the second participant of a session with the same name."""
    return f"participant name {name!r} is used twice in this session"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metadata(_Model):
    """Identity of a manifest: its name is the key that pairs it with live objects."""

    name: Name = Field(description="Unique across all manifests: a-z, 0-9 and '-', at most 63.")
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)

    @field_validator("annotations")
    @classmethod
    def _reserved_values(cls, annotations: dict[str, str]) -> dict[str, str]:
        for key, value in annotations.items():
            accepted = RESERVED_ANNOTATIONS.get(key)
            if accepted is not None and value not in accepted:
                choices = " or ".join(f'"{choice}"' for choice in accepted)
                raise PydanticCustomError(
                    "annotation_value", f"{key}: expected {choices}, not {value!r}"
                )
        return annotations


class Participant(_Model):
    """One person's place in a session; each gets their own entry link."""

    name: Name = Field(description="Key of the participant, unique within its session.")
    display_name: Text
    role: Role = Field(
        default="guest", description="host enters directly; guest waits to be let in."
    )
    picture: WebUrl | None = None
    state: str | None = Field(default=None, description="Opaque text for the clinic's own use.")


class SessionSpec(_Model):
    """A scheduled video consultation. Give `end_time` or `duration`, not both."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["end_time"]}, {"required": ["duration"]}]}
    )

    session_name: Text
    start_time: Time
    end_time: OptionalTime = None
    duration: OptionalDuration = None
    picture: WebUrl | None = None
    participants: tuple[Participant, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> SessionSpec:
        if (self.end_time is None) == (self.duration is None):
            raise PydanticCustomError(
                "end_or_duration",
                END_OR_DURATION,
                {"at": "end_time" if self.end_time is not None else ""},
            )
        if self.end <= self.start_time:
            raise PydanticCustomError(
                "end_before_start",
                "the session must end after it starts",
                {"at": "end_time" if self.end_time is not None else "duration"},
            )
        seen: set[str] = set()
        for index, participant in enumerate(self.participants):
            if participant.name in seen:
                raise PydanticCustomError(
                    "participant_name_unique",
                    participant_used_twice(participant.name),
                    {"at": f"participants.{index}.name"},
                )
            seen.add(participant.name)
        return self

    @property
    def end(self) -> datetime:
        """When the session ends, whichever way the manifest says it."""
        if self.end_time is not None:
            return self.end_time
        assert self.duration is not None
        return self.start_time + self.duration


class Session(_Model):
    """A Coviu session and its participants."""

    api_version: Literal["reconciler/v1"] = Field(alias="apiVersion")
    kind: Literal["Session"]
    metadata: Metadata
    spec: SessionSpec


class SnapshotApprovalSpec(_Model):
    """The review decision on one Auvious snapshot."""

    interaction_id: Text = Field(description="The interaction the snapshot belongs to.")
    snapshot_id: Text
    decision: Decision = Field(description="approved, or discarded (final: cannot be undone).")
    snapshot_type: Text | None = Field(default=None, description="Set the type on approval.")
    reviewer_endpoint_id: Text = Field(description="Sent to Auvious as userEndpointId.")


class SnapshotApproval(_Model):
    """A snapshot-review decision."""

    api_version: Literal["reconciler/v1"] = Field(alias="apiVersion")
    kind: Literal["SnapshotApproval"]
    metadata: Metadata
    spec: SnapshotApprovalSpec


Manifest = Annotated[Session | SnapshotApproval, Field(discriminator="kind")]
KINDS: dict[str, type[Session] | type[SnapshotApproval]] = {
    "Session": Session,
    "SnapshotApproval": SnapshotApproval,
}
manifests_adapter: TypeAdapter[list[Session | SnapshotApproval]] = TypeAdapter(list[Manifest])
