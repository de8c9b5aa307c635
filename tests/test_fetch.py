"""pipeline.fetch against real loopback HTTP servers (no network, nothing mocked)."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import re
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC
from email.utils import formatdate
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import httpx
import pytest

from pipeline.fetch import Fetcher, FetchResult, FetchSettings

FAST = FetchSettings(
    user_agent="claimwatch-test/0.1 (+mailto:desk@example.org)",
    timeout=2.0,
    connect_timeout=1.0,
    backoff_base=0.01,
    backoff_max=0.05,
    host_delay=0.0,  # politeness has its own tests below; these are about one fetch
)
MiB = 1024 * 1024

Route = Callable[["Handler"], None]


class Gauge:
    """Counts requests a server is handling right now, and the most ever seen at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


class Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = owner.routes.get(self.path)
        try:
            if route is None:
                reply(self, 404, b"no such route")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (size cap, timeout)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: Server

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # aborted connections are expected; the client side is what is under test


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.gauge = Gauge()
        self.httpd = _HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def reply(
    h: BaseHTTPRequestHandler,
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    length: bool = True,
) -> None:
    h.send_response(status)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    if length:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def sequence(*routes: Route) -> Route:
    """A route that behaves like routes[0] on the first hit, routes[1] on the next, and so on."""
    calls = itertools.count()
    return lambda h: routes[min(next(calls), len(routes) - 1)](h)


def _make_server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _make_server()


@pytest.fixture
def server2() -> Iterator[Server]:
    yield from _make_server()


def fetch(url: str, settings: FetchSettings = FAST, **kwargs: object) -> FetchResult:
    async def main() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            options = {"obey_robots": False, **kwargs}
            return await fetcher.fetch(url, **options)  # type: ignore[arg-type]

    return asyncio.run(main())


def fetch_many(urls: list[str], settings: FetchSettings = FAST) -> list[FetchResult]:
    async def main() -> list[FetchResult]:
        async with Fetcher(settings) as fetcher:
            return list(await asyncio.gather(*(fetcher.fetch(u, obey_robots=False)
                                               for u in urls)))

    return asyncio.run(main())


def peak_memory(call: Callable[[], FetchResult]) -> tuple[FetchResult, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@cache
def zeros_bomb(coding: str) -> bytes:
    """50 MB of zeros, compressed to about 50 KB (gzip) or under 100 bytes (brotli)."""
    zeros = bytes(50 * MiB)
    return gzip.compress(zeros) if coding == "gzip" else brotli.compress(zeros, quality=5)


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- success, headers, conditional GET -------------------------------------------------------


def test_200_gives_body_headers_and_final_url(server: Server) -> None:
    server.routes["/page"] = lambda h: reply(
        h,
        body=b"<p>hello</p>",
        headers={"Content-Type": 'text/HTML; Charset="ISO-8859-1"', "X-Thing": "yes"},
    )
    result = fetch(server.url("/page"))

    assert result.ok and result.error is None
    assert (result.status, result.body) == (200, b"<p>hello</p>")
    assert result.url == result.final_url == server.url("/page")
    assert result.headers["x-thing"] == "yes"
    assert result.content_type == "text/html"
    assert result.charset == "iso-8859-1"
    assert not result.not_modified and not result.gone
    [attempt] = result.attempts
    assert (attempt.status, attempt.bytes, attempt.error) == (200, 12, None)
    assert attempt.final_url == server.url("/page")
    assert attempt.started_at.tzinfo is UTC and attempt.duration_ms >= 0


def test_identifies_itself_and_asks_for_compression(server: Server) -> None:
    server.routes["/"] = lambda h: reply(h, body=b"x")
    fetch(server.url("/"))

    [(_, headers)] = server.requests
    assert headers["user-agent"] == "claimwatch-test/0.1 (+mailto:desk@example.org)"
    assert headers["accept"] == "*/*"
    assert headers["accept-encoding"] == "gzip, deflate, br"


@pytest.mark.parametrize(
    ("kwarg", "request_header", "response_header", "value"),
    [
        ("etag", "if-none-match", "ETag", '"v1"'),
        ("last_modified", "if-modified-since", "Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
def test_conditional_get_gives_304_without_body(
    server: Server, kwarg: str, request_header: str, response_header: str, value: str
) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get(request_header) == value:
            reply(h, 304, length=False)
        else:
            reply(h, body=b"v1", headers={response_header: value})

    server.routes["/doc"] = route
    first = fetch(server.url("/doc"))
    assert first.ok and first.headers[response_header.lower()] == value

    again = fetch(server.url("/doc"), **{kwarg: value})
    assert again.not_modified and again.status == 304
    assert again.body is None and again.error is None and not again.ok
    assert len(again.attempts) == 1


# --- redirects -------------------------------------------------------------------------------


def test_follows_redirect_chain_and_records_final_url(server: Server) -> None:
    server.routes["/a"] = lambda h: reply(h, 302, headers={"Location": "/b"})
    server.routes["/b"] = lambda h: reply(h, 301, headers={"Location": server.url("/c")})
    server.routes["/c"] = lambda h: reply(h, body=b"end")
    result = fetch(server.url("/a"))

    assert result.ok and result.body == b"end"
    assert result.url == server.url("/a")
    assert result.final_url == result.attempts[0].final_url == server.url("/c")
    assert [p for p, _ in server.requests] == ["/a", "/b", "/c"]


def test_too_many_redirects_is_an_error(server: Server) -> None:
    for n in range(1, 7):
        server.routes[f"/r{n}"] = lambda h, n=n: reply(h, 302, headers={"Location": f"/r{n - 1}"})
    server.routes["/r0"] = lambda h: reply(h, body=b"landed")

    assert fetch(server.url("/r5")).body == b"landed"  # exactly max_redirects is fine
    result = fetch(server.url("/r6"))
    assert result.error == "more than 5 redirects"
    assert result.body is None and len(result.attempts) == 1


def test_redirect_body_is_never_decoded(server: Server) -> None:
    bomb = zeros_bomb("br")  # httpx's own redirect handling would inflate this to 50 MB
    server.routes["/moved"] = lambda h: reply(
        h, 302, bomb, headers={"Location": "/here", "Content-Encoding": "br"}
    )
    server.routes["/here"] = lambda h: reply(h, body=b"ok")
    result, peak = peak_memory(lambda: fetch(server.url("/moved")))

    assert result.body == b"ok"
    assert peak < 10 * MiB


# --- HTTP errors and retries -----------------------------------------------------------------


@pytest.mark.parametrize(("status", "line"), [(404, "HTTP 404 Not Found"), (410, "HTTP 410 Gone")])
def test_404_and_410_are_gone_and_not_retried(server: Server, status: int, line: str) -> None:
    server.routes["/old"] = lambda h: reply(h, status, b"missing")
    result = fetch(server.url("/old"))

    assert result.gone and result.status == status and result.error == line
    assert result.body is None and not result.ok
    assert len(result.attempts) == 1 and server.hits("/old") == 1


def test_500_then_200_is_retried(server: Server) -> None:
    server.routes["/flaky"] = sequence(lambda h: reply(h, 500), lambda h: reply(h, body=b"fine"))
    result = fetch(server.url("/flaky"))

    assert result.ok and result.body == b"fine"
    first, second = result.attempts
    assert (first.status, first.error) == (500, "HTTP 500 Internal Server Error")
    assert (second.status, second.error) == (200, None)


def after_retries(error: str | None, line: str, attempts: int) -> bool:
    """`error` is `line` plus how many attempts it took over how long (each attempt's own error
    is the bare line)."""
    return re.fullmatch(rf"{re.escape(line)} \({attempts} attempts over [0-9.]+s\)",
                        error or "") is not None


def test_persistent_500_gives_up_after_retries(server: Server) -> None:
    server.routes["/down"] = lambda h: reply(h, 500)
    result = fetch(server.url("/down"))

    assert after_retries(result.error, "HTTP 500 Internal Server Error", 3), result.error
    assert result.body is None
    assert len(result.attempts) == 3 and server.hits("/down") == 3
    assert [a.error for a in result.attempts] == ["HTTP 500 Internal Server Error"] * 3


def test_503_retry_after_is_honoured_instead_of_backoff(server: Server) -> None:
    server.routes["/busy"] = sequence(
        lambda h: reply(h, 503, headers={"Retry-After": "0"}), lambda h: reply(h, body=b"ok")
    )
    slow_backoff = replace(FAST, backoff_base=20.0, backoff_max=20.0)  # would wait 10-30 s
    started = time.monotonic()
    result = fetch(server.url("/busy"), slow_backoff)

    assert result.ok and [a.status for a in result.attempts] == [503, 200]
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("delta", [True, False], ids=["delta-seconds", "http-date"])
def test_429_with_long_retry_after_gives_up_at_once(server: Server, delta: bool) -> None:
    retry_after = "3600" if delta else formatdate(time.time() + 3600, usegmt=True)
    server.routes["/limited"] = lambda h: reply(h, 429, headers={"Retry-After": retry_after})
    started = time.monotonic()
    result = fetch(server.url("/limited"))

    assert time.monotonic() - started < 2
    assert len(result.attempts) == 1 and result.status == 429
    assert result.error is not None
    assert result.error.startswith("HTTP 429 Too Many Requests (Retry-After 3")
    assert result.error.endswith("s is longer than the 120s limit)")
    if delta:
        assert "3600s" in result.error


# --- transport failures ----------------------------------------------------------------------


def test_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{refused_port()}/"
    result = fetch(url)

    assert after_retries(result.error, "connection refused", 3), result.error
    assert result.status is None and result.body is None and result.final_url == url
    assert [a.error for a in result.attempts] == ["connection refused"] * 3
    assert all(a.status is None and a.final_url is None for a in result.attempts)


def test_read_timeout_is_reported(server: Server) -> None:
    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        reply(h, body=b"too late")

    server.routes["/slow"] = slow
    started = time.monotonic()
    result = fetch(server.url("/slow"), replace(FAST, retries=1), timeout=0.2)

    # the line says the whole wait (two attempts and a backoff), not just one attempt's timeout
    line = "timed out after 0.2s waiting for the response"
    assert after_retries(result.error, line, 2), result.error
    assert [a.error for a in result.attempts] == [line] * 2  # timeouts are transient
    spent = float(re.findall(r"over ([0-9.]+)s", result.error or "")[0])
    assert spent >= sum(a.duration_ms for a in result.attempts) / 1000 - 0.01
    assert time.monotonic() - started < 1.5


def test_trickling_server_cannot_hang_a_fetch(server: Server) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(100):  # one byte per 20 ms never trips the 0.1 s read timeout
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.02)

    server.routes["/drip"] = trickle
    settings = replace(FAST, timeout=0.1, connect_timeout=0.1, retries=0)  # 0.5 s deadline
    started = time.monotonic()
    result = fetch(server.url("/drip"), settings)

    assert result.error == "timed out after 0.5s: the response never completed"
    assert result.body is None and result.status == 200
    assert time.monotonic() - started < 1.5


def test_tls_failure_is_reported_not_retried(server: Server) -> None:
    server.routes["/"] = lambda h: reply(h, body=b"plain")
    result = fetch(server.url("/").replace("http://", "https://"))

    assert result.error is not None and result.error.startswith("TLS handshake failed")
    assert len(result.attempts) == 1


def test_malformed_response_is_reported(server: Server) -> None:
    server.routes["/junk"] = lambda h: h.wfile.write(b"this is not http\r\n\r\n")
    result = fetch(server.url("/junk"))

    assert result.error is not None and result.error.startswith("malformed response: ")
    assert result.status is None and len(result.attempts) == 1


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://x", "unsupported URL scheme 'ftp': only http and https"),
        ("not a url", "invalid URL: it must start with http:// or https://"),
        ("http://", "invalid URL: it has no host"),
        ("http://example.org:port/", "invalid URL: Invalid port: 'port'"),
        ("http://xn--/", "invalid URL: Malformed A-label, no Punycode eligible content found"),
    ],
)
def test_invalid_urls_are_reported_not_raised(url: str, error: str) -> None:
    result = fetch(url)

    assert result.error == error
    assert result.url == result.final_url == url
    assert result.status is None and result.body is None and result.attempts == ()


# --- size caps and decoding ------------------------------------------------------------------


@pytest.mark.parametrize("with_length", [False, True], ids=["streamed", "content-length"])
def test_body_over_max_bytes_is_cut_off(server: Server, with_length: bool) -> None:
    chunk, total = b"x" * 65536, 50 * MiB

    def huge(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        if with_length:
            h.send_header("Content-Length", str(total))
        h.end_headers()
        for _ in range(total // len(chunk)):
            h.wfile.write(chunk)

    server.routes["/huge"] = huge
    result, peak = peak_memory(lambda: fetch(server.url("/huge"), max_bytes=MiB))

    assert result.error == "response larger than the 1 MB limit"
    assert result.body is None and result.status == 200
    [attempt] = result.attempts  # not retried
    assert attempt.bytes <= MiB + len(chunk)
    assert peak < 8 * MiB
    if with_length:
        assert attempt.bytes == 0  # refused from the header, before reading


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_decompression_bomb_is_stopped_with_bounded_memory(server: Server, coding: str) -> None:
    bomb = zeros_bomb(coding)
    server.routes["/bomb"] = lambda h: reply(h, body=bomb, headers={"Content-Encoding": coding})
    result, peak = peak_memory(lambda: fetch(server.url("/bomb")))

    assert result.error == "compressed response expands more than 200x (decompression bomb?)"
    assert result.body is None and len(result.attempts) == 1
    assert result.attempts[0].bytes < 2 * MiB
    assert peak < 10 * MiB  # the bomb is 50 MB decoded


def test_max_bytes_applies_to_decoded_size(server: Server) -> None:
    packed = gzip.compress(bytes(3 * MiB))  # ~3 KB on the wire
    server.routes["/z"] = lambda h: reply(h, body=packed, headers={"Content-Encoding": "gzip"})
    result = fetch(server.url("/z"), replace(FAST, max_ratio=1e9), max_bytes=MiB)

    assert result.error == "response larger than the 1 MB limit"


TEXT = b"".join(b"line %d of a perfectly ordinary page\n" % i for i in range(20000))
ENCODED = {
    "gzip": gzip.compress(TEXT),
    "br": brotli.compress(TEXT, quality=5),
    "deflate": zlib.compress(TEXT),  # zlib-wrapped, as RFC 9110 says
    "raw-deflate": zlib.compress(TEXT)[2:-4],  # what some servers send as "deflate"
    "identity": TEXT,
}


@pytest.mark.parametrize("coding", ENCODED)
def test_compressed_bodies_are_decoded(server: Server, coding: str) -> None:
    header = coding.removeprefix("raw-")
    server.routes["/t"] = lambda h: reply(
        h, body=ENCODED[coding], headers={"Content-Encoding": header}
    )
    result = fetch(server.url("/t"))

    assert result.ok and result.body == TEXT
    assert result.attempts[0].bytes == len(TEXT)


def test_truncated_compressed_body_is_an_error(server: Server) -> None:
    cut = gzip.compress(TEXT)[:2000]
    server.routes["/cut"] = lambda h: reply(h, body=cut, headers={"Content-Encoding": "gzip"})
    result = fetch(server.url("/cut"))

    assert result.error == "the gzip body is cut short (truncated response)"
    assert result.body is None


def test_unknown_content_encoding_is_an_error(server: Server) -> None:
    server.routes["/c"] = lambda h: reply(h, body=b"??", headers={"Content-Encoding": "compress"})
    result = fetch(server.url("/c"))

    assert result.error == "unsupported Content-Encoding 'compress'"
    assert result.body is None and len(result.attempts) == 1


# --- concurrency -----------------------------------------------------------------------------


def counted(gauge: Gauge, seconds: float = 0.15) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        with gauge:
            time.sleep(seconds)
        reply(h, body=b"done")

    return route


def test_per_host_limit_is_respected(server: Server) -> None:
    server.routes.update({f"/p{i}": counted(server.gauge) for i in range(6)})
    results = fetch_many([server.url(f"/p{i}") for i in range(6)])

    assert all(r.ok for r in results)
    assert server.gauge.peak == 2


def test_global_limit_is_respected(server: Server, server2: Server) -> None:
    shared = Gauge()
    for srv in (server, server2):
        srv.routes.update({f"/g{i}": counted(shared) for i in range(4)})
    urls = [srv.url(f"/g{i}") for srv in (server, server2) for i in range(4)]
    results = fetch_many(urls, replace(FAST, global_limit=3, per_host_limit=3))

    assert all(r.ok for r in results)
    assert shared.peak == 3


def test_backoff_does_not_hold_the_host_slot(server: Server) -> None:
    server.routes["/flaky"] = sequence(lambda h: reply(h, 500), lambda h: reply(h, body=b"b"))
    server.routes["/quick"] = lambda h: reply(h, body=b"q")
    settings = replace(FAST, per_host_limit=1, backoff_base=0.6, backoff_max=0.6)  # 0.3-0.9 s
    finished: dict[str, float] = {}

    async def main() -> None:
        started = time.monotonic()
        async with Fetcher(settings) as fetcher:

            async def run(path: str, delay: float) -> None:
                await asyncio.sleep(delay)
                assert (await fetcher.fetch(server.url(path))).ok
                finished[path] = time.monotonic() - started

            await asyncio.gather(run("/flaky", 0), run("/quick", 0.05))

    asyncio.run(main())
    assert finished["/quick"] < 0.28  # it ran while /flaky slept between its attempts
    assert finished["/flaky"] > 0.3


# --- politeness ----------------------------------------------------------------------------


def test_robots_txt_is_obeyed_once_per_host(server: Server) -> None:
    server.routes["/robots.txt"] = lambda h: reply(
        h, body=b"User-agent: *\nDisallow: /private\n\nUser-agent: claimwatch\nDisallow: /no\n")
    server.routes["/yes"] = lambda h: reply(h, body=b"ok")
    server.routes["/no/page"] = lambda h: reply(h, body=b"secret")

    async def main() -> list[FetchResult]:
        async with Fetcher(FAST) as fetcher:
            return [await fetcher.fetch(server.url(p)) for p in ("/yes", "/no/page", "/yes")]

    allowed, refused, again = asyncio.run(main())
    assert allowed.ok and again.ok
    assert refused.disallowed and refused.attempts == () and "robots.txt" in (refused.error or "")
    assert [path for path, _ in server.requests] == ["/robots.txt", "/yes", "/yes"]
    overridden = fetch(server.url("/no/page"), obey_robots=False)
    assert overridden.ok and overridden.body == b"secret"


def test_missing_or_broken_robots_txt_allows_everything(server: Server) -> None:
    server.routes["/robots.txt"] = lambda h: reply(h, status=500, body=b"oops")
    server.routes["/page"] = lambda h: reply(h, body=b"ok")
    assert fetch(server.url("/page"), replace(FAST, retries=0), obey_robots=True).ok


def test_requests_to_one_host_are_spaced(server: Server) -> None:
    server.routes["/p"] = lambda h: reply(h, body=b"ok")
    spaced = replace(FAST, host_delay=0.3)
    results = fetch_many([server.url("/p")] * 4, spaced)
    starts = sorted(a.started_at for r in results for a in r.attempts)
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap >= 0.28 for gap in gaps), gaps


def test_unchanged_rechecks_reuse_the_connection() -> None:
    """A 304's connection goes back to the pool: thousands of unchanged sources must not cost
    thousands of TCP handshakes."""
    import http.server
    import threading

    ports: list[int] = []

    class KeepAlive(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            ports.append(self.client_address[1])
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/page"

    async def main() -> list[FetchResult]:
        async with Fetcher(replace(FAST, per_host_limit=1)) as fetcher:
            first = await fetcher.fetch(url, obey_robots=False)
            return [first] + [await fetcher.fetch(url, etag='"v1"', obey_robots=False)
                              for _ in range(4)]

    try:
        results = asyncio.run(main())
    finally:
        server.shutdown()
        server.server_close()
    assert results[0].ok and all(r.not_modified for r in results[1:])
    assert len(set(ports)) == 1, f"one connection for five requests, got ports {ports}"


def test_hosts_beyond_the_open_limit_are_closed_only_when_idle(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each host gets its own connection pool; past OPEN_HOSTS the least recent idle ones are
    closed, never one a fetch is still using."""
    import pipeline.fetch

    monkeypatch.setattr(pipeline.fetch, "OPEN_HOSTS", 1)
    servers = [next(_make_server()) for _ in range(4)]  # started; shut down below
    for srv in servers:
        srv.routes["/slow"] = lambda h: (time.sleep(0.3), reply(h, 302, headers={
            "Location": "/fast"}))[1]  # the redirect needs the host's client still open
        srv.routes["/fast"] = lambda h: reply(h, 200, b"fast page")

    async def main() -> tuple[list[FetchResult], FetchResult, int]:
        async with Fetcher(FAST) as fetcher:
            # three hosts at once: each new client would evict the others if they were idle
            together = await asyncio.gather(*(
                fetcher.fetch(srv.url("/slow"), obey_robots=False) for srv in servers[:3]))
            later = await fetcher.fetch(servers[3].url("/fast"), obey_robots=False)
            return together, later, len(fetcher._clients)

    try:
        together, later, still_open = asyncio.run(main())
    finally:
        for srv in servers:
            srv.httpd.shutdown()
            srv.httpd.server_close()
    assert [r.body for r in together] == [b"fast page"] * 3
    assert later.body == b"fast page"
    assert still_open == 1


def test_a_given_transport_serves_every_host_and_is_not_closed_by_eviction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.fetch

    monkeypatch.setattr(pipeline.fetch, "OPEN_HOSTS", 1)
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, stream=httpx.ByteStream(request.url.host.encode())))
    closed: list[bool] = []
    real_aclose = transport.aclose

    async def aclose() -> None:
        closed.append(True)
        await real_aclose()

    transport.aclose = aclose  # type: ignore[method-assign]

    async def main() -> list[FetchResult]:
        async with Fetcher(FAST, transport=transport) as fetcher:
            results = [await fetcher.fetch(f"http://host{i}.test/", obey_robots=False)
                       for i in range(3)]
            assert not closed, "closed while the fetcher still uses it"
            return results

    results = asyncio.run(main())
    assert [r.body for r in results] == [b"host0.test", b"host1.test", b"host2.test"]
    assert closed == [True]
