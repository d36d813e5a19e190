"""The one piece of glue: it reads what the library may not (the environment, the wall
clock, the project config), chooses the API targets, and calls the library.

Nothing below this module reads the environment or the wall clock; they are passed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.clients import ApiError, Probe, Targets, Urls, choose_targets, connect
from reconciler.emulator.embedded import DEFAULT_DB
from reconciler.errors import InputError
from reconciler.inventory import Inventory
from reconciler.manifests import ProjectConfig, find_config_path, load, load_config
from reconciler.planning import (
    Desired,
    Plan,
    SessionRecord,
    desired_state,
    make_plan,
    parse_selector,
)
from reconciler.refresh import observe

DEFAULT_STATE = Path(".reconciler/state.db")
"""The inventory when nothing names one: under the project's root (the folder holding
reconciler.yaml), else under the folder the command runs from."""
STATE_VARIABLE = "RECONCILER_STATE"


class StateLocationError(InputError):
    """`--state`, RECONCILER_STATE or reconciler.yaml names an inventory that cannot be used."""


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
        located = find_config_path(first)
        return cls(load_config(first), located.parent if located is not None else Path("."))


def state_path(
    paths: Sequence[Path],
    *,
    flag: str | None,
    environ: Mapping[str, str],
    project: Project | None = None,
) -> Path:
    """The inventory file: --state > RECONCILER_STATE > reconciler.yaml `state` (relative
    to that file) > `.reconciler/state.db` beside reconciler.yaml, or here without one."""
    project = project or Project.of(paths)
    if flag:
        text, origin = flag, "--state"
    elif environ.get(STATE_VARIABLE):
        text, origin = environ[STATE_VARIABLE], STATE_VARIABLE
    elif project.config.state:
        text, origin = project.config.state, "reconciler.yaml state"
    else:
        return project.root / DEFAULT_STATE
    if "://" in text:
        raise StateLocationError(
            f"{origin}: only a SQLite file path is supported as the inventory location"
        )
    return project.root / text if origin.startswith("reconciler.yaml") else Path(text)


def targets_for(
    paths: Sequence[Path],
    *,
    flags: Urls,
    environ: Mapping[str, str],
    project: Project | None = None,
) -> Targets:
    """The API targets for a manifest tree: flag > environment > reconciler.yaml > embedded."""
    config = (project or Project.of(paths)).config
    return choose_targets(
        flags=flags,
        environ=environ,
        config=Urls(coviu=config.coviu_url, auvious=config.auvious_url),
        embedded_db=DEFAULT_DB,
        embedded_clock=config.emulator.clock,
    )


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
    state: Path


def plan(
    paths: Sequence[Path],
    *,
    flags: Urls,
    state: str | None,
    selector: Sequence[str] = (),
    at: datetime | None = None,
    environ: Mapping[str, str],
) -> Planned:
    """Load, refresh and plan: what `reconciler plan` shows. Writes nothing anywhere."""
    chosen = parse_selector(selector)
    loaded = load(paths)
    desired = desired_state(loaded, paths=[str(path) for path in paths], selector=chosen)
    config_path = Path(loaded.config_path) if loaded.config_path else None
    project = Project(loaded.config, config_path.parent if config_path else Path("."))
    targets = targets_for(paths, flags=flags, environ=environ, project=project)
    location = state_path(paths, flag=state, environ=environ, project=project)
    with Inventory.open(location) as inventory:
        serial, records = inventory.snapshot()
        made = asyncio.run(_plan(targets, desired, records, inventory, at, serial))
    return Planned(made, targets, location)


async def _plan(
    targets: Targets,
    desired: Desired,
    records: Sequence[SessionRecord],
    inventory: Inventory,
    at: datetime | None,
    serial: int,
) -> Plan:
    async with connect(targets) as clients:
        # The one reading of time: the server's clock (local only if it sends none).
        now = at or await clients.coviu.server_time() or datetime.now(UTC)
        observation = await observe(
            clients,
            records,
            desired.approvals,
            now=now,
            hash_id=inventory.hash_id,
            desired=desired.sessions,
        )
    return make_plan(
        desired,
        records,
        observation,
        now=now,
        simulated=at is not None,
        inventory_serial=serial,
    )
