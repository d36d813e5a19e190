"""Nothing leaks (DESIGN.md §9): every command of the CLI, in every output format it
offers, with and without `-v`, run with real secrets in play, shows none of them.

The secrets: both APIs' client secrets (and the wrong ones of the 401 runs), every access
and refresh token the emulator issued (captured as it grants them), every participant id
and entry URL (read from the emulator's own database and from the live API), the
inventory's salt, and, for a PostgreSQL inventory, the database password in its URL.

Where they are looked for: each run's stdout, stderr and log records, the plans saved
with `plan --out`, the files the CLI writes (generated manifests, schemas, the parse
cache), the journal as the inventory reads it, and the inventory itself (a SQLite file
with its -wal/-shm side files, or every row of every table of a PostgreSQL schema) after
every run. The one exception is the stdout of `reconciler links`, which must show the
entry URLs (and is checked to show them: it proves the secrets were in play).

One sweep of the matrix runs per world: in-process on SQLite and on PostgreSQL, and as
real `python -m reconciler` processes on SQLite (their real logging handlers and
stderr). The API is a served emulator; the clients' backoff waits are skipped in-process
(the 503 runs retry instantly) and the subprocess sweep leaves out the runs that would
wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from reconciler import engine
from reconciler.cli import main
from reconciler.clients import (
    LiveSession,
    ManualTimer,
    ParticipantDraft,
    SessionDraft,
    SessionFilter,
    Targets,
    Urls,
    connect,
)
from reconciler.emulator import ClientCredentials, make_app
from reconciler.emulator.server import serve_in_background
from reconciler.emulator.tokens import Grant, TokenIssuer
from reconciler.inventory import Inventory, Location, PostgresLocation, parse_location
from tests.conftest import T0
from tests.emulator.api import Auvious
from tests.evidence import Evidence
from tests.inventory.stores import footprint, run_sql
from tests.postgres import inventory_text, server_url
from tests.test_cli_plan import DOCTOR, MONDAY, PATIENT, Person, session

TUESDAY = MONDAY + timedelta(days=1)
TEAM = "team-leaks"
WORLDS = {
    # name: (inventory backend, how the CLI runs)
    "sqlite": ("sqlite", "in-process"),
    "postgresql": ("postgresql", "in-process"),
    "subprocess": ("sqlite", "subprocess"),
}
"""The three sweeps of the matrix."""
SHORTEST_FORM = 12
"""Every form searched for is at least this long, so that a hit is never a coincidence."""


# The secrets, and the forms they could take in a text


@dataclass(frozen=True)
class Secret:
    kind: str
    """participant id, entry URL, access token, refresh token, client secret, salt, or
    database password."""
    value: str

    def forms(self) -> set[str]:
        """The value as it could be written: raw, URL-encoded, JSON- and HTML-escaped,
        and the parts of it that are secret on their own."""
        value = self.value
        escaped = json.dumps(value)[1:-1]
        found = {
            value,
            quote(value, safe=""),
            quote_plus(value),
            escaped,
            escaped.replace("/", "\\/"),
            html.escape(value),
        }
        if self.kind == "entry URL":
            found.add(urlsplit(value).path)  # /session/<participant id>
        if self.kind == "access token":
            found.add(value.rsplit(".", 1)[-1])  # the signature, should a token be cut short
        if self.kind == "salt":
            found.add(value.upper())
        return {form for form in found if len(form) >= SHORTEST_FORM}


CAPABILITIES = frozenset({"participant id", "entry URL"})
"""What `reconciler links` exists to print."""


def hits(text: str | bytes, catalogue: Sequence[Secret], *, allowed: frozenset[str]) -> list[str]:
    """Which secrets of the catalogue (by kind and number) show in `text`."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    found = []
    for number, secret in enumerate(catalogue):
        if secret.kind in allowed:
            continue
        if any(form.encode() in data for form in secret.forms()):
            found.append(f"{secret.kind} #{number}")
    return found


# The runs


@dataclass(frozen=True)
class Run:
    case: str
    code: int
    out: str
    err: str
    log: str
    crash: str | None = None
    """An exception that escaped the CLI (in-process), with its traceback."""


@dataclass
class World:
    name: str
    runner: str
    folder: Path
    """The clinic's repository, the working folder of every run."""
    scratch: Path
    state: str
    location: Location
    emulator_db: Path
    base_url: str
    env: dict[str, str]
    coviu: ClientCredentials
    auvious: ClientCredentials
    db_password: str
    """The PostgreSQL inventory's password (a random stand-in on SQLite)."""
    snapshot_id: str = ""
    version: int = 0
    tokens: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    """The wrong client secrets given in the 401 runs: secrets too."""
    runs: dict[str, Run] = field(default_factory=dict)
    written: dict[str, bytes] = field(default_factory=dict)
    """Files the runs wrote, by path: saved plans, schemas, generated manifests."""
    stores: dict[str, tuple[str, Location, Mapping[str, bytes]]] = field(default_factory=dict)
    """Each distinct content the inventories had after a run: (case, where, footprint)."""
    inventories: list[Location] = field(default_factory=list)
    expected_links: dict[str, set[str]] = field(default_factory=dict)
    """The entry URLs each `links` run must show."""
    by_hand: dict[str, str] = field(default_factory=dict)
    """The ids of sessions made in Coviu by hand, by key."""
    catalogue: list[Secret] = field(default_factory=list)
    """Every secret in play, gathered once the sweep is over."""
    running: str = ""
    """The case running now."""
    searches: int = 0
    """How many times the inventories were searched."""


class Records(logging.Handler):
    """Every log record of a run, as its handlers would format it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def in_process(world: World, case: str, args: Sequence[str], env: Mapping[str, str]) -> Run:
    """Run the command in this process, with stdout, stderr and every log record of the
    project's loggers (DEBUG and up) and of any other (WARNING and up) apart."""
    records = Records()
    root, project = logging.getLogger(), logging.getLogger("reconciler")
    level = project.level
    root.addHandler(records)
    project.setLevel(logging.DEBUG)
    try:
        result = CliRunner().invoke(main, list(args), env=dict(env))
    finally:
        root.removeHandler(records)
        for handler in [h for h in project.handlers if h.get_name() == "reconciler-cli"]:
            project.removeHandler(handler)  # what -v added: the next run starts without it
        project.setLevel(level)
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        crash = "".join(traceback.format_exception(*result.exc_info))
    return Run(
        case,
        result.exit_code,
        result.stdout_bytes.decode("utf-8", "replace"),
        result.stderr_bytes.decode("utf-8", "replace"),
        "\n".join(records.lines),
        crash,
    )


def as_process(world: World, case: str, args: Sequence[str], env: Mapping[str, str]) -> Run:
    """Run `python -m reconciler` as its own process: its logs are on its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env={**world.env, **env},
        cwd=world.folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    crash = done.stderr if "Traceback" in done.stderr else None
    return Run(case, done.returncode, done.stdout, done.stderr, "", crash)


# The cases


Hook = Callable[[World], None]
Args = Callable[[World], Sequence[str]]


@dataclass(frozen=True)
class Case:
    name: str
    """The command line as a reader would write it, e.g. `plan --format json -v`."""
    args: Args
    expect: int = 0
    before: Hook | None = None
    after: Hook | None = None
    env: Callable[[World], Mapping[str, str]] | None = None
    error: bool = False
    """An error path: its evidence goes to its own row."""
    waits: bool = False
    """The clients back off between retries: only in-process, where the wait is skipped."""
    writes: bool = False
    """It may change what the inventory holds: the inventory is searched after it."""
    first: bool = True
    """The first format of its command."""
    saves: bool = False
    """It saves a plan (`plan --out`)."""
    process: bool = False
    """An error path the subprocess sweep runs too (one of each kind)."""


def fixed(*args: str) -> Args:
    return lambda world: args


def variants(
    command: str,
    formats: Sequence[str | None],
    *,
    label: str | None = None,
    extra: Sequence[str] = (),
    out: bool = False,
    **options: Any,
) -> list[Case]:
    """`command` in each of `formats`, without and with -v; `extra` after the format;
    `out`: the plan saved with --out as well."""
    cases = []
    for output_format in formats:
        for verbose in (False, True):
            shown = ["--format", output_format] if output_format is not None else []
            flags = ["-v"] if verbose else []
            name = " ".join([label or command, *shown, *extra, *flags])
            saved = f"{name.replace(' ', '_').replace('/', '_')}.json" if out else None
            words = [*flags, *command.split(), *shown, *extra]
            first = output_format == formats[0]
            args = _with_out(words, saved)
            cases.append(Case(name, args, first=first, saves=out, **options))
    return cases


def _with_out(words: Sequence[str], saved: str | None) -> Args:
    def args(world: World) -> Sequence[str]:
        more = ["--out", str(world.scratch / "plans" / saved)] if saved is not None else []
        return [*words, *more]

    return args


def verbosely(name: str, args: Sequence[str], **options: Any) -> list[Case]:
    """The command without and with -v."""
    return [
        Case(name, fixed(*args), **options),
        Case(f"{name} -v", fixed("-v", *args), **options),
    ]


# What happens between runs: the manifests change, the API changes by hand, faults


def manifests(world: World) -> str:
    """The manifests at `world.version`: consult renamed and given a new visitor (the
    last one removed) each version, skin as it was, and a snapshot approved (discarded
    from version 4)."""
    number = world.version
    visitor = Person(f"visitor-{number}", f"Visitor number {number}", "guest", f"v-{number}")
    decision = "approved" if number < 4 else "discarded"
    approval = "\n".join(
        [
            "apiVersion: reconciler/v1",
            "kind: SnapshotApproval",
            "metadata:",
            "  name: wound-photo-review",
            "spec:",
            "  interaction_id: conv-leaks",
            f"  snapshot_id: {world.snapshot_id}",
            f"  decision: {decision}",
            "  reviewer_endpoint_id: ep-reviewer-1",
        ]
    )
    consult = session(
        "consult", title=f"Cardiology review {number}", people=[DOCTOR, PATIENT, visitor]
    )
    skin = session(
        "skin", TUESDAY, title="Skin check", labels="{clinic: dermatology}", people=[DOCTOR]
    )
    return "---\n".join([consult, skin, approval + "\n"])


def next_version(world: World) -> None:
    world.version += 1
    (world.folder / "sessions.yaml").write_text(manifests(world))


def faults(settings: Mapping[str, Any]) -> Hook:
    def set_faults(world: World) -> None:
        answer = httpx.post(f"{world.base_url}/_emulator/faults", json=dict(settings))
        assert answer.status_code == 200, answer.text

    return set_faults


def once(hook: Hook) -> Hook:
    """`hook`, run before the first case of a group that a sweep runs."""
    done: set[str] = set()

    def run(world: World) -> None:
        if world.name not in done:
            done.add(world.name)
            hook(world)

    return run


def then(*hooks: Hook) -> Hook:
    def run(world: World) -> None:
        for hook in hooks:
            hook(world)

    return run


def made_by_hand(key: str, *, manifest: bool) -> Hook:
    """A session made in Coviu by hand, with a participant; with `manifest`, also its
    manifest, whose participant `import` adopts."""
    start = MONDAY + timedelta(days=2, hours=int(key.rsplit("-", 1)[-1]))
    someone = Person("guest", f"Guest of {key}", "guest", f"g-{key}")

    def make(world: World) -> None:
        draft = SessionDraft(
            session_name=f"By hand {key}",
            start_time=start,
            end_time=start + timedelta(minutes=30),
            participants=(
                ParticipantDraft(display_name=someone.display_name, state=someone.state),
            ),
        )

        async def create() -> str:
            async with connect(targets(world)) as clients:
                return (await clients.coviu.create_session(draft)).session_id

        world.by_hand[key] = asyncio.run(create())
        if manifest:
            (world.folder / f"{key}.yaml").write_text(session(key, start, people=[someone]))

    return make


def imported(key: str, *, verbose: bool) -> Case:
    flags = ["-v"] if verbose else []
    return Case(
        f"import Session/{key} SESSION_ID" + (" -v" if verbose else ""),
        lambda world: [*flags, "import", f"Session/{key}", world.by_hand[key]],
        before=made_by_hand(key, manifest=True),
        writes=True,
    )


def added_by_hand(world: World) -> None:
    """A participant added to consult in Coviu by hand (drift shows it, with no id)."""
    session_id = recorded_id(world, "consult")

    async def add() -> None:
        async with connect(targets(world)) as clients:
            draft = ParticipantDraft(display_name="Walked in", state="by-hand")
            await clients.coviu.add_participant(session_id, draft)

    asyncio.run(add())


def expect_links(case: str) -> Hook:
    """Note the entry URLs of the recorded participants of consult and skin: what `links`
    must show."""

    def note(world: World) -> None:
        live = live_sessions(world)
        with Inventory.open(world.location) as inventory:
            records = [inventory.session(key) for key in ("consult", "skin")]
            hashes = {
                participant.id_hash
                for found in records
                if found is not None
                for participant in found.participants
            }
            world.expected_links[case] = {
                participant.entry_url.get_secret_value()
                for each in live
                for participant in each.participants
                if participant.entry_url is not None
                and not participant.removed
                and inventory.hash_id(participant.participant_id.get_secret_value()) in hashes
            }

    return note


def wrong_secret(variable: str) -> Callable[[World], Mapping[str, str]]:
    def env(world: World) -> Mapping[str, str]:
        wrong = f"wrong-{secrets.token_urlsafe(18)}"
        world.wrong.append(wrong)
        return {variable: wrong}

    return env


def bad_manifest(world: World) -> None:
    """A file with an unknown field and a naive time, and one that is not YAML."""
    (world.folder / "bad.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: Session\nmetadata:\n  name: broken\nspec:\n"
        "  session_name: Broken\n  start_time: 2026-12-07T09:00:00\n  duration: 30m\n"
        "  colour: blue\n"
    )
    (world.folder / "worse.yaml").write_text("kind: Session\nmetadata: [unclosed\n")


def good_manifests(world: World) -> None:
    (world.folder / "bad.yaml").unlink(missing_ok=True)
    (world.folder / "worse.yaml").unlink(missing_ok=True)
    (world.folder / "reconciler.yaml").write_text("{}\n")


def secret_in_config(world: World) -> None:
    """A reconciler.yaml that holds the Coviu secret twice: as a setting of its own, and
    as the password of a URL."""
    secret = world.coviu.secret
    (world.folder / "reconciler.yaml").write_text(
        f"coviu_api_secret: {secret}\n"
        f"coviu_url: https://{world.coviu.key}:{secret}@coviu.example/v1\n"
    )


def refused_state_url(world: World) -> Sequence[str]:
    """An inventory URL with the password, on a port where nothing listens."""
    url = f"postgresql://clinic:{world.db_password}@127.0.0.1:1/clinic"
    return ["state", "list", "--state", url]


def migrate(source: Callable[[World], str], destination: str, *, verbose: bool) -> Case:
    flags = ["-v"] if verbose else []

    def args(world: World) -> Sequence[str]:
        target = world.scratch / "inventory" / destination
        world.inventories.append(target)
        return [*flags, "state", "migrate", "--from", source(world), "--to", str(target)]

    return Case(f"state migrate --to {destination}" + (" -v" if verbose else ""), args, writes=True)


OFF: dict[str, Any] = {}
WRITES = ["POST", "PUT", "PATCH", "DELETE"]
SESSIONS = "/v1/sessions"
"""Faults hit the API's data, never the token endpoint: the runs get as far as the writes."""
GET_503 = {"error_rate": 1.0, "status": 503, "methods": ["GET"], "path_prefix": SESSIONS, "seed": 1}
WRITE_503 = {
    "error_rate": 1.0,
    "status": 503,
    "methods": WRITES,
    "path_prefix": SESSIONS,
    "seed": 2,
}
POST_500 = {
    "error_rate": 1.0,
    "status": 500,
    "methods": ["POST"],
    "path_prefix": SESSIONS,
    "seed": 3,
}
DROPPED = {"drop_after_commit_rate": 1.0, "methods": ["POST"], "path_prefix": SESSIONS, "seed": 4}
WAIT_AN_HOUR = {"rate_limit_rate": 1.0, "retry_after": 3600, "path_prefix": SESSIONS, "seed": 5}


def apply_cases() -> list[Case]:
    """Each apply has something to do: a new version of the manifests first. Then a plan
    saved and applied, in each format."""
    cases = variants("apply --auto-approve", ["text", "json"], before=next_version, writes=True)
    for output_format, flags in (("text", []), ("json", ["-v"])):
        saved = f"plans/saved-{output_format}.json"
        name = " ".join(["plan --out", saved, *flags])
        args = fixed(*flags, "plan", "--out", saved)
        cases.append(Case(name, args, before=next_version, saves=True))
        name = " ".join(["apply PLANFILE --format", output_format, *flags])
        args = fixed(*flags, "apply", saved, "--format", output_format)
        cases.append(Case(name, args, writes=True))
    return cases


def live_cases() -> list[Case]:
    """With sessions live, a hand-made change among them, and a change to plan."""
    cases = variants(
        "plan", ["text", "json", "markdown"], out=True, extra=["--detailed-exitcode"], expect=2
    )
    changes = once(then(next_version, added_by_hand))
    cases = [
        Case(case.name, case.args, expect=2, before=changes, saves=True, first=case.first)
        for case in cases
    ]
    cases += variants("drift", ["text", "json"])
    cases += [
        Case(case.name, case.args, before=expect_links(case.name), first=case.first)
        for case in variants("links", ["text", "csv", "json"])
    ]
    cases += variants("state list", ["text", "json"])
    cases += variants("state show", ["text", "json"], extra=["consult"])
    cases += [imported("hand-1", verbose=False), imported("hand-2", verbose=True)]
    for key, flags in (("hand-3", []), ("hand-4", ["-v"])):
        cases.append(
            Case(
                " ".join(["import --generate generated", *flags]),
                fixed(*flags, "import", "--generate", "generated"),
                before=made_by_hand(key, manifest=False),
                writes=True,
            )
        )
    return cases


def failing_api_cases() -> list[Case]:
    """Writes and reads that fail: 503s retried to the end, 500s, answers lost after
    the write was made, a wait too long to wait."""
    failing: dict[str, Any] = {"expect": 1, "error": True, "after": faults(OFF)}
    cases: list[Case] = []
    # Each waits: the clients retry what they may, and the applier reads back what a
    # write whose answer was lost had done (and, finding it, the apply succeeds).
    for label, settings, code in (
        ("apply (writes answer 503)", WRITE_503, 1),
        ("apply (creates answer 500)", POST_500, 1),
        ("apply (answers lost after commit)", DROPPED, 0),
    ):
        cases += variants(
            "apply --auto-approve",
            ["text", "json"],
            label=label,
            before=then(next_version, faults(settings)),
            waits=True,
            writes=True,
            expect=code,
            error=True,
            after=faults(OFF),
        )
    # The next run finds what the lost answers did, and says so.
    cases += variants(
        "plan",
        ["text"],
        label="plan (after answers were lost)",
        error=True,
        writes=True,
    )
    formats: Sequence[str | None]
    for command, formats in (("plan", ["text", "json", "markdown"]), ("drift", ["text", "json"])):
        cases += variants(
            command,
            formats,
            label=f"{command} (reads answer 503)",
            before=faults(GET_503),
            waits=True,
            **failing,
        )
    for command, formats in (
        ("plan", ["text", "json", "markdown"]),
        ("links", ["text", "csv", "json"]),
        ("ping", [None]),
    ):
        cases += variants(
            command,
            formats,
            label=f"{command} (told to wait an hour: 429)",
            process=command == "plan",
            before=faults(WAIT_AN_HOUR),
            **failing,
        )
    return cases


def bad_input_cases() -> list[Case]:
    """Wrong credentials, bad manifests, a secret in reconciler.yaml, an inventory that
    cannot be reached, names nothing records."""
    cases: list[Case] = []
    formats: Sequence[str | None]
    for command, formats in (
        ("ping", [None]),
        ("plan", ["text", "json", "markdown"]),
        ("apply --auto-approve", ["text", "json"]),
        ("drift", ["text", "json"]),
        ("links", ["text", "csv", "json"]),
        ("import --generate generated-401", [None]),
    ):
        cases += variants(
            command,
            formats,
            label=f"{command} (wrong Coviu secret: 401)",
            process=command == "plan",
            expect=1,
            error=True,
            env=wrong_secret("COVIU_API_SECRET"),
        )
    cases += variants(
        "plan",
        ["text", "json"],
        label="plan (wrong Auvious secret: 401)",
        expect=1,
        error=True,
        env=wrong_secret("AUVIOUS_CLIENT_SECRET"),
    )
    bad: dict[str, Any] = {
        "expect": 1,
        "error": True,
        "before": bad_manifest,
        "after": good_manifests,
    }
    for command, formats in (
        ("validate", ["text", "json", "github"]),
        ("plan", ["text", "json", "markdown"]),
        ("apply --auto-approve", ["text", "json"]),
        ("drift", ["text", "json"]),
    ):
        label = f"{command} (bad manifest)"
        cases += variants(command, formats, label=label, process=command == "plan", **bad)
    cases += verbosely(
        "import Session/broken SESSION_ID (bad manifest)",
        ["import", "Session/broken", "S-1"],
        **bad,
    )
    in_config: dict[str, Any] = {
        "expect": 1,
        "error": True,
        "before": secret_in_config,
        "after": good_manifests,
    }
    for command, formats in (
        ("validate", ["text", "json", "github"]),
        ("plan", ["text", "json", "markdown"]),
        ("ping", [None]),
    ):
        cases += variants(
            command,
            formats,
            label=f"{command} (secret in reconciler.yaml)",
            process=command == "plan",
            **in_config,
        )
    cases.append(
        Case(
            "state list --state postgresql://USER:PASSWORD@nowhere",
            refused_state_url,
            expect=1,
            error=True,
        )
    )
    cases += verbosely("state show nobody", ["state", "show", "nobody"], expect=1, error=True)
    cases += verbosely("links Session/nobody", ["links", "Session/nobody"], expect=1, error=True)
    return cases


def all_cases() -> list[Case]:
    """The sweep, in order: what runs before anything is live, the applies, what runs
    with everything live, the error paths, then the state commands that change it."""
    cases: list[Case] = []
    cases += variants("ping", [None])
    cases += variants("validate", ["text", "json", "github"])
    cases += variants("schema", [None], extra=["--out", "schemas"])
    cases += variants("plan", ["text", "json", "markdown"], out=True)
    cases += verbosely("emulator clock", ["emulator", "clock", "--db", "clock.db"])
    cases += verbosely(
        "emulator clock --advance 1h", ["emulator", "clock", "--db", "clock.db", "--advance", "1h"]
    )
    cases += verbosely("emulator demo", ["emulator", "demo"])
    cases += apply_cases()
    cases += live_cases()
    cases += failing_api_cases()
    cases += bad_input_cases()
    cases += [
        Case("state forget", fixed("state", "forget", "hand-1", "--yes"), writes=True),
        Case("state forget -v", fixed("-v", "state", "forget", "hand-2", "--yes"), writes=True),
    ]
    cases += verbosely("state unlock", ["state", "unlock", "--yes"], writes=True)
    cases += [
        migrate(lambda world: world.state, "moved.db", verbose=True),
        migrate(
            lambda world: str(world.scratch / "inventory" / "moved.db"), "again.db", verbose=False
        ),
    ]
    return cases


CASES = all_cases()
assert len({case.name for case in CASES}) == len(CASES), "two cases share a name"


def runs_in(world: str, case: Case) -> bool:
    """Which cases each sweep runs. In-process on SQLite: all. On PostgreSQL: every case
    that writes the inventory, and every other command and format with -v (the rest is
    the SQLite sweep's). As processes (real logging handlers, a real stderr): every
    command with -v in its first format, and one error path of each kind."""
    backend, runner = WORLDS[world]
    verbose = "-v" in case.name.split()
    if runner == "subprocess":
        return verbose and case.first and (case.process or not case.error)
    if backend == "postgresql":
        return case.writes or case.saves or (verbose and not case.error)
    return True


# The world: a served emulator, a clinic's tree, an inventory; the sweep run on it


def targets(world: World) -> Targets:
    return engine.targets_for([world.folder], flags=Urls(), environ=world.env)


def live_sessions(world: World) -> list[LiveSession]:
    async def read() -> list[LiveSession]:
        async with connect(targets(world)) as clients:
            return await clients.coviu.list_sessions(
                SessionFilter(include_canceled=True, deleted_participants=True)
            )

    return asyncio.run(read())


def recorded_id(world: World, key: str) -> str:
    with Inventory.open(world.location) as inventory:
        found = inventory.session(key)
    assert found is not None, f"Session/{key} is not recorded"
    return found.session_id


def remember_stores(world: World, case: str) -> None:
    """What each inventory holds now, kept if no earlier run left it so."""
    world.searches += 1
    for location in world.inventories:
        seen = footprint(location)
        digest = hashlib.sha256(
            b"".join(name.encode() + b"\0" + data for name, data in sorted(seen.items()))
        ).hexdigest()
        world.stores.setdefault(f"{location}@{digest}", (case, location, seen))


def sweep(world: World) -> None:
    runner = in_process if world.runner == "in-process" else as_process
    for case in CASES:
        if not runs_in(world.name, case):
            continue
        if case.before is not None:
            case.before(world)
        env = case.env(world) if case.env is not None else {}
        world.running = case.name
        world.runs[case.name] = runner(world, case.name, case.args(world), env)
        if case.after is not None:
            case.after(world)
        if case.writes:
            remember_stores(world, case.name)
    remember_stores(world, "the last run")
    folders = [world.scratch / "plans", world.folder / "plans", world.folder / "generated"]
    folders += [world.folder / "schemas", Path(world.env["RECONCILER_CACHE_DIR"])]
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                world.written[str(path)] = path.read_bytes()


@dataclass
class Watching:
    """The emulator, looking into the inventories as each write reaches it: mid-apply,
    while the run holds its inventory open (a SQLite one with its -wal beside it)."""

    app: Any
    world: World | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        world = self.world
        write = scope["type"] == "http" and scope["method"] in WRITES
        if world is not None and write and scope["path"].startswith(SESSIONS):
            remember_stores(world, f"{world.running} (mid-run)")
        await self.app(scope, receive, send)


def client(name: str) -> ClientCredentials:
    return ClientCredentials(key=f"leaks-{name}", secret=secrets.token_urlsafe(24), team=TEAM)


def made_world(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The sweep, run once in world `name`; the tests read what it left."""
    backend, runner = WORLDS[name]
    if backend == "postgresql":
        server_url()  # skip (or, where PostgreSQL is required, fail) first
    scratch = tmp_path_factory.mktemp(f"leaks-{name}")
    folder = scratch / "clinic"
    (folder / ".git").mkdir(parents=True)
    (folder / "reconciler.yaml").write_text("{}\n")
    (scratch / "plans").mkdir()
    (folder / "plans").mkdir()
    (scratch / "inventory").mkdir()
    cache = scratch / "cache"
    cache.mkdir(mode=0o700)
    coviu, auvious = client("coviu"), client("auvious")
    app = make_app(
        db=scratch / "emulator.db",
        initial_clock=T0,
        clients=[coviu, auvious],
        token_ttl_seconds=3600,
    )
    watching = Watching(app)
    with (
        pytest.MonkeyPatch.context() as patch,
        inventory_text(backend, scratch / "inventory") as state,
        serve_in_background(watching) as served,  # type: ignore[arg-type]
    ):
        tokens: list[str] = []
        grant = TokenIssuer.grant

        def granting(issuer: TokenIssuer, *args: Any, **options: Any) -> Grant:
            given = grant(issuer, *args, **options)
            tokens.append(given.access_token)
            if given.refresh_token is not None:
                tokens.append(given.refresh_token)
            return given

        patch.setattr(TokenIssuer, "grant", granting)
        # In-process, the clients' backoff between retries returns at once.
        patch.setattr("reconciler.clients.targets.Timer", lambda: ManualTimer().timer())
        location = parse_location(state)
        password = (
            urlsplit(location.conninfo).password if isinstance(location, PostgresLocation) else None
        )
        env = {
            "COVIU_API_URL": f"{served.base_url}/v1",
            "AUVIOUS_API_URL": served.base_url,
            "COVIU_API_KEY": coviu.key,
            "COVIU_API_SECRET": coviu.secret,
            "AUVIOUS_CLIENT_ID": auvious.key,
            "AUVIOUS_CLIENT_SECRET": auvious.secret,
            "RECONCILER_STATE": state,
            "RECONCILER_CACHE_DIR": str(cache),
            "NO_COLOR": "1",
        }
        for variable, value in env.items():
            patch.setenv(variable, value)
        patch.delenv("PGPASSWORD", raising=False)
        patch.chdir(folder)
        here = World(
            name=name,
            runner=runner,
            folder=folder,
            scratch=scratch,
            state=state,
            location=location,
            emulator_db=scratch / "emulator.db",
            base_url=served.base_url,
            env=dict(os.environ),
            coviu=coviu,
            auvious=auvious,
            db_password=password or f"unused-{secrets.token_urlsafe(12)}",
            tokens=tokens,
            inventories=[location],
        )
        here.snapshot_id = asyncio.run(uploaded(served.base_url, auvious))
        next_version(here)
        watching.world = here
        sweep(here)
        watching.world = None
        here.catalogue = catalogue(here, real_password=password is not None)
        yield here
    app.state.emulator.store.close()


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from made_world("sqlite", tmp_path_factory)


@pytest.fixture(scope="module")
def postgresql_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from made_world("postgresql", tmp_path_factory)


@pytest.fixture(scope="module")
def subprocess_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from made_world("subprocess", tmp_path_factory)


@pytest.fixture(params=list(WORLDS))
def world(request: pytest.FixtureRequest) -> World:
    """Each world in turn, its sweep run once."""
    found: World = request.getfixturevalue(f"{request.param}_world")
    return found


async def uploaded(base_url: str, auvious: ClientCredentials) -> str:
    """A snapshot for the manifests to approve."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        caller = await Auvious.login(http, auvious)
        return await caller.upload("conv-leaks")


def catalogue(world: World, *, real_password: bool) -> list[Secret]:
    """Every secret in play in the world, once the sweep is over."""
    found = [Secret("client secret", world.coviu.secret)]
    found += [Secret("client secret", world.auvious.secret)]
    found += [Secret("client secret", wrong) for wrong in world.wrong]
    if real_password:
        found.append(Secret("database password", world.db_password))
    found += [
        Secret("access token" if token.count(".") == 2 else "refresh token", token)
        for token in dict.fromkeys(world.tokens)
    ]
    with closing(sqlite3.connect(f"file:{world.emulator_db}?mode=ro", uri=True)) as db:
        ids = [str(row[0]) for row in db.execute("SELECT participant_id FROM participants")]
    found += [Secret("participant id", participant_id) for participant_id in ids]
    urls = {
        participant.entry_url.get_secret_value()
        for live in live_sessions(world)
        for participant in live.participants
        if participant.entry_url is not None
    }
    # Each live URL ends in an id the emulator stored: the same ids, from both sides.
    assert {url.rsplit("/session/", 1)[1] for url in urls} <= set(ids)
    origin = next(iter(urls)).rsplit("/session/", 1)[0]
    urls |= {f"{origin}/session/{participant_id}" for participant_id in ids}
    found += [Secret("entry URL", url) for url in sorted(urls)]
    salt = salt_of(world.location)
    found.append(Secret("salt", salt))
    return found


def salt_of(location: Location) -> str:
    """The inventory's salt, read from its table as another program would."""
    rows = run_sql(location, "SELECT value FROM meta WHERE key = 'salt'")
    return str(rows[0][0])


# The tests


def cases_in(world: str) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in CASES if runs_in(world, case)]


def places(run: Run) -> dict[str, str]:
    return {"stdout": run.out, "stderr": run.err, "log": run.log}


@pytest.mark.parametrize("case", cases_in("sqlite"))
def test_no_secret_shows_in_what_a_command_prints_or_logs_on_sqlite(
    sqlite_world: World, case: Case, evidence: Evidence
) -> None:
    assert_shows_no_secret(sqlite_world, case, evidence)


@pytest.mark.parametrize("case", cases_in("postgresql"))
def test_no_secret_shows_in_what_a_command_prints_or_logs_on_postgresql(
    postgresql_world: World, case: Case, evidence: Evidence
) -> None:
    assert_shows_no_secret(postgresql_world, case, evidence)


@pytest.mark.parametrize("case", cases_in("subprocess"))
def test_no_secret_shows_in_what_a_command_prints_or_logs_as_a_process(
    subprocess_world: World, case: Case, evidence: Evidence
) -> None:
    assert_shows_no_secret(subprocess_world, case, evidence)


def assert_shows_no_secret(world: World, case: Case, evidence: Evidence) -> None:
    run = world.runs[case.name]
    catalogue = world.catalogue

    assert run.crash is None, f"{case.name} crashed:\n{run.crash}"
    assert run.code == case.expect, f"{case.name} exited {run.code}:\n{run.out}\n{run.err}"
    searched, found = 0, []
    for place, text in places(run).items():
        shows_links = place == "stdout" and case.name.startswith("links") and run.code == 0
        allowed = CAPABILITIES if shows_links else frozenset()
        found += [f"{place}: {hit}" for hit in hits(text, catalogue, allowed=allowed)]
        searched += 1
    assert not found, f"{case.name} shows secrets: {found}"
    tried = (
        "secrets in every error path (API faults, 401, bad manifests and settings):"
        " stdout, stderr, logs"
        if case.error
        else "secrets in every command × format, with and without -v: stdout, stderr, logs"  # noqa: RUF001
    )
    evidence.record(
        "No leak",
        tried,
        runs=1,
        **{
            "outputs searched": searched,
            "secrets found": len(found),
        },
    )


def test_links_shows_the_entry_urls_the_others_never_show(world: World, evidence: Evidence) -> None:
    kinds = Counter(secret.kind for secret in world.catalogue)
    expected, shown = 0, 0
    for case, urls in world.expected_links.items():
        run = world.runs[case]
        assert run.code == 0, run.err
        assert len(urls) >= 4, "consult's three people and skin's doctor"
        found = [url for url in urls if url in run.out]
        assert len(found) == len(urls), f"{case} leaves out {len(urls) - len(found)} entry URLs"
        expected, shown = expected + len(urls), shown + len(found)
    ran = [case for case in CASES if case.name.startswith("links --") and runs_in(world.name, case)]

    assert len(world.expected_links) == len(ran) > 0
    # Every kind of secret was in play, and many of some.
    assert kinds["client secret"] >= 2
    assert kinds["access token"] >= len(world.runs) // 2
    assert kinds["refresh token"] > 0
    assert kinds["participant id"] >= 6
    assert kinds["entry URL"] == kinds["participant id"]
    assert kinds["salt"] == 1
    assert kinds["database password"] == isinstance(world.location, PostgresLocation)
    evidence.record(
        "No leak",
        "links (the one command that shows entry URLs) shows them: the secrets were in play",
        runs=len(world.expected_links),
        **{
            "entry URLs expected": expected,
            "entry URLs shown": shown,
            "secret values in play": len(world.catalogue),
        },
    )


def test_no_secret_is_in_saved_plans_written_files_or_the_journal(
    world: World, evidence: Evidence
) -> None:
    plans = [path for path in world.written if path.endswith(".json") and "/plans/" in path]
    journal = []
    for location in world.inventories:
        if retired(location):
            continue  # refused now; its journal moved with it, and is read there
        with Inventory.open(location) as inventory:
            journal += [
                json.dumps({**asdict(entry), "state": str(entry.state)}, default=str)
                for entry in inventory.journal(limit=100_000)
            ]
    texts: dict[str, str | bytes] = {
        **world.written,
        **{f"journal entry {n}": row for n, row in enumerate(journal)},
    }

    found = {
        name: shown
        for name, text in texts.items()
        if (shown := hits(text, world.catalogue, allowed=frozenset()))
    }

    assert len(plans) == sum(case.saves for case in CASES if case.name in world.runs)
    applied = [
        run for name, run in world.runs.items() if name.startswith("apply ") and not run.code
    ]
    assert len(journal) >= len(applied) > 0, "every apply that made a change wrote the journal"
    assert not found, f"secrets in {found}"
    evidence.record(
        "No leak",
        "secrets in saved plans (plan --out), files the CLI writes, and journal entries",
        runs=1,
        **{
            "plans searched": len(plans),
            "files searched": len(world.written),
            "journal entries searched": len(journal),
            "secrets found": len(found),
        },
    )


def retired(location: Location) -> bool:
    """Whether `state migrate` has moved this inventory elsewhere."""
    rows = run_sql(location, "SELECT count(*) FROM meta WHERE key = 'moved_to'")
    return bool(rows[0][0])


def test_no_secret_is_in_the_inventory_but_its_own_salt(world: World, evidence: Evidence) -> None:
    catalogue = world.catalogue
    salt = next(secret.value for secret in catalogue if secret.kind == "salt")
    ids = [secret.value for secret in catalogue if secret.kind == "participant id"]
    hashes = {hmac.digest(bytes.fromhex(salt), i.encode(), "sha256").hex().encode() for i in ids}
    found, parts, hashed = [], 0, set()
    for case, location, seen in world.stores.values():
        for part, data in seen.items():
            # The salt lives in the inventory's meta table (in a SQLite file, with the rest).
            own = isinstance(location, Path) or part == "meta"
            allowed = frozenset({"salt"}) if own else frozenset()
            shown = hits(data, catalogue, allowed=allowed)
            found += [f"{location} {part} after {case}: {hit}" for hit in shown]
            hashed |= {digest for digest in hashes if digest in data}
            parts += 1

    assert hashed, "the participants' keyed hashes are in the inventory: looking in the right place"
    if not isinstance(world.location, PostgresLocation):
        names = {name for _, _, seen in world.stores.values() for name in seen}
        assert any(name.endswith("-wal") for name in names), names
    assert not found, f"secrets in the inventory: {found}"
    evidence.record(
        "No leak",
        "secrets in the inventory: SQLite file and -wal/-shm, PostgreSQL rows, after every run",
        runs=world.searches,
        **{
            "inventory states searched": len(world.stores),
            "files or tables searched": parts,
            "secrets found": len(found),
        },
    )
