"""Records to store: a clinic's sessions, with participants named by the hashes of ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from reconciler.inventory import Inventory
from reconciler.planning.state import (
    DesiredParticipant,
    DesiredSession,
    ParticipantRecord,
    SessionRecord,
)

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SYDNEY = timezone(timedelta(hours=11))


def applied(key: str, *, names: tuple[str, ...] = ("dr-who", "patient")) -> DesiredSession:
    """The spec `key` was last applied from, in the manifest's own offset."""
    start = datetime(2026, 12, 1, 9, 0, tzinfo=SYDNEY)
    return DesiredSession(
        key=key,
        session_name=f"Consultation {key}",
        start=start,
        end=start + timedelta(minutes=30),
        picture="https://example.org/room.png",
        participants=tuple(
            DesiredParticipant(
                name=name,
                display_name=name.title(),
                role="host" if index == 0 else "guest",
                state=f"{name}-state",
            )
            for index, name in enumerate(names)
        ),
        labels={"clinic": "cardiology"},
        source="manifests/cardiology.yaml",
    )


def record(
    inventory: Inventory,
    key: str,
    *,
    session_id: str | None = None,
    participant_ids: dict[str, str] | None = None,
    canceled: bool = False,
    adopted: bool = False,
) -> SessionRecord:
    """A record of `key` as apply would write it: participant ids hashed, never kept."""
    ids = participant_ids if participant_ids is not None else {"dr-who": f"pid-{key}-host"}
    spec = None if adopted else applied(key, names=tuple(ids))
    return SessionRecord(
        key=key,
        session_id=session_id or f"sess-{key}",
        start=datetime(2026, 11, 30, 22, 0, tzinfo=UTC),
        end=datetime(2026, 11, 30, 22, 30, tzinfo=UTC),
        canceled=canceled,
        participants=tuple(
            ParticipantRecord(name=name, id_hash=inventory.hash_id(participant_id))
            for name, participant_id in ids.items()
        ),
        applied=spec,
    )
