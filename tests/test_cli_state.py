"""`reconciler state list | show | forget | unlock`: looking into and repairing the
inventory from the command line, with every failure an `error: …` and never a traceback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.inventory import Inventory
from tests.inventory.samples import T0, record


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clinic repository as the working folder, no inventory named by the environment."""
    monkeypatch.delenv("RECONCILER_STATE", raising=False)
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def state_db(tree: Path) -> Path:
    """The default inventory, holding two sessions: one applied, one adopted and cancelled."""
    path = tree / ".reconciler" / "state.db"
    with Inventory.open(path, create=True) as inventory, inventory.writing(now=T0) as batch:
        batch.put(
            record(
                inventory,
                "cardiology-0900",
                session_id="S-100",
                participant_ids={"dr-who": "pid-secret-1", "patient": "pid-secret-2"},
            )
        )
        batch.put(record(inventory, "allergy-1000", session_id="S-200", adopted=True))
    return path


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["state", *args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def _serial(path: Path) -> int:
    with Inventory.open(path) as inventory:
        return inventory.serial


def _keys(path: Path) -> list[str]:
    with Inventory.open(path) as inventory:
        return [r.key for r in inventory.sessions()]


def test_list_without_an_inventory_says_none_exists_yet(tree: Path) -> None:
    code, out, _ = invoke("list")
    assert code == 0
    assert out == "no inventory at .reconciler/state.db yet: `reconciler apply` creates it\n"
    assert not (tree / ".reconciler").exists()


def test_list_shows_a_header_and_one_row_per_session(state_db: Path) -> None:
    code, out, _ = invoke("list")
    assert code == 0
    header, columns, *rows = out.splitlines()
    with Inventory.open(state_db) as inventory:
        lineage = inventory.lineage[:8]
    assert header == f"inventory .reconciler/state.db  serial 1  lineage {lineage}"
    assert columns.split() == ["KEY", "SESSION", "ID", "START", "END", "STATUS", "PARTICIPANTS"]
    times = ["2026-11-30T22:00:00Z", "2026-11-30T22:30:00Z"]
    assert [row.split() for row in rows] == [
        ["allergy-1000", "S-200", *times, "adopted", "1"],
        ["cardiology-0900", "S-100", *times, "applied", "2"],
    ]


def test_list_json_keeps_the_documented_keys_in_order(state_db: Path) -> None:
    code, out, _ = invoke("list", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == ["version", "path", "exists", "serial", "lineage", "lock", "sessions"]
    assert (document["exists"], document["serial"], document["lock"]) == (True, 1, None)
    assert list(document["sessions"][1]) == [
        "key",
        "session_id",
        "start_time",
        "end_time",
        "canceled",
        "status",
        "participants",
    ]
    assert document["sessions"][1]["participants"] == 2


def test_list_json_without_an_inventory_says_it_does_not_exist(tree: Path) -> None:
    code, out, _ = invoke("list", "--format", "json")
    assert code == 0
    assert json.loads(out)["exists"] is False
    assert json.loads(out)["lineage"] is None


def test_list_shows_who_holds_the_lock(state_db: Path) -> None:
    with Inventory.open(state_db) as inventory:
        inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
    _, out, _ = invoke("list")
    assert "locked by reconciler apply (pid 4242 on ci-runner-7) since 2026-11-30T08:00" in out


def test_list_finds_the_inventory_reconciler_yaml_names(tree: Path) -> None:
    clinic = tree / "clinic"
    clinic.mkdir()
    (clinic / "reconciler.yaml").write_text("state: ../elsewhere/inventory.db\n")
    with (
        Inventory.open(tree / "elsewhere" / "inventory.db", create=True) as inventory,
        inventory.writing(now=T0) as batch,
    ):
        batch.put(record(inventory, "from-config"))
    code, out, _ = invoke("list", "clinic")
    assert code == 0
    assert "from-config" in out


def test_the_state_flag_wins_over_the_environment(
    state_db: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_STATE", str(tree / "missing.db"))
    assert "no inventory at" in invoke("list")[1]
    assert "cardiology-0900" in invoke("list", "--state", str(state_db))[1]


def test_show_names_participants_by_a_short_hash_and_shows_the_last_spec(state_db: Path) -> None:
    code, out, _ = invoke("show", "cardiology-0900")
    assert code == 0
    with Inventory.open(state_db) as inventory:
        full = inventory.hash_id("pid-secret-1")
        salt = inventory._salt.hex()
    assert out.splitlines()[0] == "Session/cardiology-0900"
    assert f"dr-who   {full[:12]}" in out
    assert full not in out
    assert "pid-secret" not in out
    assert salt not in out
    assert "session_name  Consultation cardiology-0900" in out
    assert "start_time    2026-12-01T09:00:00+11:00" in out


def test_show_accepts_session_slash_name_and_says_when_nothing_was_applied(state_db: Path) -> None:
    code, out, _ = invoke("show", "Session/allergy-1000")
    assert code == 0
    assert "last applied  nothing (adopted, not applied)" in out


def test_show_json_keeps_the_documented_keys_in_order(state_db: Path) -> None:
    code, out, _ = invoke("show", "cardiology-0900", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == [
        "version",
        "key",
        "session_id",
        "start_time",
        "end_time",
        "canceled",
        "status",
        "participants",
        "applied",
    ]
    assert [len(p["id_hash_prefix"]) for p in document["participants"]] == [12, 12]
    assert document["applied"]["start_time"] == "2026-12-01T09:00:00+11:00"


def test_show_of_an_unrecorded_key_is_an_error(state_db: Path) -> None:
    code, out, err = invoke("show", "nobody")
    assert (code, out) == (1, "")
    assert err.startswith("error: Session/nobody: not recorded in the inventory at ")


def test_show_refuses_a_key_of_another_kind(state_db: Path) -> None:
    code, _, err = invoke("show", "SnapshotApproval/review-1")
    assert code == 1
    assert "error: 'SnapshotApproval/review-1': the inventory records Sessions only" in err


def test_forget_leaves_live_session_and_bumps_serial(state_db: Path) -> None:
    code, out, _ = invoke("forget", "Session/cardiology-0900", "--yes")
    assert code == 0
    assert out.splitlines() == [
        "forgot Session/cardiology-0900 in .reconciler/state.db",
        "live session S-100 is left untouched: nothing was cancelled",
        "if its manifest is still there, the next plan proposes creating it again",
    ]
    assert _keys(state_db) == ["allergy-1000"]
    assert _serial(state_db) == 2


def test_forget_asks_first_and_a_no_changes_nothing(state_db: Path) -> None:
    code, out, err = invoke("forget", "cardiology-0900", stdin="n\n")
    assert code == 1
    assert "Forget Session/cardiology-0900 (live session S-100)?" in out
    assert "Aborted" in err
    assert _keys(state_db) == ["allergy-1000", "cardiology-0900"]
    assert _serial(state_db) == 1


def test_forget_goes_ahead_on_a_yes(state_db: Path) -> None:
    code, _, _ = invoke("forget", "cardiology-0900", stdin="y\n")
    assert code == 0
    assert _keys(state_db) == ["allergy-1000"]


def test_forget_is_refused_while_an_apply_holds_the_lock(state_db: Path) -> None:
    with Inventory.open(state_db) as inventory:
        inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
    code, _, err = invoke("forget", "cardiology-0900", "--yes")
    assert code == 1
    assert "locked by reconciler apply (pid 4242 on ci-runner-7)" in err
    assert _keys(state_db) == ["allergy-1000", "cardiology-0900"]


def test_forget_without_an_inventory_is_an_error_and_creates_nothing(tree: Path) -> None:
    code, _, err = invoke("forget", "cardiology-0900", "--yes")
    assert code == 1
    assert "error: Session/cardiology-0900: no inventory at .reconciler/state.db yet" in err
    assert not (tree / ".reconciler").exists()


def test_unlock_shows_who_held_the_lock_and_removes_it(state_db: Path) -> None:
    with Inventory.open(state_db) as inventory:
        inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
    code, out, _ = invoke("unlock", stdin="y\n")
    assert code == 0
    assert "Locked by reconciler apply (pid 4242 on ci-runner-7)" in out
    assert out.splitlines()[-1].startswith("unlocked .reconciler/state.db: removed the lock of")
    with Inventory.open(state_db) as inventory:
        assert inventory.lock_info() is None


def test_unlock_answered_no_keeps_the_lock(state_db: Path) -> None:
    with Inventory.open(state_db) as inventory:
        inventory.lock("reconciler apply", 4242, "ci-runner-7", T0)
    code, _, _ = invoke("unlock", stdin="n\n")
    assert code == 1
    with Inventory.open(state_db) as inventory:
        assert inventory.lock_info() is not None


@pytest.mark.usefixtures("state_db")
def test_unlock_without_a_lock_says_so() -> None:
    assert invoke("unlock", "--yes") == (
        0,
        "the inventory at .reconciler/state.db is not locked\n",
        "",
    )


def test_unlock_without_an_inventory_says_so_and_creates_nothing(tree: Path) -> None:
    code, out, _ = invoke("unlock")
    assert (code, out) == (0, "the inventory at .reconciler/state.db is not locked\n")
    assert not (tree / ".reconciler").exists()


def test_a_damaged_inventory_is_an_error_naming_the_file(tree: Path) -> None:
    (tree / "state.db").write_bytes(b"not sqlite at all\n" * 100)
    for args in (["list"], ["show", "x"], ["forget", "x", "--yes"], ["unlock", "--yes"]):
        code, _, err = invoke(*args, "--state", "state.db")
        assert code == 1
        assert err.startswith("error: state.db: cannot open the inventory: the file is damaged")


def test_an_inventory_from_a_newer_reconciler_is_an_error(state_db: Path) -> None:
    with sqlite3.connect(state_db) as raw:
        raw.execute("PRAGMA user_version = 999")
    code, _, err = invoke("list")
    assert code == 1
    assert "error: .reconciler/state.db: was written by a newer reconciler" in err


def test_a_url_of_another_database_as_the_inventory_location_is_an_error(tree: Path) -> None:
    code, _, err = invoke("list", "--state", "mysql://root:hunter2@db/state")
    assert code == 1
    assert err.startswith("error: --state: unsupported inventory URL scheme 'mysql'")
    assert "hunter2" not in err


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ci:hunter2@db.example/inventory",
        "postgresql://ci:hun?ter2@db.example/inventory",  # libpq reads it whole
        "postgresql://ci@db.example/inventory?password=hunter2",
    ],
)
def test_a_password_in_reconciler_yaml_state_is_refused_naming_the_line(
    tree: Path, url: str
) -> None:
    (tree / "reconciler.yaml").write_text(f"coviu_url: null\nstate: {url}\n")
    code, _, err = invoke("list")
    assert code == 1
    assert "reconciler.yaml:2" in err
    assert "a password does not belong in reconciler.yaml" in err
    assert "hunter2" not in err
    assert "ter2" not in err


def test_a_broken_reconciler_yaml_is_an_error_naming_it(tree: Path) -> None:
    (tree / "reconciler.yaml").write_text("stat: typo.db\n")
    code, _, err = invoke("list")
    assert code == 1
    assert err.startswith("error: reconciler.yaml")
