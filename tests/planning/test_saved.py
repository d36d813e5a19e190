"""Saved plans read back: what `apply PLANFILE` executes is exactly what was written, and
a document that is not a plan of this version is refused whole, saying what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.planning import plan_document, sealed_content, unkeyed_seal
from reconciler.planning.saved import PlanDocumentError, read_plan

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(path.parent.name for path in GOLDEN.glob("*/plan.json"))


def _without_ignored(document: dict[str, Any]) -> dict[str, Any]:
    # What was left alone is shown, not applied: a saved plan does not carry it back.
    # Nor, then, does the seal over it come out the same.
    summary = {key: value for key, value in document["summary"].items() if key != "ignored"}
    return {**document, "summary": summary, "seal": None}


@pytest.mark.parametrize("case", CASES)
def test_every_golden_plan_reads_back_into_the_same_document(case: str) -> None:
    text = (GOLDEN / case / "plan.json").read_text()
    written = json.loads(text)
    saved = read_plan(text)
    again = plan_document(saved.plan, targets=saved.targets)
    assert _without_ignored(again) == _without_ignored(written)
    # What the seal vouches for is all of the document but the seal, as written.
    assert saved.seal == written["seal"]
    assert saved.content == sealed_content(written)
    assert unkeyed_seal(saved.content) == saved.seal


def test_times_in_changes_come_back_as_instants_so_the_applier_can_send_them() -> None:
    plan = read_plan((GOLDEN / "update-session-fields" / "plan.json").read_text()).plan
    moved = [
        change
        for item in plan.actions
        for change in item.changes
        if change.field in ("start_time", "end_time")
    ]
    assert moved, "the case moves a time"
    assert all(change.new.tzinfo is not None for change in moved)


def _golden() -> dict[str, Any]:
    value: dict[str, Any] = json.loads((GOLDEN / "create" / "plan.json").read_text())
    return value


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a reconciler plan"),
        ('{"format": "terraform-plan"}', "not a reconciler plan"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_what_is_not_a_plan_is_refused_saying_so(text: str | bytes, said: str) -> None:
    with pytest.raises(PlanDocumentError, match=said):
        read_plan(text)


def test_a_plan_of_another_version_is_refused_naming_both_versions() -> None:
    document = {**_golden(), "version": 99}
    with pytest.raises(PlanDocumentError, match=r"version 99 plan.*applies version 2"):
        read_plan(json.dumps(document))


@pytest.mark.parametrize("key", ["manifest_digest", "inventory_serial", "scope", "actions", "seal"])
def test_a_plan_missing_a_key_is_refused_naming_the_key(key: str) -> None:
    document = {name: value for name, value in _golden().items() if name != key}
    with pytest.raises(PlanDocumentError, match=key):
        read_plan(json.dumps(document))


def test_a_plan_with_an_unknown_action_kind_is_refused() -> None:
    document = _golden()
    document["actions"][0]["kind"] = "delete_everything"
    with pytest.raises(PlanDocumentError, match=r"actions\.0\.kind"):
        read_plan(json.dumps(document))


def test_a_plan_with_a_serial_written_as_text_is_refused_not_coerced() -> None:
    document = {**_golden(), "inventory_serial": "0"}
    with pytest.raises(PlanDocumentError, match="inventory_serial"):
        read_plan(json.dumps(document))


def test_a_plan_with_an_unreadable_time_is_refused() -> None:
    document = {**_golden(), "valid_until": "next tuesday"}
    with pytest.raises(PlanDocumentError, match="time"):
        read_plan(json.dumps(document))


def test_a_key_written_twice_is_refused_not_read_either_way() -> None:
    text = json.dumps(_golden()).replace(
        '"simulated": false', '"simulated": true, "simulated": false'
    )
    with pytest.raises(PlanDocumentError, match=r"key twice.*'simulated'"):
        read_plan(text)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_number_json_does_not_have_is_refused(constant: str) -> None:
    text = json.dumps(_golden()).replace('"inventory_serial": 0', f'"inventory_serial": {constant}')
    assert constant in text
    with pytest.raises(PlanDocumentError, match="not JSON"):
        read_plan(text)
