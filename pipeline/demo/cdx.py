"""A loopback stand-in for the Internet Archive, for tests and the benchmark: it speaks the
CDX protocol (`/cdx/search/cdx?url=&from=&to=&output=json`, captures as JSON rows) and serves
each capture's raw bytes at `/web/TIMESTAMPid_/URL` (after `delay` seconds each, a slow
archive), remembering every request (its path and User-Agent)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

# a capture: its timestamp (YYYYmmddHHMMSS) → (HTTP status, bytes, Content-Type); a document
# linked from it (`follow`) is keyed "TIMESTAMP URL", and is not listed
Captures = dict[str, tuple[int, bytes, str]]


class CdxServer:
    """Serves `captures` of `url` (of any URL asked for, when `url` is None)."""

    def __init__(self, captures: Captures, url: str | None = None, *,
                 delay: float = 0.0) -> None:
        self.captures, self.url, self.delay = captures, url, delay
        self.down = 0  # an HTTP status (503): listings are answered with it, an archive down
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append((self.path, self.headers.get("User-Agent")))
                parts = urlsplit(self.path)
                if parts.path == "/cdx/search/cdx" and outer.down:
                    self._send(outer.down, b"the archive is down", "text/plain")
                elif parts.path == "/cdx/search/cdx":
                    self._send(200, outer.listing(parts.query), "application/json")
                elif parts.path.startswith("/web/"):
                    time.sleep(outer.delay)
                    stamp, _, url = parts.path[5:].partition("id_/")
                    for key in (f"{stamp} {url}", stamp):  # a document, else the page
                        if key in outer.captures:
                            self._send(*outer.captures[key])
                            break
                    else:
                        self._send(404, b"not archived", "text/plain")
                else:
                    self._send(404, b"", "text/plain")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.cdx_url = f"{self.base}/cdx/search/cdx"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def listing(self, query: str) -> bytes:
        q = {k: v[0] for k, v in parse_qs(query).items()}
        rows = [["timestamp", "original", "mimetype", "statuscode", "digest"]]
        if self.url is None or q.get("url") == self.url:
            rows += [[ts, q.get("url", ""), kind, "200", f"D{ts}"]
                     for ts, (_status, _body, kind) in sorted(self.captures.items())
                     if " " not in ts and q.get("from", "") <= ts <= q.get("to", "9" * 14)]
        rows.append(["20250601000000", "http://169.254.169.254/", "text/html", "200"])  # bad
        return json.dumps(rows).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
