"""The library surface: what the CLI calls, and what a web UI will call. Each function takes plain
arguments, opens what it needs, and returns plain data; errors are `ClaimwatchError`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError
from sqlalchemy import select

from db import Store, open_store
from db.models import EvidenceRow, FlagRow, SnapshotRow, SourceRow
from pipeline import check as check_stage
from pipeline import config as config_stage
from pipeline.config import Config, Evidence, Source
from pipeline.diff import Diff, diff
from pipeline.errors import UsageError
from pipeline.extract import Document
from pipeline.fetch import FetchSettings
from pipeline.probe import ProbeResult
from pipeline.probe import probe as run_probe


def load_config(path: str | Path) -> Config:
    """Read and validate sources.yaml (raises ConfigError listing every problem)."""
    return config_stage.load(path)


def empty_config() -> Config:
    """The configuration of a desk with no sources.yaml (for probing a bare URL)."""
    return Config(version=1)


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


def probe(config: Config, *, source_id: str | None = None, url: str | None = None,
          options: dict[str, Any] | None = None, expect: Iterable[str] = ()) -> ProbeResult:
    """Fetch a source now (from sources.yaml, or `url` with `options`) and evaluate its evidence
    plus the `expect` items (each a YAML mapping such as "quote: some words"); store nothing."""
    extra = [_expectation(text) for text in expect]
    if source_id is not None:
        if source_id not in config.sources:
            raise UsageError(f"unknown source {source_id!r}: it is not in sources.yaml")
        source = config.sources[source_id]
        evidence = [ev for _fc, claim in config.claims() for ev in claim.evidence
                    if ev.source == source_id]
        return run_probe(config, source, evidence + extra, timeout=config.timeout(source_id),
                         max_bytes=config.max_bytes(source_id))
    if url is None:
        raise UsageError("probe needs a SOURCE_ID or --url")
    try:
        source = Source.model_validate({"url": url, **(options or {})})
    except ValidationError as exc:
        raise UsageError(f"bad probe options: {_first_error(exc)}") from None
    return run_probe(config, source, extra, timeout=config.defaults.timeout,
                     max_bytes=config.defaults.max_bytes)


def _expectation(text: str) -> Evidence:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise UsageError(f"--expect {text!r} is not a YAML mapping like 'quote: some words'")
    try:
        return Evidence.model_validate({"source": "probe", **data})
    except ValidationError as exc:
        raise UsageError(f"--expect {text!r}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function"))
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _snapshot(session: Any, source_row_id: int, snapshot_id: int | None) -> SnapshotRow:
    snapshot = session.get(SnapshotRow, snapshot_id) if snapshot_id else None
    if snapshot is None or snapshot.source_id != source_row_id:
        raise UsageError(f"snapshot {snapshot_id} is not a snapshot of this source")
    return snapshot
