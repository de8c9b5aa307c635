"""Dated copies in a directory ("git scraping"): one file per capture, its time in its name
(`20250527T151813Z-….xlsx`, `2025-05-27T15:18:13Z.html`, `20250527151813.json`,
`2025-05-27.csv`), or one file in a git repository whose commits are the captures (the commit's
time). A directory's subdirectory named after a source holds that source's copies; the
directory itself holds the copies of the one source backfilled from it.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

from pipeline.archive_sources.base import Capture, Version, guess_type
from pipeline.errors import UsageError

_STAMP = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?:[T_ -]?(\d{2})[:h-]?(\d{2})[:m-]?(\d{2})?)?(Z|[+-]00:?00)?"
    r"(?!\d)")


def stamp_of(name: str) -> dt.datetime | None:
    """The capture time a file name carries (UTC; a bare day is its midnight), or None."""
    match = _STAMP.search(name)
    if match is None:
        return None
    year, month, day, hour, minute, second, _zone = match.groups()
    try:
        return dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                           int(second or 0))
    except ValueError:
        return None


class Directory:
    """The dated copies in `path` (a directory of files, or a git repository's one file)."""

    def __init__(self, path: Path, url: str) -> None:
        self.path, self.url = path, url

    def captures(self, url: str, since: dt.datetime, until: dt.datetime) -> list[Capture]:
        if (self.path / ".git").exists():
            found = self._commits()
        else:
            found = [Capture(when, self.url, file.resolve().as_uri(), guess_type(file.name))
                     for file in sorted(self.path.iterdir())
                     if file.is_file() and not file.name.startswith(".")
                     for when in [stamp_of(file.name)] if when is not None]
        return sorted((c for c in found if since <= c.captured_at <= until),
                      key=lambda c: (c.captured_at, c.archive_url))

    def read(self, capture: Capture) -> Version:
        try:
            if capture.archive_url.startswith("git:"):
                commit, _, name = capture.archive_url.removeprefix("git:").partition(":")
                body = subprocess.run(["git", "-C", str(self.path), "show", f"{commit}:{name}"],
                                      capture_output=True, check=True).stdout
            else:
                body = Path(unquote(capture.archive_url.removeprefix("file://"))).read_bytes()
        except (OSError, subprocess.CalledProcessError) as exc:
            return Version(capture, b"", capture.content_type, f"cannot read the copy: {exc}")
        return Version(capture, body, capture.content_type)

    def _commits(self) -> list[Capture]:
        """Each commit touching the repository's one tracked file (or the file named after
        the source's URL), at the commit's time."""
        tracked = self._git("ls-files").split("\n")
        tracked = [t for t in tracked if t and not t.startswith(".")]
        if len(tracked) != 1:
            raise UsageError(f"{self.path} is a git repository of {len(tracked)} files: give "
                             "one with the copies of one page", field="from")
        name = tracked[0]
        found = []
        for line in self._git("log", "--format=%H %ct", "--", name).splitlines():
            commit, seconds = line.split()
            when = dt.datetime.fromtimestamp(int(seconds), dt.UTC).replace(tzinfo=None)
            found.append(Capture(when, self.url, f"git:{commit}:{name}", guess_type(name)))
        return found

    def _git(self, *args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise UsageError(f"cannot read the git repository {self.path}: {exc}",
                             field="from") from None
