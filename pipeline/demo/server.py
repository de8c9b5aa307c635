"""A versioned static site on loopback: serves a directory tree (switchable v1 -> v2) with ETags,
Last-Modified, conditional requests, status overrides and redirects, for the demo and the tests."""

from __future__ import annotations

import contextlib
import hashlib
import html
import socket
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from urllib.parse import unquote, urlsplit

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_T = TypeVar("_T")


@dataclass(frozen=True)
class RequestRecord:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.time)  # when it arrived (wall clock)


def guess_content_type(path: Path, body: bytes) -> str:
    """Content-Type for a file by its extension (feeds: Atom if `<feed` opens it, else RSS)."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return "application/atom+xml" if b"<feed" in body[:1024] else "application/rss+xml"
    return CONTENT_TYPES.get(suffix, DEFAULT_CONTENT_TYPE)


def _key(path: str) -> str:
    return "/" + path.lstrip("/")


def _lookup(table: dict[str, _T], key: str) -> _T | None:
    """`table[key]` where keys may be written with or without their leading slash."""
    if key in table:
        return table[key]
    for path, value in list(table.items()):
        if _key(path) == key:
            return value
    return None


def _error_page(status: int, message: str) -> bytes:
    text = html.escape(f"{status} {message}")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{text}</title></head>'
        f"<body><h1>{text}</h1></body></html>\n"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for idle keep-alive connections on close
    site: SiteServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "claimwatch-demo/1"
    sys_version = ""
    timeout = 30  # idle keep-alive connections give up after this many seconds

    def setup(self) -> None:
        super().setup()
        self.server.site._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.site._track(self.connection, add=False)

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        site = self.server.site
        site._log(RequestRecord(self.command, self.path, dict(self.headers.items())))
        if site.delay:  # a slow publisher
            time.sleep(site.delay)
        root = Path(site.root)
        path = unquote(urlsplit(self.path).path)
        key = _key(path)

        status = site.status
        if status is not None:
            index = root / "index.html"
            body = index.read_bytes() if index.is_file() else _error_page(status, "Error")
            self._send(status, body, "text/html; charset=utf-8", send_body=send_body)
            return

        redirect = _lookup(site.redirects, key)
        if redirect is not None:
            code, target = redirect
            location = site.url(target)
            body = _error_page(code, f"Moved to {location}")
            self._send(
                code,
                body,
                "text/html; charset=utf-8",
                send_body=send_body,
                extra={"Location": location},
            )
            return

        file = self._resolve(root, path)
        if file is None:
            self._send(
                404, _error_page(404, "Not Found"), "text/html; charset=utf-8", send_body=send_body
            )
            return

        body = file.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        etag = f'"{digest[:32]}"'
        modified = site._last_modified(digest)
        validators = {"ETag": etag, "Last-Modified": formatdate(modified, usegmt=True)}
        content_type = _lookup(site.content_types, key) or guess_content_type(file, body)
        if self._not_modified(etag, modified):
            self._send(304, b"", None, send_body=False, extra=validators)
            return
        self._send(200, body, content_type, send_body=send_body, extra=validators)

    @staticmethod
    def _resolve(root: Path, path: str) -> Path | None:
        parts = [p for p in path.split("/") if p]
        if any(p in ("..", ".") or "\\" in p or "\x00" in p for p in parts):
            return None
        try:
            base = root.resolve()
            file = base.joinpath(*parts).resolve()
        except (OSError, ValueError):
            return None
        if file != base and base not in file.parents:
            return None
        if file.is_dir():
            file = file / "index.html"
        return file if file.is_file() else None

    def _not_modified(self, etag: str, modified: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims is None:
            return False
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(modified) <= int(since)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        *,
        send_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)


class SiteServer:
    """Serves a directory tree on 127.0.0.1 (or another loopback `host`, e.g. 127.0.0.2; random
    free port) from a background thread."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1") -> None:
        self.root: Path = Path(root)
        self.host = host
        self.status: int | None = None
        self.delay = 0.0  # seconds before each answer
        self.redirects: dict[str, tuple[int, str]] = {}
        self.content_types: dict[str, str] = {}
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        # Last-Modified per distinct content: assigned in the order contents are first served,
        # one second apart, starting a day before this object was made; equal content -> equal date.
        self._modified: dict[str, float] = {}
        self._epoch = float(int(time.time()) - 86400)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> SiteServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind a free port and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("SiteServer is already running")
        server = _Server((self.host, 0), _Handler)
        server.site = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"SiteServer:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the listening socket and any open connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SiteServer is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    # -- internals used by the handler -------------------------------------------------------
    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _last_modified(self, digest: str) -> float:
        with self._lock:
            if digest not in self._modified:
                self._modified[digest] = self._epoch + len(self._modified)
            return self._modified[digest]
