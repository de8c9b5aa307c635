"""Where a fetch may connect (issue 14): a page must not lead claimwatch to loopback, private,
link-local or metadata addresses unless its own source lives there or the desk allows it.

The network is loopback only, so the tests give the Fetcher a small made-up internet: names
resolve as a test says, and the public address PUBLIC is routed to the loopback server. What
counts as public or internal is decided on the addresses as resolved, as in production.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from ipaddress import ip_network
from typing import Any

import httpcore
import pytest

from pipeline.addresses import AddressPolicy, home_ranges
from pipeline.config import Source
from pipeline.fetch import Fetcher, FetchResult, FetchSettings
from pipeline.source_fetch import fetch_source
from tests.conftest import Handler

FAST = FetchSettings(user_agent="claimwatch-test", timeout=2.0, connect_timeout=1.0, retries=0,
                     host_delay=0.0)
PUBLIC = "93.184.216.34"  # a public address; the made-up internet routes it to loopback
SECRET = b"db_password=hunter2"
LOOPBACK_HINT = "a loopback address (allow it with defaults.allow_networks)"


class Internet:
    """DNS and routing for the tests: `names` answer in turn (the last answer again after that),
    numeric forms resolve as getaddrinfo reads them, and connections to PUBLIC reach loopback."""

    def __init__(self, names: dict[str, list[list[str]]]) -> None:
        self.names = {name: list(answers) for name, answers in names.items()}
        self.server_hostnames: list[str | None] = []  # what TLS was told it is talking to
        self.connected: list[str] = []  # the addresses connections were asked for

    async def resolve(self, host: str, port: int) -> list[str]:
        answers = self.names.get(host)
        if answers is None:  # never a DNS query: numeric forms only ("2130706433")
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_NUMERICHOST)
            return [str(info[4][0]) for info in infos]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def fetcher(self, settings: FetchSettings = FAST) -> Fetcher:
        return Fetcher(settings, resolver=self.resolve, backend=_Routes(self))


class _Routes(httpcore.AsyncNetworkBackend):
    def __init__(self, internet: Internet) -> None:
        self.internet = internet
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.internet.connected.append(host)
        stream = await self.real.connect_tcp("127.0.0.1" if host == PUBLIC else host, port,
                                             timeout=timeout)
        return _Recorded(stream, self.internet)


class _Recorded(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream, internet: Internet) -> None:
        self.stream = stream
        self.internet = internet

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        self.internet.server_hostnames.append(server_hostname)
        return await self.stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


def fetch(fetcher: Fetcher, *urls: str, source_url: str | None = None) -> list[FetchResult]:
    """Fetch `urls` one after the other with one Fetcher (one run)."""
    async def main() -> list[FetchResult]:
        async with fetcher:
            return [await fetcher.fetch(url, obey_robots=False, source_url=source_url)
                    for url in urls]

    return asyncio.run(main())


def internal_site(serve: Callable[[Handler], str], location: str = "") -> tuple[int, list[str]]:
    """A loopback server: /start redirects to `location` ({port} filled in), /page is a page,
    /secret the answer of an internal service. Returns its port and the paths requested."""
    requested: list[str] = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        requested.append(h.path)
        port = h.server.server_address[1]
        body = {"/secret": SECRET, "/page": b"<p>public page</p>"}.get(h.path, b"")
        h.send_response(302 if h.path == "/start" else 200)
        if h.path == "/start":
            h.send_header("Location", location.format(port=port))
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    url = serve(handle)
    return int(url.rsplit(":", 1)[1].strip("/")), requested


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize(("location", "why"), [
    ("http://127.0.0.1:{port}/secret", f"127.0.0.1 is {LOOPBACK_HINT}"),
    ("http://internal.example:{port}/secret", f"internal.example resolves to 127.0.0.1, "
                                              f"{LOOPBACK_HINT}"),
    ("http://[::ffff:127.0.0.1]:{port}/secret", f"::ffff:7f00:1 (IPv4 127.0.0.1) is "
                                                f"{LOOPBACK_HINT}"),
    ("http://2130706433:{port}/secret", f"2130706433 resolves to 127.0.0.1, {LOOPBACK_HINT}"),
], ids=["literal", "name", "ipv4-mapped", "decimal"])
def test_a_public_pages_redirect_to_an_internal_service_is_blocked(
        serve: Callable[[Handler], str], location: str, why: str) -> None:
    port, requested = internal_site(serve, location)
    internet = Internet({"public.example": [[PUBLIC]], "internal.example": [["127.0.0.1"]]})
    [result] = fetch(internet.fetcher(), f"http://public.example:{port}/start")

    target = location.format(port=port)
    assert result.error == f"redirect to {target} blocked: {why}"
    assert result.body is None and result.status is None
    assert requested == ["/start"], "the internal service is never asked"
    assert len(result.attempts) == 1, "not retried"
    assert internet.connected == [PUBLIC]


@pytest.mark.parametrize("location", ["http://127.0.0.1:{port}/secret",
                                      "http://internal.example:{port}/secret"])
def test_allow_networks_lets_the_desk_reach_its_intranet(serve: Callable[[Handler], str],
                                                         location: str) -> None:
    port, requested = internal_site(serve, location)
    internet = Internet({"public.example": [[PUBLIC]], "internal.example": [["127.0.0.1"]]})
    settings = replace(FAST, allow_networks=("10.20.0.0/16", "127.0.0.0/8"))
    [result] = fetch(internet.fetcher(settings), f"http://public.example:{port}/start")

    assert result.ok and result.body == SECRET
    assert requested == ["/start", "/secret"]


def test_a_source_in_a_private_range_may_be_redirected_within_it(
        serve: Callable[[Handler], str]) -> None:
    """A desk watching an intranet page: its own range is allowed, with no setting."""
    port, requested = internal_site(serve, "http://internal.example:{port}/secret")
    internet = Internet({"internal.example": [["127.0.0.1"]]})
    [result] = fetch(internet.fetcher(), f"http://127.0.0.1:{port}/start")

    assert result.ok and result.body == SECRET


# --- where the address is checked ------------------------------------------------------------


def test_dns_rebinding_is_caught_when_connecting(serve: Callable[[Handler], str]) -> None:
    """A name that answered a public address, then an internal one: the connection is made to
    the address that was checked, so the second answer is refused, never connected to."""
    port, requested = internal_site(serve)
    internet = Internet({"rebind.example": [[PUBLIC], [PUBLIC], ["127.0.0.1"]]})
    url = f"http://rebind.example:{port}/page"
    first, second = fetch(internet.fetcher(), url, url)  # HTTP/1.0: a connection each

    assert first.ok and first.body == b"<p>public page</p>"
    assert second.error == (f"request to {url} blocked: rebind.example resolves to 127.0.0.1, "
                            f"{LOOPBACK_HINT}")
    assert requested == ["/page"] and internet.connected == [PUBLIC]


def test_one_internal_answer_among_public_ones_is_refused(serve: Callable[[Handler], str]) -> None:
    port, requested = internal_site(serve)
    internet = Internet({"public.example": [[PUBLIC]],
                         "mixed.example": [[PUBLIC, "10.0.0.5"]]})
    [result] = fetch(internet.fetcher(), f"http://mixed.example:{port}/page",
                     source_url=f"http://public.example:{port}/")

    assert result.error is not None
    assert result.error.endswith("blocked: mixed.example resolves to 10.0.0.5, a private address "
                                 "(allow it with defaults.allow_networks)")
    assert requested == []


def test_tls_is_told_the_host_name_not_the_address(serve: Callable[[Handler], str]) -> None:
    port, _ = internal_site(serve)
    internet = Internet({"public.example": [[PUBLIC]]})
    [result] = fetch(internet.fetcher(), f"https://public.example:{port}/page")

    assert internet.connected == [PUBLIC]
    assert internet.server_hostnames == ["public.example"]  # SNI and the certificate's name
    assert (result.error or "").startswith("TLS handshake failed")  # the server speaks HTTP


def test_behind_a_proxy_a_literal_internal_address_is_still_refused(
        serve: Callable[[Handler], str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set, httpx's proxy transport connects to the proxy, which resolves names
    itself; an internal address written in a URL is refused before it reaches the proxy."""
    asked: list[str] = []

    def proxy(h: BaseHTTPRequestHandler) -> None:
        asked.append(h.path)  # absolute-form: the URL the proxy is asked to fetch
        h.send_response(302)
        h.send_header("Location", "http://10.0.0.5:8080/secret")
        h.send_header("Content-Length", "0")
        h.end_headers()

    monkeypatch.setenv("HTTP_PROXY", serve(proxy))
    [result] = fetch(Fetcher(FAST), "http://93.184.216.34/start")

    assert asked == ["http://93.184.216.34/start"]
    assert result.error == ("redirect to http://10.0.0.5:8080/secret blocked: 10.0.0.5 is a "
                            "private address (allow it with defaults.allow_networks)")


def test_a_failed_lookup_still_reads_as_one(serve: Callable[[Handler], str]) -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    [result] = fetch(Fetcher(FAST, resolver=nxdomain), "http://nowhere.example/")
    assert result.error == "DNS lookup failed: Name or service not known"


# --- follow ----------------------------------------------------------------------------------


def test_a_follow_link_to_an_internal_address_is_blocked(serve: Callable[[Handler], str]) -> None:
    requested: list[str] = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        requested.append(h.path)
        port = h.server.server_address[1]
        body = (f'<a class="doc" href="http://internal.example:{port}/secret">The list</a>'
                if h.path == "/page" else "").encode()
        h.send_response(200 if body else 404)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    port = int(serve(handle).rsplit(":", 1)[1].strip("/"))
    url = f"http://public.example:{port}/page"
    source = Source(url=url, follow="a.doc")
    internet = Internet({"public.example": [[PUBLIC]], "internal.example": [["127.0.0.1"]]})

    async def main() -> Any:
        async with internet.fetcher() as fetcher:
            return await fetch_source(fetcher, source, url=url, timeout=2, max_bytes=1024**2,
                                      validators={})

    fetched = asyncio.run(main())
    assert fetched.result.error == (
        f"request to http://internal.example:{port}/secret blocked: internal.example resolves "
        f"to 127.0.0.1, {LOOPBACK_HINT}")
    assert fetched.result.body is None
    assert "/secret" not in requested and "/page" in requested


# --- the policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback"), ("::1", "a loopback"), ("10.1.2.3", "a private"),
    ("172.31.0.1", "a private"), ("192.168.1.1", "a private"),
    ("100.64.0.1", "a carrier-grade NAT"), ("169.254.10.1", "a link-local"),
    ("fe80::1", "a link-local"), ("fd12:3456::1", "a unique-local"),
    ("0.0.0.0", "an unspecified"), ("::", "an unspecified"), ("224.0.0.1", "a multicast"),
    ("ff02::1", "a multicast"), ("255.255.255.255", "a reserved"), ("198.18.0.1", "a reserved"),
    ("2001:db8::1", "a reserved"),
    ("169.254.169.254", "a cloud metadata"), ("fd00:ec2::254", "a cloud metadata"),
    ("100.100.100.200", "a cloud metadata"), ("168.63.129.16", "a cloud metadata"),
])
def test_internal_addresses_are_refused_by_default(address: str, kind: str) -> None:
    refusal = AddressPolicy().refusal(address)
    assert refusal is not None and refusal.startswith(f"{address} is {kind} address (")


@pytest.mark.parametrize(("address", "embedded"), [
    ("::ffff:10.0.0.5", "10.0.0.5"), ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("2002:7f00:1::", "127.0.0.1")])
def test_ipv6_forms_of_internal_ipv4_addresses_are_refused(address: str, embedded: str) -> None:
    refusal = AddressPolicy().refusal(address)
    assert refusal is not None and f"(IPv4 {embedded}) is a" in refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "::ffff:93.184.216.34", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().refusal(address) is None


def test_a_sources_own_range_and_listed_networks_are_allowed() -> None:
    intranet = AddressPolicy(home=home_ranges(["10.1.2.3"]))
    assert intranet.refusal("10.200.0.9") is None, "the whole private range of the source"
    assert intranet.refusal("::ffff:10.200.0.9") is None
    assert intranet.refusal("192.168.0.1") is not None and intranet.refusal("127.0.0.1")
    listed = AddressPolicy(listed=(ip_network("10.20.0.0/16"),))
    assert listed.refusal("10.20.3.4") is None and listed.refusal("10.21.0.1") is not None


def test_metadata_addresses_need_to_be_listed_one_by_one() -> None:
    """Decided: neither a link-local source nor a listed range opens 169.254.169.254; only the
    address itself in allow_networks does."""
    link_local = AddressPolicy(home=home_ranges(["169.254.10.1"]))
    assert link_local.refusal("169.254.20.2") is None
    wide = AddressPolicy(home=home_ranges(["169.254.169.254"]),
                         listed=(ip_network("169.254.0.0/16"), ip_network("0.0.0.0/0")))
    assert wide.refusal("169.254.169.254") == (
        "169.254.169.254 is a cloud metadata address (allow it by listing 169.254.169.254 "
        "itself in defaults.allow_networks)")
    assert AddressPolicy(listed=(ip_network("169.254.169.254/32"),)).refusal(
        "169.254.169.254") is None
