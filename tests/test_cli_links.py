"""`reconciler links` from the command line: a project applied to the embedded emulator,
then its recorded participants' entry links printed in each format. The links are exactly
the emulator's, for the recorded participants only; the warning goes to stderr; `-v`
never logs them; a named session that has none is an error naming it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.clients import Clients, LiveSession, ParticipantDraft
from reconciler.emulator.embedded import move_clock
from tests.applying.test_cli_apply import (
    EMULATOR_DB,
    TUESDAY,
    Run,
    apply,
    cancel_out_of_band,
    live_sessions,
    reconciler,
    recorded_id,
    with_clients,
)
from tests.test_cli_plan import DOCTOR, MONDAY, PATIENT, session, tree, write

__all__ = ["tree"]  # the fixture, used by name

WARNING = "warning: each entry URL lets whoever holds it join the session as that participant"


def links(*args: str) -> Run:
    return reconciler("links", *args)


def applied() -> None:
    """Two sessions applied: consult (doctor and patient) and skin (doctor)."""
    labels = "{clinic: dermatology}"
    write(
        session("consult", title="Cardiology review", people=[DOCTOR, PATIENT]),
        session("skin", TUESDAY, title="Skin check", labels=labels, people=[DOCTOR]),
    )
    run = apply("--auto-approve")
    assert run.code == 0, run.out + run.err


def urls(of: LiveSession) -> dict[str, str]:
    """The emulator's entry URL of each present participant of `of`, by display name."""
    return {
        found.display_name or "": found.entry_url.get_secret_value()
        for found in of.participants
        if found.entry_url is not None and not found.removed
    }


def live(key: str) -> LiveSession:
    (found,) = [each for each in live_sessions() if each.session_id == recorded_id(key)]
    return found


def add_by_hand(key: str, display_name: str) -> None:
    session_id = recorded_id(key)

    async def add(clients: Clients) -> None:
        await clients.coviu.add_participant(session_id, ParticipantDraft(display_name=display_name))

    with_clients(add)


def test_csv_has_a_header_and_exactly_the_recorded_participants_links(tree: Path) -> None:
    applied()
    add_by_hand("consult", "Visitor")
    consult, skin = urls(live("consult")), urls(live("skin"))

    result = CliRunner().invoke(main, ["links", "--format", "csv"])

    assert result.exit_code == 0, result.stderr
    text = result.stdout_bytes.decode()  # as written: click's `stdout` turns CRLF into LF
    assert text.count("\r\n") == 4  # RFC 4180: every row ends in CRLF
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [
        "session",
        "session_id",
        "start_time",
        "participant",
        "display_name",
        "role",
        "entry_url",
    ]
    assert rows[1:] == [
        [
            "consult",
            recorded_id("consult"),
            "2026-12-07T09:00:00+11:00",
            "dr-marsh",
            "Dr Helena Marsh",
            "host",
            consult["Dr Helena Marsh"],
        ],
        [
            "consult",
            recorded_id("consult"),
            "2026-12-07T09:00:00+11:00",
            "bernard",
            "Bernard Quill",
            "guest",
            consult["Bernard Quill"],
        ],
        [
            "skin",
            recorded_id("skin"),
            "2026-12-08T09:00:00+11:00",
            "dr-marsh",
            "Dr Helena Marsh",
            "host",
            skin["Dr Helena Marsh"],
        ],
    ]
    assert consult["Visitor"] not in text  # added by hand: not recorded, left out


def test_json_is_a_versioned_document_of_the_links(tree: Path) -> None:
    applied()
    consult = urls(live("consult"))

    run = links("consult", "--format", "json")

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert list(document) == ["format", "version", "checked_at", "targets", "links"]
    assert (document["format"], document["version"]) == ("reconciler-links", 1)
    assert document["links"] == [
        {
            "session": "consult",
            "session_id": recorded_id("consult"),
            "start_time": "2026-12-06T22:00:00Z",
            "participant": participant,
            "display_name": name,
            "role": role,
            "entry_url": consult[name],
        }
        for participant, name, role in (
            ("dr-marsh", "Dr Helena Marsh", "host"),
            ("bernard", "Bernard Quill", "guest"),
        )
    ]


def test_text_lists_each_session_then_its_participants_links(tree: Path) -> None:
    applied()
    consult, skin = urls(live("consult")), urls(live("skin"))

    run = links("Session/skin", "consult")

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == (
        f"Session/consult (session {recorded_id('consult')}), starts 2026-12-07T09:00:00+11:00"
    )
    assert lines[1].split() == [
        "dr-marsh",
        "Dr",
        "Helena",
        "Marsh",
        "host",
        consult["Dr Helena Marsh"],
    ]
    assert lines[2].split() == ["bernard", "Bernard", "Quill", "guest", consult["Bernard Quill"]]
    assert lines[4].startswith("Session/skin ")
    assert lines[5].split()[-1] == skin["Dr Helena Marsh"]
    found = {line.split()[-1] for line in lines if "https://" in line}
    assert found == {*consult.values(), *skin.values()}


def test_the_warning_goes_to_stderr_and_verbose_logs_carry_no_link(tree: Path) -> None:
    applied()
    every = [*urls(live("consult")).values(), *urls(live("skin")).values()]

    run = reconciler("-v", "links", "--format", "csv")

    assert run.code == 0, run.err
    assert run.err.count(WARNING) == 1
    assert WARNING not in run.out
    assert "INFO reconciler.clients: coviu GET /sessions" in run.err  # -v did log the calls
    for url in every:
        assert url in run.out
        assert url not in run.err
        assert url.rsplit("/", 1)[-1] not in run.err  # nor the participant id it ends in


def test_a_selector_limits_the_sessions(tree: Path) -> None:
    applied()

    run = links("--selector", "clinic=dermatology", "--format", "json")

    assert run.code == 0, run.err
    assert {link["session"] for link in json.loads(run.out)["links"]} == {"skin"}


def test_a_named_session_that_is_not_recorded_is_an_error_naming_it(tree: Path) -> None:
    applied()

    run = links("consult", "Session/nobody")

    assert run.code == 1
    assert run.out == ""
    assert run.err.startswith("error: Session/nobody: not recorded in the inventory")
    assert "https://" not in run.err


def test_a_named_session_cancelled_or_finished_is_an_error_and_left_out_unnamed(
    tree: Path,
) -> None:
    applied()
    cancel_out_of_band(recorded_id("skin"))

    cancelled = links("skin")
    unnamed = links("--format", "json")
    move_clock(EMULATOR_DB, to=MONDAY + timedelta(hours=1))
    finished = links("consult")

    assert cancelled.code == 1
    assert cancelled.err.startswith("error: Session/skin: was cancelled in Coviu")
    assert unnamed.code == 0
    assert {link["session"] for link in json.loads(unnamed.out)["links"]} == {"consult"}
    assert "note: Session/skin: was cancelled in Coviu" in unnamed.err
    assert finished.code == 1
    assert finished.err.startswith("error: Session/consult: has finished")


def test_links_write_nothing(tree: Path) -> None:
    applied()
    before = {path: path.read_bytes() for path in (tree / ".reconciler").glob("state.db*")}

    assert links("--format", "csv").code == 0

    after = {path: path.read_bytes() for path in (tree / ".reconciler").glob("state.db*")}
    assert after == before


def test_path_finds_the_project_from_another_folder(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied()
    consult = urls(live("consult"))
    elsewhere = tree.parent / f"{tree.name}-elsewhere"  # outside the project
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    found = links("Session/consult", "--path", str(tree), "--format", "json")
    here = links("Session/consult")

    assert found.code == 0, found.err
    shown = {row["display_name"]: row["entry_url"] for row in json.loads(found.out)["links"]}
    assert shown == consult
    assert here.code == 1  # from elsewhere, without --path: no inventory records it
    assert "Session/consult: not recorded in the inventory" in here.err
