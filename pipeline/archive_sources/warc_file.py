"""Versions kept in a WARC (`.warc`, `.warc.gz`) or a WACZ (the WARCs under its `archive/`):
what other archiving tools write, and what `claimwatch export-warc` / `export-wacz` write. A
source's captures are the `response` (and `resource`) records with a 2xx status whose target
URI is the source's URL, or that name the source (`Claimwatch-Source`, written by claimwatch's
own export: with `follow:` the target is the followed document's changing address), at their
`WARC-Date`. Listing reads the records' headers only; a capture is read back from its offset.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipeline.archive_sources.base import Capture, Version, guess_type
from pipeline.errors import UsageError

_KINDS = ("response", "resource")


class WarcFile:
    """The captures of one source in a WARC or WACZ file."""

    def __init__(self, path: Path, source: Any, slug: str = "") -> None:
        self.path, self.url, self.slug = path, source.url, slug

    def captures(self, url: str, since: dt.datetime, until: dt.datetime) -> list[Capture]:
        found = []
        for member in self._members():
            with self._open(member) as stream:
                records = ArchiveIterator(stream)
                try:
                    for record in records:
                        capture = self._capture(record, member, records.get_record_offset())
                        if capture is not None and since <= capture.captured_at <= until:
                            found.append(capture)
                except ArchiveLoadFailed as exc:
                    raise UsageError(f"{self.path}: not a readable WARC: {exc}",
                                     field="from") from None
        return sorted(found, key=lambda c: (c.captured_at, c.archive_url))

    def read(self, capture: Capture) -> Version:
        where, _, offset = capture.archive_url.rpartition("@")
        member = where.partition("#")[2]
        try:
            with self._open(member) as stream:
                stream.seek(int(offset))
                record = next(iter(ArchiveIterator(stream)))
                body = record.content_stream().read()
        except (OSError, ValueError, StopIteration, ArchiveLoadFailed) as exc:
            return Version(capture, b"", capture.content_type, f"cannot read the record: {exc}")
        return Version(capture, body, capture.content_type)

    def _capture(self, record: Any, member: str, offset: int) -> Capture | None:
        if record.rec_type not in _KINDS:
            return None
        headers = record.rec_headers
        target = headers.get_header("WARC-Target-URI") or ""
        named = headers.get_header("Claimwatch-Source")
        if target.strip("<>") != self.url and not (named and named == self.slug):
            return None
        http = record.http_headers
        if http is not None and not (http.get_statuscode() or "").startswith("2"):
            return None
        when = _when(headers.get_header("WARC-Date") or "")
        if when is None:
            return None
        kind = (http.get_header("Content-Type") if http is not None else None) or \
            headers.get_header("WARC-Identified-Payload-Type") or \
            headers.get_header("Content-Type") or guess_type(target)
        return Capture(when, target.strip("<>"),
                       f"{self.path.resolve().as_uri()}#{member}@{offset}",
                       kind.partition(";")[0].strip().lower())

    def _members(self) -> list[str]:
        """'' for a WARC; the WARCs of a WACZ (a zip: `archive/*.warc[.gz]`)."""
        if not zipfile.is_zipfile(self.path):
            return [""]
        with zipfile.ZipFile(self.path) as package:
            return [name for name in package.namelist()
                    if name.startswith("archive/") and name.endswith((".warc", ".warc.gz"))]

    @contextmanager
    def _open(self, member: str) -> Iterator[IO[bytes]]:
        if not member:
            with open(self.path, "rb") as stream:
                yield stream
            return
        with zipfile.ZipFile(self.path) as package, package.open(member) as stream:
            yield stream


def _when(text: str) -> dt.datetime | None:
    """A WARC-Date (`2025-06-21T09:30:00Z`, fractions allowed) as naive UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)
