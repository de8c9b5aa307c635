"""A `check` with nothing to do, answered cheaply: cron runs `claimwatch check` every few minutes
and most runs find nothing due. Such a run needs to know four things, all in the database: that
its schema is this claimwatch's, that the tables are in line with sources.yaml (the files'
digest, `sources_digest`, is the one `config_sync` keeps for the last sync), that no source is
due (the condition `pipeline.check` claims by) and that no alert waits for delivery. On an
SQLite file they are three reads through the standard library's sqlite3: the run is over before
SQLAlchemy, the YAML parser, the pydantic models, the fetcher, the extractors or the channels
are imported (~0.2 s instead of ~1 s). Anything else (a run with work to do, another database,
anything unusual) is left whole to `api.check`, which also says what is wrong.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import sources_digest

FILES_ROW = 2  # config_sync's row of the files' digest (`pipeline.sync.FILES_ROW`)
# as `pipeline.check` claims (_Selection.wanted(now, once=True)), and `alerts.deliver` delivers;
# datetimes are stored as SQLAlchemy writes them on SQLite (ISO text, naive UTC)
DUE = ("SELECT EXISTS (SELECT 1 FROM source WHERE active = 1 AND retired_at IS NULL AND "
       "(next_check_at IS NULL OR next_check_at <= ?)) "
       "OR EXISTS (SELECT 1 FROM alert WHERE status = 'pending')")


@dataclass(frozen=True)
class NoDelivery:
    """The alert delivery of a run that found no alert waiting (api.RunReport's `alerts`, as
    far as the CLI reads it)."""

    sent, retrying, failed, pending = 0, 0, 0, 0

    def to_json(self) -> dict[str, Any]:
        return {"sent": 0, "failed": 0, "pending": 0, "errors": []}


@dataclass
class IdleReport:
    """A run that checked nothing and delivered nothing: what `api.check` would have returned
    (records.CheckReport's JSON with no sources, and RunReport's alerts)."""

    sources: list[Any] = field(default_factory=list)
    flags: list[Any] = field(default_factory=list)
    alerts: NoDelivery = field(default_factory=NoDelivery)
    backfills: list[Any] = field(default_factory=list)  # none: `backfill_from` is never idle

    def to_json(self) -> dict[str, Any]:
        return {"checked": 0, "changed": 0, "errors": 0, "sources": [], "flags": [],
                "alerts": self.alerts.to_json()}


def check(sources: str | Path, db_url: str, *, everything: bool = False,
          only: tuple[str, ...] | list[str] = ()) -> IdleReport | None:
    """The report of a `check` of the due sources when it has nothing to do; None when it may
    have something to do, or cannot tell cheaply: `api.check` then does the run."""
    path = _sqlite_file(db_url)
    if everything or only or path is None or not path.is_file():
        return None
    digest = sources_digest.of_path(sources)
    if digest is None:
        return None
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        stamped = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        if stamped != [_head()]:
            return None
        synced = conn.execute("SELECT digest FROM config_sync WHERE id = ?",
                              (FILES_ROW,)).fetchone()
        if synced is None or synced[0] != digest or conn.execute(DUE, (now,)).fetchone()[0]:
            return None
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return IdleReport()


def _head() -> str:
    """This claimwatch's schema revision, as `db.engine.revisions` finds it, without importing
    `db` (which imports SQLAlchemy)."""
    spec = importlib.util.find_spec("db")
    assert spec is not None and spec.submodule_search_locations
    versions = Path(next(iter(spec.submodule_search_locations))) / "migrations" / "versions"
    return max(p.stem for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (or path) as `db.engine` reads it; None otherwise."""
    if "://" not in url:
        return Path(url).expanduser()
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    name = url.removeprefix("sqlite:///")
    return Path(name).expanduser() if name and name != ":memory:" else None
