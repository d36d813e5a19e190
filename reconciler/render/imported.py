"""What `reconciler import` says: what it adopted, what it left alone and why, and what
the next plan does; with `--generate`, each file it wrote.

Participants appear by manifest key and the first characters of their id's keyed hash,
or (those nobody manages) by display name and role: never by id or entry link.
"""

from __future__ import annotations

from reconciler.planning.imports import Generated, Imported
from reconciler.render.plan import as_text
from reconciler.render.state import HASH_SHOWN


def imported(result: Imported, *, colour: bool = False) -> list[str]:
    """The adopted session, each participant's fate, then the next plan of it."""
    target = f"Session/{result.key}"
    if result.already:
        return [
            f"{target} is already recorded for live session {result.session_id}:"
            " nothing to adopt, nothing written"
        ]
    lines = [
        f"adopted {target}: live session {result.session_id}, recorded in the inventory"
        f" {result.state} (status adopted)"
    ]
    lines += [
        f"  participant {participant.name}: adopted (id hash {participant.id_hash[:HASH_SHOWN]})"
        for participant in result.adopted
    ]
    lines += [
        f"  participant {name}: no live participant has that display name and state: the"
        " next plan adds them, with a new entry link"
        for name in result.missing
    ]
    if result.unmanaged:
        people = ", ".join(f"{_name(shown)} ({role})" for shown, role in result.unmanaged)
        lines.append(
            f"  left unmanaged (never touched): {len(result.unmanaged)} live participant(s)"
            f" the manifest does not name: {people}"
        )
    if result.plan is not None:
        lines += ["", f"The next plan, for {target} alone:"]
        lines += as_text(result.plan, where=f"for {target}", colour=colour).splitlines()
    lines += [
        "",
        "Run `reconciler plan` for the whole plan; the next `reconciler apply` records the"
        " manifest as applied.",
    ]
    return lines


def generated(result: Generated) -> list[str]:
    """Each file written, each session left out and why, then a summary."""
    lines: list[str] = []
    for each in result.written:
        lines.append(
            f"wrote {each.path}: Session/{each.key} adopts live session {each.session_id}"
            f" ({each.participants} participant(s))"
        )
        lines += [f"  note: {note}" for note in each.notes]
    for skipped in result.skipped:
        lines.append(
            f"left unmanaged: live session {skipped.session_id}: {skipped.reason}; write"
            f" its manifest by hand, then `reconciler import Session/NAME {skipped.session_id}`"
        )
    if not result.written:
        lines.append(
            "No unmanaged live sessions: every live session that has not finished or been"
            " cancelled is recorded in the inventory; nothing written."
            if not result.skipped
            else "Nothing written: no unmanaged live session can be described as it is."
        )
        return lines
    lines.append(
        f"Adopted {len(result.written)} live session(s) into the inventory {result.state}"
        f" (status adopted); their manifests are in {result.folder}."
    )
    select = ",".join(f"{key}={value}" for key, value in result.labels.items())
    lines.append(
        "Run `reconciler plan`: it shows no changes for them; the next `reconciler apply`"
        " records them as applied."
        + (f" `reconciler plan --selector {select}` selects exactly them." if select else "")
    )
    return lines


def _name(display_name: str | None) -> str:
    return repr(display_name) if display_name else "(no display name)"
