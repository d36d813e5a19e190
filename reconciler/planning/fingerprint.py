"""Fingerprints of live objects: what a plan's action was computed from.

The applier re-reads an object right before acting on it and compares fingerprints: an
object that changed since the plan was made is skipped and reported, not overwritten.
A fingerprint is a digest of the normalized object, so it names no secret.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from reconciler.planning.state import LiveParticipant, LiveSession, LiveSnapshot
from reconciler.planning.times import write_instant


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value` (instants in UTC), as `sha256:<hex>`."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_instant)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def of_session(session: LiveSession) -> str:
    """The session's own fields and status (not its participants: each has its own)."""
    return digest(
        {**session.fields(), "session_id": session.session_id, "canceled": session.canceled}
    )


def of_participant(participant: LiveParticipant) -> str:
    return digest(
        {**participant.fields(), "id": participant.id_hash, "removed": participant.removed}
    )


def of_snapshot(snapshot: LiveSnapshot) -> str:
    return digest(
        {
            "id": snapshot.snapshot_id,
            "state": snapshot.state,
            "type": snapshot.type,
            "version": snapshot.version,
        }
    )


def _instant(value: object) -> str:
    if isinstance(value, datetime):
        return write_instant(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")
