"""The result of `reconciler ping`: where each service is, and whether and how it answered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.clients import ApiError, Probe, Targets
from reconciler.planning.times import write_instant


def answered(targets: Targets, probes: Sequence[Probe], *, local_time: datetime) -> list[str]:
    """One line per service that answered: where it is, how fast, and its clock."""
    where = targets.describe()
    emulated = targets.embedded_db is not None
    return [
        f"{probe.service}: ok  {where[probe.service]}"
        f"  {probe.round_trip_seconds * 1000:.0f} ms,"
        f" {probe.requests} request{'' if probe.requests == 1 else 's'},"
        f" {_clock(probe.server_time, local_time, emulated=emulated)}"
        for probe in probes
    ]


def failed(targets: Targets, failures: Sequence[ApiError]) -> list[str]:
    """One line per service that did not answer, with why."""
    where = targets.describe()
    return [
        f"{failure.call.service}: FAILED  {where[failure.call.service]}  {failure}"
        for failure in failures
    ]


def _clock(server: datetime | None, local: datetime, *, emulated: bool) -> str:
    if server is None:
        return "server clock unknown (no Date header)"
    shown = write_instant(server)
    if emulated:
        return f"emulator clock {shown}"
    skew = (local - server).total_seconds()
    return f"server clock {shown} (local clock {skew:+.0f} s from it)"
