"""A saved plan (`plan --out plan.json`) is a file that travels: a CI artifact, an
attachment to a review. What `apply plan.json` does must be what was reviewed, so a file
changed in any way that changes what it says, or cut short, is refused whole: nothing is
sent and nothing recorded.

The fuzz runs the reader and the seal check the applier runs (`read_plan`, then
`refuse_tampered` with the inventory's key) on mutated bytes and on mutated values; the
command-line tests apply a few such files for real against the embedded emulator.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.applying import PlanRefusedError, refuse_tampered
from reconciler.inventory import Inventory
from reconciler.planning import Plan, sealed_content, unkeyed_seal
from reconciler.planning.saved import PlanDocumentError, read_plan
from tests.applying.test_cli_apply import apply, live_sessions, reconciler
from tests.evidence import Evidence
from tests.manifests.test_fuzz import json_like, places
from tests.test_cli_plan import DOCTOR, MONDAY, PATIENT, STATE, session, tree, write

__all__ = ["tree"]  # the fixture

CLAIM = "Bad input does no harm"
EXAMPLES = 1000
"""Hypothesis examples per fuzz, times `--soak`."""


@dataclass(frozen=True)
class Reviewed:
    """A saved plan with every kind of session action, as `plan --out` wrote it."""

    text: bytes
    plan: Plan
    targets: dict[str, str]

    def document(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.text)
        return value


@pytest.fixture
def reviewed(tree: Path) -> Reviewed:
    """Two sessions applied; then one renamed with a participant added, one removed
    (a cancel) and one new (a create), saved as plan.json."""
    write(session("first", people=[DOCTOR]), session("second", MONDAY + timedelta(hours=2)))
    assert apply("--auto-approve").code == 0
    write(
        session("first", title="Cardiology review", people=[DOCTOR, PATIENT]),
        session("third", MONDAY + timedelta(days=1)),
    )
    assert reconciler("plan", "--out", "plan.json").code == 0
    text = Path("plan.json").read_bytes()
    saved = read_plan(text)
    kinds = Counter(item.kind.value for item in saved.plan.actions)
    assert kinds == {
        "cancel_session": 1,
        "update_session": 1,
        "create_session": 1,
        "add_participant": 1,
    }
    assert saved.seal.startswith("hmac-sha256:")
    return Reviewed(text, saved.plan, saved.targets)


@pytest.fixture
def inventory() -> Iterator[Inventory]:
    with Inventory.open(STATE) as opened:
        yield opened


def verdict(text: bytes, inventory: Inventory) -> str:
    """What the applier makes of a plan file, before it sends anything: `unreadable`,
    `tampered`, or `accepted`."""
    try:
        saved = read_plan(text)
    except PlanDocumentError:
        return "unreadable"
    try:
        refuse_tampered(saved, inventory.seal)
    except PlanRefusedError:
        return "tampered"
    return "accepted"


# Mutations of the bytes: cut short, bytes changed, bytes added, bytes taken out.


@st.composite
def mutated_bytes(draw: st.DrawFn, text: bytes) -> tuple[str, bytes]:
    at = draw(st.integers(0, len(text) - 1))
    how = draw(st.sampled_from(["truncate", "replace", "insert", "delete"]))
    if how == "truncate":
        return how, text[:at]
    if how == "replace":
        new = draw(st.binary(min_size=1, max_size=8))
        return how, text[:at] + new + text[at + len(new) :]
    if how == "insert":
        return how, text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    length = draw(st.integers(1, 64))
    return how, text[:at] + text[at + length :]


def test_bytes_changed_anywhere_are_refused_unless_the_plan_read_is_the_same(
    reviewed: Reviewed, inventory: Inventory, soak: int, evidence: Evidence
) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES * soak,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(mutated_bytes(reviewed.text))
    def check(mutation: tuple[str, bytes]) -> None:
        how, text = mutation
        found = verdict(text, inventory)
        if found == "accepted":
            # Only a change that leaves the plan as it was may pass: a space added
            # between two tokens, say. Never a plan that says something else.
            again = read_plan(text)
            same = (again.plan, again.targets) == (reviewed.plan, reviewed.targets)
            found = "read as the same plan" if same else "accepted changed"
        seen[found] += 1
        assert found != "accepted changed", how
        if how == "truncate" and text.rstrip() != reviewed.text.rstrip():
            assert found == "unreadable"  # only the closing newline may go

    check()
    assert seen["unreadable"], seen
    assert seen["tampered"], seen
    evidence.record(
        CLAIM,
        "plan.json cut short or its bytes changed (hypothesis)",
        runs=seen.total(),
        refused=seen["unreadable"] + seen["tampered"],
        **{
            "read as the same plan": seen["read as the same plan"],
            "accepted changed": seen["accepted changed"],
        },
    )


# Mutations of the values: any one value anywhere, changed to any other JSON value.


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `document` with the value at `path` replaced by `new`."""
    copy = deepcopy(document)
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return copy


def numbers(value: Any) -> Iterator[float]:
    """The floats anywhere in a JSON value."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from numbers(item)


def at(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def test_any_value_changed_is_refused_even_with_a_fresh_unkeyed_seal(
    reviewed: Reviewed, inventory: Inventory, soak: int, evidence: Evidence
) -> None:
    document = reviewed.document()
    paths = [path for path in places(document) if path and path[0] != "seal"]
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES * soak, deadline=None, database=None)
    @given(st.sampled_from(paths), json_like(), st.booleans())
    def check(path: tuple[Any, ...], new: Any, reseal: bool) -> None:
        old = at(document, path)
        if json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True):
            return  # not a change
        changed = replaced(document, path, new)
        if reseal and all(map(math.isfinite, numbers(new))):
            # What someone without the inventory's salt can do: seal it again, unkeyed
            # (NaN and the infinities have no JSON to seal: the file says `Infinity`).
            changed["seal"] = unkeyed_seal(sealed_content(changed))
        found = verdict(json.dumps(changed, indent=2).encode(), inventory)
        seen[found] += 1
        assert found != "accepted", (path, new)

    check()
    assert seen["tampered"], seen
    evidence.record(
        CLAIM,
        "plan.json with any one value changed, resealed or not (hypothesis)",
        runs=seen.total(),
        refused=seen["unreadable"] + seen["tampered"],
        accepted=seen["accepted"],
    )


# The same refusals from the command line: nothing sent, nothing recorded.


def _drop_first_action(document: dict[str, Any]) -> None:
    document["actions"] = document["actions"][1:]


def _extend_validity(document: dict[str, Any]) -> None:
    document["valid_until"] = "2099-01-01T00:00:00Z"


def _rename_the_create(document: dict[str, Any]) -> None:
    for action in document["actions"]:
        if action["kind"] == "create_session":
            action["payload"]["session_name"] = "Something else"


def _unkeyed(document: dict[str, Any]) -> None:
    """Cancel nothing, and seal it again as a plan made with no inventory would be."""
    document["actions"] = [a for a in document["actions"] if a["kind"] != "cancel_session"]
    document["seal"] = unkeyed_seal(sealed_content(document))


def _made_before_any_inventory(document: dict[str, Any]) -> None:
    """Pass it off as a plan made before the inventory existed, whose seal is unkeyed."""
    document["inventory_lineage"] = ""
    _unkeyed(document)


def _seal_of_another_plan(document: dict[str, Any]) -> None:
    _drop_first_action(document)
    document["seal"] = "hmac-sha256:" + hashlib.sha256(b"another plan").hexdigest()


EDITS = {
    "an action taken out": _drop_first_action,
    "valid_until moved on": _extend_validity,
    "a create's name changed": _rename_the_create,
    "resealed without the key": _unkeyed,
    "passed off as made before the inventory": _made_before_any_inventory,
    "another seal": _seal_of_another_plan,
}


CUTS = (0.001, 0.33, 0.5, 0.99)
"""Where the file is cut short, as a fraction of its length."""


def snapshot() -> tuple[object, ...]:
    """The inventory and the live API, to compare before and after."""
    with Inventory.open(STATE) as inventory:
        serial, records = inventory.snapshot()
        journal = inventory.journal(limit=1000)
    return serial, records, journal, live_sessions()


def test_a_tampered_or_cut_short_plan_file_is_refused_whole_by_apply(
    reviewed: Reviewed, evidence: Evidence
) -> None:
    before = snapshot()
    plan_file = Path("plan.json")
    told: Counter[str] = Counter()
    for label, edit in EDITS.items():
        document = reviewed.document()
        edit(document)
        plan_file.write_text(json.dumps(document, indent=2))
        run = apply("plan.json")  # fails on a traceback
        told["exit 1"] += run.code == 1
        told["changed"] += snapshot() != before
        assert run.code == 1, (label, run.out, run.err)
        assert run.err.startswith("error: plan.json: refused: the plan file was changed after"), (
            label,
            run.err,
        )
        assert told["changed"] == 0, label
    for fraction in CUTS:
        plan_file.write_bytes(reviewed.text[: int(len(reviewed.text) * fraction)])
        run = apply("plan.json")
        told["exit 1"] += run.code == 1
        told["changed"] += snapshot() != before
        assert run.code == 1, (fraction, run.err)
        assert run.err.startswith("error: plan.json: it is not JSON"), run.err
        assert told["changed"] == 0, fraction

    # The file as written is applied: the refusals were the edits'.
    plan_file.write_bytes(reviewed.text)
    applied = apply("plan.json")
    assert applied.code == 0, applied.err
    assert snapshot() != before
    evidence.record(
        CLAIM,
        "tampered or cut-short plan.json given to `apply`",
        runs=len(EDITS) + len(CUTS),
        **told,
    )
