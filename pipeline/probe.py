"""`claimwatch probe`: fetch a source now and show what claimwatch sees, storing nothing.

The same fetch (with `follow`), screening, extraction and evaluation as a check, on a first
evaluation (the page is its own baseline). This is how a desk writes and debugs sources.yaml:
the text, tables or items after select / ignore, and every expectation's outcome and reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from pipeline.browser_fetch import Browser, browser_settings
from pipeline.config import Config, Evidence, Source
from pipeline.errors import ExtractError
from pipeline.evaluate import Result, evaluate
from pipeline.extract import Document, read, resolve_kind
from pipeline.fetch import Fetcher, FetchResult
from pipeline.screen import screen
from pipeline.source_fetch import Fetched, browser_for, fetch_settings, fetch_source


@dataclass
class ProbeResult:
    url: str
    final_url: str
    http_status: int | None
    kind: str | None
    document: Document | None
    error: str | None  # why there is no document
    outcomes: list[tuple[Evidence, Result]] = field(default_factory=list)


def probe(config: Config, source: Source, evidence: list[Evidence], *,
          timeout: int = 30, max_bytes: int = 20 * 1024**2,
          transport: httpx.AsyncBaseTransport | None = None) -> ProbeResult:
    """Fetch `source` once and evaluate `evidence` on it; nothing is written anywhere. With
    `fetch: browser` (the source's, else the default) the page is rendered as a check would."""
    settings = fetch_settings(config)
    mode = source.fetch or config.defaults.fetch

    async def fetch() -> Fetched:
        async with Fetcher(settings, transport=transport) as fetcher, \
                Browser(fetcher, browser_settings(config, settings.user_agent)) as browser:
            return await fetch_source(fetcher, source, url=source.url, timeout=timeout,
                                      max_bytes=max_bytes, validators={},
                                      browser=browser_for(mode, browser))

    fetched = asyncio.run(fetch())
    return examine(source, fetched.result, evidence, content_error=fetched.content_error)


def examine(source: Source, result: FetchResult, evidence: list[Evidence], *,
            content_error: str | None = None) -> ProbeResult:
    """What a check would read from `result` (a fetch of `source`'s target), and the outcome of
    each of `evidence` on it as a first evaluation; nothing is written anywhere."""
    base = ProbeResult(source.url, result.final_url, result.status, None, None, None)
    problem = content_error or result.error
    not_evidence = screen(result)
    if not_evidence is not None:
        problem = f"{not_evidence.kind}: {not_evidence.reason}"
    if problem or result.body is None:
        base.error = problem or "no body"
        return base
    base.kind = resolve_kind(source.kind, result.content_type, result.final_url, result.body)
    try:
        base.document = read(result.body, kind=source.kind, content_type=result.content_type,
                             url=result.final_url, charset=result.charset, select=source.select,
                             ignore=source.ignore, main_content=source.main_content)
    except ExtractError as exc:
        base.error = str(exc)
        return base
    base.outcomes = [(ev, evaluate(ev, base.document, None)) for ev in evidence]
    return base
