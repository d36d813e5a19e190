"""A local, faithful stand-in for the Coviu and Auvious APIs (DESIGN.md §8).

It models the outside world, so it imports nothing from the reconciler's planning,
clients or manifests: the two are independent witnesses of the same rules.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.emulator.app import (
        DEFAULT_CLIENTS,
        ClientCredentials,
        ConnectionDroppedError,
        make_app,
    )

__all__ = ["DEFAULT_CLIENTS", "ClientCredentials", "ConnectionDroppedError", "make_app"]


def __getattr__(name: str) -> Any:
    # The app (starlette, httpx) loads on first use, not whenever a light part of the
    # emulator is imported: `reconciler.emulator.times` must not cost every command.
    if name in __all__:
        from reconciler.emulator import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
