"""`claimwatch serve`: the desk under uvicorn, on the database and sources.yaml the CLI uses.
The listening socket is taken before anything is announced or opened (`listen`), so a port in
use or an address this machine does not have is one line, not a desk announced and then a
uvicorn error (and the demo says so before it runs, not after)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn

from desk.app import create_app
from pipeline import api
from pipeline.errors import UsageError


def serve(*, sources: str, db_url: str, host: str, port: int,
          secure_cookies: bool | None = None) -> None:
    """Serve until interrupted. Session cookies are Secure unless the desk listens on loopback
    only (behind a TLS proxy on the same machine, pass --secure-cookies)."""
    if secure_cookies is None:
        secure_cookies = not _loopback(host)
    sock = listen(host, port)
    with sock, api.opened(db_url) as store:
        app = create_app(store, Path(sources), secure_cookies=secure_cookies)
        print(f"claimwatch desk on {address(sock)} (database {db_url}); Ctrl-C stops it",
              flush=True)
        run(app, sock, proxy_headers=True)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` (0: any free port), or a `UsageError` saying
    which address and why (in use, not an address of this machine)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except (OSError, OverflowError) as exc:
        errno = getattr(exc, "errno", None) or 0  # a name lookup's is negative
        why = os.strerror(errno) if errno > 0 else getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot listen on {host}:{port}: {why}") from None


def address(sock: socket.socket) -> str:
    """The desk's address on `sock`, as a browser takes it."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def run(app: Any, sock: socket.socket, *, proxy_headers: bool = False) -> None:
    """Serve `app` on the listening `sock` until interrupted (Ctrl-C, SIGTERM: a clean end,
    which uvicorn signals again once it has shut down)."""
    config = uvicorn.Config(app, log_level="warning", proxy_headers=proxy_headers,
                            server_header=False)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
