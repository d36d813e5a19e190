"""Participant ids are join capabilities (DESIGN.md §9): the inventory keeps their keyed
hashes, never the ids, and never shows its salt."""

from __future__ import annotations

import secrets
from pathlib import Path

from reconciler.inventory import Inventory, Location
from tests.inventory import stores
from tests.inventory.samples import T0, record


def test_participant_ids_are_never_stored_only_their_hashes(state_location: Location) -> None:
    ids = {f"key-{n}": f"pid{secrets.token_hex(12)}" for n in range(3)}
    seen: list[dict[str, bytes]] = []
    with Inventory.open(state_location, create=True) as inventory:
        for key in ("a", "b"):
            with inventory.writing(now=T0) as batch:
                batch.put(record(inventory, key, participant_ids=ids))
            seen.append(stores.footprint(state_location))
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "a", participant_ids=ids, canceled=True))
            batch.forget("b")
        seen.append(stores.footprint(state_location))
        hashes = [inventory.hash_id(participant_id).encode() for participant_id in ids.values()]
    for footprint in seen:
        everything = b"\n".join(footprint.values())
        assert all(hashed in everything for hashed in hashes)  # looking in the right place
        for name, data in footprint.items():
            for participant_id in ids.values():
                assert participant_id.encode() not in data, name


def test_participant_ids_never_reach_sqlites_journal_beside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ids = {f"key-{n}": f"pid{secrets.token_hex(12)}" for n in range(3)}
    with Inventory.open(path, create=True) as inventory:
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "a", participant_ids=ids))
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "a", participant_ids=ids, canceled=True))
            midway = stores.footprint(path)  # mid-transaction: the journal exists now
    assert any(name != "state.db" for name in midway)
    for name, data in midway.items():
        for participant_id in ids.values():
            assert participant_id.encode() not in data, name


def test_the_salt_is_not_in_the_inventorys_repr(inventory: Inventory) -> None:
    assert inventory._salt.hex() not in repr(inventory)
    assert inventory._salt.hex() not in str(inventory)
    assert str(inventory.location) in repr(inventory)
