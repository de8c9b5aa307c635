"""`claimwatch export-wacz`: stored snapshots packaged as a WACZ (the WARC of `export-warc`,
its CDXJ index, a `pages.jsonl` listing every stored version, `datapackage.json` with each
file's digest), so ReplayWeb.page opens the evidence version by version.

The packaging is Webrecorder's own `wacz` package, driven through its command entry point
with our page list: the index and digests are exactly what its validator expects.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from db.models import SnapshotRow
from pipeline import warc
from pipeline.errors import UsageError
from pipeline.vocab import iso


@dataclass(frozen=True)
class WaczSummary:
    """What went into an export: for the CLI's one line and the API's callers."""

    path: Path
    pages: int  # one per stored version (to the second)
    sources: int
    bytes: int


def export(session: Session, snapshots: list[SnapshotRow], out: Path, *, title: str,
           source_names: dict[int, str]) -> WaczSummary:
    """Write `snapshots` to `out` as a WACZ titled `title`; `source_names` maps a snapshot's
    source id to the name its pages are listed under. `out` appears whole or not at all."""
    from wacz.main import main as wacz_main  # heavy (frictionless); only this command needs it

    ordered = sorted(snapshots, key=lambda s: (s.fetched_at, s.id))
    with tempfile.TemporaryDirectory(prefix="claimwatch-wacz-") as tmp:
        work = Path(tmp)
        warc_path = work / "claimwatch.warc.gz"  # listed in the package as archive/<name>
        warc.export(session, ordered, warc_path)
        pages_path = work / "pages.jsonl"
        pages = _pages(ordered, source_names)
        pages_path.write_text(_jsonl([{"format": "json-pages-1.0", "id": "pages",
                                       "title": title}, *pages]), encoding="utf-8")
        # beside `out`, so the final rename is atomic and cannot cross filesystems
        staged = out.with_name(f".{out.name}.partial")
        log = io.StringIO()  # the package narrates on stdout; our caller prints one line
        try:
            with contextlib.redirect_stdout(log):
                code = wacz_main(["create", "-o", str(staged), "-p", str(pages_path),
                                  "--title", title, "--desc", _DESCRIPTION, str(warc_path)])
            if code:
                raise UsageError(f"WACZ packaging failed: {_last_line(log.getvalue())}",
                                 field="out")
            os.replace(staged, out)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror}", field="out") from None
        finally:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
    return WaczSummary(out, len(pages), len({s.source_id for s in ordered}),
                       out.stat().st_size)


_DESCRIPTION = ("Every stored version of the sources a fact-check cites, as claimwatch "
                "captured them")


def _pages(snapshots: list[SnapshotRow], source_names: dict[int, str]) -> list[dict[str, str]]:
    """One page per stored version, which the `wacz` package matches to its WARC record by URL
    and capture second. Replay tells captures apart to the second, so versions of one URL
    stored within the same second share a page (the WARC still holds each)."""
    totals = Counter(s.source_id for s in snapshots)
    seen: Counter[int] = Counter()
    pages: dict[tuple[str, str], dict[str, str]] = {}
    for snapshot in snapshots:
        seen[snapshot.source_id] += 1
        captured = iso(snapshot.fetched_at)
        pages[(snapshot.url, captured)] = {
            "url": snapshot.url, "ts": captured,
            "title": f"{source_names[snapshot.source_id]} · version "
                     f"{seen[snapshot.source_id]} of {totals[snapshot.source_id]}"}
    return list(pages.values())


def _jsonl(lines: list[dict[str, str]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"
