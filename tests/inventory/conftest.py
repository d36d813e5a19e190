"""Inventories for the tests: on each backend in turn (`state_location`, from the top
conftest), or on PostgreSQL alone for what only PostgreSQL does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.inventory import Inventory, Location, PostgresLocation, parse_location
from tests.postgres import postgres_url


@pytest.fixture
def created(state_location: Location) -> Location:
    """Where an inventory has been created (and closed again), on each backend in turn."""
    Inventory.open(state_location, create=True).close()
    return state_location


@pytest.fixture
def inventory(created: Location) -> Iterator[Inventory]:
    """A created inventory, open, on each backend in turn."""
    with Inventory.open(created) as inventory:
        yield inventory


@pytest.fixture
def postgres_text() -> Iterator[str]:
    """A fresh PostgreSQL inventory (not created yet) as `--state` takes it: a URL naming
    a schema of its own, dropped afterwards."""
    with postgres_url() as url:
        yield url


@pytest.fixture
def postgres_location(postgres_text: str) -> PostgresLocation:
    """`postgres_text`, parsed."""
    location = parse_location(postgres_text)
    assert isinstance(location, PostgresLocation)
    return location
