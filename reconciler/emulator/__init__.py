"""A local, faithful stand-in for the Coviu and Auvious APIs (DESIGN.md §8).

It models the outside world, so it imports nothing from the reconciler's planning,
clients or manifests: the two are independent witnesses of the same rules.
"""

from reconciler.emulator.app import (
    DEFAULT_CLIENTS,
    ClientCredentials,
    ConnectionDroppedError,
    make_app,
)

__all__ = ["DEFAULT_CLIENTS", "ClientCredentials", "ConnectionDroppedError", "make_app"]
