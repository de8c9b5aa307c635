"""Pages that need a browser (`fetch: browser`): a page rendered in headless Chromium through
Playwright, its DOM after the scripts ran kept as the snapshot and the response as served
beside it (for WARC).

Chromium connects nowhere by itself. Every request a page makes is intercepted and made by
`pipeline.fetch.Fetcher.forward` under the source's address policy, so a page cannot lead
claimwatch anywhere a plain fetch could not go; Chromium's own resolver answers nothing and
whatever might slip past interception goes to a proxy at an address that routes nowhere,
loopback included. Images, media and fonts are not fetched (they carry no text), WebSockets
never connect, service workers are blocked, downloads refused.

One browser per process, launched at the first page to render and closed with the run (`async
with Browser(...)`); a fresh context (no cookies, cache or storage) per page; at most
`pages` pages at once; each rendering bounded by the source's timeout; the browser killed, and
launched again for the next page, when its processes together pass `memory` (their proportional
set sizes from /proc; V8's heap is also capped with `--js-flags=--max-old-space-size`).
Playwright is imported only to launch it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import FetchError
from pipeline.errors import first_line as _line
from pipeline.fetch import Attempt, Fetcher, FetchResult

if TYPE_CHECKING:
    from pipeline.config import Config

ENV = "CLAIMWATCH_CHROMIUM"  # the Chromium to drive, when it is not on PATH as one of NAMES
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "pip install 'claimwatch[browser]'"
SETTLE = 2.0  # after `load`, how long the page's own requests may go on before it is read
WATCH_EVERY = 0.25  # seconds between two looks at the browser's memory while it renders
NOT_NEEDED = frozenset({"image", "media", "font"})  # resource types never fetched for a page
MAX_NOTED = 20  # refused requests of one page recorded as fetch rows
_HTML = ("text/html", "application/xhtml+xml")
_MB = 1024 * 1024
# headers the browser sets that are the connection's business (httpx sets its own), or ours
_NOT_FORWARDED = frozenset({"host", "content-length", "accept-encoding", "connection",
                            "keep-alive", "transfer-encoding", "te", "upgrade", "user-agent",
                            "proxy-authorization", "proxy-connection", "trailer"})
# describing the wire form: the bodies handed to the browser are decoded
_NOT_RETURNED = frozenset({"content-encoding", "content-length", "transfer-encoding",
                           "connection", "keep-alive", "trailer"})
# Chromium reaches nothing itself: no name resolves, and a request that escaped interception
# goes to a proxy on TEST-NET-1 (unrouted), loopback too (`<-loopback>`)
_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--disable-extensions", "--mute-audio",
          "--dns-prefetch-disable", "--host-resolver-rules=MAP * ~NOTFOUND",
          "--proxy-server=http://192.0.2.1:9", "--proxy-bypass-list=<-loopback>",
          "--force-webrtc-ip-handling-policy=disable_non_proxied_udp")


@dataclass(frozen=True)
class BrowserSettings:
    pages: int = 2  # pages rendered at once (`defaults.browser_pages`)
    memory: int = 1024**3  # bytes the browser's processes may use together (`browser_memory`)
    user_agent: str = "claimwatch"


def browser_settings(config: Config, user_agent: str) -> BrowserSettings:
    d = config.defaults
    return BrowserSettings(pages=d.browser_pages, memory=d.browser_memory,
                           user_agent=user_agent)


def find_chromium() -> str | None:
    """The Chromium to drive: $CLAIMWATCH_CHROMIUM, else the first of NAMES on PATH."""
    named = os.environ.get(ENV)
    if named:
        return named if Path(named).is_file() else None
    return next((found for name in NAMES if (found := shutil.which(name))), None)


def missing() -> str | None:
    """Why `fetch: browser` cannot work on this machine, or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return f"fetch: browser needs Playwright, which is not installed ({INSTALL})"
    if find_chromium() is None:
        where = f"${ENV} names no file" if os.environ.get(ENV) else \
            f"install it (apt-get install chromium) or set ${ENV} to it"
        return f"fetch: browser needs Chromium, which is not on this machine: {where}"
    return None


def config_problems(config: Config) -> list[tuple[tuple[str, ...], str]]:
    """For `validate`: one problem, at the first place `fetch: browser` is asked for, when
    this machine cannot render pages."""
    users = [slug for slug in config.sources if config.fetch_mode(slug) == "browser"]
    problem = missing() if users else None
    if problem is None:
        return []
    if config.defaults.fetch == "browser":
        where: tuple[str, ...] = ("defaults", "fetch")
    else:
        where = ("sources", next(s for s in users if config.sources[s].fetch), "fetch")
    also = f" ({len(users)} sources use it)" if len(users) > 1 else ""
    return [(where, f"{problem}{also}")]


def is_html(result: FetchResult) -> bool:
    """Whether a response is a page to render (other documents are kept as served)."""
    if result.content_type in _HTML:
        return True
    start = (result.body or b"")[:256].lstrip().lower()
    return not result.content_type and start.startswith((b"<!doctype html", b"<html"))


class Browser:
    """One headless Chromium for a process (a run), launched when a page first needs it."""

    def __init__(self, fetcher: Fetcher, settings: BrowserSettings = BrowserSettings()) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.launches = 0
        self._pages = asyncio.Semaphore(settings.pages)
        self._lock = asyncio.Lock()
        self._driver: Any = None  # Playwright's context manager, then its object
        self._playwright: Any = None
        self._browser: Any = None
        self._root: int | None = None  # the browser's main process, when it can be found
        self._rendering = 0
        self._over: str | None = None  # why the watchdog killed the browser
        self._stale = False  # killed: the next page launches another
        self._asked, self._unable = False, None  # `unable()`'s answer
        self._stopped = asyncio.Event()  # set when this browser is killed
        self._watch: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        return self

    def unable(self) -> str | None:
        """Why this machine cannot render pages (`missing()`, asked once per run), or None."""
        if not self._asked:
            self._unable, self._asked = missing(), True
        return self._unable

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        browser, self._browser = self._browser, None
        if browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 10)
        self._kill()  # whatever did not go quietly
        driver, self._driver, self._playwright = self._driver, None, None
        if driver is not None:
            with contextlib.suppress(Exception):
                await driver.__aexit__(None, None, None)

    async def render(self, page: FetchResult, *, source_url: str, timeout: float,
                     max_bytes: int) -> FetchResult:
        """`page` (an HTML document fetched as served) as the browser renders it: the DOM
        after its scripts ran, as UTF-8 HTML, within `timeout` seconds. The requests the page
        makes go through the Fetcher under `source_url`'s address policy; those refused are
        added as attempts before the page's own. A failure is the result's error."""
        assert page.body is not None
        started = time.monotonic()
        noted: list[Attempt] = []
        html, final_url, error = "", page.final_url, None
        async with self._pages:
            try:
                browser = await self._launched()
                # the page's time starts once the browser is up, for the whole rendering and
                # for the requests it forwards alike: a slow launch (a loaded machine) would
                # otherwise leave the forwards a shorter deadline than the rendering's, and a
                # request that never ends would fail first and let the page "load"
                deadline = time.monotonic() + timeout
                self._rendering += 1
                try:
                    async with asyncio.timeout(timeout):
                        html, final_url = await self._unless_stopped(self._render(
                            browser, page, source_url, deadline, max_bytes, noted))
                finally:
                    self._rendering -= 1
            except TimeoutError:
                error = f"timed out after {timeout:g}s: the page never finished loading in " \
                        "the browser"
            except FetchError as exc:
                error = str(exc)
            except Exception as exc:  # Playwright's errors: the browser died or refused
                error = self._over or f"the browser failed: {_line(exc)}"
        if error is None and len(html.encode()) > max_bytes:
            error = f"the rendered page is larger than the {max_bytes // _MB or 1} MB limit"
        spent = round((time.monotonic() - started) * 1000)
        *before, last = page.attempts or (Attempt(page.url, datetime.now(UTC), 0, page.status,
                                                  0, page.final_url, None),)
        body = None if error else html.encode()
        last = replace(last, duration_ms=last.duration_ms + spent, error=error,
                       bytes=len(body) if body is not None else last.bytes)
        headers = {k: v for k, v in page.headers.items() if k not in _NOT_RETURNED}
        headers["content-type"] = "text/html; charset=utf-8"
        return replace(page, final_url=final_url, headers=headers, body=body, error=error,
                       attempts=(*noted, *before, last))

    async def _unless_stopped(self, work: Any) -> Any:
        """`work`'s result, unless the browser is stopped first (its memory): then the
        watchdog's reason, without waiting for Playwright to notice."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if not task.done() or task.cancelled():
            raise FetchError(self._over or "the browser was stopped")
        return task.result()

    async def _render(self, browser: Any, page: FetchResult, source_url: str, deadline: float,
                      max_bytes: int, noted: list[Attempt]) -> tuple[str, str]:
        context = await browser.new_context(
            accept_downloads=False, service_workers="block", user_agent=self.settings.user_agent,
            viewport={"width": 1280, "height": 1600})
        served = False

        async def route(route: Any) -> None:
            nonlocal served
            request = route.request
            try:
                if not served and request.is_navigation_request():
                    served = True  # the page itself: as already fetched
                    await route.fulfill(status=page.status or 200, body=page.body,
                                        headers=_returned(page.headers.items()))
                    return
                if request.resource_type in NOT_NEEDED:
                    await route.abort("blockedbyclient")
                    return
                try:
                    got = await self.fetcher.forward(
                        request.method, request.url, content=request.post_data_buffer,
                        headers=_forwarded(await request.all_headers()), source_url=source_url,
                        # past the page's deadline: a request that never ends keeps the
                        # page from loading, as in any browser, until the deadline ends it
                        timeout=max(deadline - time.monotonic(), 0.0) + 1.0,
                        max_bytes=max_bytes)
                except FetchError as exc:
                    if " blocked: " in str(exc) and len(noted) < MAX_NOTED:
                        noted.append(Attempt(request.url, datetime.now(UTC), 0, None, 0, None,
                                             f"the page's request was refused: {exc}"))
                    await route.abort("blockedbyclient" if " blocked: " in str(exc)
                                      else "failed")
                    return
                await route.fulfill(status=got.status, body=got.body,
                                    headers=_returned(got.headers))
            except Exception:  # the page or the browser went away meanwhile
                return

        try:
            await context.route("**/*", route)
            await context.route_web_socket("**/*", _refuse_socket)
            tab = await context.new_page()
            await tab.goto(page.final_url, wait_until="load", timeout=0)
            settle = min(SETTLE, deadline - time.monotonic())
            if settle > 0:
                with contextlib.suppress(Exception):  # a page that keeps polling is read now
                    await tab.wait_for_load_state("networkidle", timeout=settle * 1000)
            return await tab.content(), tab.url
        finally:
            try:
                await asyncio.wait_for(asyncio.shield(context.close()), 5)
            except Exception:  # a browser that cannot close a context is not trusted again
                self._kill()

    async def _launched(self) -> Any:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected() and not self._stale:
                return self._browser
            if self._browser is not None:  # killed or crashed: the next one
                with contextlib.suppress(Exception):
                    await self._browser.close()
                self._browser = None
            problem = missing()
            if problem is not None:
                raise FetchError(problem)
            if self._playwright is None:
                from playwright.async_api import async_playwright
                self._driver = async_playwright()
                self._playwright = await self._driver.__aenter__()
            marker = uuid.uuid4().hex
            heap = max(64, self.settings.memory // _MB // (self.settings.pages + 1))
            self._browser = await self._playwright.chromium.launch(
                executable_path=find_chromium(), timeout=30_000,
                args=[*_FLAGS, f"--js-flags=--max-old-space-size={heap}",
                      f"--claimwatch-browser={marker}"])
            self.launches += 1
            self._root, self._over, self._stale = _find_root(marker), None, False
            self._stopped = asyncio.Event()
            if self._watch is None or self._watch.done():
                self._watch = asyncio.create_task(self._watchdog())
            return self._browser

    async def _watchdog(self) -> None:
        """Kill the browser when its processes together pass the memory limit."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if not self._rendering or self._root is None:
                continue
            used = footprint(self._root)
            if used > self.settings.memory:
                self._over = (f"the browser used more than {self.settings.memory // _MB} MB "
                              f"rendering the page ({used // _MB} MB): it was stopped")
                self._kill()

    def _kill(self) -> None:
        self._stale = True
        self._stopped.set()
        root, self._root = self._root, None
        if root is None:
            return
        for pid, _rss in reversed(_tree(root)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


async def _refuse_socket(socket: Any) -> None:
    """A page's WebSocket: never connected (nothing here can check where it goes)."""
    with contextlib.suppress(Exception):
        await socket.close(code=1008, reason="claimwatch does not open WebSockets")


def _forwarded(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}


def _returned(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers for the browser; repeated ones (Set-Cookie) joined by new lines."""
    joined: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name in _NOT_RETURNED:
            continue
        joined[name] = f"{joined[name]}\n{value}" if name in joined else value
    return joined


# --- the browser's processes (Linux's /proc; elsewhere only V8's heap cap holds) -----------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _find_root(marker: str) -> int | None:
    """The browser's main process: the one whose command line carries `marker`."""
    for pid in _pids():
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def footprint(root: int) -> int:
    """The memory `root` and its processes cost together: the sum of their proportional set
    sizes (shared pages counted once over the processes sharing them; Chromium's processes
    share much: their resident sizes summed to 2.4x this), resident size where /proc does not
    say."""
    total = 0
    for pid, rss in _tree(root):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total += next(int(line.split()[1]) * 1024 for line in rollup.splitlines()
                          if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError, IndexError):
            total += rss
    return total


def _tree(root: int) -> list[tuple[int, int]]:
    """`root` and every process below it, parents first, each with its resident bytes."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for pid in _pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        parent[pid], rss[pid] = int(fields[1]), int(fields[21]) * _PAGE
    if root not in rss:
        return []
    found, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        found.append((pid, rss[pid]))
        queue += [child for child, up in parent.items() if up == pid]
    return found
