"""The one piece of glue: it reads what the library may not (the environment, the wall
clock, the project config), chooses the API targets, and calls the library.

Nothing below this module reads the environment or the wall clock; they are passed in.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.applying import (
    Applier,
    PlanRefusedError,
    Recovered,
    Report,
    Result,
    recover,
    refuse_expired,
    refuse_foreign,
    refuse_stale,
    refuse_tampered,
    settle_applied,
    unvouched,
)
from reconciler.clients import (
    ApiError,
    Clients,
    NotFoundError,
    Probe,
    RateLimit,
    SessionCanceledError,
    Targets,
    Tuning,
    Urls,
    choose_targets,
    connect,
)
from reconciler.clients import LiveSession as ApiSession
from reconciler.emulator.embedded import DEFAULT_DB
from reconciler.errors import InputError
from reconciler.inventory import (
    Dump,
    Inventory,
    InventoryError,
    Location,
    LocationError,
    LockedError,
    LockInfo,
    parse_location,
    session_key,
)
from reconciler.manifests import (
    ProjectConfig,
    RateLimitSettings,
    find_config_path,
    load,
    load_config,
)
from reconciler.manifests.cache import cache_folder
from reconciler.manifests.staging import Staged
from reconciler.planning import (
    Desired,
    Drift,
    Plan,
    Sealer,
    SelectorError,
    desired_state,
    find_drift,
    labelled,
    make_plan,
    parse_only,
    parse_selector,
    unkeyed_seal,
    unmatched_selection,
)
from reconciler.planning.adopt import (
    AdoptionError,
    Draft,
    Skipped,
    draft,
    label_selector,
    match_participants,
    unmanaged_sessions,
)
from reconciler.planning.imports import Generated, Imported, Written, record_of, written
from reconciler.planning.naming import parse_offset
from reconciler.planning.saved import Saved, read_plan
from reconciler.planning.state import LiveSession, Observation, SessionRecord
from reconciler.planning.times import write_instant
from reconciler.refresh import EntryLink, live, observe, read_sessions
from reconciler.refresh import links as refresh_links

APPLY_HOLDER = "reconciler apply"
MIGRATE_HOLDER = "reconciler state migrate"

DEFAULT_STATE = Path(".reconciler/state.db")
"""The inventory when nothing names one: under the project's root (the folder holding
reconciler.yaml), else under the folder the command runs from."""
STATE_VARIABLE = "RECONCILER_STATE"
DEFAULT_MAX_CANCELS = 10
"""The cancel budget when neither --max-cancels nor reconciler.yaml sets one."""
UNMANAGED_LOOKBACK = timedelta(days=1)
"""How far back `drift` and `import --generate` list live sessions for unmanaged ones:
those that started up to a day ago and still run are among them; a longer one that
started earlier is not (the whole history is never read)."""


class StateLocationError(InputError):
    """`--state`, RECONCILER_STATE or reconciler.yaml names an inventory that cannot be used."""


class CancelBudgetError(InputError):
    """A plan cancels more than the cancel budget allows, and --allow-mass-cancel was not
    given: nothing is applied."""


@dataclass(frozen=True)
class Project:
    """A tree's reconciler.yaml: its settings, and the folder relative paths in it mean."""

    config: ProjectConfig
    root: Path
    """The folder of reconciler.yaml, or the current folder without one."""

    @classmethod
    def of(cls, paths: Sequence[Path]) -> Project:
        """The project whose first PATH is `paths[0]` (default `.`); read once."""
        first = paths[0] if paths else Path(".")
        return cls.found(load_config(first), find_config_path(first))

    @classmethod
    def found(cls, config: ProjectConfig, located: Path | str | None) -> Project:
        """The project of `config`, read from the file `located` (None: there is none)."""
        return cls(config, Path(located).parent if located else Path("."))


def state_path(
    paths: Sequence[Path],
    *,
    flag: str | None,
    environ: Mapping[str, str],
    project: Project | None = None,
) -> Location:
    """The inventory: --state > RECONCILER_STATE > reconciler.yaml `state` (a file relative
    to reconciler.yaml, or a PostgreSQL URL) > `.reconciler/state.db` beside
    reconciler.yaml, or here without one."""
    project = project or Project.of(paths)
    if flag:
        text, origin = flag, "--state"
    elif environ.get(STATE_VARIABLE):
        text, origin = environ[STATE_VARIABLE], STATE_VARIABLE
    elif project.config.state:
        text, origin = project.config.state, "reconciler.yaml state"
    else:
        return project.root / DEFAULT_STATE
    try:
        location = parse_location(text)
    except LocationError as error:
        raise StateLocationError(f"{origin}: {error}") from None
    if origin.startswith("reconciler.yaml"):
        if isinstance(location, Path):
            return project.root / location
        if location.secrets:  # reconciler.yaml is in git (its own check reads loosely)
            raise StateLocationError(
                f"{origin}: a password does not belong in reconciler.yaml, which is kept in"
                " git: set PGPASSWORD, use ~/.pgpass, or give the URL in RECONCILER_STATE"
            )
    return location


def targets_for(
    paths: Sequence[Path],
    *,
    flags: Urls,
    environ: Mapping[str, str],
    project: Project | None = None,
    parallelism: int = 1,
) -> Targets:
    """The API targets for a manifest tree: flag > environment > reconciler.yaml > embedded.
    (`parallelism`: how many actions an apply runs at once.)"""
    project = project or Project.of(paths)
    config = project.config
    return choose_targets(
        flags=flags,
        environ=environ,
        config=Urls(coviu=config.coviu_url, auvious=config.auvious_url),
        embedded_db=embedded_db(project),
        embedded_clock=config.emulator.clock,
        rate_limit=rate_limit(config.rate_limit, parallelism),
    )


def rate_limit(settings: RateLimitSettings, parallelism: int = 1) -> RateLimit:
    """reconciler.yaml's `rate_limit` with the defaults filled in: 10 calls a second, bursts
    of one second's calls, 8 calls open at once or as many as the apply runs actions."""
    default = RateLimit()
    per_second = settings.per_second or default.per_second
    return RateLimit(
        per_second=per_second,
        burst=settings.burst or max(1, round(per_second)),
        in_flight=settings.in_flight or max(default.in_flight, parallelism),
    )


def embedded_db(project: Project) -> Path:
    """The embedded emulator's database: beside the inventory, under the project's root,
    so every command of a project meets the same live state from whichever folder."""
    return project.root / DEFAULT_DB


@dataclass(frozen=True)
class PingResult:
    """How each service answered, and the local clock when it was asked."""

    targets: Targets
    probes: tuple[Probe, ...]
    failures: tuple[ApiError, ...]
    local_time: datetime


def ping(targets: Targets) -> PingResult:
    """Ask both services for an authenticated read; report each one's clock and speed."""
    return asyncio.run(_ping(targets))


async def _ping(targets: Targets) -> PingResult:
    async with connect(targets) as clients:
        results = await asyncio.gather(
            clients.coviu.probe(), clients.auvious.probe(), return_exceptions=True
        )
    probes = tuple(result for result in results if isinstance(result, Probe))
    failures = []
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, ApiError):
            raise result
        if isinstance(result, ApiError):
            failures.append(result)
    return PingResult(targets, probes, tuple(failures), datetime.now(UTC))


@dataclass(frozen=True)
class Planned:
    """A plan, and what it was made from."""

    plan: Plan
    targets: Targets
    state: Location
    recovered: tuple[Recovered, ...] = ()
    """Writes of an interrupted apply that were resolved before planning."""
    busy: LockInfo | None = None
    """An apply holds the inventory: writes it has in flight are not in this plan."""
    max_cancels: int = DEFAULT_MAX_CANCELS
    """The cancel budget an apply of this plan would be held to."""
    seal: Sealer = unkeyed_seal
    """Seals the plan's document for saving: keyed with the inventory's salt, so that
    `apply PLANFILE` can tell the file was not changed since."""


@dataclass(frozen=True)
class _Run:
    """What one command read before talking to the APIs."""

    desired: Desired
    targets: Targets
    state: Location
    paths: tuple[str, ...]
    max_cancels: int = DEFAULT_MAX_CANCELS
    """The cancel budget: --max-cancels > reconciler.yaml `max_cancels` > 10."""


@dataclass(frozen=True)
class Selection:
    """What one run plans: manifests matching all of `selector`'s labels and, if `only`
    names any, only those `Kind/name` targets (both as the user wrote them)."""

    selector: Sequence[str] | Mapping[str, str] = ()
    only: Sequence[str] = ()


def _prepare(
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    selection: Selection,
    environ: Mapping[str, str],
    max_cancels: int | None = None,
    parallelism: int = 1,
) -> _Run:
    selector = selection.selector
    chosen = dict(selector) if isinstance(selector, Mapping) else parse_selector(selector)
    only = parse_only(selection.only)
    loaded = load(paths, cache=cache_folder(environ))
    desired = desired_state(loaded, paths=[str(path) for path in paths], selector=chosen, only=only)
    project = Project.found(loaded.config, loaded.config_path)
    targets = targets_for(
        paths, flags=flags, environ=environ, project=project, parallelism=parallelism
    )
    location = state_path(paths, flag=state, environ=environ, project=project)
    budget = next(
        (value for value in (max_cancels, loaded.config.max_cancels) if value is not None),
        DEFAULT_MAX_CANCELS,
    )
    return _Run(desired, targets, location, tuple(str(path) for path in paths), budget)


def plan(
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    selection: Selection = Selection(),
    at: datetime | None = None,
    environ: Mapping[str, str],
    max_cancels: int | None = None,
) -> Planned:
    """Load, refresh and plan: what `reconciler plan` shows. Writes nothing, except to
    finish the records of an apply that was killed (see `applying.recovery`)."""
    run = _prepare(
        paths,
        flags=flags,
        state=state,
        selection=selection,
        environ=environ,
        max_cancels=max_cancels,
    )
    with Inventory.open(run.state) as inventory:
        return asyncio.run(_plan(run, inventory, at))


async def _plan(run: _Run, inventory: Inventory, at: datetime | None) -> Planned:
    async with connect(run.targets) as clients:
        recovered, busy = await _recover_if_free(clients, inventory)
        made = await _make(clients, run, inventory, at)
    return Planned(made, run.targets, run.state, recovered, busy, run.max_cancels, inventory.seal)


async def _make(clients: Clients, run: _Run, inventory: Inventory, at: datetime | None) -> Plan:
    """Refresh and plan, from the inventory as it is now."""
    serial, records = inventory.snapshot()
    _refuse_unmatched(run, records)
    # The one reading of time: the server's clock (local only if it sends none).
    now = at or await _server_clock(clients)
    observation = await observe(
        clients,
        records,
        run.desired.approvals,
        now=now,
        hash_id=inventory.hash_id,
        desired=run.desired.sessions,
    )
    made = make_plan(
        run.desired,
        records,
        observation,
        now=now,
        simulated=at is not None,
        inventory_serial=serial,
    )
    return replace(made, paths=run.paths, inventory_lineage=inventory.lineage)


def _refuse_unmatched(run: _Run, records: Sequence[SessionRecord]) -> None:
    """A --selector or --only that matches nothing is refused before any API call: it is
    a typo, not an empty plan."""
    unmatched = unmatched_selection(run.desired, records)
    if unmatched:
        raise SelectorError("; ".join(unmatched))


async def _recover_if_free(
    clients: Clients, inventory: Inventory
) -> tuple[tuple[Recovered, ...], LockInfo | None]:
    """Resolve an interrupted apply's writes, if there are any and no apply is running."""
    if not inventory.exists or not inventory.pending():
        return (), None
    try:
        with _holding(inventory, "reconciler plan (recovery)"):
            return await recover(clients, inventory, wall=_wall), None
    except LockedError as held:
        return (), held.lock


def over_budget(cancels: int, budget: int) -> str:
    """Why an apply refuses a plan that cancels `cancels`, over `budget`."""
    return (
        f"refusing to apply: the plan cancels {cancels} sessions and participants, more"
        f" than the cancel budget of {budget} (--max-cancels, or max_cancels in"
        " reconciler.yaml); nothing was applied. Check that no manifest folder went"
        " missing, then pass --allow-mass-cancel if these cancels are meant"
    )


@dataclass(frozen=True)
class Applied:
    """What an apply did, and where."""

    report: Report
    targets: Targets
    state: Location
    took_over: LockInfo | None = None
    """The lock of a run that had died, which this one took over."""


@dataclass(frozen=True)
class Hooks:
    """How an apply talks to the person running it (the CLI fills these in)."""

    show: Callable[[Plan], None] = lambda plan: None
    """Called with the plan before anything is applied."""
    confirm: Callable[[Plan], bool] | None = None
    """Asked before applying a fresh plan that has actions; None: do not ask."""
    starting: Callable[[Plan], None] = lambda plan: None
    """Called when the plan's actions are about to run (after confirmation)."""
    result: Callable[[Result], None] | None = None
    """Called as each action ends."""
    recovered: Callable[[Recovered], None] = lambda recovered: None


@dataclass(frozen=True)
class Budget:
    """How many cancels an apply may make: `max_cancels` (None: reconciler.yaml's, else
    10), or any number with `allow_mass_cancel`."""

    max_cancels: int | None = None
    allow_mass_cancel: bool = False


def apply(
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    selection: Selection = Selection(),
    environ: Mapping[str, str],
    parallelism: int = 4,
    hooks: Hooks | None = None,
    tuning: Tuning | None = None,
    budget: Budget = Budget(),
) -> Applied:
    """Plan the manifests under `paths` and apply the plan, holding the inventory's lock.
    (`tuning`: how hard the clients retry; tests make the waits short.)"""
    run = _prepare(
        paths,
        flags=flags,
        state=state,
        selection=selection,
        environ=environ,
        max_cancels=budget.max_cancels,
        parallelism=parallelism,
    )
    return _applying(run, None, parallelism, hooks or Hooks(), tuning, budget.allow_mass_cancel)


def apply_saved(
    plan_file: Path,
    *,
    flags: Urls,
    state: str | None,
    environ: Mapping[str, str],
    parallelism: int = 4,
    hooks: Hooks | None = None,
    tuning: Tuning | None = None,
    budget: Budget = Budget(),
) -> Applied:
    """Apply the plan saved in `plan_file` exactly, or refuse it whole."""
    try:
        text = plan_file.read_bytes()
    except OSError as error:
        raise InputError(f"{plan_file}: cannot read the plan: {error.strerror or error}") from None
    try:
        read = read_plan(text)
    except InputError as error:
        raise InputError(f"{plan_file}: {error}") from None
    saved = read.plan
    paths = [Path(path) for path in saved.paths]
    run = _prepare(
        paths,
        flags=flags,
        state=state,
        selection=Selection(saved.selector, saved.only),
        environ=environ,
        max_cancels=budget.max_cancels,
        parallelism=parallelism,
    )
    try:
        refuse_foreign(
            saved, digest=run.desired.digest, targets=run.targets.describe(), made_for=read.targets
        )
        return _applying(run, read, parallelism, hooks or Hooks(), tuning, budget.allow_mass_cancel)
    except PlanRefusedError as error:
        raise PlanRefusedError(f"{plan_file}: refused: {error}") from None


def _applying(
    run: _Run,
    saved: Saved | None,
    parallelism: int,
    hooks: Hooks,
    tuning: Tuning | None,
    allow_mass_cancel: bool,
) -> Applied:
    with Inventory.open(run.state, create=True) as inventory, _holding(inventory) as lock:
        # Two event loops, the question between them: Ctrl-C at the prompt must stop
        # the run at once, and an event loop would only cancel its task.
        recovered, chosen, fresh = asyncio.run(_planning(run, inventory, saved, hooks, tuning))
        hooks.show(chosen)
        if chosen.cancels > run.max_cancels and not allow_mass_cancel:
            raise CancelBudgetError(over_budget(chosen.cancels, run.max_cancels))
        if saved is None and chosen.actions and hooks.confirm and not hooks.confirm(chosen):
            report = Report(chosen, recovered=recovered, declined=True)
        else:
            started = time.monotonic()
            results = asyncio.run(
                _executing(run, inventory, chosen, fresh, parallelism, hooks, tuning)
            )
            report = Report(chosen, results, recovered, seconds=time.monotonic() - started)
    return Applied(report, run.targets, run.state, lock.taken_over)


async def _planning(
    run: _Run,
    inventory: Inventory,
    saved: Saved | None,
    hooks: Hooks,
    tuning: Tuning | None,
) -> tuple[tuple[Recovered, ...], Plan, Plan]:
    """Recover, then plan: the plan to apply (fresh, or the saved one if it still may be
    applied) and a fresh plan (the same one, for a fresh apply). A saved plan that may
    not be applied is refused before anything is refreshed or shown."""
    async with connect(run.targets, tuning=tuning) as clients:
        recovered = await recover(clients, inventory, wall=_wall)
        for each in recovered:
            hooks.recovered(each)
        if saved is not None:
            plan = saved.plan
            refuse_stale(plan, serial=inventory.serial, lineage=inventory.lineage)
            refuse_tampered(saved, inventory.seal)
            if plan.actions:
                refuse_expired(plan, await _server_now(clients))
        fresh = await _make(clients, run, inventory, None)
    return recovered, saved.plan if saved else fresh, fresh


async def _executing(
    run: _Run,
    inventory: Inventory,
    chosen: Plan,
    fresh: Plan,
    parallelism: int,
    hooks: Hooks,
    tuning: Tuning | None,
) -> tuple[Result, ...]:
    async with connect(run.targets, tuning=tuning) as clients:
        if chosen.actions:
            refuse_expired(chosen, await _server_now(clients))
        hooks.starting(chosen)
        applier = Applier(
            clients=clients,
            inventory=inventory,
            desired=run.desired,
            run=uuid.uuid4().hex,
            wall=_wall,
            parallelism=parallelism,
            on_result=hooks.result,
        )
        # A saved action runs only as the fresh plan would run it: what a hand-edited
        # file says beyond the manifests and the inventory is never sent.
        results = await applier.apply(chosen, unvouched=unvouched(chosen, fresh))
    settle_applied(inventory, run.desired, fresh, results, now=_wall())
    return results


async def _server_clock(clients: Clients) -> datetime:
    """The server's time, from the latest answer's Date (the local clock only if it sends
    none): the one reading of time a command makes."""
    return await clients.coviu.server_time() or datetime.now(UTC)


async def _server_now(clients: Clients) -> datetime:
    """The server's time now: a fresh answer's Date (a confirmation may have taken long)."""
    probe = await clients.coviu.probe()
    return probe.server_time or datetime.now(UTC)


@contextmanager
def _holding(inventory: Inventory, holder: str = APPLY_HOLDER) -> Iterator[LockInfo]:
    """The inventory's lock, for this process until the block ends (an abandoned lock
    is taken over: see `_abandoned`); released only if it is still this process's."""
    lock = inventory.lock(holder, os.getpid(), this_host(), _wall(), abandoned=_abandoned)
    try:
        yield lock
    finally:
        held = inventory.lock_info()
        if held is not None and (held.pid, held.host) == (lock.pid, lock.host):
            inventory.unlock()


IMPORT_HOLDER = "reconciler import"


def import_session(
    target: str,
    session_id: str,
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    environ: Mapping[str, str],
) -> Imported:
    """Adopt live session `session_id` as `target` (NAME or Session/NAME), whose manifest
    is under `paths`: record it, and each participant of the manifest that exactly one
    live participant matches by display name and state. Nothing is created before every
    check has passed."""
    key = session_key(target)
    only = Selection(only=(f"Session/{key}",))
    run = _prepare(paths, flags=flags, state=state, selection=only, environ=environ)
    desired = run.desired.sessions[0] if run.desired.sessions else None
    if desired is None:
        raise AdoptionError(
            f"Session/{key}: no manifest under {', '.join(run.paths) or '.'} declares it:"
            " write its manifest first, or use `reconciler import --generate DIR` to write"
            " manifests for the live sessions nobody manages"
        )
    with Inventory.open(run.state) as inventory:
        if _recorded_already(inventory.sessions(), key, session_id):
            return Imported(key, session_id, str(run.state), already=True)
    found, now = asyncio.run(_adoptable(run.targets, session_id))
    seen = live(found, lambda participant_id: "")  # positions matter here, not hashes
    matching = match_participants(f"Session/{key}", desired.participants, seen.participants)
    with (
        Inventory.open(run.state, create=True) as inventory,
        _holding(inventory, IMPORT_HOLDER),
    ):
        if _recorded_already(inventory.sessions(), key, session_id):
            return Imported(key, session_id, str(run.state), already=True)
        _refuse_pending(inventory)
        seen = live(found, inventory.hash_id)
        record = record_of(key, seen, matching.adopted)
        with inventory.writing(now=_wall()) as batch:
            batch.put(record)
        serial = inventory.serial
    observed = Observation(sessions={session_id: seen})
    return Imported(
        key,
        session_id,
        str(run.state),
        adopted=record.participants,
        missing=matching.missing,
        unmanaged=tuple(
            (seen.participants[index].display_name, seen.participants[index].role)
            for index in matching.unmanaged
        ),
        plan=make_plan(run.desired, (record,), observed, now=now, inventory_serial=serial),
    )


def _refuse_pending(inventory: Inventory) -> None:
    """Refuse to adopt while an interrupted apply's writes are unresolved: a create it may
    have made looks like a session nobody manages, and adopting it under another name
    would let the next plan conclude the create never happened, and make it again."""
    pending = inventory.pending()
    if pending:
        raise AdoptionError(
            f"{inventory.location}: an interrupted apply left {len(pending)} write(s)"
            " unresolved in the journal; nothing was written: run `reconciler plan` (or"
            " `reconciler apply`) first, which resolves them, then import again"
        )


def _recorded_already(records: Sequence[SessionRecord], key: str, session_id: str) -> bool:
    """Whether `key` records `session_id` already; refuse if either is recorded otherwise."""
    for record in records:
        if (record.key, record.session_id) == (key, session_id):
            return True
        if record.key == key:
            raise AdoptionError(
                f"Session/{key} is already recorded for live session {record.session_id}:"
                f" to adopt {session_id} in its place, run `reconciler state forget {key}`"
                f" first (live session {record.session_id} is left as it is); nothing was"
                " written"
            )
        if record.session_id == session_id:
            raise AdoptionError(
                f"live session {session_id} is already recorded as Session/{record.key}:"
                " a live session belongs to one manifest; nothing was written"
            )
    return False


async def _adoptable(targets: Targets, session_id: str) -> tuple[ApiSession, datetime]:
    """Live session `session_id` and the server's time, if it may be adopted."""
    async with connect(targets) as clients:
        try:
            found = await clients.coviu.get_session(session_id)
        except SessionCanceledError:
            found = None
        except NotFoundError:
            raise AdoptionError(
                f"live session {session_id}: Coviu ({targets.coviu_url}) has no such session"
                " for these credentials; nothing was written"
            ) from None
        now = await _server_clock(clients)
    if found is None or found.canceled_at is not None:
        raise AdoptionError(
            f"live session {session_id} was cancelled, and a cancelled session never comes"
            " back: there is nothing to adopt; nothing was written"
        )
    if found.end_time <= now:
        raise AdoptionError(
            f"live session {session_id} finished at {write_instant(found.end_time)}: a"
            " finished session is history and is never managed; nothing was written"
        )
    return found, now


def generate_imports(
    folder: Path,
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    selector: Sequence[str] = (),
    utc_offset: str | None = None,
    environ: Mapping[str, str],
) -> Generated:
    """Write a manifest into `folder` for every live session nobody manages (not
    cancelled, not finished, in no record), and adopt them all: every file and record
    lands, or none (see `manifests.staging`). Names are unique against the manifests
    under `paths` (and `folder`) and the inventory's keys."""
    zone = parse_offset(utc_offset) if utc_offset else UTC
    labels = label_selector(parse_selector(selector))
    project = Project.of(paths)
    _refuse_outside(folder, project.root)
    roots = [*(paths or [Path(".")])]
    if folder.is_dir() and not any(_inside(folder, root) for root in roots):
        roots.append(folder)  # its manifests' names are taken too
    loaded = load(roots, allow_empty=True, cache=cache_folder(environ))
    targets = targets_for(paths, flags=flags, environ=environ, project=project)
    location = state_path(paths, flag=state, environ=environ, project=project)
    with Inventory.open(location) as inventory:
        records, hash_id = inventory.sessions(), inventory.hash_id
    listing, now = asyncio.run(_unrecorded(targets, records))
    taken = {item.manifest.metadata.name for item in loaded.manifests} | {r.key for r in records}
    comments = _schema_comment(folder, project.root)
    drafts: dict[Path, tuple[Draft, str]] = {}
    skipped: list[Skipped] = []
    for session in unmanaged_sessions((live(s, hash_id) for s in listing), records, now):
        made = draft(session, taken=taken, zone=zone, labels=labels)
        if isinstance(made, Skipped):
            skipped.append(made)
            continue
        text = _text(made, session, now, comments)
        if isinstance(text, Skipped):
            skipped.append(text)
        else:
            drafts[folder / f"{made.key}.yaml"] = (made, text)
    if drafts:
        _write_adopted(folder, location, drafts, {s.session_id: s for s in listing})
    shown = tuple(
        Written(path, made.key, made.session_id, len(made.participants), made.notes)
        for path, (made, _) in drafts.items()
    )
    return Generated(folder, str(location), shown, tuple(skipped), labels)


def _text(made: Draft, session: LiveSession, now: datetime, comments: list[str]) -> str | Skipped:
    """The file of `made`, its comments saying where it came from and what it left out."""
    origin = f"Adopted from live Coviu session {session.session_id} by `reconciler import`."
    notes = [f"Note: {note}." for note in made.notes]
    return written(made, session, now=now, comments=[*comments, origin, *notes])


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _refuse_outside(folder: Path, root: Path) -> None:
    if not _inside(folder, root):
        raise InputError(
            f"{folder}: outside the project ({root.resolve()}): generate the manifests into"
            " a folder under it; nothing was written"
        )


def _schema_comment(folder: Path, root: Path) -> list[str]:
    """The yaml-language-server line naming `schemas/manifest.json` (relative to `folder`)
    of the nearest folder up to the repository's root (else the project's) that has one."""
    here, top = folder.resolve(), root.resolve()
    top = next((up for up in (top, *top.parents) if (up / ".git").exists()), top)
    for up in (here, *here.parents):
        schema = up / "schemas" / "manifest.json"
        if schema.is_file():
            return [f"yaml-language-server: $schema={os.path.relpath(schema, here)}"]
        if up == top:
            break
    return []


async def _unrecorded(
    targets: Targets, records: Sequence[SessionRecord]
) -> tuple[tuple[ApiSession, ...], datetime]:
    """The live sessions no record names, listed from a day before now (as drift lists
    them: not the whole history), and the server's time."""
    async with connect(targets) as clients:
        now = await _server_clock(clients)
        reading = await read_sessions(clients, records, now=now, since=now - UNMANAGED_LOOKBACK)
    return reading.unrecorded, now


def _write_adopted(
    folder: Path,
    location: Location,
    drafts: Mapping[Path, tuple[Draft, str]],
    sessions: Mapping[str, ApiSession],
) -> None:
    """Stage the files, record every session in one batch under the lock, then move the
    files into place; a failure before the end leaves neither files nor records."""
    for path in drafts:
        if path.exists() or path.is_symlink():
            raise InputError(
                f"{path}: already exists; nothing was written: move it away, or generate"
                " into another folder"
            )
    made = [each for each in (folder, *folder.parents) if not each.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staged = Staged({path: text for path, (_, text) in drafts.items()})
    except OSError as error:
        _remove_made(folder, made)
        raise InputError(
            f"{folder}: cannot write the manifests there: {error.strerror or error};"
            " nothing was written"
        ) from None
    try:
        with (
            Inventory.open(location, create=True) as inventory,
            _holding(inventory, IMPORT_HOLDER),
        ):
            _record_adopted(inventory, [each for each, _ in drafts.values()], sessions)
    except BaseException:
        staged.discard()
        _remove_made(folder, made)
        raise
    try:
        staged.commit()
    except OSError as error:  # after the records: say so, never pretend nothing happened
        staged.discard()
        raise InputError(
            f"{folder}: the sessions were adopted, but their manifests could not be moved"
            f" into place ({error.strerror or error}): run `reconciler state forget` on"
            " the new keys (`reconciler state list` shows them as adopted), then import again"
        ) from None


def _remove_made(folder: Path, made: Sequence[Path]) -> None:
    """Remove the folders made for the files (`made`: those missing before), if empty."""
    for each in (folder, *folder.parents):
        if each not in made:
            return
        with suppress(OSError):
            each.rmdir()


def _record_adopted(
    inventory: Inventory, drafts: Sequence[Draft], sessions: Mapping[str, ApiSession]
) -> None:
    _refuse_pending(inventory)
    records = inventory.sessions()
    for made in drafts:
        for record in records:
            if made.key == record.key or made.session_id == record.session_id:
                raise InputError(
                    f"the inventory changed meanwhile (Session/{record.key} is now recorded,"
                    f" for live session {record.session_id}); nothing was written: run"
                    " `reconciler import --generate` again"
                )
    with inventory.writing(now=_wall()) as batch:
        for made in drafts:
            seen = live(sessions[made.session_id], inventory.hash_id)
            batch.put(record_of(made.key, seen, made.participants))


@dataclass(frozen=True)
class Migrated:
    """What `state migrate` moved, and where."""

    source: Location
    destination: Location
    content: Dump
    resumed: bool = False
    """The destination already held this copy (an earlier move stopped before it retired
    the source): only the source was retired."""
    serial: int = 0
    """The destination's serial: above the source's if it was used after that move."""


def migrate_state(source: Location, destination: Location) -> Migrated:
    """Move the inventory at `source` into the empty one at `destination` (created if
    need be), journal, identity and all, then retire `source`. Both are locked
    throughout, so no apply runs meanwhile. The copy lands in one transaction and is read
    back; the source is retired only if it reads back identical (or if it is a copy that
    has been used since an interrupted move: then it is the inventory in use)."""
    if _same(source, destination):
        raise InputError(f"{source}: --from and --to name the same inventory")
    with Inventory.open(source) as old:
        if not old.exists:
            raise InventoryError(f"{source}: no inventory there to move")
        with _holding(old, MIGRATE_HOLDER):
            content = old.dump()
            with (
                Inventory.open(destination, create=True) as new,
                _holding_other(new, source),
            ):
                resumed = not new.receive(content)
                there = new.dump()
                if there != content and not (resumed and _descends(there, content)):
                    raise InventoryError(_occupied(destination, there, content, resumed))
            moved_to = destination.resolve() if isinstance(destination, Path) else destination
            old.retire(moved_to=str(moved_to), now=_wall())
    return Migrated(source, destination, content, resumed, there.serial)


@contextmanager
def _holding_other(inventory: Inventory, source: Location) -> Iterator[LockInfo]:
    """The destination's lock; a lock that is this very run's own means `--to` names
    the source under another spelling."""
    try:
        with _holding(inventory, MIGRATE_HOLDER) as lock:
            yield lock
    except LockedError as held:
        if (held.lock.holder, held.lock.pid) == (MIGRATE_HOLDER, os.getpid()):
            raise InputError(
                f"{source}: --from and --to name the same inventory ({inventory.location})"
            ) from None
        raise


def _same(one: Location, other: Location) -> bool:
    if isinstance(one, Path) and isinstance(other, Path):
        return one.resolve() == other.resolve()
    return str(one) == str(other)


def _descends(newer: Dump, older: Dump) -> bool:
    """Whether `newer` is `older` with later writes on top: same lineage, a serial no
    lower, and `older`'s journal a prefix of its own (entries settle later, so only what
    an entry said it would do is compared)."""

    def intents(dump: Dump) -> list[tuple[object, ...]]:
        return [(row[0], row[1], row[2], row[3], row[4], row[7]) for row in dump.journal]

    return (
        newer.lineage == older.lineage
        and newer.serial >= older.serial
        and intents(newer)[: len(older.journal)] == intents(older)
    )


def _occupied(destination: Location, there: Dump, content: Dump, resumed: bool) -> str:
    if not resumed:
        return (
            f"{destination}: the copy does not read back as written; nothing was retired:"
            " the source is still the inventory to use"
        )
    if there.lineage != content.lineage:
        return (
            f"{destination}: already holds another inventory (lineage {there.lineage[:8]},"
            f" serial {there.serial}, {len(there.sessions)} sessions); migrate into an empty one"
        )
    if _descends(content, there):
        return (
            f"{destination}: holds an older copy of this inventory (serial {there.serial};"
            f" the source, used since, is at {content.serial}); nothing was changed: remove"
            " that copy (delete the file, or DROP SCHEMA … CASCADE) and migrate again"
        )
    return (
        f"{destination}: holds a copy of this inventory, and both have been written since"
        f" an interrupted move (source serial {content.serial}, destination serial"
        f" {there.serial}); nothing was changed: compare them with `reconciler state list"
        " --state …` and decide which one the project uses before moving again"
    )


def this_host() -> str:
    """Where this process runs, as a lock names it: the host name, and the PID namespace
    where the system tells it (containers sharing a host name have their own pids)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # pid:[4026531836]
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} {namespace}"


def _abandoned(lock: LockInfo) -> bool:
    """A lock whose run has died: taken in this host's PID namespace by a process that no
    longer runs."""
    if lock.host != this_host() or lock.pid == os.getpid():
        return False
    try:
        os.kill(lock.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs, as another user
    return False


def _wall() -> datetime:
    """The local clock: only for when the journal and records were written."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Drifted:
    """What `reconciler drift` found, and where."""

    drift: Drift
    targets: Targets
    state: Location
    pending: int = 0
    """Journal entries an interrupted apply left unsettled: drift does not resolve them
    (it writes nothing); the next plan or apply does."""


def drift(
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    selection: Selection = Selection(),
    environ: Mapping[str, str],
) -> Drifted:
    """Load, refresh and compare live with what was last applied: what `reconciler
    drift` shows. Never writes the inventory, and never resolves its journal."""
    run = _prepare(paths, flags=flags, state=state, selection=selection, environ=environ)
    with Inventory.open(run.state) as inventory:
        pending = len(inventory.pending())
        found = asyncio.run(_drift(run, inventory))
    return Drifted(found, run.targets, run.state, pending)


async def _drift(run: _Run, inventory: Inventory) -> Drift:
    _, records = inventory.snapshot()
    _refuse_unmatched(run, records)
    async with connect(run.targets) as clients:
        now = await _server_clock(clients)
        # Not `desired=`: finished sessions whose manifest changed are history to drift,
        # so reading them live (as a plan does) would be wasted.
        observation = await observe(
            clients,
            records,
            (),
            now=now,
            hash_id=inventory.hash_id,
            unmanaged_since=now - UNMANAGED_LOOKBACK,
        )
    return replace(find_drift(run.desired, records, observation, now=now), paths=run.paths)


@dataclass(frozen=True)
class Linked:
    """The entry links `reconciler links` prints, and what it left out."""

    links: tuple[EntryLink, ...]
    left_out: tuple[str, ...]
    """Why active sessions of the project have no links here (cancelled or gone live)."""
    targets: Targets
    checked_at: datetime


def entry_links(
    names: Sequence[str],
    *,
    path: Path | None,
    flags: Urls,
    state: str | None,
    selector: Sequence[str] = (),
    environ: Mapping[str, str],
) -> Linked:
    """The entry links of the recorded participants of the sessions `names` (NAME or
    Session/NAME), or of every active recorded session that matches `selector`. A named
    session that is not recorded, cancelled or finished is an error naming it."""
    chosen = parse_selector(selector)
    keys = list(dict.fromkeys(session_key(name) for name in names))
    project = Project.of([path] if path else [])
    targets = targets_for([], flags=flags, environ=environ, project=project)
    location = state_path([], flag=state, environ=environ, project=project)
    with Inventory.open(location) as inventory:
        found, left_out, now = asyncio.run(_links(targets, inventory, keys, chosen))
    return Linked(found, left_out, targets, now)


async def _links(
    targets: Targets, inventory: Inventory, keys: Sequence[str], selector: Mapping[str, str]
) -> tuple[tuple[EntryLink, ...], tuple[str, ...], datetime]:
    records = inventory.sessions()
    async with connect(targets) as clients:
        now = await _server_clock(clients)
        chosen = _linkable(records, keys, selector, now, inventory.location)
        if not chosen:
            return (), (), now  # nothing to read
        reading = await read_sessions(clients, chosen, now=now)
    found: list[EntryLink] = []
    problems: list[str] = []
    for record in sorted(chosen, key=lambda record: (record.start, record.key)):
        live = reading.found.get(record.session_id)
        problem = _unlinkable(record, live, record.session_id in reading.canceled, now)
        if problem is not None:
            problems.append(f"Session/{record.key}: {problem}")
        elif live is not None:
            found += refresh_links(record, live, inventory.hash_id)
    if problems and keys:
        raise InputError("; ".join(problems))
    return tuple(found), tuple(problems), now


def _unlinkable(
    record: SessionRecord, live: ApiSession | None, canceled: bool, now: datetime
) -> str | None:
    """Why a recorded session's live links no longer work, if they do not."""
    if canceled:
        return "was cancelled in Coviu: its links no longer work"
    if live is None:
        return f"live session {record.session_id} no longer exists"
    if live.end_time <= now:
        return "has finished: its links no longer work"
    return None


def _linkable(
    records: Sequence[SessionRecord],
    keys: Sequence[str],
    selector: Mapping[str, str],
    now: datetime,
    location: Location,
) -> list[SessionRecord]:
    """The records whose links are asked for: those named (each must be recorded, not
    cancelled, not finished, and match the selector), or every active one that matches."""
    if not keys:
        return [r for r in records if not r.is_history(now) and labelled(r, selector)]
    by_key = {record.key: record for record in records}
    problems = []
    for key in keys:
        record = by_key.get(key)
        if record is None:
            problems.append(f"Session/{key}: not recorded in the inventory {location}")
        elif record.canceled:
            problems.append(f"Session/{key}: was cancelled: its links no longer work")
        elif record.end <= now:
            problems.append(f"Session/{key}: has finished: its links no longer work")
        elif not labelled(record, selector):
            problems.append(f"Session/{key}: its labels do not match --selector")
    if problems:
        raise InputError("; ".join(problems))
    return [by_key[key] for key in keys]
