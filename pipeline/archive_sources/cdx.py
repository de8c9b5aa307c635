"""The Internet Archive's CDX API (or any server speaking it): the captures of a URL between
two times (`output=json`, one per distinct content: `collapse=digest`, only `200`s), then each
capture's raw bytes in the `id_` form (`BASE/web/TIMESTAMPid_/URL`: the page as archived, no
replay banner or rewritten links).

Every request goes through `pipeline.fetch.Fetcher` (robots.txt, spacing per host, retries,
size caps, allowed addresses), at least one second apart on the Internet Archive itself. Where
claimwatch connects is the configured CDX URL's host only: the capture's address is built from
it, the timestamp and the URL asked for, never from what a response says.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from pipeline.archive_sources.base import Capture, Version
from pipeline.errors import ExtractError, FetchError
from pipeline.extract.html import find_link
from pipeline.fetch import Fetcher, FetchSettings

ARCHIVE_SPACING = 1.0  # seconds between two requests to the Internet Archive, at least
STAMP = "%Y%m%d%H%M%S"


class CdxArchive:
    """Captures listed by a CDX server and read from its Wayback replay (`…/web/`)."""

    def __init__(self, cdx_url: str, *, transport: Any = None, settings: Any = None) -> None:
        self.cdx_url = cdx_url
        parts = urlsplit(cdx_url)
        self.replay = f"{parts.scheme}://{parts.netloc}/web/"
        settings = settings if isinstance(settings, FetchSettings) else FetchSettings()
        if parts.hostname and parts.hostname.endswith("archive.org"):
            settings = replace(settings, host_delay=max(settings.host_delay, ARCHIVE_SPACING))
        self.settings = settings
        self._transport: httpx.AsyncBaseTransport | None = transport
        self._runner: asyncio.Runner | None = None
        self._fetcher: Fetcher | None = None

    def captures(self, url: str, since: dt.datetime, until: dt.datetime) -> list[Capture]:
        query = urlencode({"url": url, "from": since.strftime(STAMP),
                           "to": until.strftime(STAMP), "output": "json",
                           "fl": "timestamp,original,mimetype,statuscode,digest",
                           "filter": "statuscode:200", "collapse": "digest"})
        result = self._get(f"{self.cdx_url}?{query}")
        if not result.ok:
            raise FetchError(f"the CDX server {self.cdx_url} did not list the captures of "
                             f"{url}: {result.error or f'HTTP {result.status}'}")
        try:
            rows = json.loads(result.body or b"[]") if (result.body or b"").strip() else []
        except ValueError:
            raise FetchError(f"the CDX server {self.cdx_url} answered something other than "
                             "JSON") from None
        found = []
        header = rows[0] if rows and isinstance(rows[0], list) else []
        for row in rows[1:]:
            if not isinstance(row, list) or len(row) != len(header):
                continue
            fields = dict(zip(header, row, strict=True))
            try:
                when = dt.datetime.strptime(str(fields.get("timestamp", ""))[:14], STAMP)
            except ValueError:
                continue
            if not since <= when <= until:
                continue
            stamp = when.strftime(STAMP)
            # where the bytes are: our replay base, the timestamp, and the URL we asked for
            found.append(Capture(when, url, f"{self.replay}{stamp}id_/{url}",
                                 str(fields.get("mimetype") or "")))
        return sorted(found, key=lambda c: c.captured_at)

    def read(self, capture: Capture) -> Version:
        return self._read(capture, None)

    def of(self, source: Any) -> CdxSource:
        """This archive as one source's place: with `follow`, each archived page's link is
        followed in the archive too."""
        return CdxSource(self, source.follow)

    def _read(self, capture: Capture, follow: str | None) -> Version:
        result = self._get(capture.archive_url)
        duration = sum(a.duration_ms for a in result.attempts)
        document = None
        if result.ok and follow:
            # the archived page's link, in the archive at the page's time (it redirects to its
            # nearest capture): still the archive's host, whatever the page links to
            try:
                document = find_link(result.body or b"", follow, capture.url, result.charset)
            except ExtractError as exc:
                return Version(capture, b"", capture.content_type, str(exc), result.status,
                               duration)
            stamp = capture.captured_at.strftime(STAMP)
            result = self._get(f"{self.replay}{stamp}id_/{document}")
            duration += sum(a.duration_ms for a in result.attempts)
        if not result.ok:
            return Version(capture, b"", capture.content_type,
                           result.error or f"HTTP {result.status}", result.status, duration,
                           document)
        content_type = result.content_type or capture.content_type
        return Version(capture, result.body or b"", content_type, None, result.status,
                       duration, document)

    def close(self) -> None:
        if self._runner is not None:
            if self._fetcher is not None:
                self._runner.run(self._fetcher.__aexit__(None, None, None))
            self._runner.close()
            self._runner = self._fetcher = None

    def _get(self, url: str) -> Any:
        if self._runner is None:
            self._runner = asyncio.Runner()
            self._fetcher = Fetcher(self.settings, transport=self._transport)
            self._runner.run(self._fetcher.__aenter__())
        assert self._fetcher is not None
        return self._runner.run(self._fetcher.fetch(url, source_url=self.cdx_url))


class CdxSource:
    """A `CdxArchive` for one source (its `follow`)."""

    def __init__(self, archive: CdxArchive, follow: str | None) -> None:
        self.archive, self.follow = archive, follow

    def captures(self, url: str, since: dt.datetime, until: dt.datetime) -> list[Capture]:
        return self.archive.captures(url, since, until)

    def read(self, capture: Capture) -> Version:
        return self.archive._read(capture, self.follow)

    def close(self) -> None:
        self.archive.close()
