"""Safety rails for unattended applies: `reconciler/prevent-cancel` (recorded in the
inventory, so it outlives its manifest), the cancel budget (`--max-cancels`,
`max_cancels` in reconciler.yaml, `--allow-mass-cancel`), and narrowing a run with
`--selector` and `--only`, where matching nothing is an error."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.inventory import Inventory
from tests.test_cli_plan import (
    CLOCK,
    STATE,
    Run,
    creates,
    plan,
    reconciler,
    session,
    tree,
    write,
)

__all__ = ["tree"]


def protected(name: str, value: str = "true") -> str:
    """A session manifest annotated `reconciler/prevent-cancel: VALUE`."""
    text = session(name)
    return text.replace(
        "  labels:", f'  annotations: {{reconciler/prevent-cancel: "{value}"}}\n  labels:', 1
    )


def apply(*args: str) -> Run:
    return reconciler("apply", "--auto-approve", *args)


def sessions_named(*names: str) -> list[str]:
    return [session(name) for name in names]


# Protection


def test_a_protected_session_is_not_cancelled_after_its_manifest_is_deleted(tree: Path) -> None:
    write(protected("kept"), session("other"))
    assert apply().code == 0
    write(session("other"))  # the protected manifest is deleted

    run = plan("--detailed-exitcode")

    assert run.code == 3, run.out
    assert "- cancel Session/kept" not in run.out
    assert "Blocked (1)" in run.out
    assert 'protected: its manifest was annotated reconciler/prevent-cancel: "true"' in run.out
    assert 'put the manifest back with reconciler/prevent-cancel: "false"' in run.out
    applied = apply()
    assert applied.code == 0, applied.out
    assert "cancel Session/kept" not in applied.out.split("Plan:")[-1]
    with Inventory.open(tree / STATE) as inventory:
        record = inventory.session("kept")
    assert record is not None
    assert not record.canceled


def test_protection_is_lifted_by_applying_the_manifest_with_false_first(tree: Path) -> None:
    write(protected("kept"))
    assert apply().code == 0
    write(protected("kept", "false"))
    assert apply().code == 0  # no API change: only the inventory's flag moves
    write(session("other"))

    run = plan("--detailed-exitcode")

    assert "- cancel Session/kept (session" in run.out, run.out
    assert run.code == 2


def test_protection_added_to_an_applied_session_is_recorded_by_the_next_apply(
    tree: Path,
) -> None:
    write(session("kept"))
    assert apply().code == 0
    write(protected("kept"))
    again = apply()
    assert again.code == 0
    assert "No changes" in again.out  # nothing to send to the API
    write(session("other"))

    run = plan("--detailed-exitcode")

    assert run.code == 3, run.out
    assert "protected" in run.out, run.out


def test_state_show_says_a_session_is_protected(tree: Path) -> None:
    write(protected("kept"))
    assert apply().code == 0

    shown = reconciler("state", "show", "kept")

    assert shown.code == 0
    assert "protected     yes (reconciler/prevent-cancel)" in shown.out


def test_a_misspelt_or_unquoted_protection_is_a_manifest_error(tree: Path) -> None:
    misspelt = protected("one").replace("prevent-cancel", "prevent-cancle")
    unquoted = protected("two").replace('"true"', "true")
    wrong = protected("three", "yes")
    write(misspelt, unquoted, wrong)

    run = reconciler("validate")

    assert run.code == 1
    assert "did you mean 'reconciler/prevent-cancel'?" in run.out
    assert 'write it in quotes, like "true"' in run.out
    assert 'reconciler/prevent-cancel: expected "true" or "false", not \'yes\'' in run.out
    assert "sessions.yaml:5:" in run.out


def test_other_annotations_are_free_text(tree: Path) -> None:
    write(
        session("one").replace("  labels:", "  annotations: {clinic.example/note: hi}\n  labels:")
    )

    assert reconciler("validate").code == 0
    assert creates(plan().out) == ["+ create Session/one"]


# The cancel budget


def test_apply_refuses_more_cancels_than_the_budget_and_applies_nothing(tree: Path) -> None:
    write(*sessions_named("a", "b", "c", "d"))
    assert apply().code == 0
    write(session("e"))  # four sessions removed, one added

    shown = plan("--max-cancels", "3")
    refused = apply("--max-cancels", "3")

    assert "Warning: this plan cancels 4 sessions and participants" in shown.out
    assert plan("--max-cancels", "3", "--detailed-exitcode").code == 3  # a check fails
    assert plan("--max-cancels", "4", "--detailed-exitcode").code == 2
    assert refused.code == 1
    assert "more than the cancel budget of 3" in refused.err
    assert "--allow-mass-cancel" in refused.err
    assert len([line for line in plan().out.splitlines() if "- cancel Session/" in line]) == 4
    assert creates(plan().out) == ["+ create Session/e"]  # not even the create ran


def test_allow_mass_cancel_lets_the_wave_through(tree: Path) -> None:
    write(*sessions_named("a", "b", "c"))
    assert apply().code == 0
    write(session("d"))

    run = apply("--max-cancels", "1", "--allow-mass-cancel")

    assert run.code == 0, run.err
    assert plan("--detailed-exitcode").code == 0


def test_the_budget_comes_from_reconciler_yaml_and_the_flag_wins(tree: Path) -> None:
    (tree / "reconciler.yaml").write_text(
        f"emulator:\n  clock: {CLOCK.isoformat()}\nmax_cancels: 1\n"
    )
    write(*sessions_named("a", "b"))
    assert apply().code == 0
    write(session("c"))

    assert "cancel budget of 1" in apply().err
    assert apply("--max-cancels", "2").code == 0


def test_the_default_budget_is_ten(tree: Path) -> None:
    names = [f"s{number}" for number in range(11)]
    write(*sessions_named(*names))
    assert apply().code == 0
    write(session("last"))

    refused = apply()

    assert refused.code == 1
    assert "cancel budget of 10" in refused.err


def test_a_saved_plan_over_the_budget_is_refused_too(tree: Path) -> None:
    write(*sessions_named("a", "b"))
    assert apply().code == 0
    write(session("c"))
    assert plan("--out", "plan.json").code == 0

    refused = reconciler("apply", "plan.json", "--max-cancels", "1")
    allowed = reconciler("apply", "plan.json", "--max-cancels", "1", "--allow-mass-cancel")

    assert refused.code == 1
    assert "cancel budget of 1" in refused.err
    assert allowed.code == 0, allowed.err


def test_the_markdown_comment_warns_about_a_cancel_wave(tree: Path) -> None:
    write(*sessions_named("a", "b"))
    assert apply().code == 0
    write(session("c"))

    run = plan("--format", "markdown", "--max-cancels", "1")

    assert "> **Warning: this plan cancels 2 sessions and participants" in run.out


# --selector and --only


def test_only_plans_just_the_named_targets(tree: Path) -> None:
    write(session("first"), session("second"), session("third"))

    run = plan("--only", "Session/second", "--only", "session/third")

    assert creates(run.out) == ["+ create Session/second", "+ create Session/third"]


def test_only_can_name_a_removed_session_to_cancel_just_it(tree: Path) -> None:
    write(*sessions_named("a", "b"))
    assert apply().code == 0
    write(session("c"))

    run = plan("--only", "Session/a")

    assert "- cancel Session/a" in run.out
    assert "Session/b" not in run.out.split("Plan:")[0]
    assert creates(run.out) == []


def test_only_naming_nothing_is_an_error(tree: Path) -> None:
    write(session("first"))

    run = plan("--only", "Session/frist")
    applied = apply("--only", "Session/frist")

    assert run.code == 1
    assert applied.code == 1
    assert "error: --only Session/frist: no manifest under these PATHs" in run.err
    assert not (tree / STATE).exists() or creates(plan().out) == ["+ create Session/first"]


def test_only_must_be_kind_slash_name(tree: Path) -> None:
    write(session("first"))

    run = plan("--only", "first")

    assert run.code == 1
    assert "expected Kind/name with Kind one of Session, SnapshotApproval" in run.err


def test_a_selector_matching_only_removed_sessions_still_plans_their_cancel(tree: Path) -> None:
    write(session("a", labels="{clinic: derm}"), session("b"))
    assert apply().code == 0
    write(session("b"))

    run = plan("--selector", "clinic=derm", "--detailed-exitcode")

    assert run.code == 2, run.err
    assert "- cancel Session/a" in run.out


def test_the_saved_plan_records_only_and_apply_keeps_to_it(tree: Path) -> None:
    write(session("first"), session("second"))
    assert plan("--only", "Session/first", "--out", "plan.json").code == 0
    assert json.loads(Path("plan.json").read_text())["scope"]["only"] == ["Session/first"]

    applied = reconciler("apply", "plan.json")

    assert applied.code == 0, applied.err
    assert creates(plan().out) == ["+ create Session/second"]


def test_apply_refuses_only_beside_a_saved_plan(tree: Path) -> None:
    write(session("first"))
    assert plan("--out", "plan.json").code == 0

    run = reconciler("apply", "plan.json", "--only", "Session/first")

    assert run.code == 1
    assert "a saved plan is applied alone" in run.err


def test_drift_keeps_to_only_and_refuses_a_target_that_matches_nothing(tree: Path) -> None:
    write(session("first"), session("second"))
    assert apply().code == 0

    narrowed = reconciler("drift", "--only", "Session/first")
    typo = reconciler("drift", "--only", "Session/frist")

    assert narrowed.code == 0, narrowed.err
    assert "(1 session(s) checked)" in narrowed.out
    assert "(2 session(s) checked)" in reconciler("drift").out
    assert typo.code == 1
    assert "--only Session/frist: no manifest under these PATHs" in typo.err
