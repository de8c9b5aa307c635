"""Versions of a page from where they are kept, behind one small interface, for `backfill`.

A `Kept` lists the captures of a URL between two times (`captures`, cheap: no bodies) and
reads one (`read`): `backfill` lists, picks the capture nearest the fact-check's publication
day, and reads only that one and the later ones, in time order, one at a time. Three places:
`directory` (a directory or git repository of dated copies), `cdx` (the Internet Archive's CDX
API, or any server speaking it) and `warc_file` (a WARC or WACZ file). Pure of the database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.archive_sources.base import (
    CDX_URL,
    Capture,
    Kept,
    Version,
    guess_type,
    nearest,
)
from pipeline.errors import UsageError

if TYPE_CHECKING:
    from pipeline.config import Source

__all__ = ["CDX_URL", "Capture", "Kept", "Version", "guess_type", "kept_in", "nearest"]



def kept_in(where: str, *, cdx_url: str = CDX_URL, transport: object = None,
            settings: object = None) -> Callable[[str, Source], Kept]:
    """Where `--from` says versions are kept, as a function of the source: `cdx` (the
    Internet Archive, or the CDX server at `cdx_url`), a directory (a subdirectory named after
    the source if there is one, else the directory itself) or a WARC/WACZ file."""
    if where == "cdx":
        from pipeline.archive_sources.cdx import CdxArchive
        archive = CdxArchive(cdx_url, transport=transport, settings=settings)
        return lambda _slug, source: archive.of(source)
    path = Path(where)
    if path.is_dir():
        from pipeline.archive_sources.directory import Directory
        return lambda slug, source: Directory(
            path / slug if (path / slug).is_dir() else path, source.url)
    if path.is_file():
        from pipeline.archive_sources.warc_file import WarcFile
        return lambda slug, source: WarcFile(path, source, slug)
    raise UsageError(f"{where!r} is neither `cdx`, a directory nor a file", field="from")
