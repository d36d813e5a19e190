"""Clients of both APIs, connected in-process to the test's emulator (tests/conftest.py).

The clients run on a `ManualTimer`: backoff, `Retry-After` and rate-limit waits return at
once and are recorded in `timer.slept`, so no test waits on the wall clock. Token expiry
is driven by moving the emulator's clock (the server decides a token is stale) or the
manual timer (the client decides it is past its half-life).
"""

from __future__ import annotations

# tests/planning/test_differential.py imports TARGETS from here.
from tests.conftest import TARGETS as TARGETS
