"""When a failed call may be tried again, and how long to wait first.

A call is retried only when trying again cannot do harm: reads and updates that set
values (GET, PUT, DELETE, and Auvious writes, which carry a transaction id) after a lost
connection, a timeout, a 5xx or a 429; any call, creates included, when the request
provably never reached the service (the connection was refused) or the service said it
did not handle it (429, 503). A create whose answer was lost is never retried.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from reconciler.clients.times import ApiTimeError, parse_api_time

# The service says it did not handle the request: safe to send again, even a create.
NOT_HANDLED = frozenset({429, 503})
# 500, 502, 504…: it may or may not have handled it.
MAYBE_HANDLED_FROM = 500


class Failure(enum.Enum):
    """How a try failed, as far as retrying is concerned."""

    NOT_SENT = "the request never reached the service"
    NOT_HANDLED = "the service did not handle the request"
    UNKNOWN = "the request may have been handled"


def classify_exception(error: httpx.RequestError) -> Failure:
    """Whether a failed request happened before it could reach the service (a garbled
    answer, `DecodingError`, is one the service did send)."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.NOT_SENT
    return Failure.UNKNOWN


def classify_status(status: int) -> Failure | None:
    """A status worth another try (429, 5xx), and what it says; None for any other."""
    if status in NOT_HANDLED:
        return Failure.NOT_HANDLED
    if status >= MAYBE_HANDLED_FROM:
        return Failure.UNKNOWN
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    `attempts` counts every try, the first included. The wait before try n+1 is between
    half and all of `base_delay * 2**n`, capped at `max_delay`; a `Retry-After` longer
    than the backoff is honoured, up to `max_retry_after` (beyond it the call gives up
    rather than hang a run).
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("a retry policy needs attempts >= 1 and 0 <= base <= max delay")

    def backoff(self, tries: int) -> float:
        """Seconds to wait after `tries` failed tries (1 after the first)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (tries - 1))
        jitter: float = self.rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the service asked to wait (`Retry-After`: seconds or an HTTP date)."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        until = parse_api_time(raw)
        now = _server_date(response)
    except ApiTimeError:
        return None
    return max((until - now).total_seconds(), 0.0)


def _server_date(response: httpx.Response) -> datetime:
    # Against the server's own clock: ours may be skewed (and the emulator's is moved).
    return parse_api_time(response.headers.get("date", ""))
