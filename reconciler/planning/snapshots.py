"""Plan snapshot-review decisions from the snapshots of each named interaction.

Auvious keeps a snapshot's decision in its state: UPLOADED (undecided), APPROVED (may be
approved again, to change its type) or DISCARDED (final). A snapshot requested but
without its image yet has no state, and cannot be decided until the image arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.planning import fingerprint
from reconciler.planning.plan import Change, Item, Kind, Status
from reconciler.planning.state import DesiredApproval, LiveSnapshot

DECIDABLE = ("UPLOADED", "APPROVED")


def decide(
    approval: DesiredApproval, snapshots: Mapping[str, tuple[LiveSnapshot, ...]]
) -> Item | None:
    """The item for one SnapshotApproval, or None when the snapshot is already so."""
    kind = Kind.APPROVE_SNAPSHOT if approval.decision == "approved" else Kind.DISCARD_SNAPSHOT
    target = f"SnapshotApproval/{approval.key}"
    found = next(
        (
            snapshot
            for snapshot in snapshots.get(approval.interaction_id, ())
            if snapshot.snapshot_id == approval.snapshot_id
        ),
        None,
    )
    if found is None:
        return Item(
            status=Status.UNRECONCILABLE,
            kind=kind,
            target=target,
            reason=f"interaction {approval.interaction_id} has no snapshot {approval.snapshot_id}",
            snapshot_id=approval.snapshot_id,
            hint="check interaction_id and snapshot_id against the Auvious console",
            never=True,
        )
    changes = _changes(approval, found)
    if not changes:
        return None
    action = Item(
        status=Status.ACTION,
        kind=kind,
        target=target,
        reason=f"{kind.verb} the snapshot",
        changes=changes,
        snapshot_id=found.snapshot_id,
        fingerprint=fingerprint.of_snapshot(found),
        payload=_payload(approval),
    )
    if found.state in DECIDABLE:
        return action
    if found.state == "DISCARDED":
        return replace(
            action,
            status=Status.UNRECONCILABLE,
            reason="the snapshot was discarded, and a discard is final",
            hint="set decision: discarded, or delete the manifest",
            never=True,
            payload=None,
        )
    return replace(
        action,
        status=Status.BLOCKED,
        reason="the snapshot has no image yet",
        hint="it can be decided once its image is uploaded",
        payload=None,
    )


def conflict(approval: DesiredApproval) -> Item:
    """Two SnapshotApprovals decide one snapshot differently: neither is planned."""
    kind = Kind.APPROVE_SNAPSHOT if approval.decision == "approved" else Kind.DISCARD_SNAPSHOT
    return Item(
        status=Status.UNRECONCILABLE,
        kind=kind,
        target=f"SnapshotApproval/{approval.key}",
        reason=f"another SnapshotApproval decides snapshot {approval.snapshot_id} differently",
        snapshot_id=approval.snapshot_id,
        hint="keep one decision per snapshot: delete the other manifest",
        never=True,
    )


def _changes(approval: DesiredApproval, found: LiveSnapshot) -> tuple[Change, ...]:
    wanted = approval.decision.upper()
    changes = []
    if found.state != wanted:
        changes.append(Change("state", found.state, wanted))
    wants_type = approval.decision == "approved" and approval.snapshot_type is not None
    if wants_type and found.type != approval.snapshot_type:
        changes.append(Change("type", found.type, approval.snapshot_type))
    return tuple(changes)


def _payload(approval: DesiredApproval) -> dict[str, str | None]:
    payload: dict[str, str | None] = {"user_endpoint_id": approval.reviewer_endpoint_id}
    if approval.decision == "approved":
        payload["snapshot_type"] = approval.snapshot_type
    return payload
