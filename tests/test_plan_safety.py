"""What keeps a plan from harming a clinic's day, found in review: which recorded sessions
a run may cancel (wherever it runs from), where the inventory is, a serial that names
exactly the records used, conflicting snapshot decisions, and errors that stay errors."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from click.testing import CliRunner

from reconciler import engine
from reconciler.cli import main
from reconciler.clients import ApiUnavailableError, Clients
from reconciler.clients.errors import CallInfo
from reconciler.inventory import Inventory, InventoryError, PostgresLocation
from reconciler.manifests import load
from reconciler.planning import (
    Desired,
    DesiredApproval,
    DesiredSession,
    Kind,
    LiveSession,
    LiveSnapshot,
    Observation,
    SessionRecord,
    desired_state,
    make_plan,
)
from reconciler.refresh import observe

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = NOW + timedelta(days=1)


def manifest(name: str) -> str:
    return f"""apiVersion: reconciler/v1
kind: Session
metadata: {{name: {name}}}
spec:
  session_name: {name}
  start_time: {START.isoformat()}
  duration: 30m
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with reconciler.yaml at its root and two clinics' folders."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "reconciler.yaml").write_text("emulator: {}\n")
    for clinic in ("cardio", "derm"):
        (tmp_path / "clinics" / clinic).mkdir(parents=True)
        (tmp_path / "clinics" / clinic / "a.yaml").write_text(manifest(f"{clinic}-a"))
    monkeypatch.delenv("RECONCILER_STATE", raising=False)
    return tmp_path


def recorded(key: str, source: str) -> tuple[SessionRecord, LiveSession]:
    applied = DesiredSession(key, key, START, START + timedelta(minutes=30), source=source)
    record = SessionRecord(key, f"id-{key}", START, applied.end, applied=applied)
    return record, LiveSession(f"id-{key}", key, START, applied.end)


def cancels(desired: Desired, *pairs: tuple[SessionRecord, LiveSession]) -> list[str]:
    observation = Observation(sessions={live.session_id: live for _, live in pairs})
    plan = make_plan(desired, [record for record, _ in pairs], observation, now=NOW)
    return [item.target for item in plan.actions if item.kind is Kind.CANCEL_SESSION]


def test_a_run_from_a_clinic_folder_never_cancels_another_clinics_sessions(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "clinics" / "derm")
    desired = desired_state(load([Path(".")]), paths=["."])
    other = recorded("cardio-a", "clinics/cardio/a.yaml")
    gone_here = recorded("derm-old", "clinics/derm/old.yaml")

    assert desired.scope == ("clinics/derm",)
    assert desired.sessions[0].source == "clinics/derm/a.yaml"
    assert cancels(desired, other, gone_here) == ["Session/derm-old"]


def test_a_source_outside_the_project_is_never_owned(project: Path) -> None:
    desired = Desired(scope=(".",))
    assert cancels(desired, recorded("stray", "../elsewhere/x.yaml")) == []


def test_the_default_inventory_is_beside_reconciler_yaml_from_any_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "clinics")
    found = engine.state_path([Path("derm")], flag=None, environ={})
    assert isinstance(found, Path)
    assert found.resolve() == (project / ".reconciler" / "state.db").resolve()


def test_reconciler_yaml_may_name_a_postgresql_inventory_which_the_environment_overrides(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "reconciler.yaml").write_text(
        "state: postgresql://ci@db.example:5432/ops?sslmode=require&schema=cardio\n"
    )
    monkeypatch.chdir(project / "clinics")
    from_yaml = engine.state_path([Path("derm")], flag=None, environ={})
    from_environment = engine.state_path(
        [Path("derm")], flag=None, environ={"RECONCILER_STATE": "postgresql://ci:pw@db2/ops"}
    )

    assert isinstance(from_yaml, PostgresLocation)
    assert (from_yaml.schema, str(from_yaml)) == (
        "cardio",
        "postgresql://ci@db.example:5432/ops?sslmode=require&schema=cardio",
    )
    assert isinstance(from_environment, PostgresLocation)
    assert (str(from_environment), from_environment.schema) == (
        "postgresql://ci@db2/ops?schema=reconciler",
        "reconciler",
    )
    assert "pw" in from_environment.conninfo


def test_a_snapshot_reads_the_serial_with_the_records_it_counts(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Inventory.open(path, create=True) as inventory:
        with inventory.writing(now=NOW) as batch:
            batch.put(recorded("a", "a.yaml")[0])
        serial, records = inventory.snapshot()
    assert (serial, [record.key for record in records]) == (1, ["a"])


def test_a_damaged_serial_is_an_inventory_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Inventory.open(path, create=True).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = 'x' WHERE key = 'serial'")
    with Inventory.open(path) as inventory, pytest.raises(InventoryError, match="damaged"):
        inventory.snapshot()


def approval(key: str, decision: str, snapshot_type: str | None) -> DesiredApproval:
    return DesiredApproval(key, "conv-1", "snap-1", decision, "ep-1", snapshot_type)


def test_approvals_that_disagree_on_the_type_are_both_unreconcilable() -> None:
    desired = Desired(
        approvals=(approval("a", "approved", "wound"), approval("b", "approved", "burn"))
    )
    snapshot = LiveSnapshot("snap-1", "conv-1", "UPLOADED")
    plan = make_plan(desired, [], Observation(snapshots={"conv-1": (snapshot,)}), now=NOW)
    assert plan.actions == ()
    assert [item.target for item in plan.unreconcilable] == [
        "SnapshotApproval/a",
        "SnapshotApproval/b",
    ]


def test_the_same_decision_twice_is_planned_once() -> None:
    desired = Desired(
        approvals=(approval("a", "approved", "wound"), approval("b", "approved", "wound"))
    )
    snapshot = LiveSnapshot("snap-1", "conv-1", "UPLOADED")
    plan = make_plan(desired, [], Observation(snapshots={"conv-1": (snapshot,)}), now=NOW)
    assert [item.kind for item in plan.actions] == [Kind.APPROVE_SNAPSHOT]


@pytest.mark.parametrize(
    "args", [["--format", "yaml"], ["--out", "."], ["--no-such-option"]], ids=str
)
def test_plan_usage_errors_exit_1_so_2_only_ever_means_changes(
    project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(main, ["plan", "--detailed-exitcode", *args])
    assert result.exit_code == 1
    assert "Error:" in result.stderr


class _Reads:
    """A service whose reads fail as an outage would: the refresh's only contact."""

    requests = 0

    async def list_sessions(self, where: object) -> list[object]:
        return []

    async def list_snapshots(self, interaction_id: str) -> list[object]:
        raise ApiUnavailableError(
            CallInfo("auvious", "GET", "/rtc-api/snapshots"), "no answer after 5 tries", attempts=5
        )


@pytest.mark.anyio
async def test_an_api_error_during_the_refresh_is_that_error_not_a_group() -> None:
    clients = cast(Clients, SimpleNamespace(coviu=_Reads(), auvious=_Reads()))
    approvals = (
        approval("a", "approved", None),
        replace(approval("b", "approved", None), interaction_id="conv-2"),
    )
    with pytest.raises(ApiUnavailableError, match="no answer after 5 tries"):
        await observe(clients, [], approvals, now=NOW, hash_id=str)
