"""Participant ids are join capabilities (DESIGN.md §9): the inventory keeps their keyed
hashes, never the ids, and never shows its salt."""

from __future__ import annotations

import secrets
from pathlib import Path

from reconciler.inventory import Inventory
from tests.inventory.samples import T0, record


def _files_of(path: Path) -> dict[str, bytes]:
    """The database and whatever journal SQLite keeps beside it."""
    return {
        candidate.name: candidate.read_bytes()
        for candidate in path.parent.iterdir()
        if candidate.name.startswith(path.name)
    }


def test_participant_ids_never_reach_the_file_or_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ids = {f"key-{n}": f"pid{secrets.token_hex(12)}" for n in range(3)}
    seen: list[dict[str, bytes]] = []
    with Inventory.open(path, create=True) as inventory:
        for key in ("a", "b"):
            with inventory.writing(now=T0) as batch:
                batch.put(record(inventory, key, participant_ids=ids))
        with inventory.writing(now=T0) as batch:
            batch.put(record(inventory, "a", participant_ids=ids, canceled=True))
            seen.append(_files_of(path))  # mid-transaction: the journal exists now
            batch.forget("b")
    seen.append(_files_of(path))
    assert any(name != "state.db" for files in seen for name in files)
    for files in seen:
        for name, data in files.items():
            for participant_id in ids.values():
                assert participant_id.encode() not in data, name


def test_the_salt_is_not_in_the_inventorys_repr(tmp_path: Path) -> None:
    with Inventory.open(tmp_path / "state.db", create=True) as inventory:
        assert inventory._salt.hex() not in repr(inventory)
