"""The stand-in runner's reading of `if:` (tests/github/conditions.py), which decides
in the job tests whether a step runs: it must read each form as GitHub does, and refuse
what it cannot read rather than guess."""

from __future__ import annotations

import pytest

from tests.github.conditions import JobStatus, evaluate

OUTPUTS = {"steps.plan.outputs.exitcode": "2", "steps.plan.outputs.saved": "plan.json"}
APPLY_IF = "steps.plan.outputs.exitcode == '2' || steps.plan.outputs.exitcode == '3'"


def _runs(condition: str, *, failed: bool = False, **outputs: str) -> bool:
    values = {**OUTPUTS, **{f"steps.plan.outputs.{k}": v for k, v in outputs.items()}}
    return evaluate(
        condition, status=JobStatus(failed=failed), output=lambda name: values.get(name, "")
    )


@pytest.mark.parametrize(
    ("exitcode", "runs"), [("0", False), ("1", False), ("2", True), ("3", True), ("", False)]
)
def test_comparisons_joined_by_or(exitcode: str, runs: bool) -> None:
    assert _runs(APPLY_IF, exitcode=exitcode) is runs


def test_a_condition_without_a_status_function_needs_every_earlier_step_to_have_passed() -> None:
    assert _runs(APPLY_IF, exitcode="2", failed=True) is False
    assert _runs("${{ steps.plan.outputs.exitcode != '' }}", failed=True) is False


def test_not_cancelled_and_always_run_after_a_failure() -> None:
    assert _runs("${{ !cancelled() }}", failed=True) is True
    assert _runs("${{ always() }}", failed=True) is True
    assert _runs("${{ !cancelled() && steps.plan.outputs.exitcode != '' }}", failed=True) is True
    assert _runs("${{ !cancelled() && steps.plan.outputs.exitcode != '' }}", exitcode="") is False


def test_success_and_failure_follow_the_job() -> None:
    assert _runs("success()") is True
    assert _runs("success()", failed=True) is False
    assert _runs("failure()") is False
    assert _runs("failure()", failed=True) is True


def test_and_binds_tighter_than_or_and_brackets_group() -> None:
    assert _runs("'a' == 'b' && 'a' == 'a' || 'c' == 'c'") is True
    assert _runs("'a' == 'b' && ('a' == 'a' || 'c' == 'c')") is False
    assert _runs("!('a' == 'b')") is True


def test_strings_compare_ignoring_case_as_on_github() -> None:
    assert _runs("'Yes' == 'yES'") is True
    assert _runs("'it''s' != 'its'") is True


@pytest.mark.parametrize(
    "condition",
    [
        "github.event_name == 'push'",
        "contains(steps.plan.outputs.exitcode, '2')",
        "steps.plan.outputs.exitcode == 2",
        "steps.plan.outputs.exitcode == '2' ||",
        "(steps.plan.outputs.exitcode == '2'",
        "!steps.plan.outputs.exitcode == '2'",
    ],
)
def test_what_it_cannot_read_fails_loudly(condition: str) -> None:
    with pytest.raises(AssertionError, match="cannot evaluate"):
        _runs(condition)
