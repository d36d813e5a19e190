"""Test and demo controls under `/_emulator`: the clock, faults and reset (DESIGN.md §8).

They need no token but answer only to loopback clients, so a served emulator can never
be steered from another machine.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.emulator.faults import FaultConfig, FaultConfigError
from reconciler.emulator.http import ApiError, json_object, time_value
from reconciler.emulator.state import emulator_of
from reconciler.emulator.store import Store
from reconciler.emulator.times import TimeFormatError, format_iso

_MAX_ADVANCE_SECONDS = 1000 * 366 * 24 * 3600


def _require_loopback(request: Request) -> None:
    # The peer's address as the server saw it; a name such as "localhost" is no address
    # (a server that put one there could put anything), so only an IP counts.
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ApiError(403, "emulator controls answer only to loopback clients")


def _move_clock(store: Store, body: dict[str, Any]) -> None:
    if "now" in body and "advance_seconds" not in body and isinstance(body["now"], str):
        store.set_now(time_value(body["now"], "now"))
        return
    if "advance_seconds" in body and "now" not in body:
        seconds = body["advance_seconds"]
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or abs(seconds) > _MAX_ADVANCE_SECONDS
        ):
            raise ApiError(400, "advance_seconds must be a finite number of seconds")
        store.advance(timedelta(seconds=seconds))
        return
    raise ApiError(400, 'send {"now": ISO time} or {"advance_seconds": N}')


async def clock(request: Request) -> JSONResponse:
    """GET shows the clock; POST `{"now": ISO}` or `{"advance_seconds": N}` moves it."""
    _require_loopback(request)
    emulator = emulator_of(request)
    if request.method == "POST":
        body = await json_object(request)
        with emulator.store.transaction():
            try:
                _move_clock(emulator.store, body)
            except TimeFormatError as error:
                raise ApiError(400, str(error)) from error
    return JSONResponse({"now": format_iso(emulator.store.now())})


async def faults(request: Request) -> JSONResponse:
    """GET shows the fault settings; POST replaces them (`{}` turns all faults off)."""
    _require_loopback(request)
    emulator = emulator_of(request)
    if request.method == "POST":
        body = await json_object(request)
        try:
            emulator.faults.configure(FaultConfig.from_json(body))
        except FaultConfigError as error:
            raise ApiError(400, str(error)) from error
    return JSONResponse(emulator.faults.config.to_json())


async def reset(request: Request) -> JSONResponse:
    """POST empties all API data and turns faults off; clients, keys and clock stay."""
    _require_loopback(request)
    emulator = emulator_of(request)
    emulator.store.reset()
    emulator.faults.configure(FaultConfig())
    return JSONResponse({"ok": True})


routes = [
    Route("/_emulator/clock", clock, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
]
