"""Versions of a page from where they are kept, behind one small interface, for `backfill`.

A `Kept` lists the captures of a URL between two times (`captures`, cheap: no bodies) and
reads one (`read`): `backfill` lists, picks the capture nearest the fact-check's publication
day, and reads only that one and the later ones, in time order, one at a time. Three places:
`directory` (a directory or git repository of dated copies), `cdx` (the Internet Archive's CDX
API, or any server speaking it) and `warc_file` (a WARC or WACZ file). Pure of the database.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pipeline.errors import UsageError

if TYPE_CHECKING:
    from pipeline.config import Source


@dataclass(frozen=True)
class Capture:
    """One kept copy of a page: when it was captured (naive UTC), the address it was a copy of,
    and where it is kept (`archive_url`: an archive's address, a file, a commit)."""

    captured_at: dt.datetime
    url: str
    archive_url: str
    content_type: str = ""


@dataclass(frozen=True)
class Version:
    """A capture's bytes as kept (`error`: why they could not be read; then `body` is empty)."""

    capture: Capture
    body: bytes
    content_type: str
    error: str | None = None
    status: int | None = None  # the HTTP status reading it, when it came over HTTP
    duration_ms: int = 0


class Kept(Protocol):
    """Where versions are kept."""

    def captures(self, url: str, since: dt.datetime, until: dt.datetime) -> list[Capture]:
        """The captures of `url` between `since` and `until`, oldest first."""
        ...

    def read(self, capture: Capture) -> Version:
        """One capture's bytes (never raises for a capture that cannot be read: `error`)."""
        ...


def guess_type(name: str) -> str:
    """A Content-Type from a file name, for copies kept without one."""
    kind, _ = mimetypes.guess_type(name)
    if name.lower().endswith(".xlsx"):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return kind or "application/octet-stream"


def nearest(captures: list[Capture], day: dt.date) -> int:
    """The index of the capture nearest `day` (measured from its noon, UTC): a fact-check
    published that day saw the version of that day."""
    noon = dt.datetime.combine(day, dt.time(12))
    return min(range(len(captures)),
               key=lambda i: (abs(captures[i].captured_at - noon), captures[i].captured_at))


CDX_URL = "https://web.archive.org/cdx/search/cdx"  # `--cdx-url` replaces it


def kept_in(where: str, *, cdx_url: str = CDX_URL, transport: object = None,
            settings: object = None) -> Callable[[str, Source], Kept]:
    """Where `--from` says versions are kept, as a function of the source: `cdx` (the
    Internet Archive, or the CDX server at `cdx_url`), a directory (a subdirectory named after
    the source if there is one, else the directory itself) or a WARC/WACZ file."""
    if where == "cdx":
        from pipeline.archive_sources.cdx import CdxArchive
        archive = CdxArchive(cdx_url, transport=transport, settings=settings)
        return lambda _slug, _source: archive
    path = Path(where)
    if path.is_dir():
        from pipeline.archive_sources.directory import Directory
        return lambda slug, source: Directory(
            path / slug if (path / slug).is_dir() else path, source.url)
    if path.is_file():
        from pipeline.archive_sources.warc_file import WarcFile
        return lambda slug, source: WarcFile(path, source)
    raise UsageError(f"{where!r} is neither `cdx`, a directory nor a file", field="from")
