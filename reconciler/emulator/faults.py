"""Deterministic fault injection: the real world's 503s, 429s, slow answers and lost answers.

Every API request draws the same three numbers from one seeded generator, whichever
faults are on, so a given seed and a given sequence of requests always meet the same
faults. `drop_after_commit_rate` applies to writes only: the write is carried out and
committed, then the connection is dropped without an answer, which is what makes a
create's outcome unknown to the client.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class FaultConfigError(ValueError):
    """A fault setting is out of range or unknown."""


@dataclass(frozen=True)
class FaultConfig:
    """The fault settings, as posted to `/_emulator/faults`."""

    error_rate: float = 0.0
    status: int = 503
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_after_commit_rate: float = 0.0
    latency_ms: int = 0
    seed: int = 0
    methods: tuple[str, ...] = ()
    path_prefix: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultConfig:
        """Validate a JSON body into settings."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {', '.join(unknown)}")
        values = dict(body)
        if "methods" in values:
            methods = values["methods"]
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise FaultConfigError("methods must be a list of HTTP method names")
            values["methods"] = tuple(m.upper() for m in methods)
        try:
            config = cls(**values)
        except TypeError as error:
            raise FaultConfigError(str(error)) from error
        config._check()
        return config

    def _check(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "drop_after_commit_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise FaultConfigError(f"{name} must be a number from 0 to 1")
        for name, low, high in (("status", 400, 599), ("latency_ms", 0, 60_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise FaultConfigError(f"{name} must be an integer from {low} to {high}")
        retry_after = self.retry_after
        if isinstance(retry_after, bool) or not isinstance(retry_after, int):
            raise FaultConfigError("retry_after must be an integer number of seconds")
        if not 0 <= retry_after <= 3600:
            raise FaultConfigError("retry_after must be from 0 to 3600 seconds")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise FaultConfigError("seed must be an integer")
        if not isinstance(self.path_prefix, str):
            raise FaultConfigError("path_prefix must be a string")

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON."""
        body = asdict(self)
        body["methods"] = list(self.methods)
        return body


@dataclass(frozen=True)
class Decision:
    """What happens to one request."""

    latency_ms: int = 0
    rate_limited: bool = False
    error_status: int | None = None
    drop_after_commit: bool = False


@dataclass
class FaultInjector:
    """Holds the settings and the seeded generator; decides each request's fate."""

    config: FaultConfig = field(default_factory=FaultConfig)
    _random: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings and restart the generator from the seed."""
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)  # noqa: S311 - reproducible by design

    def decide(self, method: str, path: str) -> Decision:
        """Draw this request's faults."""
        config = self.config
        if config.methods and method not in config.methods:
            return Decision()
        if not path.startswith(config.path_prefix):
            return Decision()
        with self._lock:
            rate, error, drop = (self._random.random() for _ in range(3))
        return Decision(
            latency_ms=config.latency_ms,
            rate_limited=rate < config.rate_limit_rate,
            error_status=config.status if error < config.error_rate else None,
            drop_after_commit=method in WRITE_METHODS and drop < config.drop_after_commit_rate,
        )
