"""What can go wrong when talking to Coviu or Auvious, as the project's own errors.

httpx's exceptions and responses stop in this package (STYLE.md §8): every failure
reaches callers as one of these, with the cause chained. Messages name the service, the
method and the path with participant ids masked, and never a token, a secret or an entry
URL; a server's own message is kept (it names the rule that was broken) but masked too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.errors import ReconcilerError


@dataclass(frozen=True)
class CallInfo:
    """Which call failed, in words that are safe to show."""

    service: str
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.service}: {self.method} {self.path}"


class ApiError(ReconcilerError):
    """A call to Coviu or Auvious failed; nothing is known to have changed unless said."""

    def __init__(self, call: CallInfo, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{call}: {message}")
        self.call = call
        self.status = status
        # Set when an earlier try's answer was lost: the refusal may be of a change the
        # lost try already made (a second DELETE of what the first one cancelled).
        self.after_lost_answer = False


class ApiUnavailableError(ApiError):
    """No usable answer after every allowed attempt: unreachable, timing out, 5xx or 429."""

    def __init__(
        self, call: CallInfo, message: str, *, status: int | None = None, attempts: int
    ) -> None:
        super().__init__(call, message, status=status)
        self.attempts = attempts


class AuthenticationError(ApiError):
    """The service refused the credentials, or a renewed token was refused again."""


class RequestRejectedError(ApiError):
    """The service answered 4xx: it understood the request and refused it (not retried)."""

    def __init__(self, call: CallInfo, message: str, *, status: int, reason: str) -> None:
        super().__init__(call, message, status=status)
        self.reason = reason


class NotFoundError(RequestRejectedError):
    """404: no such object, or one that belongs to another team."""


class SessionCanceledError(RequestRejectedError):
    """Coviu's 401 for a cancelled session: a fact about the session, not the token."""


class UnexpectedResponseError(ApiError):
    """An answer that does not have the documented shape."""


class OutcomeUnknownError(ApiError):
    """A create was sent but its answer was lost: the object may or may not exist.

    It is never retried blindly, so it exists at most once. `lookup` holds what finds it
    (for a session: its name, start and end; for a participant: its session and fields),
    so the caller can look before creating again.
    """

    def __init__(self, call: CallInfo, happened: str, message: str, *, lookup: Any) -> None:
        super().__init__(call, f"{happened}{message}")
        self.lookup = lookup
        self.happened = happened
        """What became of the answer, in words safe to show: `the service answered 500
        (…)` or `the answer was lost (ReadError: …)`."""
