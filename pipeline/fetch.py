"""Fetching one URL politely and safely: the only module that touches the network.

Nothing the remote side does raises; every HTTP attempt (each retry is one) is recorded. Every
connection is checked, on the address it is made to, against what the fetch may reach.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import socket
import ssl
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import ip_network
from typing import Any
from urllib.robotparser import RobotFileParser

import brotli
import certifi
import httpcore
import httpx

from pipeline import __version__
from pipeline.addresses import AddressPolicy, home_ranges, ip_address_or_none
from pipeline.errors import FetchError
from pipeline.errors import first_line as _line

ROBOTS_AGENT = "claimwatch"  # the user-agent token robots.txt rules name
_DISALLOW = re.compile(r"\s*disallow\s*:\s*[^\s#]", re.IGNORECASE)  # a rule with a path
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_DEFAULT_PORTS = {"http": 80, "https": 443}
OPEN_HOSTS = 64  # hosts whose clients (and keep-alive connections) stay open between fetches
_PIECE = 64 * 1024  # decoders hand out output in pieces of about this size
_RAW_STEP = 4096  # raw bytes fed to a decoder at a time, so the bomb ratio is judged finely
_RATIO_FLOOR = 1024 * 1024  # the bomb ratio is judged only once this much is decoded
# What a remote server can make the network stack raise; `fetch` turns these into an error line.
_REMOTE_FAILURES = (
    httpx.HTTPError,
    httpx.InvalidURL,
    FetchError,
    OSError,
    ValueError,
    zlib.error,
    brotli.error,
)
# host, port → the IP addresses it resolves to (a seam: tests map made-up names)
Resolver = Callable[[str, int], Awaitable[list[str]]]
# a host key ("host:port") → seconds until a request to it may start: its turn, shared with other
# workers (the check run keeps turns in the database; without it, spacing is per process)
Turns = Callable[[str], Awaitable[float]]
_Slot = tuple[str, AddressPolicy | None]  # a host (or origin) under one policy


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = f"claimwatch/{__version__}"
    timeout: float = 30.0  # read/write/pool timeout, seconds
    connect_timeout: float = 10.0
    max_bytes: int = 20 * 1024 * 1024  # cap on the decoded body, enforced while streaming
    max_redirects: int = 5
    retries: int = 2  # extra attempts after the first, for transient failures only
    backoff_base: float = 1.0  # delay = min(backoff_max, base * 2**n) * uniform(0.5, 1.5)
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # a longer Retry-After is not waited for
    max_ratio: float = 200.0  # decoded/raw above this (once decoded > 1 MiB) = compression bomb
    global_limit: int = 16  # concurrent requests overall
    per_host_limit: int = 2  # concurrent requests per host:port
    host_delay: float = 1.0  # seconds between the starts of two requests to one host
    robots_ttl: float = 86400.0  # how long a host's robots.txt is trusted
    # networks (CIDR) any fetch may reach besides public addresses: defaults.allow_networks
    allow_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt (each retry is one), redirects included."""

    url: str
    started_at: datetime  # timezone-aware UTC
    duration_ms: int
    status: int | None  # final HTTP status, None when no response
    bytes: int  # decoded body bytes received
    final_url: str | None  # after redirects
    error: str | None  # one line, None on success


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects (== url when no response)
    status: int | None
    headers: dict[str, str]  # lower-cased names, of the final response
    body: bytes | None  # decoded; None on 304, on error, on 404/410
    error: str | None  # one clear line; None on success (2xx) and on 304
    attempts: tuple[Attempt, ...]
    disallowed: bool = False  # robots.txt forbids claimwatch this URL; nothing was requested

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)

    @property
    def ok(self) -> bool:
        return self.body is not None and self.error is None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip("\"'").lower() or None
        return None


@dataclass(frozen=True)
class Forwarded:
    """A response to a request made on a rendered page's behalf (`Fetcher.forward`)."""

    status: int
    headers: list[tuple[str, str]]  # lower-cased names, repeated ones kept
    body: bytes  # decoded
    final_url: str


class Fetcher:
    """Fetches URLs within global and per-host concurrency limits, over one httpx client per
    host (the most recently used few stay open): httpcore scans every connection of its pool on
    each request, and one pool for all hosts cost a fifth of an unchanged re-check.

    A host's client connects only to addresses the fetch's `AddressPolicy` allows; fetches under
    another policy get a client (and connections) of their own. A caller's `transport` is used
    as it is: it decides where requests go. `resolver` and `backend` (httpcore's, which makes
    the connections to checked addresses) are seams for tests.
    """

    def __init__(
        self,
        settings: FetchSettings = FetchSettings(),
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        backend: httpcore.AsyncNetworkBackend | None = None,
        turns: Turns | None = None,
    ) -> None:
        self.settings = settings
        self._turns = turns
        self._transport = transport
        self._resolver = resolver or _getaddrinfo
        self._backend = backend or httpcore.AnyIOBackend()
        self._listed = tuple(ip_network(n) for n in settings.allow_networks)
        self._policies: dict[str, asyncio.Future[AddressPolicy]] = {}  # by configured host
        # least recent first; by host and policy: a connection is reused only under its policy
        self._clients: OrderedDict[_Slot, httpx.AsyncClient] = OrderedDict()
        self._in_use: Counter[_Slot] = Counter()  # fetches under way per client: never closed
        self._ssl: ssl.SSLContext | None = None
        self._global = asyncio.Semaphore(settings.global_limit)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._spacing: dict[str, tuple[asyncio.Lock, list[float]]] = {}
        self._robots: dict[_Slot, tuple[float, RobotFileParser | None]] = {}
        self._robots_locks: dict[_Slot, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        # one context for every client: each would otherwise load the CA bundle (~20 ms)
        self._ssl = ssl.create_default_context(cafile=certifi.where())
        return self

    async def __aexit__(self, *exc: object) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        self._ssl = None
        for client in clients:
            await client.aclose()

    @asynccontextmanager
    async def _client_for(self, key: str,
                          policy: AddressPolicy | None) -> AsyncIterator[httpx.AsyncClient]:
        """The host's client under `policy`, kept open while this fetch uses it."""
        if self._ssl is None:
            raise RuntimeError("use Fetcher inside 'async with Fetcher(...)'")
        # the caller's transport is one pool: one client, which alone closes it (evicting a
        # host would close it)
        slot = (key, policy) if self._transport is None else ("", None)
        self._in_use[slot] += 1
        try:
            client = self._clients.get(slot)
            if client is None:
                s = self.settings
                client = self._clients[slot] = httpx.AsyncClient(
                    transport=self._transport, verify=self._ssl,
                    timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
                    headers={"User-Agent": s.user_agent, "Accept": "*/*",
                             "Accept-Encoding": "gzip, deflate, br"})
                if policy is not None:
                    _guard(client, _GuardedBackend(policy, self._addresses, self._backend))
                idle = [k for k in self._clients if not self._in_use[k]]
                for old in idle[:max(0, len(self._clients) - OPEN_HOSTS)]:
                    await self._clients.pop(old).aclose()
            self._clients.move_to_end(slot)
            yield client
        finally:
            self._in_use[slot] -= 1
            if not self._in_use[slot]:
                del self._in_use[slot]

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
        obey_robots: bool = True,
        source_url: str | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> FetchResult:
        """GET `url`, conditionally if validators are given, retrying transient failures; with
        `form`, POST it form-encoded instead (an API call: `pipeline.archive`). `headers` are
        sent besides the usual ones and never recorded.

        With `obey_robots`, a URL the host's robots.txt forbids to claimwatch is not requested.
        Requests to one host start at least `host_delay` apart (robots.txt itself excepted).
        `source_url` is the configured URL of the source this fetch is for (default: `url`):
        the fetch and its redirects may reach the special-purpose ranges its host resolves into,
        besides public addresses and `allow_networks`.
        """
        timeout = self.settings.timeout if timeout is None else timeout
        max_bytes = self.settings.max_bytes if max_bytes is None else max_bytes
        try:
            parsed = _parse_url(url)
        except FetchError as exc:
            return FetchResult(url, url, None, {}, None, str(exc), ())
        policy = await self._policy(parsed if source_url is None else source_url)
        key, host_limit = self._host(parsed)
        if obey_robots and not await self._robots_allow(parsed, policy, source_url or url):
            return FetchResult(url, url, None, {}, None, f"robots.txt of {parsed.host} "
                               "disallows claimwatch here (obey_robots: false reads it anyway)",
                               (), disallowed=True)
        spaced = parsed.path != "/robots.txt"  # the crawler's handshake goes first
        sent: dict[str, bytes] = {k: v.encode() for k, v in (headers or {}).items()}
        if etag:  # bytes: a validator echoed back may be non-ASCII
            sent["If-None-Match"] = etag.encode()
        if last_modified:
            sent["If-Modified-Since"] = last_modified.encode()
        limits = httpx.Timeout(timeout, connect=self.settings.connect_timeout)

        attempts: list[Attempt] = []
        started = time.monotonic()
        async with self._client_for(key, policy) as client:
            request = client.build_request("GET" if form is None else "POST", parsed,
                                           headers=sent, data=form, timeout=limits)
            for n in range(self.settings.retries + 1):
                async with host_limit, self._global:  # host first: a queued host holds no slot
                    if spaced:
                        await self._space(key)
                    result, transient = await self._attempt(client, url, request, policy,
                                                            timeout, max_bytes)
                attempts += result.attempts
                if not transient or n == self.settings.retries:
                    break
                wait = retry_after(result.headers) if result.status in (429, 503) else None
                if wait is not None and wait > self.settings.retry_after_max:
                    limit = f"{self.settings.retry_after_max:g}s"
                    note = f" (Retry-After {wait:.0f}s is longer than the {limit} limit)"
                    result = replace(result, error=f"{result.error}{note}")
                    break
                await asyncio.sleep(self._backoff(n) if wait is None else wait)
        if result.error is not None and len(attempts) > 1:  # "timed out after 10s" hid 35 s
            spent = _seconds(time.monotonic() - started)
            result = replace(result, error=f"{result.error} ({len(attempts)} attempts over "
                                           f"{spent})")
        return replace(result, attempts=tuple(attempts))

    async def forward(self, method: str, url: str, *, headers: dict[str, str],
                      content: bytes | None, source_url: str, timeout: float,
                      max_bytes: int) -> Forwarded:
        """One request on a rendered page's behalf (`pipeline.browser_fetch`): sent under the
        source's address policy like its own fetch, redirects followed and checked hop by hop,
        the body bounded and decoded. No robots.txt, spacing or retries: a browser fetching a
        page's scripts does neither. Raises FetchError with one line."""
        parsed = _parse_url(url)
        policy = await self._policy(source_url)
        key, host_limit = self._host(parsed)
        limits = httpx.Timeout(timeout, connect=self.settings.connect_timeout)
        body = bytearray()
        async with self._client_for(key, policy) as client:
            request = client.build_request(method, parsed, headers=headers, content=content,
                                           timeout=limits)
            async with host_limit, self._global:
                try:
                    async with asyncio.timeout(self._deadline(timeout)):
                        response = await self._send(client, request, policy)
                        try:
                            if response.next_request is not None:
                                raise FetchError(f"more than {self.settings.max_redirects} "
                                                 "redirects")
                            await self._read_body(response, body, max_bytes)
                        finally:
                            await response.aclose()
                except _REMOTE_FAILURES as exc:
                    raise FetchError(self._describe(exc, timeout)[0]) from None
        return Forwarded(response.status_code, list(response.headers.multi_items()),
                         bytes(body), str(response.url))

    def _host(self, url: httpx.URL) -> tuple[str, asyncio.Semaphore]:
        """The host and port a request goes to, and the slots of `per_host_limit` it shares."""
        key = f"{url.host}:{url.port or _DEFAULT_PORTS[url.scheme]}"
        return key, self._per_host.setdefault(
            key, asyncio.Semaphore(self.settings.per_host_limit))

    async def _policy(self, source: str | httpx.URL) -> AddressPolicy | None:
        """What fetches for the source configured at `source` may reach; None with a caller's
        transport. Its host is resolved once per Fetcher (a run), shared by its fetches."""
        if self._transport is not None:
            return None
        try:
            url = source if isinstance(source, httpx.URL) else _parse_url(source)
        except FetchError:
            return AddressPolicy(listed=self._listed)
        host, port = url.host, url.port or _DEFAULT_PORTS[url.scheme]
        if host not in self._policies:
            self._policies[host] = asyncio.ensure_future(self._home_policy(host, port))
        return await asyncio.shield(self._policies[host])  # one fetch cancelled: not the others

    async def _home_policy(self, host: str, port: int) -> AddressPolicy:
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                found = await self._addresses(host, port)
        except (OSError, TimeoutError, ValueError):  # ValueError: a name IDNA refuses
            # unresolvable now: no range of its own (its fetch will fail to connect anyway);
            # the next fetch of this source asks again
            self._policies.pop(host, None)
            found = []
        return AddressPolicy(home_ranges(found), self._listed)

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The addresses `host` stands for: itself when it is one, else the resolver's answer."""
        return [host] if ip_address_or_none(host) is not None else await self._resolver(host, port)

    async def _space(self, key: str) -> None:
        """Wait until `host_delay` has passed since the last request to this host started (by
        this process, or with `turns` by any worker sharing them)."""
        if self.settings.host_delay <= 0:
            return
        delay = self.settings.host_delay
        lock, last = self._spacing.setdefault(key, (asyncio.Lock(), [0.0]))
        async with lock:
            for _ in range(3):
                wait = last[0] + delay - time.monotonic()
                if self._turns is not None:
                    wait = max(wait, await self._turns(key))
                due = time.monotonic() + max(wait, 0.0)
                if wait > 0:
                    await asyncio.sleep(wait)
                # a worker starved of CPU that wakes well past its shared turn would send into
                # the next worker's: that turn is gone, take another (at most twice more)
                if self._turns is None or time.monotonic() - due <= delay / 2:
                    break
            last[0] = time.monotonic()

    async def _robots_allow(self, url: httpx.URL, policy: AddressPolicy | None,
                            source_url: str) -> bool:
        """Whether robots.txt lets claimwatch fetch `url` (fetched once per host and policy,
        cached: a robots.txt the policy kept claimwatch from reading must not count as none)."""
        origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        slot = (origin, policy)
        async with self._robots_locks.setdefault(slot, asyncio.Lock()):
            expires, rules = self._robots.get(slot, (0.0, None))
            if expires <= time.monotonic():
                rules = await self._read_robots(origin, source_url)
                self._robots[slot] = (time.monotonic() + self.settings.robots_ttl, rules)
        return rules is None or rules.can_fetch(ROBOTS_AGENT, str(url))

    async def _read_robots(self, origin: str, source_url: str) -> RobotFileParser | None:
        """The host's rules; None (everything allowed) when it has none or they can't be read.

        RFC 9309 allows everything on a 4xx; on a 5xx or a network failure claimwatch also reads
        on, since a desk's official sources must not go dark because robots.txt is flaky.
        """
        got = await self.fetch(f"{origin}/robots.txt", obey_robots=False, max_bytes=512 * 1024,
                               timeout=min(self.settings.timeout, 10.0), source_url=source_url)
        if not got.ok or got.body is None:
            return None
        lines = got.body.decode("utf-8", errors="replace").splitlines()
        if not any(_DISALLOW.match(line) for line in lines):
            return None  # nothing is disallowed: no rules to consult on every fetch
        rules = RobotFileParser()
        rules.parse(lines)
        return rules

    async def _attempt(
        self, client: httpx.AsyncClient, url: str, request: httpx.Request,
        policy: AddressPolicy | None, timeout: float, max_bytes: int,
    ) -> tuple[FetchResult, bool]:
        """One attempt; returns its result (holding its Attempt) and whether a retry may help."""
        started_at = datetime.now(UTC)
        clock = time.monotonic()
        response: httpx.Response | None = None
        body = bytearray()
        try:
            # The whole attempt is bounded too: a server trickling bytes never trips ReadTimeout.
            async with asyncio.timeout(self._deadline(timeout)):
                response = await self._send(client, request, policy)
                try:
                    error, transient = self._status_error(response)
                    if error is None and response.status_code != 304:
                        await self._read_body(response, body, max_bytes)
                    else:
                        await _drain(response)
                finally:
                    await response.aclose()
        except _REMOTE_FAILURES as exc:
            error, transient = self._describe(exc, timeout)

        status = response.status_code if response is not None else None
        final_url = str(response.url) if response is not None else None
        attempt = Attempt(
            url=url,
            started_at=started_at,
            duration_ms=round((time.monotonic() - clock) * 1000),
            status=status,
            bytes=len(body),
            final_url=final_url,
            error=error,
        )
        result = FetchResult(
            url=url,
            final_url=final_url or url,
            status=status,
            headers=dict(response.headers.items()) if response is not None else {},
            body=bytes(body) if error is None and status != 304 else None,
            error=error,
            attempts=(attempt,),
        )
        return result, transient

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request,
                    policy: AddressPolicy | None) -> httpx.Response:
        """Send, following redirects here: httpx would read each redirect's body, unbounded.

        Each hop must be allowed by `policy`: a literal address is checked here (the guard can't
        see through a proxy), a name by the client's connections to what it resolves to.
        """
        hop = 0
        while True:
            try:
                refusal = _literal_refusal(request.url.host, policy)
                if refusal is not None:
                    raise _Blocked(refusal)
                response = await client.send(request, stream=True)
            except _Blocked as exc:
                what = "redirect to" if hop else "request to"
                raise FetchError(f"{what} {request.url} blocked: {exc}") from None
            if response.next_request is None or hop == self.settings.max_redirects:
                return response
            await response.aclose()
            request, hop = response.next_request, hop + 1

    def _status_error(self, response: httpx.Response) -> tuple[str | None, bool]:
        if response.next_request is not None:
            return f"more than {self.settings.max_redirects} redirects", False
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            return None, False
        return f"HTTP {status} {response.reason_phrase}".rstrip(), status in _RETRY_STATUSES

    async def _read_body(self, response: httpx.Response, body: bytearray, max_bytes: int) -> None:
        """Stream the raw body into `body`, decoding it here so memory stays bounded."""
        too_big = FetchError(f"response larger than the {_size(max_bytes)} limit")
        decoder = _Decoder(response.headers.get("content-encoding", ""))
        length = response.headers.get("content-length", "")
        if decoder.coding == "identity" and length.isdigit() and int(length) > max_bytes:
            raise too_big

        raw = 0

        def add(pieces: Iterator[bytes]) -> None:
            for piece in pieces:
                body.extend(piece)
                if len(body) > max_bytes:
                    raise too_big
                if len(body) > _RATIO_FLOOR and len(body) > self.settings.max_ratio * raw:
                    ratio = f"{self.settings.max_ratio:g}x"
                    raise FetchError(
                        f"compressed response expands more than {ratio} (decompression bomb?)"
                    )

        async for chunk in response.aiter_raw():
            for start in range(0, len(chunk), _RAW_STEP):
                step = chunk[start : start + _RAW_STEP]
                raw += len(step)
                if raw > max_bytes:
                    raise too_big
                add(decoder.feed(step))
        add(decoder.finish())

    def _describe(self, exc: Exception, timeout: float) -> tuple[str, bool]:
        """The one place a failure becomes a human line; also says whether a retry may help."""
        match exc:
            case FetchError():
                return str(exc), False
            case httpx.ConnectTimeout():
                return f"timed out after {self.settings.connect_timeout:g}s connecting", True
            case httpx.ReadTimeout():
                return f"timed out after {timeout:g}s waiting for the response", True
            case httpx.WriteTimeout():
                return f"timed out after {timeout:g}s sending the request", True
            case httpx.PoolTimeout():
                return f"timed out after {timeout:g}s waiting for a free connection", True
            case TimeoutError():  # our asyncio.timeout around the whole attempt
                deadline = f"{self._deadline(timeout):g}s"
                return f"timed out after {deadline}: the response never completed", True
            case httpx.ConnectError():
                return _connect_failure(exc)
            case httpx.ReadError() | httpx.WriteError():
                return f"connection lost: {_line(exc)}", True
            case httpx.RemoteProtocolError():
                return f"malformed response: {_line(exc)}", False
            case zlib.error() | brotli.error():
                return f"could not decode the compressed body: {_line(exc)}", False
            case _:
                return f"request failed: {_line(exc)}", False

    def _deadline(self, timeout: float) -> float:
        return self.settings.connect_timeout + 4 * timeout

    def _backoff(self, n: int) -> float:
        s = self.settings
        return min(s.backoff_max, s.backoff_base * 2**n) * random.uniform(0.5, 1.5)


class _Blocked(FetchError):
    """A request to an address its fetch may not reach; the message says why."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's connections under one AddressPolicy: the host is resolved here, every address
    it resolves to is checked, and the connection is made to a checked address, so a DNS answer
    that changes in between (rebinding) can't slip past. TLS still names the host: httpcore
    gives start_tls the origin's host name (or the request's sni_hostname), never this address.
    """

    def __init__(self, policy: AddressPolicy, addresses: Resolver,
                 inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._addresses = addresses
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                found = await self._addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from None
        except OSError as exc:  # the cause says "DNS lookup failed" in Fetcher._describe
            raise httpcore.ConnectError(str(exc)) from exc
        for address in found:  # one forbidden answer is enough: it may be the one used next
            refusal = self._policy.refusal(address, host)
            if refusal is not None:
                raise _Blocked(refusal)
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in found:  # in the resolver's order (RFC 6724), one after the other
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self._inner.connect_tcp(address, port, timeout=left,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _guard(client: httpx.AsyncClient, backend: _GuardedBackend) -> None:
    """Make `client`'s direct connections through `backend`. httpx takes no network backend but
    its default transport's httpcore pool does (it has no connection yet); proxies from the
    environment keep httpx's own transports, which only the literal-address check covers.
    Refuses to go on unguarded if httpx's layout ever changes."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or \
            not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx's transport has changed: cannot guard its connections")
    pool._network_backend = backend


@functools.lru_cache(maxsize=4096)  # asked on every request: parsing the host cost ~5 µs
def _literal_refusal(host: str, policy: AddressPolicy | None) -> str | None:
    """Why a URL whose host is an IP address may not be requested (names: when connecting)."""
    if policy is None or ip_address_or_none(host) is None:
        return None
    return policy.refusal(host)


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
        has_host = bool(parsed.host)  # decoding the host also validates IDNA labels
    except (httpx.InvalidURL, ValueError) as exc:  # IDNAError is a ValueError
        raise FetchError(f"invalid URL: {_line(exc)}") from None
    if not parsed.scheme:
        raise FetchError("invalid URL: it must start with http:// or https://")
    if parsed.scheme not in _DEFAULT_PORTS:
        raise FetchError(f"unsupported URL scheme {parsed.scheme!r}: only http and https")
    if not has_host:
        raise FetchError("invalid URL: it has no host")
    return parsed


async def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read the little a 304 or an error page carries, so the connection goes back to the pool
    instead of being closed (a new TCP connection for every unchanged check otherwise)."""
    length = response.headers.get("content-length", "")
    if response.status_code == 304 or (length.isdigit() and int(length) <= limit):
        read = 0
        async for chunk in response.stream:  # type: ignore[union-attr]  # raw, unwrapped: cheaper
            read += len(chunk)
            if read > limit:
                return


class _Decoder:
    """Decodes one Content-Encoding incrementally, never producing more than ~_PIECE at once.

    httpx's own decoders expand a whole raw chunk in one go, which a bomb exploits.
    """

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c not in ("", "identity")]
        if len(codings) > 1 or codings and codings[0] not in ("gzip", "x-gzip", "deflate", "br"):
            raise FetchError(f"unsupported Content-Encoding {content_encoding!r}")
        self.coding = codings[0] if codings else "identity"
        self._zlib: zlib._Decompress | None = None
        self._brotli: brotli.Decompressor | None = None
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        elif self.coding == "br":
            self._brotli = brotli.Decompressor()
        self._try_raw_deflate = self.coding == "deflate"
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._started = self._started or bool(data)
        if self._brotli is not None:
            if self._brotli.is_finished():
                return  # ignore anything after the end of the stream
            yield self._brotli.process(data, output_buffer_limit=_PIECE)
            while not self._brotli.can_accept_more_data():
                yield self._brotli.process(b"", output_buffer_limit=_PIECE)
        elif self._zlib is not None:
            while not self._zlib.eof:  # after eof, zlib would keep the rest in unused_data
                try:
                    out = self._zlib.decompress(data, _PIECE)
                except zlib.error:
                    if not self._try_raw_deflate:
                        raise
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # deflate without header
                    out = self._zlib.decompress(data, _PIECE)
                self._try_raw_deflate = False
                yield out
                data = self._zlib.unconsumed_tail
                if not data and len(out) < _PIECE:
                    break
        else:
            yield data

    def finish(self) -> Iterator[bytes]:
        """Drain buffered output; a compressed stream that stopped early is an error."""
        complete = True
        if self._brotli is not None:
            while not self._brotli.is_finished():
                piece = self._brotli.process(b"", output_buffer_limit=_PIECE)
                if not piece:
                    break
                yield piece
            complete = self._brotli.is_finished()
        elif self._zlib is not None:
            complete = self._zlib.eof
        if self._started and not complete:
            raise FetchError(f"the {self.coding} body is cut short (truncated response)")


def _connect_failure(exc: Exception) -> tuple[str, bool]:
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in causes:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected: {cause.verify_message}", False
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {(cause.reason or str(cause)).lower()}", False
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}", True
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", True
    return f"could not connect: {_line(causes[-1])}", True


def retry_after(headers: dict[str, str]) -> float | None:
    """Seconds a Retry-After header (delta-seconds or HTTP-date) asks for; None if absent/bad."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _seconds(seconds: float) -> str:
    return f"{seconds:.2g}s" if seconds < 10 else f"{round(seconds)}s"


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{round(n / scale, 1):g} {unit}"
    return f"{n} bytes"
