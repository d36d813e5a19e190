"""The desired state: loaded manifests, selected and normalized for the planner.

Normalizing here, once, is what keeps plans from churning: times at whole seconds (Coviu
keeps no more), empty text as none, roles lower-case. The digest names the desired
state, not the files: reordering documents or files does not change it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict

from reconciler.errors import InputError
from reconciler.manifests import PREVENT_CANCEL, ManifestSet, Session, SnapshotApproval
from reconciler.planning.fingerprint import digest
from reconciler.planning.state import (
    Desired,
    DesiredApproval,
    DesiredParticipant,
    DesiredSession,
    optional_text,
)
from reconciler.planning.times import whole_seconds


class SelectorError(InputError):
    """A --selector that is not `key=value`."""


def parse_selector(texts: Sequence[str]) -> dict[str, str]:
    """`clinic=cardiology,site=parramatta` (or several flags) as a mapping; every pair
    must match for an object to be selected."""
    selector: dict[str, str] = {}
    for text in texts:
        for pair in filter(None, (part.strip() for part in text.split(","))):
            key, equals, value = pair.partition("=")
            if not equals or not key.strip() or "!" in key:
                raise SelectorError(
                    f"--selector {pair!r}: expected key=value, e.g. --selector clinic=cardiology"
                )
            selector[key.strip()] = value.strip()
    return selector


KINDS = ("Session", "SnapshotApproval")


def parse_only(texts: Sequence[str]) -> frozenset[str]:
    """`--only Session/NAME` (repeatable, or comma-separated) as a set of `Kind/name`
    targets; the kind in any case, written back as the manifests spell it."""
    targets: set[str] = set()
    for text in texts:
        for target in filter(None, (part.strip() for part in text.split(","))):
            kind, slash, name = target.partition("/")
            spelled = {known.lower(): known for known in KINDS}.get(kind.strip().lower())
            if not slash or spelled is None or not name.strip() or "/" in name:
                raise SelectorError(
                    f"--only {target!r}: expected Kind/name with Kind one of"
                    f" {', '.join(KINDS)}, e.g. --only Session/cardiology-2026-12-07-0900"
                )
            targets.add(f"{spelled}/{name.strip()}")
    return frozenset(targets)


def scope_of(paths: Sequence[str], *, anchor: str = ".") -> tuple[str, ...]:
    """PATHs as the planner compares them with recorded sources: normalized, relative to
    the project's root `anchor`, wherever the command runs from."""
    return tuple(sorted({normal_path(path, anchor=anchor) for path in paths or ["."]}))


def normal_path(path: str, *, anchor: str = ".") -> str:
    """`path` normalized and relative to `anchor` (`../…` when outside it)."""
    return os.path.normpath(os.path.relpath(os.path.abspath(path), os.path.abspath(anchor)))


def anchor_of(loaded: ManifestSet) -> str:
    """The project's root: the folder of its reconciler.yaml, else the current folder.
    Recorded sources are relative to it, so a run from a subfolder means the same files."""
    return os.path.dirname(loaded.config_path) or "." if loaded.config_path else "."


def desired_state(
    loaded: ManifestSet,
    *,
    paths: Sequence[str] = (),
    selector: Mapping[str, str] | None = None,
    only: frozenset[str] = frozenset(),
) -> Desired:
    """What the manifests ask for, restricted to those whose labels match `selector`
    and, given `only`, to the `Kind/name` targets it names."""
    selector = dict(selector or {})
    anchor = anchor_of(loaded)
    sessions: list[DesiredSession] = []
    approvals: list[DesiredApproval] = []
    sources: dict[str, str] = {}  # a file holds many manifests: normalize its path once
    for item in loaded.manifests:
        labels = item.manifest.metadata.labels
        if any(labels.get(key) != value for key, value in selector.items()):
            continue
        if only and f"{item.manifest.kind}/{item.manifest.metadata.name}" not in only:
            continue
        if isinstance(item.manifest, Session):
            path = item.source.path
            if path not in sources:
                sources[path] = normal_path(path, anchor=anchor)
            sessions.append(_session(item.manifest, sources[path]))
        else:
            approvals.append(_approval(item.manifest))
    sessions.sort(key=lambda session: session.key)
    approvals.sort(key=lambda approval: approval.key)
    return Desired(
        sessions=tuple(sessions),
        approvals=tuple(approvals),
        digest=_digest(sessions, approvals),
        declared=frozenset(
            item.manifest.metadata.name
            for item in loaded.manifests
            if isinstance(item.manifest, Session)
        ),
        scope=scope_of(paths, anchor=anchor),
        selector=selector,
        only=only,
    )


def _session(manifest: Session, source: str) -> DesiredSession:
    spec = manifest.spec
    return DesiredSession(
        key=manifest.metadata.name,
        session_name=spec.session_name,
        start=whole_seconds(spec.start_time),
        end=whole_seconds(spec.end),
        picture=optional_text(spec.picture),
        participants=tuple(
            DesiredParticipant(
                name=participant.name,
                display_name=participant.display_name,
                role=participant.role.lower(),
                picture=optional_text(participant.picture),
                state=optional_text(participant.state),
            )
            for participant in spec.participants
        ),
        labels=dict(sorted(manifest.metadata.labels.items())),
        source=source,
        prevent_cancel=manifest.metadata.annotations.get(PREVENT_CANCEL) == "true",
    )


def _approval(manifest: SnapshotApproval) -> DesiredApproval:
    spec = manifest.spec
    return DesiredApproval(
        key=manifest.metadata.name,
        interaction_id=spec.interaction_id,
        snapshot_id=spec.snapshot_id,
        decision=spec.decision,
        reviewer_endpoint_id=spec.reviewer_endpoint_id,
        snapshot_type=spec.snapshot_type,
        labels=dict(sorted(manifest.metadata.labels.items())),
    )


def _digest(sessions: Sequence[DesiredSession], approvals: Sequence[DesiredApproval]) -> str:
    session_values = [{**session.to_json(), "source": None} for session in sessions]
    approval_values = [asdict(approval) for approval in approvals]
    return digest({"sessions": session_values, "approvals": approval_values})
