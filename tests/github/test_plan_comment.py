"""The pull-request comment: the workflow's own github-script `script:`, run under node
(tests/github/comment_harness.js) against a fake pull request's comments. One comment
per manifest tree, found by its marker and updated in place; never anyone else's.

Without node the tests are skipped locally and fail under CI (as tests/js's are)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.github.workflows import step, step_env
from tests.tools import require_tool

pytestmark = pytest.mark.node

HARNESS = Path(__file__).with_name("comment_harness.js")
NODE_TIMEOUT_SECONDS = 60
NODE_NEEDED_BY = "the plan comment's script runs under node"
BOT = "github-actions[bot]"
PLAN = """\
### reconciler plan: 1 to create. Valid until 2026-12-07T08:59:00+11:00.

<details><summary>Actions (1)</summary>

```diff
+ create Session/cardiology-2026-12-07-0900
```

</details>"""
CONTEXT = {
    "repo": {"owner": "harbourside", "repo": "schedule"},
    "issue": {"owner": "harbourside", "repo": "schedule", "number": 7},
    "payload": {"pull_request": {"number": 7, "head": {"sha": "0123456789abcdef" * 2}}},
    "sha": "f" * 40,
    "runId": 4242,
    "serverUrl": "https://github.com",
}


def _marker(tree: str) -> str:
    return f"<!-- reconciler-plan: {tree} -->"


@dataclass
class PullRequest:
    """A pull request's comments, and a runner's temp folder for the plan step's files."""

    temp: Path
    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[list[Any]] = field(default_factory=list)

    def comment_plan(
        self,
        *,
        tree: str = "clinics",
        exitcode: str = "2",
        markdown: str = PLAN,
        errors: str = "",
        validate: str = "0",
        shared: str = "true",
    ) -> str:
        """Run the comment step as the workflow would after a plan; its log lines."""
        markdown_file = self.temp / "reconciler-plan.md"
        errors_file = self.temp / "reconciler-plan.err"
        markdown_file.write_text(markdown)
        errors_file.write_text(errors)
        spec = step("plan", "comment")
        env = {
            "MANIFESTS": tree,
            "SELECTOR": "",
            "COVIU_API_URL": "",
            "AUVIOUS_API_URL": "",
            "PLAN_EXIT": exitcode,
            "PLAN_MARKDOWN": str(markdown_file),
            "PLAN_ERRORS": str(errors_file),
            "VALIDATE_EXIT": validate,
            "INVENTORY_SHARED": shared,
        }
        assert set(step_env("plan", "comment")) == set(env), "the test sets the step's env"
        request = {
            "script": spec["with"]["script"],
            "env": env,
            "context": CONTEXT,
            "comments": self.comments,
        }
        result = subprocess.run(
            [require_tool("node", needed_by=NODE_NEEDED_BY), str(HARNESS)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=False,
            timeout=NODE_TIMEOUT_SECONDS,
        )
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        self.comments = answer["comments"]
        self.calls = answer["calls"]
        return "\n".join(answer["info"])

    def writes(self) -> list[str]:
        return [call[0] for call in self.calls if call[0] != "listComments"]


@pytest.fixture
def pull_request(tmp_path: Path) -> PullRequest:
    return PullRequest(temp=tmp_path)


def _by(login: str, comment_id: int, body: str) -> dict[str, Any]:
    return {"id": comment_id, "user": {"login": login}, "body": body}


def test_the_first_plan_posts_one_comment_with_the_plan_and_its_marker(
    pull_request: PullRequest,
) -> None:
    log = pull_request.comment_plan()

    assert pull_request.writes() == ["createComment"]
    [comment] = pull_request.comments
    body = comment["body"]
    assert body.startswith(_marker("clinics") + "\n")
    assert PLAN in body
    assert "**Merging applies** a fresh plan of the merged commit." in body
    assert "0123456" in body, "the comment names the commit it planned"
    assert "https://github.com/harbourside/schedule/actions/runs/4242" in body
    assert "posted the plan comment" in log
    [listing] = [call for call in pull_request.calls if call[0] == "listComments"]
    assert listing[1]["issue_number"] == 7


def test_a_new_plan_updates_the_same_comment_in_place(pull_request: PullRequest) -> None:
    pull_request.comment_plan()
    [first] = pull_request.comments

    newer = PLAN.replace("1 to create", "2 to create")
    log = pull_request.comment_plan(markdown=newer)

    assert pull_request.writes() == ["updateComment"]
    [comment] = pull_request.comments
    assert comment["id"] == first["id"]
    assert "2 to create" in comment["body"]
    assert "1 to create" not in comment["body"]
    assert "updated the plan comment" in log


def test_each_manifest_tree_has_its_own_comment(pull_request: PullRequest) -> None:
    pull_request.comment_plan(tree="clinics/cardiology")
    pull_request.comment_plan(tree="clinics/cardiology-extra")
    pull_request.comment_plan(tree="clinics/cardiology", markdown=PLAN + "\nagain")

    bodies = [comment["body"] for comment in pull_request.comments]
    assert len(bodies) == 2
    assert bodies[0].startswith(_marker("clinics/cardiology") + "\n")
    assert "again" in bodies[0]
    assert bodies[1].startswith(_marker("clinics/cardiology-extra") + "\n")
    assert "again" not in bodies[1]


def test_someone_elses_comment_quoting_the_marker_is_left_alone(
    pull_request: PullRequest,
) -> None:
    quoted = f"{_marker('clinics')}\nWhy does this plan create a session?"
    pull_request.comments = [_by("alice", 11, quoted)]

    pull_request.comment_plan()

    assert pull_request.writes() == ["createComment"]
    assert pull_request.comments[0] == _by("alice", 11, quoted)
    assert pull_request.comments[1]["user"]["login"] == BOT


def test_the_bots_comment_is_found_past_the_first_page(pull_request: PullRequest) -> None:
    chatter = [_by("alice", number, f"comment {number}") for number in range(1, 151)]
    pull_request.comments = [*chatter]
    pull_request.comment_plan()
    assert len(pull_request.comments) == 151

    pull_request.comment_plan(markdown=PLAN.replace("1 to create", "3 to create"))

    assert pull_request.writes() == ["updateComment"]
    assert len(pull_request.comments) == 151
    assert "3 to create" in pull_request.comments[-1]["body"]
    pages = [call[1]["page"] for call in pull_request.calls if call[0] == "listComments"]
    assert pages == [1, 2]


def test_a_failed_plan_says_so_and_shows_the_error(pull_request: PullRequest) -> None:
    error = (
        "error: postgresql://ci@db.clinic.example/ops?schema=reconciler: cannot connect"
        " to the inventory's database: connection refused"
    )

    pull_request.comment_plan(exitcode="1", markdown="", errors=error)

    body = pull_request.comments[0]["body"]
    assert body.startswith(_marker("clinics") + "\n### reconciler plan failed: `clinics`")
    assert "exited with 1, so there is no plan. **The check fails.**" in body
    assert f"```text\n{error}\n```" in body


TRACEBACK = """\
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/reconciler/cli.py", line 90, in run
    command(*args, **options)
psycopg.OperationalError: connection to postgresql://ci:hunter2-not-shown@db/ops failed
"""


def test_a_failed_plan_shows_only_the_reconcilers_own_messages(
    pull_request: PullRequest,
) -> None:
    errors = (
        "note: took over the lock of apply 42 on ci-runner: its process is gone\n"
        + TRACEBACK
        + "warning: the Auvious API answered slowly\n"
        + "error: cannot reach the inventory\n"
        + "COVIU_API_SECRET=sk_live_looks_secret\n"
        + "1 problem in 1 file"
    )

    pull_request.comment_plan(exitcode="1", markdown="", errors=errors)

    body = pull_request.comments[0]["body"]
    assert (
        "What it said:\n\n```text\n"
        "note: took over the lock of apply 42 on ci-runner: its process is gone\n"
        "warning: the Auvious API answered slowly\n"
        "error: cannot reach the inventory\n```"
    ) in body
    for hidden in ("Traceback", "hunter2", "psycopg", "sk_live", "site-packages", "1 problem"):
        assert hidden not in body


def test_a_failed_plan_with_no_message_of_its_own_points_to_the_log(
    pull_request: PullRequest,
) -> None:
    pull_request.comment_plan(exitcode="1", markdown="", errors=TRACEBACK)

    body = pull_request.comments[0]["body"]
    assert "**The check fails.**" in body
    assert "It printed no message that can be shown here: see the Plan step's log" in body
    assert "Traceback" not in body
    assert "hunter2" not in body
    assert "```" not in body


def test_an_error_holding_backticks_stays_inside_its_fence(pull_request: PullRequest) -> None:
    error = "error: clinics/a.yaml:1:1: Session/x: spec: ```` is not a name"

    pull_request.comment_plan(exitcode="1", markdown="", errors=error)

    assert f"`````text\n{error}\n`````" in pull_request.comments[0]["body"]


def test_a_blocked_plan_says_the_check_fails(pull_request: PullRequest) -> None:
    pull_request.comment_plan(exitcode="3")

    body = pull_request.comments[0]["body"]
    assert PLAN in body
    assert (
        "**The check fails**: the plan above is blocked, unreconcilable, or over the cancel"
        " budget (raise `max_cancels` in `reconciler.yaml` in this pull request if the"
        " cancels are meant)."
    ) in body
    assert "an apply refuses a plan over the cancel budget whole" in body


def test_validation_problems_and_an_unshared_inventory_are_called_out(
    pull_request: PullRequest,
) -> None:
    pull_request.comment_plan(exitcode="1", errors="error: bad", validate="1", shared="false")

    body = pull_request.comments[0]["body"]
    assert "`reconciler validate` found problems" in body
    assert "Set the `RECONCILER_STATE` secret" in body


def test_a_plan_with_nothing_to_do_says_a_merge_changes_nothing(
    pull_request: PullRequest,
) -> None:
    pull_request.comment_plan(exitcode="0", markdown="### reconciler plan: No changes")

    body = pull_request.comments[0]["body"]
    assert "a merge changes nothing" in body
    assert "`reconciler validate` found problems" not in body
    assert "RECONCILER_STATE" not in body


def test_what_the_plan_printed_beside_it_is_shown_collapsed(pull_request: PullRequest) -> None:
    pull_request.comment_plan(errors="recovered Session/a: its create had been applied")

    body = pull_request.comments[0]["body"]
    assert (
        "<details><summary>Messages</summary>\n\n"
        "```text\nrecovered Session/a: its create had been applied\n```"
    ) in body


def test_a_long_error_is_cut_so_the_comment_stays_under_githubs_limit(
    pull_request: PullRequest,
) -> None:
    pull_request.comment_plan(exitcode="1", markdown="", errors="error: " + "x" * 100_000)

    body = pull_request.comments[0]["body"]
    assert len(body) < 65_536
    assert "… cut here: the whole text is in the job's log" in body
