"""Serving the emulator over TCP with uvicorn, in the foreground or on a background thread.

The access log never shows a participant id (it is the secret part of a join link) nor a
signed URL's signature, and a deliberately dropped answer is logged as one line, not as
a crash.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from reconciler.emulator.app import ClientCredentials, ConnectionDroppedError

_SECRET_PARTS = (
    # Participant ids, in API paths and in join links (`/session/<participant id>`).
    (re.compile(r"(/participants/+)[^/?\s\"]+"), r"\1<redacted>"),
    (re.compile(r"(/session/+)[^/?\s\"]+"), r"\1<redacted>"),
    # Credentials that may ride in a query string.
    (
        re.compile(
            r"(?i)([?&](?:signature|client_secret|access_token|refresh_token|code)=)[^&\s\"]+"
        ),
        r"\1<redacted>",
    ),
)


def redact(text: str) -> str:
    """Hide participant ids and URL signatures in a logged request line."""
    for pattern, replacement in _SECRET_PARTS:
        text = pattern.sub(replacement, text)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if record.exc_info and isinstance(record.exc_info[1], ConnectionDroppedError):
            record.msg, record.args, record.exc_info = (
                "fault injected: dropped the connection after committing a write",
                (),
                None,
            )
        return True


def _config(app: Starlette, *, host: str, port: int, quiet: bool) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        date_header=False,  # the emulator's own Date header tells its clock
        server_header=False,
        # The controls trust only loopback peers: take the socket's address, never a header.
        proxy_headers=False,
        log_level="warning" if quiet else "info",
        access_log=not quiet,
    )
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())
    return config


def banner(*, host: str, port: int, clients: list[ClientCredentials], db: str) -> list[str]:
    """What `emulator serve` says on start: where each API is and how to authenticate."""
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    lines = [
        f"Emulator of the Coviu and Auvious APIs, database {db}",
        f"  Coviu base URL    {base}/v1       (COVIU_API_URL)",
        f"  Auvious base URL  {base}          (AUVIOUS_API_URL)",
        f"  Controls          {base}/_emulator/clock | faults | reset  (loopback only)",
        "  API clients (Coviu: Basic key:secret on POST /v1/auth/token;"
        " Auvious: client_id/client_secret on POST /security/oauth/token):",
    ]
    lines += [f"    {client.key}  (team {client.team})" for client in clients]
    lines.append(
        f"  Try: curl -s -u {clients[0].key}:<secret> -d grant_type=client_credentials "
        f"{base}/v1/auth/token"
        if clients
        else "  No clients registered: pass --client KEY:SECRET"
    )
    return lines


_BACKLOG = 2048  # uvicorn's default


def bind(host: str, port: int) -> socket.socket:
    """Listen on host:port (port 0: any free port); OSError when that is impossible.

    The socket listens before this returns, so a client that connects as soon as the
    banner names the port waits in the backlog until the server accepts it, instead of
    being refused while uvicorn starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it, an answer written in two parts
        # waits for the client's delayed ACK (~40 ms on Linux loopback) every time.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port a bound socket listens on."""
    port: int = sock.getsockname()[1]
    return port


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve on a bound socket in the foreground until interrupted."""
    host, port = sock.getsockname()[:2]
    uvicorn.Server(_config(app, host=host, port=port, quiet=False)).run(sockets=[sock])


@dataclass(frozen=True)
class Served:
    """A running background server."""

    base_url: str
    port: int


@contextmanager
def serve_in_background(
    app: Starlette, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[Served]:
    """Serve on a background thread (port 0: any free port) for tests and benchmarks."""
    sock = bind(host, port)
    port = bound_port(sock)
    server = uvicorn.Server(_config(app, host=host, port=port, quiet=True))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _wait_started(server, thread)
    try:
        yield Served(base_url=f"http://{host}:{port}", port=port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_started(server: Any, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the emulator server did not start")
        time.sleep(0.01)
