"""Fetching a source's target: its page, or with `follow` the document the page links to (the
page is only how to find it). Conditional GETs with the validators of the last good check; with
`fetch: browser`, plain GETs whose HTML is rendered by `pipeline.browser_fetch` (what a page's
scripts build can change without the page's own bytes changing). Used by checks and by
`probe`; nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline import __version__, secrets
from pipeline.browser_fetch import Browser, is_html
from pipeline.config import Config, Source
from pipeline.errors import ExtractError
from pipeline.extract.html import find_link
from pipeline.fetch import Attempt, Fetcher, FetchResult, FetchSettings
from pipeline.screen import screen
from pipeline.vocab import FetchMode


@dataclass
class Fetched:
    """The network side of one source check: the document's response and every attempt."""

    result: FetchResult
    attempts: list[Attempt]
    validators: dict[str, Any]  # what to send next time, if this check succeeds
    content_error: str | None = None  # e.g. `follow` found no link on the page
    raw: FetchResult | None = None  # a rendered document as served, before its scripts ran


def fetch_settings(config: Config) -> FetchSettings:
    return FetchSettings(user_agent=user_agent(config), host_delay=config.defaults.host_delay,
                         allow_networks=tuple(config.defaults.allow_networks))


def user_agent(config: Config) -> str:
    contact = f"; +{config.desk.contact}" if config.desk.contact else ""
    return f"claimwatch/{__version__} (fact-check source monitor{contact})"


async def fetch_source(fetcher: Fetcher, source: Source, *, url: str, timeout: int,
                       max_bytes: int, validators: dict[str, Any],
                       browser: Browser | None = None) -> Fetched:
    """Fetch the source's page (`url`: as stored for the source, `${NAME}` unexpanded), and
    with `follow` the document it links to. `validators` are the last good check's ({} for a
    fresh look). With `browser` (`fetch: browser`) every HTML response is rendered, and never
    asked for conditionally. Secrets are expanded for the requests only: what comes back is
    redacted."""
    hide = secrets.redactor(url)
    if browser is not None:
        unable = browser.unable()
        if unable is not None:  # nothing is requested: the desk must decide how to read it
            return Fetched(FetchResult(url, url, None, {}, None, unable, ()), [], {},
                           content_error=unable)
        validators = {}  # what scripts build can change while the page's bytes do not
    page_v = validators.get("page", {})
    doc_v = validators.get("doc", {})
    follow = source.follow
    # a 304 for a `follow` page is only usable when we know which document it linked
    page_cond = page_v if (not follow or doc_v) else {}
    obey = source.obey_robots
    page, raw = await _get(fetcher, browser, secrets.expand(url), hide, page_cond,
                           timeout=timeout, max_bytes=max_bytes, obey_robots=obey,
                           source_url=secrets.expand(url))
    page_v = _validators(page) or page_v
    if not follow or not (page.ok or page.not_modified) or (page.ok and screen(page)):
        return Fetched(page, list(page.attempts), {"page": page_v} if browser is None else {},
                       raw=raw)
    if page.not_modified:
        doc_url = doc_v["url"]
    else:
        try:
            doc_url = find_link(page.body or b"", follow, page.final_url, page.charset)
        except ExtractError as exc:
            return Fetched(page, list(page.attempts), {}, content_error=str(exc))
    doc_cond = doc_v if doc_v.get("url") == doc_url else {}
    doc, raw = await _get(fetcher, browser, secrets.expand(doc_url), hide, doc_cond,
                          timeout=timeout, max_bytes=max_bytes, obey_robots=obey,
                          source_url=secrets.expand(url))
    found = {"page": page_v, "doc": _validators(doc) or doc_cond} if browser is None else {}
    return Fetched(doc, [*page.attempts, *doc.attempts], found, raw=raw)


async def _get(fetcher: Fetcher, browser: Browser | None, url: str,
               hide: secrets.Redactor, cond: dict[str, Any], *, timeout: int, max_bytes: int,
               obey_robots: bool, source_url: str) -> tuple[FetchResult, FetchResult | None]:
    """One URL of the source, redacted: as served, or rendered by `browser` when it is HTML
    (then with the response as served beside it)."""
    got = await fetcher.fetch(url, etag=cond.get("etag"), last_modified=cond.get("last_modified"),
                              timeout=timeout, max_bytes=max_bytes, obey_robots=obey_robots,
                              source_url=source_url)
    if browser is None or not got.ok or not is_html(got):
        return hide.result(got), None
    rendered = await browser.render(got, source_url=source_url, timeout=timeout,
                                    max_bytes=max_bytes)
    return hide.result(rendered), hide.result(got)


def browser_for(mode: str, browser: Browser | None) -> Browser | None:
    """The browser a source fetched in `mode` (a FetchMode) is rendered with, if any."""
    return browser if mode == FetchMode.BROWSER else None


def _validators(result: FetchResult) -> dict[str, Any]:
    """What a later conditional GET of this URL sends (nothing when the server gave neither)."""
    if not result.ok:
        return {}
    found = {"url": result.url, "etag": result.headers.get("etag"),
             "last_modified": result.headers.get("last-modified")}
    return found if found["etag"] or found["last_modified"] else {}
