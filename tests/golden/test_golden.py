"""Golden plans: real manifests and a recorded live state in, the exact plan out.

Each folder here is one case: `manifests/` (read as `reconciler plan` reads them),
`live.json` (everything else the planner is given: the server's time, the inventory's
records, what the refresh observed) and the expected renderings `plan.txt` and
`plan.json`. Every expected file was checked by hand against DESIGN.md §5-6, not merely
recorded; see README.md for the format and how to rewrite them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.manifests import load
from reconciler.planning import (
    Desired,
    DesiredSession,
    LiveParticipant,
    LiveSession,
    LiveSnapshot,
    Observation,
    ParticipantRecord,
    Plan,
    SessionRecord,
    desired_state,
    make_plan,
)
from reconciler.planning.times import read_instant
from reconciler.render.plan import as_json, as_text

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
UPDATE = os.environ.get("RECONCILER_UPDATE_GOLDEN") == "1"
WHERE = "against https://coviu.test/v1, inventory .reconciler/state.db"
TARGETS = {"coviu": "https://coviu.test/v1", "auvious": "https://auvious.test"}


@dataclass(frozen=True)
class Case:
    """One golden folder, read."""

    name: str
    live: Mapping[str, Any]

    @property
    def folder(self) -> Path:
        return HERE / self.name

    @property
    def manifests(self) -> Path:
        """Relative to the repository root, as a user in the root would name it."""
        return Path("tests", "golden", self.name, "manifests")


def read_case(name: str) -> Case:
    live = json.loads((HERE / name / "live.json").read_text(encoding="utf-8"))
    return Case(name, live)


def case_names() -> list[str]:
    return sorted(
        path.name
        for path in HERE.iterdir()
        if path.is_dir() and not path.name.startswith(("_", "."))
    )


def params() -> list[Any]:
    """Every case folder; those whose `live.json` names a known planner bug are strict
    xfails (their expected files say what the plan SHOULD be)."""
    found = []
    for name in case_names():
        bug = read_case(name).live.get("xfail") if (HERE / name / "live.json").is_file() else None
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        found.append(pytest.param(name, marks=marks, id=name))
    return found


def plan_for(case: Case) -> Plan:
    """The plan `reconciler plan tests/golden/<case>/manifests` makes from `case`."""
    loaded = load([case.manifests])
    selector = dict(case.live.get("selector", {}))
    desired = desired_state(loaded, paths=[str(case.manifests)], selector=selector)
    declared = desired_state(loaded, paths=[str(case.manifests)])
    return make_plan(
        desired,
        [record(item, declared) for item in case.live.get("records", [])],
        observation(case.live),
        now=read_instant(case.live["now"]),
        simulated=bool(case.live.get("simulated", False)),
        inventory_serial=int(case.live.get("inventory_serial", 0)),
    )


def record(value: Mapping[str, Any], declared: Desired) -> SessionRecord:
    """An inventory record. `applied` is absent (an adopted session), `"manifest"` (what
    the manifest of the same key declares now) or a `DesiredSession.to_json()` value."""
    return SessionRecord(
        key=value["key"],
        session_id=value["session_id"],
        start=read_instant(value["start"]),
        end=read_instant(value["end"]),
        canceled=bool(value.get("canceled", False)),
        participants=tuple(
            ParticipantRecord(name=item["name"], id_hash=item["id_hash"])
            for item in value.get("participants", [])
        ),
        applied=applied(value.get("applied"), value["key"], declared),
    )


def applied(value: Any, key: str, declared: Desired) -> DesiredSession | None:
    if value is None:
        return None
    if value == "manifest":
        return next(session for session in declared.sessions if session.key == key)
    return DesiredSession.from_json(value)


def observation(live: Mapping[str, Any]) -> Observation:
    """What the refresh would have read: live sessions (participants named by the hash
    of their id), the ids found cancelled, the unmanaged count, the snapshots."""
    sessions = [session(item) for item in live.get("sessions", [])]
    return Observation(
        sessions={found.session_id: found for found in sessions},
        canceled=frozenset(live.get("canceled", [])),
        unmanaged=int(live.get("unmanaged", 0)),
        snapshots={
            interaction: tuple(
                LiveSnapshot(
                    snapshot_id=item["snapshot_id"],
                    interaction_id=interaction,
                    state=item["state"],
                    type=item.get("type"),
                    version=int(item.get("version", 0)),
                )
                for item in items
            )
            for interaction, items in live.get("snapshots", {}).items()
        },
    )


def session(value: Mapping[str, Any]) -> LiveSession:
    return LiveSession(
        session_id=value["session_id"],
        session_name=value.get("session_name"),
        start=read_instant(value["start_time"]),
        end=read_instant(value["end_time"]),
        picture=value.get("picture"),
        canceled=bool(value.get("canceled", False)),
        participants=tuple(
            LiveParticipant(
                id_hash=item["id_hash"],
                display_name=item.get("display_name"),
                role=item["role"],
                picture=item.get("picture"),
                state=item.get("state"),
                removed=bool(item.get("removed", False)),
            )
            for item in value.get("participants", [])
        ),
    )


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sources are recorded relative to the current folder: run as from the repo root."""
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("name", params())
def test_plan_matches_golden(name: str) -> None:
    case = read_case(name)
    plan = plan_for(case)
    text = as_text(plan, where=WHERE, colour=False)
    document = as_json(plan, targets=TARGETS)
    if UPDATE and not case.live.get("xfail"):
        # A case marked as a known bug keeps its hand-written expectation.
        (case.folder / "plan.txt").write_text(text, encoding="utf-8")
        (case.folder / "plan.json").write_text(document, encoding="utf-8")
    assert text == (case.folder / "plan.txt").read_text(encoding="utf-8")
    assert document == (case.folder / "plan.json").read_text(encoding="utf-8")


def test_every_case_folder_is_complete() -> None:
    """A folder without its inputs or expectations would otherwise be silently skipped."""
    for name in case_names():
        folder = HERE / name
        missing = [
            part
            for part in ("manifests", "live.json", "plan.txt", "plan.json")
            if not (folder / part).exists()
        ]
        assert not missing, f"tests/golden/{name} lacks {', '.join(missing)}"
        assert read_case(name).live.get("about"), (
            f"tests/golden/{name}/live.json: say what it proves"
        )
