"""`reconciler state …` against a PostgreSQL inventory: the same views as the file, the
URL never with its password, and a live run's lock that no command can take away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.inventory import Inventory, parse_location
from tests.inventory.samples import T0, record
from tests.postgres import postgres_url


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostgreSQL inventory holding one session, named by RECONCILER_STATE."""
    monkeypatch.chdir(tmp_path)
    with postgres_url() as text:
        with (
            Inventory.open(parse_location(text), create=True) as inventory,
            inventory.writing(now=T0) as batch,
        ):
            batch.put(record(inventory, "cardiology-0900", session_id="S-100"))
        monkeypatch.setenv("RECONCILER_STATE", text)
        yield text


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["state", *args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _password(text: str) -> str:
    location = parse_location(text)
    assert not isinstance(location, Path)
    return location.secrets[0]


def test_list_names_the_inventory_without_its_password(url: str) -> None:
    code, out, err = invoke("list")
    assert (code, err) == (0, "")
    header = out.splitlines()[0]
    assert header.startswith(f"inventory {parse_location(url)}  serial 1")
    assert _password(url) not in out
    assert "cardiology-0900" in out
    assert "S-100" in out


def test_a_live_runs_lock_is_shown_and_cannot_be_removed(url: str) -> None:
    with Inventory.open(parse_location(url)) as holder:
        holder.lock("reconciler apply", 4242, "ci-runner-7", T0)

        listed = invoke("list")[1]
        code, _, err = invoke("unlock")  # no question: it would be refused anyway
        forgot = invoke("forget", "cardiology-0900", "--yes")

        assert holder.lock_info() is not None
    assert "locked by reconciler apply (pid 4242 on ci-runner-7)" in listed
    assert code == 1
    assert "still connected" in err
    assert "reconciler apply (pid 4242 on ci-runner-7)" in err
    assert forgot[0] == 1
    assert "the database frees the lock when that run's connection ends" in forgot[2]
    # The holder's connection ended with the block: the lock is gone by itself.
    assert invoke("unlock") == (0, f"the inventory at {parse_location(url)} is not locked\n", "")
