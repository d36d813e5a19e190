"""httpx clients for the Coviu and Auvious APIs: OAuth2, retries, rate limits, pagination.

The only package, beside the emulator and the tests, that imports httpx; nothing httpx
leaves it (errors are `reconciler.clients.errors`, answers are `models`).
"""

from reconciler.clients.auth import Credentials
from reconciler.clients.auvious import AuviousClient
from reconciler.clients.coviu import CoviuClient, ParticipantLookup, SessionFilter
from reconciler.clients.errors import (
    ApiError,
    ApiUnavailableError,
    AuthenticationError,
    NotFoundError,
    OutcomeUnknownError,
    RequestRejectedError,
    SessionCanceledError,
    UnexpectedResponseError,
)
from reconciler.clients.masking import guard_logger
from reconciler.clients.models import (
    LiveParticipant,
    LiveSession,
    ParticipantChanges,
    ParticipantDraft,
    Probe,
    SessionChanges,
    SessionDraft,
    SignedUrl,
    Snapshot,
)
from reconciler.clients.retry import RetryPolicy
from reconciler.clients.targets import (
    Clients,
    TargetError,
    Targets,
    Tuning,
    Urls,
    choose_targets,
    connect,
)
from reconciler.clients.timing import ManualTimer, RateLimit, Timer

# httpx logs every request's full URL at INFO, and a participant's URL is its join link:
# whoever turns logging up (the CLI's -v, or an embedding program) must not leak it.
# A logger's filters do not apply to its children's records, so each is named.
for _name in (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "reconciler.clients",
):
    guard_logger(_name)

__all__ = [
    "ApiError",
    "ApiUnavailableError",
    "AuthenticationError",
    "AuviousClient",
    "Clients",
    "CoviuClient",
    "Credentials",
    "LiveParticipant",
    "LiveSession",
    "ManualTimer",
    "NotFoundError",
    "OutcomeUnknownError",
    "ParticipantChanges",
    "ParticipantDraft",
    "ParticipantLookup",
    "Probe",
    "RateLimit",
    "RequestRejectedError",
    "RetryPolicy",
    "SessionCanceledError",
    "SessionChanges",
    "SessionDraft",
    "SessionFilter",
    "SignedUrl",
    "Snapshot",
    "TargetError",
    "Targets",
    "Timer",
    "Tuning",
    "UnexpectedResponseError",
    "Urls",
    "choose_targets",
    "connect",
]
