"""The emulator over real TCP: what only a served port can show."""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.emulator.server import (
    _RedactingFilter,
    bind,
    bound_port,
    redact,
    serve_in_background,
)
from tests.conftest import CLINIC_A, T0
from tests.emulator.api import Coviu, EmulatorControls, iso, rfc1123

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.fixture
def served(app: Starlette) -> Iterator[str]:
    with serve_in_background(app) as server:
        yield server.base_url


@pytest.fixture
async def tcp(served: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=served, timeout=10)


async def test_served_answers_carry_one_date_header_with_the_emulator_clock(
    tcp: httpx.AsyncClient,
) -> None:
    async with tcp:
        coviu = await Coviu.login(tcp, CLINIC_A)
        await EmulatorControls(tcp).advance(timedelta(minutes=30))
        response = await coviu.call("GET", "/sessions")
    assert response.status_code == 200
    assert response.headers.get_list("date") == [rfc1123(T0 + timedelta(minutes=30))]
    assert "server" not in response.headers


async def test_drop_after_commit_closes_the_connection_but_keeps_the_write(
    tcp: httpx.AsyncClient,
) -> None:
    async with tcp:
        coviu = await Coviu.login(tcp, CLINIC_A)
        await EmulatorControls(tcp).faults(drop_after_commit_rate=1.0, seed=3)
        body = {
            "start_time": iso(T0 + timedelta(hours=1)),
            "end_time": iso(T0 + timedelta(hours=2)),
        }
        with pytest.raises(httpx.RemoteProtocolError) as dropped:
            await coviu.call("POST", "/sessions", json=body)
        # A real closed socket, not the in-process stand-in exception.
        assert type(dropped.value) is httpx.RemoteProtocolError
        await EmulatorControls(tcp).faults()
        listed = await coviu.call("GET", "/sessions")
    assert [s["start_time"] for s in listed.json()["content"]] == [rfc1123(T0 + timedelta(hours=1))]


def test_logged_request_lines_hide_participant_ids_and_signatures() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "PUT", "/v1/participants/Zk3-secret_id?x=1", "1.1", 200),
        None,
    )
    _RedactingFilter().filter(record)
    assert "Zk3-secret_id" not in record.getMessage()
    assert "/v1/participants/<redacted>?x=1" in record.getMessage()
    assert redact("/rtc-api/snapshots/signed/a/1?signature=abc123") == (
        "/rtc-api/snapshots/signed/a/1?signature=<redacted>"
    )
    token_request = (
        "/security/oauth/token?grant_type=client_credentials&client_id=demo&client_secret=s3"
    )
    assert "s3" not in redact(token_request)
    assert "client_id=demo" in redact(token_request)
    assert "eyJ" not in redact("/v1/sessions?access_token=eyJhbGci.x.y")
    assert redact("GET /session/Zk3-secret_id") == "GET /session/<redacted>"
    assert "Zk3" not in redact("/v1/participants//Zk3-secret_id")


def _lines(stream: object) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str], marker: str) -> str:
    while True:
        line = lines.get(timeout=20)
        if marker in line:
            return line


def test_serve_command_announces_its_port_and_serves_the_given_clients(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "emulator",
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "served.db"),
        "--client",
        "desk:desk-secret:clinic",
        "--clock",
        "2026-12-01T09:00:00+11:00",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        lines = _read_until_ready(process)
        base = _read_until(lines, "Coviu base URL").split()[3].removesuffix("/v1")
        with httpx.Client(base_url=base, timeout=10) as http:
            grant = http.post(
                "/v1/auth/token",
                data={"grant_type": "client_credentials"},
                auth=("desk", "desk-secret"),
            )
            assert grant.status_code == 200
            headers = {"Authorization": f"Bearer {grant.json()['access_token']}"}
            created = http.post(
                "/v1/sessions",
                headers=headers,
                json={
                    "start_time": "2026-12-01T00:00:00Z",
                    "end_time": "2026-12-01T01:00:00Z",
                    "participants": [{"role": "host"}],
                },
            )
            assert created.status_code == 200, created.text
            assert created.headers["date"] == "Mon, 30 Nov 2026 22:00:00 GMT"
            participant = created.json()["participants"][0]
            assert participant["entry_url"].startswith(base + "/session/")
            fetched = http.get(f"/v1/participants/{participant['participant_id']}", headers=headers)
            assert fetched.status_code == 200
            log_line = _read_until(lines, "/v1/participants/")
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert participant["participant_id"] not in log_line
    assert "/v1/participants/<redacted>" in log_line


def _read_until_ready(process: subprocess.Popen[str]) -> queue.Queue[str]:
    assert process.stdout is not None
    return _lines(process.stdout)


async def test_auvious_token_endpoint_answers_faults_in_its_oauth_error_form(
    http: httpx.AsyncClient, controls: EmulatorControls
) -> None:
    await controls.faults(error_rate=1.0, status=503, path_prefix="/security")
    response = await http.post(
        "/security/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "error_description" in response.json()


def test_served_connections_do_not_wait_on_nagle() -> None:
    # Without TCP_NODELAY every answer waited ~40 ms for a delayed ACK on loopback.
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_a_bound_port_accepts_connections_before_the_server_starts() -> None:
    # `emulator serve` prints its banner before uvicorn starts: a client that connects
    # at once must wait in the backlog, not be refused.
    sock = bind("127.0.0.1", 0)
    try:
        with socket.create_connection(("127.0.0.1", bound_port(sock)), timeout=5):
            pass
    finally:
        sock.close()
