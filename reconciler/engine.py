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
from reconciler.manifests import load_config


def targets_for(paths: Sequence[Path], *, flags: Urls, environ: Mapping[str, str]) -> Targets:
    """The API targets for a manifest tree: flag > environment > reconciler.yaml > embedded."""
    config = load_config(paths[0] if paths else Path("."))
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
