"""The records the library returns (flags, reviews, alerts, snapshots, source checks, check
runs), each with the one `to_json` that the CLI, the REST API, alerts and audit events print.

Records are frozen plain data; the CLI and the web layer render them, nothing writes through
them. The loaders here read rows in bulk (a desk's queue holds thousands of flags): one query
per related table, never one per record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    AlertRow,
    ArchiveRow,
    ClaimRow,
    FactCheckRow,
    FlagRow,
    ReviewRow,
    SnapshotRow,
    SourceRow,
)
from pipeline.vocab import AlertStatus, ArchiveStatus, CheckResult, FetchMode, FlagStatus, iso


@dataclass(frozen=True)
class ReviewRecord:
    decision: str
    by: str
    note: str | None
    verdict_before: str | None
    verdict_after: str | None
    reviewed_at: dt.datetime

    @classmethod
    def from_row(cls, row: ReviewRow) -> ReviewRecord:
        return cls(row.decision, row.reviewer, row.note, row.verdict_before, row.verdict_after,
                   row.reviewed_at)

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "by": self.by, "note": self.note,
                "verdict_before": self.verdict_before, "verdict_after": self.verdict_after,
                "reviewed_at": iso(self.reviewed_at)}


@dataclass(frozen=True)
class FlagRecord:
    """A flag (SPEC §3): which claim, on which source, what came out and why."""

    id: int
    claim: str
    factcheck: str
    source: str
    outcome: str
    severity: str
    reason: str
    opened_at: dt.datetime
    status: str = FlagStatus.OPEN
    closed_at: dt.datetime | None = None
    review: ReviewRecord | None = None

    def spec_json(self) -> dict[str, Any]:
        """The flag object of SPEC §3, as `check --json`, alerts and audit events carry it."""
        return {"id": self.id, "claim": self.claim, "factcheck": self.factcheck,
                "source": self.source, "outcome": self.outcome, "severity": self.severity,
                "reason": self.reason, "opened_at": iso(self.opened_at)}

    def to_json(self) -> dict[str, Any]:
        """`flags --json`: the flag object plus its status, and its review when there is one."""
        data = {**self.spec_json(), "status": self.status}
        if self.review is not None:
            data["review"] = self.review.to_json()
        return data


def flag_records(session: Session, rows: Sequence[FlagRow]) -> list[FlagRecord]:
    """Records of these flag rows, in their order: three queries however many flags."""
    claims = {cid: (slug, fc) for cid, slug, fc in session.execute(
        select(ClaimRow.id, ClaimRow.slug, FactCheckRow.slug)
        .join(FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id)
        .where(ClaimRow.id.in_({row.claim_id for row in rows})))}
    sources = dict(session.execute(select(SourceRow.id, SourceRow.slug).where(
        SourceRow.id.in_({row.source_id for row in rows}))).all())
    reviewed = [row.id for row in rows if row.status == FlagStatus.REVIEWED]
    reviews = {r.flag_id: ReviewRecord.from_row(r) for r in session.scalars(
        select(ReviewRow).where(ReviewRow.flag_id.in_(reviewed)))} if reviewed else {}
    return [FlagRecord(row.id, claims[row.claim_id][0], claims[row.claim_id][1],
                       sources[row.source_id], row.outcome, row.severity, row.reason,
                       row.opened_at, row.status, row.closed_at, reviews.get(row.id))
            for row in rows]


def flag_record(session: Session, row: FlagRow) -> FlagRecord:
    return flag_records(session, [row])[0]


@dataclass(frozen=True)
class AlertRecord:
    """One flag's alert on one channel (a key: secrets masked) and where its delivery stands."""

    alert_id: str
    flag: int
    claim: str
    severity: str
    outcome: str
    channel: str
    status: str
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None  # only while pending
    digest_id: str | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: AlertRow) -> AlertRecord:
        flag = row.payload["flag"]
        return cls(row.alert_id, row.flag_id, flag["claim"], flag["severity"], flag["outcome"],
                   row.channel, row.status, row.attempts, row.created_at, row.sent_at,
                   row.next_attempt_at if row.status == AlertStatus.PENDING else None,
                   row.digest_id, row.last_error)

    def to_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "flag": self.flag, "claim": self.claim,
                "severity": self.severity, "outcome": self.outcome, "channel": self.channel,
                "status": self.status, "attempts": self.attempts,
                "created_at": iso(self.created_at), "sent_at": iso(self.sent_at),
                "next_attempt_at": iso(self.next_attempt_at), "digest_id": self.digest_id,
                "last_error": self.last_error}


@dataclass(frozen=True)
class SnapshotRecord:
    """A stored version of a source, as the publisher served it (`url` after redirects)."""

    id: int
    fetched_at: dt.datetime
    url: str
    content_type: str = ""
    kind: str = ""
    sha256: str = ""
    fetch_mode: str = FetchMode.HTTP  # `browser`: the DOM Chromium rendered, not the bytes served

    @classmethod
    def from_row(cls, row: SnapshotRow) -> SnapshotRecord:
        return cls(row.id, row.fetched_at, row.url, row.content_type, row.kind, row.blob_sha256,
                   row.fetch_mode)

    @property
    def rendered(self) -> bool:
        return self.fetch_mode == FetchMode.BROWSER

    def to_json(self) -> dict[str, Any]:
        """What alerts and reports carry of a snapshot (SPEC §3: id and fetch time, and how it
        was read: a rendered page and a page as served are never compared)."""
        return {"id": self.id, "fetched_at": iso(self.fetched_at), "url": self.url,
                "fetch_mode": self.fetch_mode}


@dataclass(frozen=True)
class ArchiveRecord:
    """A snapshot's submission to the public archive (`claimwatch archive status --json`)."""

    snapshot: int
    source: str
    url: str  # what was submitted
    status: str  # an ArchiveStatus
    job_id: str | None
    archived_url: str | None
    captured_at: dt.datetime | None
    error: str | None
    message: str | None
    attempts: int
    next_attempt_at: dt.datetime | None  # None once archived or failed
    submitted_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: ArchiveRow, source: str) -> ArchiveRecord:
        done = row.status in (ArchiveStatus.ARCHIVED, ArchiveStatus.FAILED)
        return cls(row.snapshot_id, source, row.url, row.status, row.job_id, row.archived_url,
                   row.captured_at, row.error, row.message, row.attempts,
                   None if done else row.next_attempt_at, row.submitted_at)

    def to_json(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "source": self.source, "url": self.url,
                "status": self.status, "job_id": self.job_id,
                "archived_url": self.archived_url, "captured_at": iso(self.captured_at),
                "error": self.error, "message": self.message, "attempts": self.attempts,
                "next_attempt_at": iso(self.next_attempt_at),
                "submitted_at": iso(self.submitted_at)}

    def link_json(self) -> dict[str, Any]:
        """What alerts and reports carry of it, beside the snapshot."""
        return {"status": self.status, "url": self.archived_url,
                "captured_at": iso(self.captured_at), "error": self.error}


@dataclass
class SourceReport:
    """One source check of a run (SPEC §3 `sources[]`) and the flags it opened."""

    source: str
    status: str  # a CheckResult
    snapshot: int | None
    http_status: int | None
    error: str | None
    flags: list[FlagRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "snapshot": self.snapshot,
                "http_status": self.http_status, "error": self.error}


@dataclass
class CheckReport:
    """A check run (SPEC §3 `check --json`)."""

    sources: list[SourceReport] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # being checked by another worker: skipped

    @property
    def flags(self) -> list[FlagRecord]:
        return sorted((f for s in self.sources for f in s.flags), key=lambda f: f.id)

    def count(self, status: CheckResult) -> int:
        return sum(s.status == status for s in self.sources)

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of a run: counts, and which sources changed or failed."""
        return {"checked": len(self.sources),
                **{str(status): self.count(status) for status in CheckResult},
                "flags": [f.id for f in self.flags],
                "changed_sources": sorted(s.source for s in self.sources
                                          if s.status in (CheckResult.NEW, CheckResult.CHANGED)),
                "failed_sources": sorted(s.source for s in self.sources if s.error)}

    def to_json(self) -> dict[str, Any]:
        return {"checked": len(self.sources),
                "changed": self.count(CheckResult.CHANGED),
                "errors": sum(s.error is not None for s in self.sources),
                "sources": [s.to_json() for s in sorted(self.sources, key=lambda s: s.source)],
                "flags": [f.spec_json() for f in self.flags],
                **({"busy": self.busy} if self.busy else {})}
