"""Which Coviu and Auvious to talk to, and opening clients to them (DESIGN.md §7).

Three kinds of target: the embedded emulator (no URL configured: it runs in-process on a
SQLite file, reached through httpx's ASGI transport, with its demo credentials), a
served emulator, or the real services (a URL and credentials from the environment).
Both services are configured together: naming one and not the other, or setting
credentials with no URL, is refused rather than quietly mixing production with the
emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from reconciler import __version__
from reconciler.clients.auth import Credentials
from reconciler.clients.auvious import AuviousClient
from reconciler.clients.caller import DEFAULT_TIMEOUT, Caller
from reconciler.clients.coviu import CoviuClient
from reconciler.clients.retry import RetryPolicy
from reconciler.clients.timing import RateLimit, RateLimiter, Timer
from reconciler.errors import InputError

EMBEDDED_ORIGIN = "http://emulator.embedded"
COVIU_ENV = ("COVIU_API_URL", "COVIU_API_KEY", "COVIU_API_SECRET")
AUVIOUS_ENV = ("AUVIOUS_API_URL", "AUVIOUS_CLIENT_ID", "AUVIOUS_CLIENT_SECRET")
COVIU_HINT = "Check COVIU_API_KEY and COVIU_API_SECRET."
AUVIOUS_HINT = "Check AUVIOUS_CLIENT_ID and AUVIOUS_CLIENT_SECRET."


class TargetError(InputError):
    """The API targets are configured in a way that cannot be used."""


@dataclass(frozen=True)
class Urls:
    """Base URLs as one source (flags, environment, reconciler.yaml) gives them."""

    coviu: str | None = None
    auvious: str | None = None


@dataclass(frozen=True)
class Targets:
    """Where both services are; `embedded_db` is set for the in-process emulator."""

    coviu_url: str
    auvious_url: str
    coviu: Credentials
    auvious: Credentials
    embedded_db: Path | None = None
    embedded_clock: datetime | None = field(default=None, compare=False)
    rate_limit: RateLimit = field(default_factory=RateLimit, compare=False)
    """How hard both services may be called (reconciler.yaml `rate_limit`)."""

    def describe(self) -> dict[str, str]:
        """Each service's target, in words safe to show (no credentials)."""
        if self.embedded_db is not None:
            where = f"embedded emulator ({self.embedded_db})"
            return {"coviu": where, "auvious": where}
        return {"coviu": self.coviu_url, "auvious": self.auvious_url}


def choose_targets(
    *,
    flags: Urls,
    environ: Mapping[str, str],
    config: Urls,
    embedded_db: Path,
    embedded_clock: datetime | None = None,
    rate_limit: RateLimit | None = None,
) -> Targets:
    """Pick the targets: flag > environment > reconciler.yaml > the embedded emulator."""
    limit = rate_limit or RateLimit()
    coviu = flags.coviu or environ.get("COVIU_API_URL") or config.coviu
    auvious = flags.auvious or environ.get("AUVIOUS_API_URL") or config.auvious
    if coviu is None and auvious is None:
        _refuse_stray_credentials(environ)
        from reconciler.emulator import DEFAULT_CLIENTS

        demo = DEFAULT_CLIENTS[0]
        credentials = Credentials(demo.key, demo.secret)
        return Targets(
            coviu_url=f"{EMBEDDED_ORIGIN}/v1",
            auvious_url=EMBEDDED_ORIGIN,
            coviu=credentials,
            auvious=credentials,
            embedded_db=embedded_db,
            embedded_clock=embedded_clock,
            rate_limit=limit,
        )
    if coviu is None or auvious is None:
        given, missing = ("Coviu", "Auvious") if auvious is None else ("Auvious", "Coviu")
        raise TargetError(
            f"a {given} URL is configured but no {missing} URL: set both (flags,"
            " COVIU_API_URL and AUVIOUS_API_URL, or reconciler.yaml), or neither to use"
            " the embedded emulator"
        )
    return Targets(
        coviu_url=_checked_url(coviu, "Coviu"),
        auvious_url=_checked_url(auvious, "Auvious"),
        coviu=_credentials(environ, *COVIU_ENV[1:]),
        auvious=_credentials(environ, *AUVIOUS_ENV[1:]),
        rate_limit=limit,
    )


def _refuse_stray_credentials(environ: Mapping[str, str]) -> None:
    stray = [name for name in (*COVIU_ENV[1:], *AUVIOUS_ENV[1:]) if environ.get(name)]
    if stray:
        raise TargetError(
            f"{', '.join(stray)} set but no API URL: set COVIU_API_URL and AUVIOUS_API_URL"
            " (or --coviu-url and --auvious-url), or unset the credentials to use the"
            " embedded emulator"
        )


def _checked_url(url: str, service: str) -> str:
    # Never echo the URL: a mistyped one may still carry a password.
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise TargetError(
            f"the {service} URL must not carry a user name or password: credentials come"
            " from the environment"
        )
    if parts.query or parts.fragment:
        raise TargetError(
            f"the {service} URL must not carry a query or fragment (it is shown in plans"
            " and may hold a token): give the base URL only; credentials come from the"
            " environment"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(
            f"the {service} URL must be http(s)://host/…"
            f" (it starts {parts.scheme + '://' if parts.scheme else 'with no scheme'})"
        )
    return url.rstrip("/")


def _credentials(environ: Mapping[str, str], key: str, secret: str) -> Credentials:
    missing = [name for name in (key, secret) if not environ.get(name)]
    if missing:
        raise TargetError(f"{' and '.join(missing)} must be set in the environment")
    return Credentials(environ[key], environ[secret])


@dataclass(frozen=True)
class Tuning:
    """How hard the clients try: retries, rate limit (None: the targets'), timeouts,
    parallel page fetches."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: RateLimit | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    page_parallelism: int = 4


@dataclass(frozen=True)
class Clients:
    """Open clients of both services."""

    coviu: CoviuClient
    auvious: AuviousClient


@asynccontextmanager
async def connect(
    targets: Targets,
    *,
    tuning: Tuning | None = None,
    timer: Timer | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Clients]:
    """Open clients to `targets` (through `transport`, if given: tests pass one)."""
    tuning = tuning or Tuning()
    timer = timer or Timer()
    store_to_close = None
    if transport is None and targets.embedded_db is not None:
        from reconciler.emulator import make_app

        app = make_app(db=targets.embedded_db, initial_clock=targets.embedded_clock)
        store_to_close = app.state.emulator.store
        transport = httpx.ASGITransport(app=app)
    headers = {"User-Agent": f"reconciler/{__version__}"}
    try:
        async with (
            httpx.AsyncClient(
                base_url=targets.coviu_url, transport=transport, headers=headers
            ) as coviu_http,
            httpx.AsyncClient(
                base_url=targets.auvious_url, transport=transport, headers=headers
            ) as auvious_http,
        ):

            def caller(service: str, http: httpx.AsyncClient, hint: str) -> Caller:
                return Caller(
                    service=service,
                    http=http,
                    policy=tuning.policy,
                    limiter=RateLimiter(tuning.rate_limit or targets.rate_limit, timer),
                    timer=timer,
                    credentials_hint=hint,
                    timeout=tuning.timeout,
                )

            yield Clients(
                coviu=CoviuClient(
                    caller("coviu", coviu_http, COVIU_HINT),
                    targets.coviu,
                    page_parallelism=tuning.page_parallelism,
                ),
                auvious=AuviousClient(
                    caller("auvious", auvious_http, AUVIOUS_HINT),
                    targets.auvious,
                    referer=targets.auvious_url + "/",
                ),
            )
    finally:
        if store_to_close is not None:
            store_to_close.close()
