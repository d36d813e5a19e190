"""Elapsed time for the clients (token half-lives, backoff, rate limits), injectable.

This is a monotonic clock and a sleep, not the wall clock: nothing here decides what a
plan may do. Tests pass a `ManualTimer` whose sleep returns at once and moves its clock,
so a test of a 30-second `Retry-After` takes no time at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timer:
    """A monotonic clock in seconds and a way to wait."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class ManualTimer:
    """A clock that moves only when someone sleeps or calls `advance`; for tests."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def timer(self) -> Timer:
        """This clock as a `Timer` for a client."""
        return Timer(monotonic=self.monotonic, sleep=self.sleep)


# Waits shorter than this count as none: a float clock at a large value does not move
# by 1e-15, and waiting for it to would never end.
_CLOSE_ENOUGH = 1e-6


@dataclass(frozen=True)
class RateLimit:
    """At most `per_second` calls a second on average, `burst` at once, `in_flight` open."""

    per_second: float = 10.0
    burst: int = 10
    in_flight: int = 8

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1 or self.in_flight < 1:
            raise ValueError("a rate limit needs per_second > 0, burst >= 1, in_flight >= 1")


class RateLimiter:
    """A token bucket and a cap on open calls, shared by every concurrent call to a service.

    A 429 pauses every caller, not just the one that met it: `hold_off` moves the earliest
    time any call may start.
    """

    def __init__(self, limit: RateLimit, timer: Timer) -> None:
        self.limit = limit
        self._timer = timer
        self._tokens = float(limit.burst)
        self._stamp = timer.monotonic()
        self._not_before = self._stamp
        self._lock = asyncio.Lock()
        self._open = asyncio.Semaphore(limit.in_flight)

    async def __aenter__(self) -> None:
        await self._open.acquire()
        try:
            await self._take()
        except BaseException:
            self._open.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._open.release()

    async def _take(self) -> None:
        # The lock makes waiters queue in order, so none starves.
        async with self._lock:
            while True:
                now = self._timer.monotonic()
                wait = self._not_before - now
                if wait <= _CLOSE_ENOUGH:
                    self._refill(now)
                    wait = (1 - self._tokens) / self.limit.per_second
                    if wait <= _CLOSE_ENOUGH:
                        self._tokens -= 1
                        return
                await self._timer.sleep(wait)

    def _refill(self, now: float) -> None:
        elapsed = max(now - self._stamp, 0.0)
        self._tokens = min(self.limit.burst, self._tokens + elapsed * self.limit.per_second)
        self._stamp = now

    def hold_off(self, seconds: float) -> None:
        """Let no call start for `seconds` from now (the service said it is overloaded)."""
        self._not_before = max(self._not_before, self._timer.monotonic() + seconds)
