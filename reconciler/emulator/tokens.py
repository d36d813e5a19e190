"""Access and refresh tokens, shaped like the vendors' so their SDKs accept them.

Coviu's JavaScript SDK decodes the access token as a JWT without checking the signature
and reads its `userId` claim, so access tokens are `header.payload.signature` with an
HMAC-SHA256 signature under the database's signing key. Refresh tokens are opaque,
single-use and stored only as a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.emulator.store import Client, Store, sha256_hex
from reconciler.emulator.times import to_millis

REFRESH_TOKEN_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class Grant:
    """What a token endpoint hands out."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str | None = field(repr=False)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Mints and checks tokens against the emulator's clock."""

    def __init__(self, store: Store, *, ttl_seconds: int) -> None:
        self._store = store
        self.ttl_seconds = ttl_seconds

    def _sign(self, message: bytes) -> bytes:
        key = self._store.meta("signing_key").encode()
        return hmac.new(key, message, hashlib.sha256).digest()

    def grant(self, client: Client, *, audience: str, now: datetime, refresh: bool) -> Grant:
        """Issue an access token (and, for Coviu, a refresh token) to a client."""
        issued = int(to_millis(now) // 1000)
        claims = {
            "iss": "reconciler-emulator",
            "aud": audience,
            "sub": client.api_key,
            "userId": client.user_id,
            "teamId": client.team_id,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": secrets.token_hex(8),
        }
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64url(self._sign(f"{header}.{payload}".encode()))
        refresh_token = self._new_refresh_token(client, now) if refresh else None
        return Grant(f"{header}.{payload}.{signature}", self.ttl_seconds, refresh_token)

    def verify(self, token: str, *, audience: str, now: datetime) -> Client | None:
        """The client a valid, unexpired token was issued to, or None."""
        claims = self._claims(token)
        if claims is None or claims.get("aud") != audience:
            return None
        if not isinstance(claims.get("exp"), int) or claims["exp"] * 1000 <= to_millis(now):
            return None
        client = self._store.client(str(claims.get("sub")))
        if client is None or client.team_id != claims.get("teamId"):
            return None
        return client

    def _claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, payload, signature = parts
        # Compared as text, not decoded: base64 decoding ignores the last character's spare
        # bits (and stray characters), so other spellings of the signature would pass too.
        expected = _b64url(self._sign(f"{header}.{payload}".encode()))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        try:
            claims = json.loads(_unb64url(payload))
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def _new_refresh_token(self, client: Client, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        self._store.execute(
            "INSERT INTO refresh_tokens (token_sha256, api_key, expires_ms) VALUES (?, ?, ?)",
            (sha256_hex(token), client.api_key, to_millis(now + REFRESH_TOKEN_LIFETIME)),
        )
        return token

    def redeem_refresh_token(self, token: str, client: Client, *, now: datetime) -> bool:
        """Use up a refresh token issued to this client; False if unknown, used or expired."""
        digest = sha256_hex(token)
        found = self._store.row(
            "SELECT api_key, expires_ms FROM refresh_tokens WHERE token_sha256 = ?", (digest,)
        )
        if found is None or found["api_key"] != client.api_key:
            return False
        self._store.execute("DELETE FROM refresh_tokens WHERE token_sha256 = ?", (digest,))
        return bool(found["expires_ms"] > to_millis(now))
