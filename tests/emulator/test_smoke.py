"""The emulator answers both APIs in-process, and the Date header carries its clock."""

from __future__ import annotations

import pytest

from tests.conftest import T0
from tests.emulator.api import Coviu, EmulatorControls, rfc1123

pytestmark = pytest.mark.anyio


async def test_date_header_tells_the_emulator_clock(
    coviu: Coviu, controls: EmulatorControls
) -> None:
    response = await coviu.call("GET", "/sessions")
    assert response.status_code == 200
    assert response.headers["date"] == rfc1123(T0)
