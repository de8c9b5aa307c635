"""`claimwatch serve`: the desk under uvicorn, on the database and sources.yaml the CLI uses."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import uvicorn

from desk.app import create_app
from pipeline import api


def serve(*, sources: str, db_url: str, host: str, port: int,
          secure_cookies: bool | None = None) -> None:
    """Serve until interrupted. Session cookies are Secure unless the desk listens on loopback
    only (behind a TLS proxy on the same machine, pass --secure-cookies)."""
    if secure_cookies is None:
        secure_cookies = not _loopback(host)
    with api.opened(db_url) as store:
        app = create_app(store, Path(sources), secure_cookies=secure_cookies)
        print(f"claimwatch desk on http://{host}:{port}/ (database {db_url}); Ctrl-C stops it",
              flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True,
                    server_header=False)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
