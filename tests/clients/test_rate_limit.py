"""The pacing and retry arithmetic, alone: the rate limiter on a ManualTimer, backoff
bounds, `Retry-After` in both of its forms, and which failures are worth another try."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from reconciler.clients import ManualTimer, RateLimit, RetryPolicy, Timer
from reconciler.clients.retry import (
    Failure,
    classify_exception,
    classify_status,
    retry_after,
)
from reconciler.clients.timing import RateLimiter

pytestmark = pytest.mark.anyio

SERVER_DATE = "Mon, 30 Nov 2026 08:00:00 GMT"  # far from the wall clock, on purpose


class BoundedTimer(ManualTimer):
    """A ManualTimer that fails a test whose waiting would never end."""

    async def sleep(self, seconds: float) -> None:
        if len(self.slept) >= 1000:
            raise AssertionError(f"still waiting after 1000 sleeps (the last {seconds!r} s)")
        await super().sleep(seconds)


def limiter(timer: ManualTimer, *, per_second: float, burst: int, in_flight: int) -> RateLimiter:
    return RateLimiter(RateLimit(per_second, burst, in_flight), timer.timer())


async def settle() -> None:
    """Let every other task run until it waits."""
    for _ in range(20):
        await asyncio.sleep(0)


async def enter_at(limiter: RateLimiter, timer: ManualTimer, count: int) -> list[float]:
    """Enter and leave the limiter `count` times in a row; when each entry was let in."""
    started = []
    for _ in range(count):
        async with limiter:
            started.append(timer.now)
    return started


# The rate limiter


async def test_burst_passes_at_once_then_calls_are_paced_at_per_second() -> None:
    timer = ManualTimer()
    paced = limiter(timer, per_second=4, burst=3, in_flight=10)
    started = await enter_at(paced, timer, 6)

    assert started[:3] == [0, 0, 0]
    assert started[3:] == pytest.approx([0.25, 0.5, 0.75])
    assert timer.slept == pytest.approx([0.25, 0.25, 0.25])


async def test_idle_time_refills_the_burst_but_no_more() -> None:
    timer = ManualTimer()
    paced = limiter(timer, per_second=2, burst=3, in_flight=10)
    await enter_at(paced, timer, 3)
    timer.advance(60)  # long enough for 120 calls' worth: the bucket holds 3
    timer.slept.clear()
    started = await enter_at(paced, timer, 4)

    assert started[:3] == [60, 60, 60]
    assert started[3] == pytest.approx(60.5)
    assert timer.slept == pytest.approx([0.5])


@pytest.mark.parametrize(
    ("start", "per_second"), [(0.0, 10), (0.1, 3), (5.0, 50), (1000.0, 7), (1e9 + 0.1, 50)]
)
async def test_pacing_never_stalls_on_float_rounding(start: float, per_second: int) -> None:
    # A refill can come to 0.9999999999999998 of a call; the wait for the rest is too
    # small to move a float clock, so waiting for it exactly would never end.
    timer = BoundedTimer(now=start)
    paced = limiter(timer, per_second=per_second, burst=1, in_flight=10)
    started = await enter_at(paced, timer, 50)

    assert len(started) == 50
    assert started[-1] - started[0] == pytest.approx(49 / per_second, rel=1e-3)
    assert len(timer.slept) <= 2 * 49


async def test_in_flight_caps_calls_open_at_once() -> None:
    timer = ManualTimer()
    capped = limiter(timer, per_second=1000, burst=100, in_flight=3)
    open_now = peak = 0
    done = 0

    async def call() -> None:
        nonlocal open_now, peak, done
        async with capped:
            open_now += 1
            peak = max(peak, open_now)
            for _ in range(5):
                await asyncio.sleep(0)  # let the other callers try to get in
            open_now -= 1
        done += 1

    await asyncio.gather(*(call() for _ in range(10)))
    assert done == 10
    assert peak == 3


async def test_a_cancelled_wait_gives_its_in_flight_place_back() -> None:
    clock = ManualTimer()
    gate = asyncio.Event()

    async def sleep_until_the_gate_opens(seconds: float) -> None:
        await gate.wait()
        clock.advance(seconds)

    capped = RateLimiter(
        RateLimit(per_second=1000, burst=100, in_flight=1),
        Timer(monotonic=clock.monotonic, sleep=sleep_until_the_gate_opens),
    )
    capped.hold_off(10)

    async def enter() -> None:
        async with capped:
            pass

    waiting = asyncio.create_task(enter())
    await settle()
    assert not waiting.done()  # held off
    waiting.cancel()
    await settle()
    assert waiting.cancelled()

    gate.set()
    after = asyncio.create_task(enter())
    await settle()
    assert after.done()  # not blocked by a place the cancelled wait kept
    await after
    assert clock.now == 10


async def test_hold_off_pauses_every_caller() -> None:
    timer = ManualTimer()
    held = limiter(timer, per_second=1000, burst=100, in_flight=10)
    await enter_at(held, timer, 1)
    held.hold_off(5)
    held.hold_off(2)  # a shorter hold-off does not shorten the longer one
    started: list[float] = []

    async def call() -> None:
        async with held:
            started.append(timer.now)

    await asyncio.gather(*(call() for _ in range(4)))
    assert len(started) == 4
    assert min(started) >= 5
    assert sum(timer.slept) == pytest.approx(5, abs=0.01)  # waited together, not in turn


async def test_hold_off_is_from_now_and_ends() -> None:
    timer = ManualTimer(now=100)
    held = limiter(timer, per_second=1000, burst=100, in_flight=10)
    held.hold_off(3)
    assert await enter_at(held, timer, 1) == [103]
    timer.slept.clear()
    assert await enter_at(held, timer, 1) == [103]
    assert timer.slept == []


def test_rate_limit_refuses_nonsense() -> None:
    for bad in ({"per_second": 0}, {"burst": 0}, {"in_flight": 0}):
        with pytest.raises(ValueError, match="rate limit"):
            RateLimit(**bad)


# Backoff


class Extreme(random.Random):
    """A generator that always draws the low or the high end."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


@pytest.mark.parametrize("high", [False, True])
def test_backoff_spans_half_to_all_of_the_doubling_ceiling_capped(high: bool) -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=5.0, rng=Extreme(high))
    ceilings = [0.5, 1, 2, 4, 5, 5, 5]
    expected = ceilings if high else [c / 2 for c in ceilings]
    assert [policy.backoff(tries) for tries in range(1, 8)] == expected


def test_backoff_is_jittered_within_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, rng=random.Random(11))
    for tries in range(1, 7):
        ceiling = min(8.0, 2.0 ** (tries - 1))
        waits = [policy.backoff(tries) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert max(waits) - min(waits) > ceiling / 4  # spread out, not one fixed value


def test_retry_policy_refuses_nonsense() -> None:
    for bad in ({"attempts": 0}, {"base_delay": -1}, {"base_delay": 5, "max_delay": 1}):
        with pytest.raises(ValueError, match="retry policy"):
            RetryPolicy(**bad)  # type: ignore[arg-type]


# Retry-After


def answer(status: int = 429, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={k.replace("_", "-"): v for k, v in headers.items()})


@pytest.mark.parametrize(("header", "seconds"), [("0", 0.0), ("1", 1.0), ("120", 120.0)])
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert retry_after(answer(retry_after=header, date=SERVER_DATE)) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("Mon, 30 Nov 2026 08:00:30 GMT", 30.0),
        ("Mon, 30 Nov 2026 08:02:00 GMT", 120.0),
        ("Mon, 30 Nov 2026 07:59:00 GMT", 0.0),  # already past: no wait
    ],
)
def test_retry_after_as_an_http_date_counts_from_the_server_date(
    header: str, seconds: float
) -> None:
    assert retry_after(answer(retry_after=header, date=SERVER_DATE)) == seconds


@pytest.mark.parametrize("header", ["", "soon", "-5", "1.5e9", "Mon, 30 Nov 2026 08:00:30"])
def test_retry_after_that_cannot_be_read_is_none(header: str) -> None:
    assert retry_after(answer(retry_after=header, date=SERVER_DATE)) is None


def test_no_retry_after_is_none() -> None:
    assert retry_after(answer(date=SERVER_DATE)) is None


# Which failures are retried


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (429, Failure.NOT_HANDLED),
        (503, Failure.NOT_HANDLED),
        (500, Failure.UNKNOWN),
        (502, Failure.UNKNOWN),
        (504, Failure.UNKNOWN),
        (200, None),
        (204, None),
        (400, None),
        (401, None),
        (403, None),
        (404, None),
        (409, None),
    ],
)
def test_classify_status(status: int, failure: Failure | None) -> None:
    assert classify_status(status) is failure


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (httpx.ConnectError("refused"), Failure.NOT_SENT),
        (httpx.ConnectTimeout("slow to connect"), Failure.NOT_SENT),
        (httpx.PoolTimeout("no connection free"), Failure.NOT_SENT),
        (httpx.ReadTimeout("slow to answer"), Failure.UNKNOWN),
        (httpx.ReadError("reset"), Failure.UNKNOWN),
        (httpx.WriteError("broken pipe"), Failure.UNKNOWN),
        (httpx.RemoteProtocolError("closed mid-answer"), Failure.UNKNOWN),
    ],
)
def test_classify_exception(error: httpx.TransportError, failure: Failure) -> None:
    assert classify_exception(error) is failure
