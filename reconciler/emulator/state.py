"""The emulator's process-wide state: its store, its token issuer and its fault settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.store import Store
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
