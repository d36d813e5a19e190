"""The plan's text and markdown views, fed plans made by hand: long plans shortened with a
note and never the summary, times in the manifest's offset, irreversible actions called
out, colour only when asked for."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

from reconciler.planning import Change, Ignored, Item, Kind, Plan, Status
from reconciler.render.plan import as_json, as_markdown, as_text, summary

SYDNEY = timezone(timedelta(hours=11))
NEW_YORK = timezone(timedelta(hours=-5))
NOW = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)  # 09:00 on 4 December in Sydney
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=SYDNEY)
WHERE = "against the test"
ESCAPE = "\x1b["
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)")


def create(key: str, start: datetime = MONDAY) -> Item:
    return Item(
        status=Status.ACTION,
        kind=Kind.CREATE_SESSION,
        target=f"Session/{key}",
        reason="create session",
        changes=(
            Change("session_name", None, f"Consultation {key}"),
            Change("start_time", None, start),
            Change("end_time", None, start + timedelta(minutes=30)),
        ),
        expires_at=start,
        starts_at=start,
        payload={"key": key},
    )


def blocked(key: str, start: datetime = MONDAY) -> Item:
    return Item(
        status=Status.BLOCKED,
        kind=Kind.UPDATE_SESSION,
        target=f"Session/{key}",
        reason="a started session cannot be moved",
        changes=(Change("start_time", start, start + timedelta(hours=1)),),
        session_id=f"sess-{key}",
        never=True,
        hint="revert start_time",
        starts_at=start,
    )


def irreversible_plan() -> Plan:
    return Plan(
        created_at=NOW,
        valid_until=MONDAY - timedelta(minutes=1),
        manifest_digest="sha256:" + "0" * 64,
        actions=(
            Item(
                status=Status.ACTION,
                kind=Kind.CANCEL_SESSION,
                target="Session/dropped",
                reason="its manifest was removed",
                session_id="sess-dropped",
                expires_at=MONDAY,
                starts_at=MONDAY,
            ),
            Item(
                status=Status.ACTION,
                kind=Kind.CANCEL_PARTICIPANT,
                target="Session/kept/participants/carer",
                reason="its entry was removed from the manifest",
                session_id="sess-kept",
                participant_hash="ab" * 32,
                starts_at=MONDAY,
            ),
            create("fresh"),
            Item(
                status=Status.ACTION,
                kind=Kind.APPROVE_SNAPSHOT,
                target="SnapshotApproval/keep-photo",
                reason="approve the snapshot",
                changes=(Change("state", "UPLOADED", "APPROVED"),),
                snapshot_id="snap-1",
                payload={"user_endpoint_id": "ep-1"},
            ),
            Item(
                status=Status.ACTION,
                kind=Kind.DISCARD_SNAPSHOT,
                target="SnapshotApproval/drop-photo",
                reason="discard the snapshot",
                changes=(Change("state", "UPLOADED", "DISCARDED"),),
                snapshot_id="snap-2",
                payload={"user_endpoint_id": "ep-1"},
            ),
        ),
    )


def huge_plan(actions: int = 4000, problems: int = 1500) -> Plan:
    return Plan(
        created_at=NOW,
        valid_until=MONDAY - timedelta(minutes=1),
        manifest_digest="sha256:" + "1" * 64,
        actions=tuple(create(f"session-{index:05d}") for index in range(actions)),
        blocked=tuple(blocked(f"started-{index:05d}") for index in range(problems)),
        ignored=Ignored(unmanaged_sessions=3),
    )


# Markdown: the pull-request comment


def test_markdown_of_a_huge_plan_is_shortened_under_the_limit_with_a_note() -> None:
    plan = huge_plan()

    comment = as_markdown(plan, where=WHERE, limit=60_000)

    assert len(comment) <= 60_000
    assert "**Shortened:**" in comment
    assert re.search(r"… \d+ more item\(s\) left out", comment)
    # Every section is still there, with its full count, and still closed.
    assert "<details><summary>Actions (4000)</summary>" in comment
    assert "<details><summary>Blocked (1500)</summary>" in comment
    assert comment.count("<details>") == comment.count("</details>") == 2
    assert comment.count("```") % 2 == 0
    assert "3 live session(s) not in the inventory" in comment


def test_shortened_markdown_shows_each_action_it_keeps_whole() -> None:
    comment = as_markdown(huge_plan(), where=WHERE, limit=60_000)

    actions = comment[comment.index("```diff") : comment.index("</details>")].splitlines()
    kept = [line for line in actions if line.startswith("+ create ")]
    assert len([line for line in actions if "end_time:" in line]) == len(kept)


def test_markdown_never_cuts_the_summary_even_under_a_tiny_limit() -> None:
    plan = huge_plan()

    comment = as_markdown(plan, where=WHERE, limit=100)

    first = comment.splitlines()[0]
    assert first == f"### reconciler plan: {summary(plan).removeprefix('Plan: ')}"
    assert "4000 to create; 1500 blocked." in first
    assert "**Shortened:**" in comment


def test_markdown_that_fits_is_not_shortened() -> None:
    plan = huge_plan(actions=3, problems=1)

    comment = as_markdown(plan, where=WHERE)

    assert "Shortened" not in comment
    assert "left out" not in comment
    assert all(f"Session/session-{index:05d}" in comment for index in range(3))


# Times


def test_times_show_in_the_offset_of_the_manifest() -> None:
    plan = Plan(
        created_at=NOW,
        valid_until=datetime(2026, 12, 6, 21, 59, tzinfo=UTC),
        manifest_digest="sha256:" + "2" * 64,
        actions=(
            Item(
                status=Status.ACTION,
                kind=Kind.UPDATE_SESSION,
                target="Session/sydney",
                reason="update session",
                # The live side arrives in UTC; the manifest wrote +11:00.
                changes=(
                    Change(
                        "end_time",
                        datetime(2026, 12, 6, 22, 30, tzinfo=UTC),
                        MONDAY + timedelta(minutes=45),
                    ),
                ),
                session_id="sess-sydney",
                expires_at=MONDAY + timedelta(minutes=30),
                starts_at=MONDAY,
            ),
            create("new-york", datetime(2026, 12, 8, 9, 0, tzinfo=NEW_YORK)),
        ),
        blocked=(
            Item(
                status=Status.BLOCKED,
                kind=Kind.UPDATE_SESSION,
                target="Session/later",
                reason="not possible yet",
                legal_from=datetime(2026, 12, 7, 0, 0, tzinfo=UTC),
                starts_at=MONDAY,
            ),
        ),
    )

    text = as_text(plan, where=WHERE)
    comment = as_markdown(plan, where=WHERE)

    for shown in (text, comment):
        assert "Made at 2026-12-04T09:00:00+11:00" in shown.replace("Plan made", "Made")
        assert "Valid until 2026-12-07T08:59:00+11:00." in shown
        assert "end_time: 2026-12-07T09:30:00+11:00 → 2026-12-07T09:45:00+11:00" in shown
        assert "start_time: 2026-12-08T09:00:00-05:00" in shown
        assert "possible from: 2026-12-07T11:00:00+11:00" in shown
        assert not any(match.group(1) == "Z" for match in TIME.finditer(shown))
    # The saved plan is for programs: instants in UTC.
    document = json.loads(as_json(plan, targets={}))
    assert document["created_at"] == "2026-12-03T22:00:00Z"
    assert document["actions"][0]["changes"][0]["new"] == "2026-12-06T22:45:00Z"


# Irreversible actions


def test_irreversible_actions_are_marked_in_text() -> None:
    text = as_text(irreversible_plan(), where=WHERE)

    heads = [line for line in text.splitlines() if line[:2] in ("+ ", "~ ", "- ")]
    marked = [line.split()[2] for line in heads if line.endswith("[irreversible]")]
    assert marked == [
        "Session/dropped",
        "Session/kept/participants/carer",
        "SnapshotApproval/drop-photo",
    ]
    assert len(heads) == 5
    assert "(3 irreversible)" in text.splitlines()[-1]


def test_irreversible_actions_are_listed_in_markdown() -> None:
    comment = as_markdown(irreversible_plan(), where=WHERE)

    (note,) = [line for line in comment.splitlines() if "irreversible action(s)" in line]
    assert note == (
        "> **3 irreversible action(s):** `Session/dropped`,"
        " `Session/kept/participants/carer`, `SnapshotApproval/drop-photo`"
    )
    assert comment.index(note) < comment.index("<details>")  # before the folded details
    assert "(3 irreversible)" in comment.splitlines()[0]


def test_irreversible_actions_are_marked_in_json() -> None:
    document = json.loads(as_json(irreversible_plan(), targets={}))

    marked = [item["target"] for item in document["actions"] if item["irreversible"]]
    assert marked == [
        "Session/dropped",
        "Session/kept/participants/carer",
        "SnapshotApproval/drop-photo",
    ]
    assert document["summary"]["irreversible"] == 3


# Colour


def test_colour_codes_only_when_asked_for() -> None:
    plan = irreversible_plan()

    plain = as_text(plan, where=WHERE)
    coloured = as_text(plan, where=WHERE, colour=True)

    assert ESCAPE not in plain
    assert ESCAPE in coloured
    assert re.sub(r"\x1b\[\d+m", "", coloured) == plain
    assert ESCAPE not in as_markdown(plan, where=WHERE)
    assert ESCAPE not in as_json(plan, targets={})
