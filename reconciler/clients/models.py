"""What the APIs answer, as typed, immutable values; and what the clients send.

Answers are read leniently (unknown fields ignored: vendors add fields) but strictly where
it matters: ids present, times aware and in UTC, roles and states from their closed sets.
A participant's id and entry URL are join capabilities (DESIGN.md §9), so they are held
as `SecretStr`: printing, logging or `repr` of a participant never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
)
from pydantic_core import PydanticCustomError

from reconciler.clients.times import ApiTimeError, format_api_time, parse_api_time

Role = Literal["host", "guest"]
SnapshotState = Literal["UPLOADED", "APPROVED", "DISCARDED"]


def _time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return parse_api_time(value)
    except ApiTimeError:
        # Without the text: a malformed answer may hold anything there, even a secret.
        raise PydanticCustomError(
            "api_time", "not an RFC 1123 or ISO 8601 time with a UTC offset"
        ) from None


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time has no UTC offset")
    return value.astimezone(UTC)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


UtcTime = Annotated[
    datetime,
    BeforeValidator(_time),
    AfterValidator(_utc),
    PlainSerializer(format_api_time, return_type=str),
]
RoleIn = Annotated[Role, BeforeValidator(_lower)]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class LiveParticipant(_Answer):
    """A Coviu participant as the API has it."""

    participant_id: SecretStr
    session_id: str
    display_name: str | None = None
    picture: str | None = None
    role: RoleIn = "guest"
    state: str | None = None
    entry_url: SecretStr | None = None
    client_id: str | None = None
    deleted_at: UtcTime | None = None

    @property
    def removed(self) -> bool:
        """Whether the participant was cancelled (which is irreversible)."""
        return self.deleted_at is not None


class LiveSession(_Answer):
    """A Coviu session as the API has it, with its participants."""

    session_id: str
    session_name: str | None = None
    start_time: UtcTime
    end_time: UtcTime
    picture: str | None = None
    team_id: str | None = None
    client_id: str | None = None
    participants: tuple[LiveParticipant, ...] = ()
    canceled_at: UtcTime | None = None


class SessionPage(_Answer):
    """One page of `GET /sessions`."""

    content: tuple[LiveSession, ...]
    page: int
    page_size: int
    more: bool


class Snapshot(_Answer):
    """An Auvious snapshot; `state` is None while it is requested but has no image."""

    id: str
    interaction_id: str = Field(alias="interactionId")
    state: SnapshotState | None = None
    type: str | None = None
    version: int = 0
    approved: bool = False
    organization_id: str | None = Field(default=None, alias="organizationId")
    session_id: str | None = Field(default=None, alias="sessionId")
    session_type: str | None = Field(default=None, alias="sessionType")
    user_id: str | None = Field(default=None, alias="userId")
    user_endpoint_id: str | None = Field(default=None, alias="userEndpointId")
    related_snapshot_id: str | None = Field(default=None, alias="relatedSnapshotId")
    suffix: str | None = None
    mime_type: str | None = Field(default=None, alias="mimeType")
    timestamp: UtcTime | None = None
    created_at: UtcTime | None = Field(default=None, alias="createdAt")


class SignedUrl(_Answer):
    """A time-limited download link: a bearer credential until `valid_until`."""

    url: SecretStr
    valid_until: UtcTime = Field(alias="validUntil")


class Grant(_Answer):
    """An OAuth2 token endpoint's answer."""

    access_token: SecretStr
    expires_in: int = Field(gt=0)
    refresh_token: SecretStr | None = None
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret


@dataclass(frozen=True)
class Probe:
    """One service answered an authenticated read: when, by its clock, and how fast."""

    service: str
    server_time: datetime | None
    round_trip_seconds: float
    requests: int


# What the clients send. Participant and session fields are Coviu's own names.


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def body(self) -> dict[str, Any]:
        """The JSON body: only the fields that were given (partial updates stay partial)."""
        return self.model_dump(mode="json", exclude_unset=True)


class ParticipantDraft(_Request):
    """A participant to add: to a new session, or to an existing one."""

    display_name: str
    role: Role = "guest"
    picture: str | None = None
    state: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body: every field that has a value, the role always."""
        return self.model_dump(mode="json", exclude_none=True)


class SessionDraft(_Request):
    """A session to create, with its participants, in one call."""

    session_name: str
    start_time: UtcTime
    end_time: UtcTime
    picture: str | None = None
    participants: tuple[ParticipantDraft, ...] = ()

    def body(self) -> dict[str, Any]:
        """The JSON body; participants always sent, even when there are none."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["participants"] = [p.body() for p in self.participants]
        return body


class SessionChanges(_Request):
    """A partial update of a session: only the fields given are sent."""

    session_name: str | None = None
    start_time: UtcTime | None = None
    end_time: UtcTime | None = None
    picture: str | None = None


class ParticipantChanges(_Request):
    """A partial update of a participant: only the fields given are sent."""

    display_name: str | None = None
    role: Role | None = None
    picture: str | None = None
    state: str | None = None
