"""The emulator's process-wide state: its store, its token issuer and its fault settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.http import ApiError, bearer_token
from reconciler.emulator.store import Client, Store
from reconciler.emulator.tokens import TokenIssuer

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Emulator:
    """Everything a request handler needs, hung on `app.state.emulator`."""

    store: Store
    tokens: TokenIssuer
    web_origin: str
    faults: FaultInjector = field(default_factory=FaultInjector)


def emulator_of(request: Request) -> Emulator:
    """The emulator serving this request."""
    emulator: Emulator = request.app.state.emulator
    return emulator


def caller(request: Request, emulator: Emulator, *, audience: str) -> Client:
    """The client whose valid Bearer token for this API came with the request; 401 if none.

    Only this 401 carries the token challenge header, so clients can tell it apart from
    Coviu's 401 for a cancelled session.
    """
    token = bearer_token(request)
    client = None
    if token is not None:
        client = emulator.tokens.verify(token, audience=audience, now=emulator.store.now())
    if client is None:
        raise ApiError(
            401,
            "access token is missing, invalid or expired",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return client
