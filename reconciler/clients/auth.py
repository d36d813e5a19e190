"""OAuth2 tokens for both services: fetched on first use, renewed at half-life, and once
more when a service says the token is no longer good.

Coviu authenticates the client with HTTP Basic and hands out a refresh token; renewal
uses it and falls back to a fresh client-credentials grant if it is refused. Auvious
takes the credentials in the form and has no refresh token, so renewal is a new grant.
Concurrent callers share one renewal: the lock is held while a token is fetched.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import SecretStr

from reconciler.clients.errors import AuthenticationError, RequestRejectedError
from reconciler.clients.models import Grant

if TYPE_CHECKING:
    from reconciler.clients.caller import Caller
    from reconciler.clients.timing import Timer


@dataclass(frozen=True)
class Credentials:
    """A client id (Coviu's API key) and its secret."""

    client_id: str
    secret: str = field(repr=False)


class TokenSource:
    """Holds one service's access token and renews it."""

    def __init__(self, caller: Caller, credentials: Credentials, timer: Timer) -> None:
        self._caller = caller
        self._credentials = credentials
        self._timer = timer
        self._lock = asyncio.Lock()
        self._access: SecretStr | None = None
        self._refresh: SecretStr | None = None
        self._renew_at = 0.0
        self.grants = 0

    def secrets(self) -> tuple[str, ...]:
        """Every credential this source holds, for masking."""
        held = (self._credentials.secret, self._access, self._refresh)
        return tuple(s.get_secret_value() if isinstance(s, SecretStr) else s for s in held if s)

    async def token(self) -> str:
        """A token to send: the current one, unless it is past its half-life."""
        if self._access is None or self._timer.monotonic() >= self._renew_at:
            async with self._lock:
                if self._access is None or self._timer.monotonic() >= self._renew_at:
                    await self._renew()
        assert self._access is not None
        return self._access.get_secret_value()

    async def renew(self, refused: str) -> None:
        """Replace a token the service refused, unless a concurrent call already did."""
        async with self._lock:
            if self._access is None or self._access.get_secret_value() == refused:
                await self._renew()

    async def _renew(self) -> None:
        grant = None
        if self._refresh is not None:
            try:
                grant = await self._refresh_grant(self._refresh.get_secret_value())
            except (AuthenticationError, RequestRejectedError):
                grant = None  # used, expired or revoked: start again from the credentials
        if grant is None:
            grant = await self._client_credentials_grant()
        self._access = grant.access_token
        self._refresh = grant.refresh_token
        self._renew_at = self._timer.monotonic() + grant.expires_in / 2
        self.grants += 1

    async def _client_credentials_grant(self) -> Grant:
        raise NotImplementedError

    async def _refresh_grant(self, refresh_token: str) -> Grant | None:
        return None


class CoviuTokens(TokenSource):
    """Coviu: `POST /auth/token` with Basic client authentication."""

    def _basic(self) -> dict[str, str]:
        pair = f"{self._credentials.client_id}:{self._credentials.secret}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}

    async def _client_credentials_grant(self) -> Grant:
        return await self._grant({"grant_type": "client_credentials"})

    async def _refresh_grant(self, refresh_token: str) -> Grant | None:
        return await self._grant({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _grant(self, form: dict[str, str]) -> Grant:
        return await self._caller.token_grant(
            "/auth/token", form=form, headers=self._basic(), secrets=self.secrets()
        )


class AuviousTokens(TokenSource):
    """Auvious: `POST /security/oauth/token` with the credentials in the form."""

    async def _client_credentials_grant(self) -> Grant:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.secret,
        }
        return await self._caller.token_grant(
            "/security/oauth/token", form=form, headers={}, secrets=self.secrets()
        )
