"""The library surface: what the CLI calls, and what a web UI will call. Each function takes plain
arguments, opens what it needs, and returns plain data; errors are `ClaimwatchError`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from db import Store, open_store
from db.models import EvidenceRow, FlagRow, SnapshotRow, SourceRow
from pipeline import check as check_stage
from pipeline import config as config_stage
from pipeline.config import Config
from pipeline.diff import Diff, diff
from pipeline.errors import UsageError
from pipeline.extract import Document
from pipeline.fetch import FetchSettings


def load_config(path: str | Path) -> Config:
    """Read and validate sources.yaml (raises ConfigError listing every problem)."""
    return config_stage.load(path)


def open_db(url: str) -> Store:
    return open_store(url)


def check(store: Store, config: Config, *, everything: bool = False, only: Iterable[str] = (),
          transport: httpx.AsyncBaseTransport | None = None,
          settings: FetchSettings | None = None,
          on_progress: Callable[[check_stage.SourceReport, int], None] | None = None
          ) -> check_stage.CheckReport:
    """Check the due sources once (or `only` these, or `everything`)."""
    return check_stage.run(store, config, everything=everything, only=only,
                           transport=transport, settings=settings, on_progress=on_progress)


def flags(store: Store, *, include_closed: bool = False) -> list[dict[str, Any]]:
    """Open flags (all of them with `include_closed`), oldest first, as SPEC §3 objects."""
    with store.session() as session:
        query = select(FlagRow).order_by(FlagRow.id)
        if not include_closed:
            query = query.where(FlagRow.status == "open")
        return [{**check_stage.flag_json(session, flag), "status": flag.status}
                for flag in session.scalars(query)]


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    fetched_at: str | None
    url: str


@dataclass(frozen=True)
class SourceDiff:
    source: str
    before: SnapshotInfo
    after: SnapshotInfo
    diff: Diff
    error: str | None = None  # a snapshot that could not be read under the current options


def source_diff(store: Store, config: Config, source_id: str, *, from_id: int | None = None,
                to_id: int | None = None) -> SourceDiff:
    """What changed in a source between two snapshots (default: its baseline → its latest)."""
    if source_id not in config.sources:
        raise UsageError(f"unknown source {source_id!r}: it is not in sources.yaml")
    source = config.sources[source_id]
    with store.session() as session:
        row = session.scalars(select(SourceRow).where(SourceRow.slug == source_id)).first()
        if row is None or row.latest_snapshot_id is None:
            raise UsageError(f"source {source_id!r} has no snapshot yet: run 'claimwatch check'")
        baseline = session.scalars(
            select(EvidenceRow.baseline_snapshot_id)
            .where(EvidenceRow.source_id == row.id, EvidenceRow.active.is_(True),
                   EvidenceRow.baseline_snapshot_id.is_not(None))
            .order_by(EvidenceRow.baseline_snapshot_id)).first()
        first = session.scalars(select(SnapshotRow.id).where(SnapshotRow.source_id == row.id)
                                .order_by(SnapshotRow.id)).first()
        snapshots = [_snapshot(session, row.id, from_id or baseline or first),
                     _snapshot(session, row.id, to_id or row.latest_snapshot_id)]
        cache: dict[int, Document | str] = {}
        docs = [check_stage.read(session, s, source, cache) for s in snapshots]
    before, after = (SnapshotInfo(s.id, check_stage.iso(s.fetched_at), s.url) for s in snapshots)
    problems = [d for d in docs if isinstance(d, str)]
    if problems:
        return SourceDiff(source_id, before, after, Diff(), error=problems[0])
    assert isinstance(docs[0], Document) and isinstance(docs[1], Document)
    return SourceDiff(source_id, before, after, diff(docs[0], docs[1]))


def _snapshot(session: Any, source_row_id: int, snapshot_id: int | None) -> SnapshotRow:
    snapshot = session.get(SnapshotRow, snapshot_id) if snapshot_id else None
    if snapshot is None or snapshot.source_id != source_row_id:
        raise UsageError(f"snapshot {snapshot_id} is not a snapshot of this source")
    return snapshot
