"""The vendor's own JavaScript API layer drives the emulator, unchanged, through a whole
session lifecycle (tests/js/lifecycle.js, the steps of the vendor's SDK test suite).

The emulator is served over real TCP on a loopback port and `node` talks to it with
`coviu-sdk-api` from npm on top of tests/js/service.js, which stands in for the vendor's
HTTP and OAuth layers (they are not published on npm). Without node or npm the test is
skipped locally and fails under CI, so CI never passes it silently.

The one fact that SDK depends on most — the access token is a JWT whose payload carries
`userId` — is also checked here without JavaScript, so it stays covered where node is absent.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.emulator import ClientCredentials, make_app
from reconciler.emulator.server import serve_in_background
from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Coviu
from tests.tools import require_tool

SDK_NEEDS = "the vendor JavaScript SDK test needs node and npm"
JS_DIR = Path(__file__).resolve().parents[1] / "js"
LIFECYCLE = JS_DIR / "lifecycle.js"
SDK_CLIENT = ClientCredentials(key="vendor-sdk", secret="vendor-sdk-secret", team="team-sdk")
NPM_CI_TIMEOUT_SECONDS = 300
NODE_TIMEOUT_SECONDS = 60


def _ensure_node_modules(npm: str) -> None:
    """Install the pinned packages of tests/js from its lockfile unless already there."""
    if (JS_DIR / "node_modules").is_dir():
        return
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            check=False,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`npm ci` in {JS_DIR} took over {error.timeout} s")
    assert result.returncode == 0, (
        f"`npm ci` in {JS_DIR} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )


@pytest.mark.node
def test_vendor_js_sdk_drives_a_whole_session_lifecycle(tmp_path: Path) -> None:
    node = require_tool("node", needed_by=SDK_NEEDS)
    npm = require_tool("npm", needed_by=SDK_NEEDS)
    _ensure_node_modules(npm)

    app = make_app(db=tmp_path / "emulator.db", initial_clock=T0, clients=[SDK_CLIENT])
    try:
        with serve_in_background(app) as served:
            env = {
                **os.environ,
                "COVIU_API_URL": f"{served.base_url}/v1",
                "COVIU_API_KEY": SDK_CLIENT.key,
                "COVIU_API_SECRET": SDK_CLIENT.secret,
            }
            try:
                result = subprocess.run(
                    [node, str(LIFECYCLE)],
                    cwd=JS_DIR,
                    env=env,
                    check=False,
                    capture_output=True,
                    text=True,
                    timeout=NODE_TIMEOUT_SECONDS,
                )
            except subprocess.TimeoutExpired as error:
                pytest.fail(
                    f"lifecycle.js took over {error.timeout} s; output so far:\n"
                    f"{error.stdout!r}\n{error.stderr!r}"
                )
    finally:
        app.state.emulator.store.close()

    assert result.returncode == 0, (
        f"the vendor SDK lifecycle failed (exit {result.returncode}):\n"
        f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
    )


def _jwt_payload(token: str) -> dict[str, object]:
    """Decode a JWT's payload without checking its signature, as the vendor's SDK does."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWT (header.payload.signature): {token!r}"
    payload = parts[1]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(decoded, dict), f"the JWT payload is not a JSON object: {decoded!r}"
    return decoded


@pytest.mark.anyio
async def test_coviu_access_tokens_are_jwts_carrying_user_id(coviu: Coviu) -> None:
    payload = _jwt_payload(coviu.access_token)
    assert payload.get("userId"), f"no userId claim in the access token payload: {payload}"

    # The SDK decodes the token again after every proactive refresh.
    response = await coviu.http.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": coviu.refresh_token},
        auth=(CLINIC_A.key, CLINIC_A.secret),
    )
    assert response.status_code == 200, response.text
    refreshed = _jwt_payload(response.json()["access_token"])
    assert refreshed.get("userId") == payload["userId"], refreshed
