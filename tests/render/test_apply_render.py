"""How an apply reads: a line per action as it ends (above a progress bar on a terminal,
plain lines otherwise), then the closing table."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from reconciler.applying import Outcome, Report, Result
from reconciler.planning import Item, Kind, Plan, Status
from reconciler.render.apply import Progress, result_line, summary
from tests.conftest import T0


def _item(kind: Kind, target: str) -> Item:
    return Item(status=Status.ACTION, kind=kind, target=target, reason="")


CREATE = _item(Kind.CREATE_SESSION, "Session/a")
RENAME = _item(Kind.UPDATE_SESSION, "Session/b")
ADD = _item(Kind.ADD_PARTICIPANT, "Session/b/participants/nurse")
PLAN = Plan(
    created_at=T0,
    valid_until=T0 + timedelta(hours=1),
    manifest_digest="d",
    actions=(CREATE, RENAME, ADD),
)
RESULTS = (
    Result(CREATE, Outcome.APPLIED, session_id="s-1", seconds=0.25),
    Result(RENAME, Outcome.SKIPPED, "the session changed since the plan was made", "s-2"),
    Result(ADD, Outcome.NOT_STARTED, "its session's update was skipped"),
)


def test_each_result_line_says_how_it_ended_and_why() -> None:
    assert [result_line(result) for result in RESULTS] == [
        "applied     + Session/a (create session, s-1) in 0.2 s",
        "skipped     ~ Session/b (update session, s-2): the session changed since the plan"
        " was made",
        "not started + Session/b/participants/nurse (add participant): its session's update"
        " was skipped",
    ]


def test_the_closing_table_counts_each_outcome_and_lists_what_did_not_apply() -> None:
    lines = summary(Report(PLAN, RESULTS))

    assert lines[0] == "Apply complete: 3 actions."
    assert lines[2:6] == [
        "  applied          1",
        "  failed           0",
        "  skipped          1",
        "  not started      1",
    ]
    assert lines[7] == "Not applied:"
    assert lines[8:10] == [f"  {result_line(result)}" for result in RESULTS[1:]]
    assert lines[-1] == "Make a new plan to see what is left to do, and why."


def test_a_failure_makes_the_table_say_failed() -> None:
    failed = (Result(CREATE, Outcome.FAILED, "coviu: POST /sessions: 422 no"),)
    assert summary(Report(PLAN, failed))[0] == "Apply failed: 1 action."


def test_without_a_terminal_each_result_is_a_plain_line_as_it_ends() -> None:
    out = io.StringIO()
    with Progress(bar=False, colour=False, out=out) as progress:
        progress.starting(PLAN)
        progress.result(RESULTS[0])
        assert out.getvalue() == result_line(RESULTS[0]) + "\n"


def test_on_a_terminal_results_go_above_a_bar_on_stderr_and_stdout_stays_clean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    with Progress(bar=True, colour=False, out=out) as progress:
        progress.starting(PLAN)
        for result in RESULTS:
            progress.result(result)

    assert out.getvalue() == ""
    shown = capsys.readouterr().err
    for result in RESULTS:
        assert result_line(result) in shown
    assert "3/3" in shown  # the bar counted every action


def test_the_closing_table_says_how_long_the_actions_took_and_how_many_a_second() -> None:
    lines = summary(Report(PLAN, RESULTS, seconds=2.0))
    assert lines[6:8] == ["", "Carried out in 2.0 s (2 actions a second)."]
    assert "Carried out" not in "\n".join(summary(Report(PLAN, RESULTS)))
