"""The `reconciler` command line: exit codes, messages, and no tracebacks for bad input."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconciler import __version__
from reconciler.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert __version__ in done.stdout


def test_clock_is_set_shown_and_advanced_on_the_embedded_database(tmp_path: Path) -> None:
    db = str(tmp_path / "emulator.db")
    assert run("emulator", "clock", "--db", db, "--set", "2026-12-01T09:00:00+11:00") == (
        0,
        "2026-11-30T22:00:00Z\n",
    )
    assert run("emulator", "clock", "--db", db, "--advance", "1h30m") == (
        0,
        "2026-11-30T23:30:00Z\n",
    )
    assert run("emulator", "clock", "--db", db, "--advance", "-PT30M") == (
        0,
        "2026-11-30T23:00:00Z\n",
    )
    assert run("emulator", "clock", "--db", db) == (0, "2026-11-30T23:00:00Z\n")


def test_clock_rejects_a_naive_time_with_exit_1_and_a_message(tmp_path: Path) -> None:
    code, output = run(
        "emulator", "clock", "--db", str(tmp_path / "e.db"), "--set", "2026-12-01T09:00"
    )
    assert code == 1
    assert "error:" in output
    assert "offset" in output
    assert not (tmp_path / "e.db").exists()


def test_clock_rejects_a_bad_duration(tmp_path: Path) -> None:
    code, output = run("emulator", "clock", "--db", str(tmp_path / "e.db"), "--advance", "soon")
    assert code == 1
    assert "not a duration: 'soon'" in output


def test_demo_walks_the_lifecycle_without_showing_join_links() -> None:
    code, output = run("emulator", "demo")
    assert code == 0
    assert "lifecycle rule 'cancel session'" in output
    assert "lifecycle rule 'update session name/picture'" in output
    assert "snapshot is DISCARDED" in output
    assert "/session/" not in output
    assert "Bearer" not in output


def test_serve_refuses_a_malformed_client_with_exit_1() -> None:
    code, output = run("emulator", "serve", "--client", "no-secret")
    assert code == 1
    assert "KEY:SECRET" in output


def test_serve_reports_a_port_in_use_with_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run("emulator", "serve", "--port", str(port), "--db", str(tmp_path / "e.db"))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in output


def test_serve_reports_an_unreadable_database_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    code, output = run("emulator", "serve", "--port", "0", "--db", str(bad))
    assert code == 1
    assert "cannot open the emulator database" in output


def test_clock_refuses_times_and_durations_it_cannot_represent(tmp_path: Path) -> None:
    db = str(tmp_path / "e.db")
    for args in (
        ("--set", "9999-12-31T23:59:59-01:00"),
        ("--advance", "\u00b2"),
        ("--advance", "99999999999999999999"),
        ("--advance", "99999999d"),
    ):
        code, output = run("emulator", "clock", "--db", db, *args)
        assert code == 1, (args, output)
        assert output.startswith("error:"), (args, output)


def test_demo_reports_an_unusable_database_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    code, output = run("emulator", "demo", "--db", str(bad))
    assert code == 1
    assert "cannot open the emulator database" in output


def test_loading_the_cli_loads_no_server_http_or_database_driver() -> None:
    # Every command pays for what `reconciler.cli` imports at start: the emulator's web
    # stack, the HTTP client and the PostgreSQL driver load only for commands that use them.
    heavy = ("starlette", "uvicorn", "httpx", "psycopg", "rich")
    script = f"import sys, reconciler.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
