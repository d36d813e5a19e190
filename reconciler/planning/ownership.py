"""Which recorded sessions a run is about: one notion of ownership for every command.

A run names manifests by PATHs and `--selector`. The records it is about are those whose
manifest it read and selected, and those it *owns* whose manifest is gone: applied from a
file under one of its PATHs, with recorded labels that match its selector. `plan` cancels
the latter; `drift` reports on both. Sharing the rule keeps the two from disagreeing about
what "this run's sessions" means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.planning.state import Desired, SessionRecord


def owns(desired: Desired, record: SessionRecord) -> bool:
    """Whether `record` came from this run's files: applied from a file under one of the
    PATHs, with labels that match the selector (and named by `--only`, if given). An
    adopted record, never applied, came from no file, so no run owns it this way."""
    applied = record.applied
    if applied is None or applied.source is None:
        return False
    if desired.only and f"Session/{record.key}" not in desired.only:
        return False
    if not any(_under(applied.source, root) for root in desired.scope):
        return False
    return labelled(record, desired.selector)


def labelled(record: SessionRecord, selector: Mapping[str, str]) -> bool:
    """Whether the labels last applied to `record` carry all of `selector` (an adopted
    record has none: it matches only the empty selector)."""
    labels = record.applied.labels if record.applied is not None else {}
    return all(labels.get(key) == value for key, value in selector.items())


def owned_and_removed(desired: Desired, record: SessionRecord) -> bool:
    """Whether this run may cancel `record`: its manifest is gone from every file read,
    and the run owns it."""
    return record.key not in desired.declared and owns(desired, record)


def in_scope(desired: Desired, record: SessionRecord) -> bool:
    """Whether this run is about `record`: its manifest was read and selected, or it is
    owned and its manifest is gone."""
    return record.key in desired.selected or owned_and_removed(desired, record)


def unmatched_selection(desired: Desired, records: Sequence[SessionRecord]) -> tuple[str, ...]:
    """What `--selector` and `--only` asked for that matches nothing: no manifest read,
    and no recorded session this run owns. One message each; empty when all match."""
    selected = {f"Session/{key}" for key in desired.selected}
    selected |= {f"SnapshotApproval/{approval.key}" for approval in desired.approvals}
    selected |= {f"Session/{r.key}" for r in records if owned_and_removed(desired, r)}
    problems = [
        f"--only {target}: no manifest under these PATHs, and no recorded session whose"
        " manifest was removed from them, has that name"
        + (" and matches --selector" if desired.selector else "")
        for target in sorted(desired.only - selected)
    ]
    if desired.selector and not selected:
        shown = ",".join(f"{key}={value}" for key, value in desired.selector.items())
        problems.append(
            f"--selector {shown}: matches no manifest under these PATHs, and no recorded"
            " session whose manifest was removed from them"
        )
    return tuple(problems)


def _under(path: str, root: str) -> bool:
    """Whether `path` lies in `root`; both relative to the project's root. A path outside
    the project (`../…`) lies in no root: this run cannot know it owns it."""
    if path == ".." or path.startswith(("../", "/")):
        return False
    return root == "." or path == root or path.startswith(root.rstrip("/") + "/")
