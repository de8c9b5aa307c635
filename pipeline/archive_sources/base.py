"""What every place versions are kept gives: `Capture` (one kept copy, listed), `Version` (its
bytes, read), the `Kept` protocol, and the choice of the baseline (`nearest`)."""

from __future__ import annotations

import datetime as dt
import mimetypes
from dataclasses import dataclass
from typing import Protocol

CDX_URL = "https://web.archive.org/cdx/search/cdx"  # the Internet Archive's CDX API


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
    document: str | None = None  # with `follow`: the document the archived page linked


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

