"""The corpus of hostile manifests (issue 10): bad input does no harm.

Every entry of `corpus/` (a file, or a folder of files) is put into a scratch clinic
repository where a valid session was already applied, at the same path it has in this
repository. `validate`, `plan` and `apply --auto-approve` are each run on it; each must
exit 1, name the entry as `path:line` with the message `corpus/expected.json` records,
print no traceback and no line the entry did not earn, and change nothing: not a byte of
the folder (inventory, embedded emulator, manifests) and no write request to the API.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.applying.test_cli_apply import Run, apply, live_sessions, reconciler
from tests.evidence import Evidence
from tests.test_cli_plan import CLOCK, DOCTOR, MONDAY, SETTINGS, STATE, session, tree

__all__ = ["tree"]  # the fixture, used by name

CORPUS = Path(__file__).parent / "corpus"
PLACE = Path("tests/security/corpus")
"""Where an entry sits in the scratch repository: its path in this one."""
NOT_ENTRIES = {"README.md", "expected.json", ".gitattributes"}
APPLIED = "standing-consult"
"""The session applied before any entry is tried (a corpus entry claims its name too)."""
COMMANDS = (("validate",), ("plan",), ("apply", "--auto-approve"))
SUMMARY = re.compile(r"\d+ problems? in \d+ files?")
FORGING = {"Cc", "Zl", "Zp"}
"""Unicode categories that could start a line of their own, or rewrite the terminal."""


@dataclass(frozen=True)
class Entry:
    """One corpus entry and what a user must be told about it."""

    name: str
    tried: str
    line: int
    message: str
    file: str | None = None
    """Which file of a folder entry the problem is in."""
    grow: tuple[str, int] | None = None
    """(text, times): the text is repeated that many times when the entry is placed."""

    @property
    def shown(self) -> str:
        """The path the problem must be reported at, as the command was given it."""
        path = PLACE / self.name
        return str(path / self.file if self.file else path)

    @property
    def is_project(self) -> bool:
        """A folder with its own reconciler.yaml: the root of the manifest tree it is in."""
        return (CORPUS / self.name / "reconciler.yaml").is_file()


def read_index() -> list[Entry]:
    index: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
    return [
        Entry(
            name,
            value["class"],
            value["line"],
            value["message"],
            value.get("file"),
            (value["grow"]["find"], value["grow"]["times"]) if "grow" in value else None,
        )
        for name, value in index.items()
    ]


ENTRIES = read_index()
CLASSES = sorted({entry.tried for entry in ENTRIES})


# The scratch repository


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clinic repository with one session applied: copied, never used in place."""
    folder = tmp_path_factory.mktemp("applied")
    with pytest.MonkeyPatch.context() as patch:
        for name in SETTINGS:
            patch.delenv(name, raising=False)
        patch.setenv("RECONCILER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.chdir(folder)
        (folder / ".git").mkdir()
        (folder / "reconciler.yaml").write_text(f"emulator:\n  clock: {CLOCK.isoformat()}\n")
        (folder / "sessions.yaml").write_text(session(APPLIED, MONDAY, people=[DOCTOR]))
        done = apply("--auto-approve")
        assert done.code == 0, done.err
        assert [found.session_name for found in live_sessions()] == ["Follow-up"]
    return folder


def place(entry: Entry, applied: Path, scratch: Path) -> tuple[Path, list[str]]:
    """Copy the applied repository to `scratch` with `entry` in it; return the folder to
    run in and the PATHs to give. A project entry is the root of the copy (its
    reconciler.yaml replaces the copy's); any other is given after sessions.yaml."""
    source = CORPUS / entry.name
    root = scratch / PLACE / entry.name if entry.is_project else scratch
    shutil.copytree(applied, root)
    target = scratch / PLACE / entry.name
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(grown(source.read_bytes(), entry.grow))
    paths = (
        [str(PLACE / entry.name)]
        if entry.is_project
        else ["sessions.yaml", str(PLACE / entry.name)]
    )
    return scratch, paths


def grown(data: bytes, grow: tuple[str, int] | None) -> bytes:
    """A seed with its text repeated: large inputs are made here, never committed."""
    if grow is None:
        return data
    text, times = grow
    assert data.count(text.encode()) == 1, f"{text!r} must occur once in the seed"
    return data.replace(text.encode(), text.encode() * times)


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: the inventory, the embedded emulator's
    database (its sessions, participants and snapshots), their journals, the manifests."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every request the embedded emulator is sent, as (method, path)."""
    sent: list[tuple[str, str]] = []
    handle = httpx.ASGITransport.handle_async_request

    async def counting(self: httpx.ASGITransport, request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path))
        return await handle(self, request)

    monkeypatch.setattr(httpx.ASGITransport, "handle_async_request", counting)
    return sent


# What a run shows


def problem_line(entry: Entry, run: Run) -> str | None:
    """The output line that reports `entry` at its `path:line:`, if any."""
    at = f"{entry.shown}:{entry.line}:"
    for line in (run.out + run.err).splitlines():
        if line.removeprefix("error: ").startswith(at):
            return line
    return None


def earned(entry: Entry, line: str) -> bool:
    """Whether an output line is one the entry may cause: a problem of one of its files
    (or of sessions.yaml, which it may clash with), or the closing count."""
    told = line.removeprefix("error: ")
    own = (f"{PLACE / entry.name}:", f"{PLACE / entry.name}/", "sessions.yaml:")
    return told.startswith(own) or SUMMARY.fullmatch(told) is not None


def forging(text: str) -> list[str]:
    """Characters of `text` that are not plain text on one line (its newlines apart)."""
    return sorted(
        {f"U+{ord(c):04X}" for c in text if c != "\n" and unicodedata.category(c) in FORGING}
    )


@dataclass
class Tally:
    """What the runs of one class did, counted from what was observed."""

    runs: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    tracebacks: int = 0
    changed: int = 0
    writes: int = 0
    placed: int = 0


def try_entry(
    entry: Entry,
    applied: Path,
    scratch: Path,
    chdir: Callable[[Path], None],
    requests: list[tuple[str, str]],
    tally: Tally,
) -> None:
    """Run the three commands on `entry`, asserting each of its promises."""
    folder, paths = place(entry, applied, scratch)
    chdir(folder)
    before = contents(folder)
    for command in COMMANDS:
        requests.clear()
        run = reconciler(*command, *paths)
        said = run.out + run.err
        # A token request counts too: bad input is refused before the API is asked anything.
        writes = [sent for sent in requests if sent[0] not in ("GET", "HEAD")]
        after = contents(folder)
        tally.runs += 1
        tally.codes[run.code] += 1
        tally.tracebacks += "Traceback" in said
        tally.writes += len(writes)
        tally.changed += after != before
        label = f"{entry.name}: {' '.join(command)}"
        assert run.code == 1, f"{label} exited {run.code}:\n{said}"
        line = problem_line(entry, run)
        assert line is not None, f"{label}: no problem at {entry.shown}:{entry.line}:\n{said}"
        assert entry.message in line, f"{label}: {line}"
        assert [extra for extra in said.splitlines() if not earned(entry, extra)] == [], label
        assert forging(said) == [], label
        assert "Traceback" not in said, label
        assert writes == [], label
        assert sorted(after) == sorted(before), label
        assert [name for name in after if after[name] != before[name]] == [], label


@pytest.fixture
def trying(
    tree: Path,
    applied: Path,
    requests: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[Entry, Tally], None]:
    """Try an entry in a scratch repository of its own, under `tree` (whose fixture clears
    the environment of API settings)."""
    made = iter(range(1_000))

    def run(entry: Entry, tally: Tally) -> None:
        scratch = tree / f"try-{next(made)}"
        try_entry(entry, applied, scratch, monkeypatch.chdir, requests, tally)
        tally.placed += 1

    return run


# The tests


def test_the_corpus_holds_at_least_forty_files_each_of_them_indexed() -> None:
    on_disk = {path.name for path in CORPUS.iterdir()} - NOT_ENTRIES
    assert on_disk == {entry.name for entry in ENTRIES}
    files = [path for path in CORPUS.rglob("*") if path.is_file() and path.name not in NOT_ENTRIES]
    assert len(files) >= 40
    assert max(path.stat().st_size for path in files) < 4_096  # large inputs are grown
    assert all(entry.line >= 1 and entry.message for entry in ENTRIES)


def test_the_scratch_repository_has_a_session_live_and_nothing_to_do(
    tree: Path,
    applied: Path,
    requests: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What makes "nothing changed" mean something: there is an inventory and a live
    # session, and the same commands on the valid manifest alone succeed.
    copy = tree / "copy"
    shutil.copytree(applied, copy)
    monkeypatch.chdir(copy)
    assert (copy / STATE).is_file()
    assert len(live_sessions()) == 1
    requests.clear()
    for command in COMMANDS:
        assert reconciler(*command, "sessions.yaml").code == 0, command
    assert ("GET", "/v1/sessions") in requests  # what the corpus tests count is seen
    assert [sent for sent in requests if sent[0] != "GET" and sent[1] != "/v1/auth/token"] == []


@pytest.mark.parametrize("tried", CLASSES)
def test_each_hostile_manifest_is_refused_at_its_line_and_changes_nothing(
    tried: str, trying: Callable[[Entry, Tally], None], evidence: Evidence
) -> None:
    entries = [entry for entry in ENTRIES if entry.tried == tried]
    tally = Tally()
    for entry in entries:
        trying(entry, tally)
    assert tally.placed == len(entries)
    assert tally.codes[1] == tally.runs == len(COMMANDS) * len(entries)
    assert (tally.tracebacks, tally.changed, tally.writes) == (0, 0, 0)
    evidence.record(
        "Bad input does no harm",
        f"hostile manifests: {tried}",
        runs=tally.runs,
        **{"exit 1": tally.codes[1], "traceback": tally.tracebacks, "changed": tally.changed},
    )
