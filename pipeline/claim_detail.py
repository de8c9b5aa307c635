"""One claim as the desk shows it: its text and verdict history, and each evidence item with its
expectation, current outcome, last check, baseline and latest snapshot, and its past flags and
decisions. Read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import (
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FetchRow,
    FlagRow,
    OutcomeRow,
    ReviewRow,
    SnapshotRow,
    SourceRow,
    VerdictRow,
)
from pipeline.errors import NotFound
from pipeline.records import FlagRecord, SnapshotRecord, flag_records
from pipeline.vocab import CheckResult, iso


@dataclass(frozen=True)
class VerdictChange:
    verdict: str
    origin: str  # sources.yaml | review
    at: dt.datetime
    by: str | None = None  # the reviewer who revised it


@dataclass(frozen=True)
class Item:
    """One evidence item: where it reads, what it expects, and how it stands now."""

    source: str
    source_url: str
    expectation: dict[str, Any]
    outcome: str | None  # the latest; None before the first check
    reason: str | None
    last_check_at: dt.datetime | None  # the source's last successful check
    baseline: SnapshotRecord | None
    latest: SnapshotRecord | None
    flags: list[FlagRecord]  # newest first, reviewed ones with their review

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "source_url": self.source_url,
                "expectation": self.expectation, "outcome": self.outcome,
                "reason": self.reason, "last_check_at": iso(self.last_check_at),
                "baseline": self.baseline.to_json() if self.baseline else None,
                "latest": self.latest.to_json() if self.latest else None,
                "flags": [f.to_json() for f in self.flags]}


@dataclass(frozen=True)
class ClaimDetail:
    claim: str
    text: str
    verdict: str
    factcheck: str
    factcheck_title: str
    factcheck_url: str | None
    verdicts: list[VerdictChange]  # oldest first
    items: list[Item]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.claim, "text": self.text, "verdict": self.verdict,
                "factcheck": {"id": self.factcheck, "title": self.factcheck_title,
                              "url": self.factcheck_url},
                "verdicts": [{"verdict": v.verdict, "origin": v.origin, "at": iso(v.at),
                              "by": v.by} for v in self.verdicts],
                "evidence": [item.to_json() for item in self.items]}


def claim_detail(session: Session, slug: str) -> ClaimDetail:
    claim = session.scalars(select(ClaimRow).where(ClaimRow.slug == slug)).first()
    if claim is None:
        raise NotFound(f"unknown claim {slug!r}", field="claim")
    factcheck = session.get(FactCheckRow, claim.factcheck_id)
    assert factcheck is not None
    rows = session.scalars(select(EvidenceRow).where(
        EvidenceRow.claim_id == claim.id, EvidenceRow.active.is_(True))
        .order_by(EvidenceRow.position)).all()
    return ClaimDetail(claim.slug, claim.text, claim.verdict, factcheck.slug, factcheck.title,
                       factcheck.url, verdicts(session, [claim.id]).get(claim.id, []),
                       items(session, rows))


def verdicts(session: Session, claim_ids: list[int]) -> dict[int, list[VerdictChange]]:
    """The claims' verdict histories, oldest first, with who revised each (one query)."""
    found: dict[int, list[VerdictChange]] = {}
    for row, by in session.execute(
            select(VerdictRow, ReviewRow.reviewer)
            .outerjoin(ReviewRow, ReviewRow.id == VerdictRow.review_id)
            .where(VerdictRow.claim_id.in_(claim_ids)).order_by(VerdictRow.id)):
        found.setdefault(row.claim_id, []).append(
            VerdictChange(row.verdict, row.origin, row.at, by))
    return found


def items(session: Session, rows: list[EvidenceRow]) -> list[Item]:
    """The evidence items' standing, a few queries for all of them (the report uses it too)."""
    ids = [row.id for row in rows]
    sources = {s.id: s for s in session.scalars(select(SourceRow).where(
        SourceRow.id.in_({row.source_id for row in rows})))}
    latest_outcome = select(func.max(OutcomeRow.id)).where(
        OutcomeRow.evidence_id.in_(ids)).group_by(OutcomeRow.evidence_id)
    outcomes = {o.evidence_id: o for o in session.scalars(select(OutcomeRow).where(
        OutcomeRow.id.in_(latest_outcome)))}
    succeeded = dict(session.execute(select(FetchRow.source_id, func.max(FetchRow.started_at))
                                     .where(FetchRow.source_id.in_(list(sources)),
                                            FetchRow.result.in_([CheckResult.NEW,
                                                                 CheckResult.UNCHANGED,
                                                                 CheckResult.CHANGED]))
                                     .group_by(FetchRow.source_id)).all())
    wanted = {row.baseline_snapshot_id for row in rows} | {
        s.latest_snapshot_id for s in sources.values()}
    snapshots = {s.id: SnapshotRecord.from_row(s) for s in session.scalars(
        select(SnapshotRow).where(SnapshotRow.id.in_({i for i in wanted if i})))}
    flags = flag_records(session, session.scalars(select(FlagRow).where(
        FlagRow.evidence_id.in_(ids)).order_by(FlagRow.id.desc())).all())
    by_item: dict[int, list[FlagRecord]] = {}
    evidence_of = dict(session.execute(select(FlagRow.id, FlagRow.evidence_id).where(
        FlagRow.evidence_id.in_(ids))).all())
    for flag in flags:
        by_item.setdefault(evidence_of[flag.id], []).append(flag)
    found = []
    for row in rows:
        source = sources[row.source_id]
        outcome = outcomes.get(row.id)
        found.append(Item(
            source.slug, source.url, row.expectation, outcome.status if outcome else None,
            outcome.reason if outcome else None, succeeded.get(source.id),
            snapshots.get(row.baseline_snapshot_id or -1),
            snapshots.get(source.latest_snapshot_id or -1), by_item.get(row.id, [])))
    return found
