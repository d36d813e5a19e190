"""`reconciler ping` and `-v`: target selection (DESIGN.md §7) seen from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from reconciler.cli import main
from reconciler.emulator.server import serve_in_background
from tests.conftest import CLINIC_A
from tests.test_cli_plan import tree

__all__ = ["tree"]  # the fixture, used by name


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ping_uses_the_embedded_emulator_when_no_url_is_configured(tree: Path) -> None:
    code, out, err = invoke("ping")
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["coviu", "auvious"]
    for line in lines:
        assert ": ok  embedded emulator (.reconciler/emulator.db)" in line
        # The clock of reconciler.yaml, set when the database was created.
        assert "emulator clock 2026-12-03T22:00:00Z" in line
    assert (tree / ".reconciler" / "emulator.db").is_file()


def test_verbose_logs_each_call_with_method_path_status_and_latency(tree: Path) -> None:
    code, out, err = invoke("-v", "ping")
    assert code == 0, err
    assert "coviu: ok" in out  # the result still goes to stdout, the log to stderr
    assert "coviu POST /auth/token -> 200 in " in err
    assert "coviu GET /sessions?page_size=1 -> 200 in " in err
    assert "auvious GET /rtc-api/snapshots?interactionId=reconciler-probe -> 200 in " in err
    assert "demo-secret" not in err
    assert "Bearer" not in err
    assert "eyJ" not in err  # no access token (a JWT) in any line


def test_without_verbose_nothing_is_logged(tree: Path) -> None:
    code, _, err = invoke("ping")
    assert code == 0
    assert err == ""


def test_one_url_without_the_other_is_refused_rather_than_mixed_with_the_emulator(
    tree: Path,
) -> None:
    code, out, err = invoke("ping", "--coviu-url", "https://api.coviu.example/v1")
    assert code == 1
    assert out == ""
    assert "a Coviu URL is configured but no Auvious URL" in err
    assert "Traceback" not in err


def test_credentials_without_a_url_are_refused(tree: Path) -> None:
    code, _, err = invoke("ping", env={"COVIU_API_KEY": "k", "COVIU_API_SECRET": "s3cret-value"})
    assert code == 1
    assert "COVIU_API_KEY, COVIU_API_SECRET set but no API URL" in err
    assert "s3cret-value" not in err


def test_a_url_with_a_password_is_refused_without_echoing_it(tree: Path) -> None:
    code, _, err = invoke(
        "ping",
        "--coviu-url",
        "https://me:hunter2-password@api.coviu.example/v1",
        "--auvious-url",
        "https://auvious.example",
    )
    assert code == 1
    assert "must not carry a user name or password" in err
    assert "hunter2" not in err


def test_real_targets_need_credentials_from_the_environment(tree: Path) -> None:
    code, _, err = invoke(
        "ping",
        env={"COVIU_API_URL": "https://a.example/v1", "AUVIOUS_API_URL": "https://b.example"},
    )
    assert code == 1
    assert "COVIU_API_KEY and COVIU_API_SECRET must be set in the environment" in err


def test_a_broken_reconciler_yaml_is_reported_with_its_position(tree: Path) -> None:
    (tree / "reconciler.yaml").write_text("coviu_url: https://a.example/v1\nauvious_ur: x\n")
    code, _, err = invoke("ping")
    assert code == 1
    assert "reconciler.yaml:2:1" in err
    assert "did you mean 'auvious_url'" in err


@pytest.fixture
def served(app: Starlette) -> Iterator[str]:
    with serve_in_background(app) as server:
        yield server.base_url


@pytest.mark.network
def test_ping_reaches_a_served_emulator_named_by_the_environment(tree: Path, served: str) -> None:
    env = {
        "COVIU_API_URL": f"{served}/v1",
        "AUVIOUS_API_URL": served,
        "COVIU_API_KEY": CLINIC_A.key,
        "COVIU_API_SECRET": CLINIC_A.secret,
        "AUVIOUS_CLIENT_ID": CLINIC_A.key,
        "AUVIOUS_CLIENT_SECRET": CLINIC_A.secret,
    }
    code, out, err = invoke("ping", env=env)
    assert code == 0, err
    assert f"coviu: ok  {served}/v1" in out
    assert f"auvious: ok  {served}" in out
    # A real server's clock is compared with ours (the served emulator's is T0).
    assert "server clock 2026-11-30T08:00:00Z (local clock" in out


@pytest.mark.network
def test_ping_with_a_wrong_secret_fails_naming_the_variables_not_the_secret(
    tree: Path, served: str
) -> None:
    env = {
        "COVIU_API_URL": f"{served}/v1",
        "AUVIOUS_API_URL": served,
        "COVIU_API_KEY": CLINIC_A.key,
        "COVIU_API_SECRET": "wrong-secret-value",
        "AUVIOUS_CLIENT_ID": CLINIC_A.key,
        "AUVIOUS_CLIENT_SECRET": CLINIC_A.secret,
    }
    code, out, err = invoke("ping", env=env)
    assert code == 1
    assert "auvious: ok" in out
    assert "coviu: FAILED" in err
    assert "Check COVIU_API_KEY and COVIU_API_SECRET" in err
    assert "wrong-secret-value" not in err + out
