"""The emulator served by uvicorn in a process of its own, as the scale benchmark meets it:
real HTTP on loopback, its requests counted from its own access log.

`reconciler emulator serve --port 0` picks a free port and names it in its banner; every
request it answers is one access-log line, so the count is the server's, not the
client's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

KEY = "bench"
"""The API client the benchmark uses unless it names another (its secret: KEY-secret)."""
_PORT = re.compile(r"Coviu base URL\s+http://127\.0\.0\.1:(\d+)/v1")
_REQUEST = re.compile(r'"(GET|POST|PUT|DELETE|PATCH) (\S+) HTTP/1\.1" (\d{3})')
_STARTUP = 30.0  # seconds to wait for the banner


@dataclass
class Served:
    """A served emulator: where it is, and what it has answered so far."""

    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self, client: str = KEY) -> dict[str, str]:
        """The environment that points `reconciler` at this emulator as `client`."""
        return {
            "COVIU_API_URL": f"{self.base}/v1",
            "AUVIOUS_API_URL": self.base,
            "COVIU_API_KEY": client,
            "COVIU_API_SECRET": secret(client),
            "AUVIOUS_CLIENT_ID": client,
            "AUVIOUS_CLIENT_SECRET": secret(client),
        }

    def requests(self) -> list[tuple[str, str, int]]:
        """Every API request answered so far (method, path, status); the controls under
        `/_emulator` are the benchmark's own and are left out."""
        with self._lock:
            found = [_REQUEST.search(line) for line in self.lines]
        return [
            (match[1], match[2], int(match[3]))
            for match in found
            if match is not None and not match[2].startswith("/_emulator")
        ]

    def count(self) -> int:
        """How many API requests it has answered so far."""
        return len(self.requests())

    def settle(self) -> None:
        """Wait until the access log stops growing: every answer sent has been counted."""
        while True:
            with self._lock:
                before = len(self.lines)
            time.sleep(0.05)
            with self._lock:
                if len(self.lines) == before:
                    return

    def control(self, path: str, body: Mapping[str, object] | None = None) -> None:
        """POST to a control endpoint (`clock`, `faults`, `reset`)."""
        answer = httpx.post(f"{self.base}/_emulator/{path}", json=body or {}, timeout=60)
        answer.raise_for_status()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._lock:
                self.lines.append(line)


def secret(client: str) -> str:
    """The secret of API client `client`."""
    return f"{client}-secret"


@contextmanager
def served(db: Path, *, clock: datetime, clients: Sequence[str] = (KEY,)) -> Iterator[Served]:
    """Serve the emulator on a free loopback port with database `db`; each of `clients`
    is an API client of a team of its own."""
    command = [
        *(sys.executable, "-m", "reconciler", "emulator", "serve"),
        *("--host", "127.0.0.1", "--port", "0", "--db", str(db), "--clock", clock.isoformat()),
        *(f"--client={client}:{secret(client)}" for client in clients),
    ]
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ,
    )
    try:
        assert process.stdout is not None
        port = _banner_port(process)
        server = Served(process, port)
        reader = threading.Thread(target=server._read, args=(process.stdout,), daemon=True)
        reader.start()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _banner_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + _STARTUP
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = _PORT.search(line)
        if match:
            return int(match[1])
    raise SystemExit("the emulator did not start:\n" + "".join(seen))
