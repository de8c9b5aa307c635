"""The outbox: the check that opens a flag writes its alerts, one per channel that wants it, in
the same transaction (so a flag is never committed without its alerts, nor an alert without its
flag). Each alert row carries its whole payload (SPEC §3), so delivery needs nothing else.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.channels import alert_id, channel_keys
from db import utcnow
from db.models import AlertRow, ClaimRow, FactCheckRow, FlagRow, SnapshotRow
from pipeline.config import AlertChannel, Config
from pipeline.diff import diff
from pipeline.extract import Document
from pipeline.records import SnapshotRecord, flag_record
from pipeline.snapshots import DocumentCache, read
from pipeline.vocab import AlertStatus, FlagStatus, rank

EXCERPT_LINES = 10  # per kind of change (text lines, rows added, …)
EXCERPT_CHARS = 300  # per line or cell


# (baseline snapshot id, snapshot id) → the excerpt of that change, worked out beforehand
Excerpts = dict[tuple[int, int], dict[str, Any]]


def enqueue(session: Session, config: Config, flag: FlagRow, *,
            cache: DocumentCache | None = None, skip: set[str] | None = None,
            excerpts: Excerpts | None = None) -> list[AlertRow]:
    """Write the alerts for a flag just flushed (one per matching channel, but the channels in
    `skip`); return them. `cache` holds Documents already read in this transaction, `excerpts`
    changes already summed up (a check's, by its extraction worker).
    """
    claim = session.get(ClaimRow, flag.claim_id)
    assert claim is not None
    factcheck = session.get(FactCheckRow, claim.factcheck_id)
    assert factcheck is not None
    keys = channel_keys([spec.to for spec in config.alerts])
    wanted = [key for key, spec in zip(keys, config.alerts, strict=True)
              if wants(spec, flag.severity, factcheck.slug) and key not in (skip or set())]
    if not wanted:
        return []
    payload = _payload(session, config, flag, claim, factcheck, cache, excerpts or {})
    now = utcnow()
    rows = []
    for key in wanted:
        id_ = alert_id(flag.id, payload["flag"]["opened_at"], key)
        rows.append(AlertRow(alert_id=id_, flag_id=flag.id, channel=key,
                             payload={"alert_id": id_, **payload}, status=AlertStatus.PENDING,
                             attempts=0, next_attempt_at=now, created_at=now))
    session.add_all(rows)
    return rows


def wants(spec: AlertChannel, severity: str, factcheck: str) -> bool:
    """Whether a channel takes a flag: severe enough, and of one of its fact-checks if it names
    them."""
    return (rank(severity) >= rank(spec.min_severity)
            and (spec.factchecks is None or factcheck in spec.factchecks))


def _payload(session: Session, config: Config, flag: FlagRow, claim: ClaimRow,
             factcheck: FactCheckRow, cache: DocumentCache | None, excerpts: Excerpts
             ) -> dict[str, Any]:
    flag_json = flag_record(session, flag).spec_json()
    source = config.sources[flag_json["source"]]
    baseline = session.get(SnapshotRow, flag.baseline_snapshot_id) \
        if flag.baseline_snapshot_id else None
    snapshot = session.get(SnapshotRow, flag.snapshot_id) if flag.snapshot_id else None
    change = None
    if baseline is not None and snapshot is not None and (baseline.id, snapshot.id) in excerpts:
        change = excerpts[baseline.id, snapshot.id]
    elif baseline is not None and snapshot is not None:
        cache = {} if cache is None else cache
        before = read(session, baseline, source, cache)
        after = read(session, snapshot, source, cache)
        if isinstance(before, Document) and isinstance(after, Document):
            change = excerpt(before, after)
    return {"flag": flag_json, "review_url": config.desk.flag_url(flag.id),
            "factcheck": {"id": factcheck.slug, "title": factcheck.title, "url": factcheck.url},
            "claim": {"id": claim.slug, "text": claim.text, "verdict": claim.verdict},
            "source": {"id": flag_json["source"], "url": source.url},
            "baseline": _snapshot(baseline), "snapshot": _snapshot(snapshot),
            "change": change}


def _snapshot(row: SnapshotRow | None) -> dict[str, Any] | None:
    """A snapshot as the payload carries it; an archived one (`backfill`) says where it was
    kept, and its `fetched_at` is the capture's time."""
    if row is None:
        return None
    found = SnapshotRecord.from_row(row).to_json()
    return found | {"archive_url": row.archive_url} if row.archive_url else found


def excerpt(before: Document, after: Document) -> dict[str, Any]:
    """A short excerpt of what changed: removed/added lines, table rows, new items."""
    d = diff(before, after, context=0)
    found: dict[str, list[Any]] = {
        "text": [] if d.tables else [line for line in d.text if line[:1] in "+-"],
        "rows_added": [list(row) for t in d.tables for row in t.added],
        "rows_removed": [list(row) for t in d.tables for row in t.removed],
        "rows_changed": [[list(old), list(new)] for t in d.tables for old, new in t.changed],
        "items_added": [{"title": i.title or i.key, "link": i.link} for i in d.items_added],
        "items_removed": [{"title": i.title or i.key, "link": i.link} for i in d.items_removed],
    }
    out: dict[str, Any] = {k: _cut(v[:EXCERPT_LINES]) for k, v in found.items() if v}
    if any(len(v) > EXCERPT_LINES for v in found.values()):
        out["truncated"] = True
    return out


def _cut(value: Any) -> Any:
    """Every string in `value` at most EXCERPT_CHARS long."""
    if isinstance(value, str):
        return value if len(value) <= EXCERPT_CHARS else value[:EXCERPT_CHARS - 1] + "…"
    if isinstance(value, list):
        return [_cut(v) for v in value]
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    return value


def missing(session: Session, config: Config) -> dict[str, list[int]]:
    """The open flags each channel wants but never got (a channel added while they were open):
    channel key → flag ids."""
    keys = channel_keys([spec.to for spec in config.alerts])
    sent = {(flag_id, channel) for flag_id, channel in session.execute(
        select(AlertRow.flag_id, AlertRow.channel).where(AlertRow.flag_id.in_(
            select(FlagRow.id).where(FlagRow.status == FlagStatus.OPEN))))}
    found: dict[str, list[int]] = {}
    for flag_id, severity, factcheck in session.execute(
            select(FlagRow.id, FlagRow.severity, FactCheckRow.slug)
            .join(ClaimRow, ClaimRow.id == FlagRow.claim_id)
            .join(FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id)
            .where(FlagRow.status == FlagStatus.OPEN).order_by(FlagRow.id)):
        for key, spec in zip(keys, config.alerts, strict=True):
            if (flag_id, key) not in sent and wants(spec, severity, factcheck):
                found.setdefault(key, []).append(flag_id)
    return found


def backfill(session: Session, config: Config) -> dict[str, int]:
    """Give every channel the open flags it never got; return how many per channel key."""
    gaps = missing(session, config)
    keys = set(channel_keys([spec.to for spec in config.alerts]))
    done: dict[str, int] = {}
    cache: DocumentCache = {}
    for flag_id in sorted({f for ids in gaps.values() for f in ids}):
        flag = session.get(FlagRow, flag_id)
        assert flag is not None
        wanting = {key for key, ids in gaps.items() if flag_id in ids}
        for row in enqueue(session, config, flag, cache=cache, skip=keys - wanting):
            done[row.channel] = done.get(row.channel, 0) + 1
    return done
