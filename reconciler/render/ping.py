"""The result of `reconciler ping`: where each service is, and whether and how it answered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.clients import ApiError, Probe, Targets


def text(
    targets: Targets,
    probes: Sequence[Probe],
    failures: Sequence[ApiError],
    *,
    local_time: datetime,
) -> list[str]:
    """One line per service, then the failures."""
    where = targets.describe()
    lines = []
    for probe in probes:
        lines.append(
            f"{probe.service}: ok  {where[probe.service]}"
            f"  {probe.round_trip_seconds * 1000:.0f} ms,"
            f" {probe.requests} request{'' if probe.requests == 1 else 's'},"
            f" {_clock(probe.server_time, local_time, emulated=targets.embedded_db is not None)}"
        )
    for failure in failures:
        lines.append(f"{failure.call.service}: FAILED  {where[failure.call.service]}  {failure}")
    return lines


def _clock(server: datetime | None, local: datetime, *, emulated: bool) -> str:
    if server is None:
        return "server clock unknown (no Date header)"
    shown = server.isoformat().replace("+00:00", "Z")
    if emulated:
        return f"emulator clock {shown}"
    skew = (local - server).total_seconds()
    return f"server clock {shown} (local clock {skew:+.0f} s from it)"
