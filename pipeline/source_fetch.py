"""Fetching a source's target: its page, or with `follow` the document the page links to (the
page is only how to find it). Conditional GETs with the validators of the last good check.
Used by checks and by `probe`; nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline import __version__, secrets
from pipeline.config import Config, Source
from pipeline.errors import ExtractError
from pipeline.extract.html import find_link
from pipeline.fetch import Attempt, Fetcher, FetchResult, FetchSettings
from pipeline.screen import screen


@dataclass
class Fetched:
    """The network side of one source check: the document's response and every attempt."""

    result: FetchResult
    attempts: list[Attempt]
    validators: dict[str, Any]  # what to send next time, if this check succeeds
    content_error: str | None = None  # e.g. `follow` found no link on the page


def fetch_settings(config: Config) -> FetchSettings:
    return FetchSettings(user_agent=user_agent(config), host_delay=config.defaults.host_delay,
                         allow_networks=tuple(config.defaults.allow_networks))


def user_agent(config: Config) -> str:
    contact = f"; +{config.desk.contact}" if config.desk.contact else ""
    return f"claimwatch/{__version__} (fact-check source monitor{contact})"


async def fetch_source(fetcher: Fetcher, source: Source, *, url: str, timeout: int,
                       max_bytes: int, validators: dict[str, Any]) -> Fetched:
    """Fetch the source's page (`url`: as stored for the source, `${NAME}` unexpanded), and
    with `follow` the document it links to. `validators` are the last good check's ({} for a
    fresh look). Secrets are expanded for the requests only: what comes back is redacted."""
    hide = secrets.redactor(url)
    page_v = validators.get("page", {})
    doc_v = validators.get("doc", {})
    follow = source.follow
    # a 304 for a `follow` page is only usable when we know which document it linked
    page_cond = page_v if (not follow or doc_v) else {}
    obey = source.obey_robots
    page = hide.result(await fetcher.fetch(
        secrets.expand(url), etag=page_cond.get("etag"),
        last_modified=page_cond.get("last_modified"), timeout=timeout, max_bytes=max_bytes,
        obey_robots=obey))
    page_v = _validators(page) or page_v
    if not follow or not (page.ok or page.not_modified) or (page.ok and screen(page)):
        return Fetched(page, list(page.attempts), {"page": page_v})
    if page.not_modified:
        doc_url = doc_v["url"]
    else:
        try:
            doc_url = find_link(page.body or b"", follow, page.final_url, page.charset)
        except ExtractError as exc:
            return Fetched(page, list(page.attempts), {}, content_error=str(exc))
    doc_cond = doc_v if doc_v.get("url") == doc_url else {}
    doc = hide.result(await fetcher.fetch(
        secrets.expand(doc_url), etag=doc_cond.get("etag"),
        last_modified=doc_cond.get("last_modified"), timeout=timeout, max_bytes=max_bytes,
        obey_robots=obey, source_url=secrets.expand(url)))
    return Fetched(doc, [*page.attempts, *doc.attempts],
                   {"page": page_v, "doc": _validators(doc) or doc_cond})


def _validators(result: FetchResult) -> dict[str, Any]:
    """What a later conditional GET of this URL sends (nothing when the server gave neither)."""
    if not result.ok:
        return {}
    found = {"url": result.url, "etag": result.headers.get("etag"),
             "last_modified": result.headers.get("last-modified")}
    return found if found["etag"] or found["last_modified"] else {}
