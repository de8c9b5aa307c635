"""A flag's lifecycle, and the only writer of a flag's status (SPEC §1 Outcomes, §2 `review`):

    (outcome that flags) ──▶ open ──(the evidence holds again)──▶ resolved-by-source
                              │  ▲                                        │
                              │  └──(same outcome within reopen_within)───┘
                              ├──(an editor's decision)──▶ reviewed
                              └──(its source retired by an editor)──▶ source-retired

A flag opens with its alerts (`alerts.outbox`) in the check's transaction. Flip-flops (A/B tests,
CDN nodes out of sync) must not alert on every swing, so a resolved flag re-opens instead of a
new one. A review closes the flag and makes the snapshot it was raised on the item's new
baseline, so an accepted state stays quiet and only the next real move flags again. Every move
is an audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from alerts import outbox
from db import audit, utcnow
from db.models import (
    AlertRow,
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FlagRow,
    OutcomeRow,
    ReviewRow,
    SnapshotRow,
    SourceRow,
    VerdictRow,
    by_id,
)
from pipeline.config import Config
from pipeline.errors import Conflict, NotFound, UsageError
from pipeline.evaluate import Result
from pipeline.records import FlagRecord, ReviewRecord, flag_record
from pipeline.snapshots import DocumentCache
from pipeline.vocab import SEVERITY_OF, Decision, FlagStatus, Outcome


def follow_outcome(session: Session, config: Config, row: EvidenceRow, outcome: OutcomeRow,
                   result: Result, *, first: bool, previous: str | None,
                   docs: DocumentCache, excerpts: outbox.Excerpts | None = None,
                   at: dt.datetime | None = None, alert: bool = True) -> FlagRecord | None:
    """Move the item's flags after its outcome `outcome` was written (flushed); return the flag
    opened, if one was (a re-opened flag is not new: it does not alert again).

    `holds` resolves the item's open flags. Another outcome opens a flag when what the item
    observed differs from its baseline's observation (or on its first evaluation, `first`),
    unless the same one is open; `previous` is the item's outcome before this one. `at`: when
    the outcome's version was captured, for an archived one (`backfill`): the flag's dates.
    Without `alert` a flag opens without its alerts: `backfill` alerts at its end only what is
    still open then (`alert_still_open`), so history the replay resolved pages no one.
    """
    now = at or utcnow()
    if result.status == Outcome.HOLDS:
        if previous not in (None, Outcome.HOLDS):
            for flag in session.scalars(select(FlagRow).where(
                    FlagRow.evidence_id == row.id, FlagRow.status == FlagStatus.OPEN)):
                flag.status, flag.closed_at = FlagStatus.RESOLVED, now
                _event(session, "flag-resolved", flag, {"by": "source"})
        return None
    if result.status not in SEVERITY_OF or not (first or result.differs):
        return None
    same = session.scalars(select(FlagRow).where(
        FlagRow.evidence_id == row.id, FlagRow.outcome == result.status,
        FlagRow.status.in_([FlagStatus.OPEN, FlagStatus.RESOLVED])).order_by(FlagRow.id.desc())
    ).first()
    if same is not None and same.status == FlagStatus.OPEN:
        return None
    window = dt.timedelta(seconds=config.defaults.reopen_within)
    if same is not None and same.closed_at is not None and now - same.closed_at <= window:
        same.status, same.closed_at = FlagStatus.OPEN, None
        same.outcome_id, same.snapshot_id, same.reason = outcome.id, outcome.snapshot_id, \
            result.reason
        _event(session, "flag-reopened", same, {"snapshot": same.snapshot_id})
        return None
    flag = FlagRow(claim_id=row.claim_id, evidence_id=row.id, source_id=row.source_id,
                   outcome_id=outcome.id, outcome=result.status,
                   severity=SEVERITY_OF[Outcome(result.status)], reason=result.reason,
                   snapshot_id=outcome.snapshot_id,
                   baseline_snapshot_id=row.baseline_snapshot_id, opened_at=now,
                   status=FlagStatus.OPEN)
    session.add(flag)
    session.flush()
    if alert:
        outbox.enqueue(session, config, flag, cache=docs,  # its alerts: in this transaction
                       excerpts=excerpts)
    return _event(session, "flag", flag, {"snapshot": flag.snapshot_id,
                                          "baseline": flag.baseline_snapshot_id})


def alert_still_open(session: Session, config: Config, factcheck: str) -> list[int]:
    """The end of a fact-check's backfill: queue the alerts of its flags raised on archived
    versions that are still open and were never alerted (one per flag, each saying since when);
    return their ids. The ones the replay opened and resolved stay in the history only."""
    archived = select(SnapshotRow.id).where(SnapshotRow.archive_url.is_not(None))
    held = session.scalars(
        select(FlagRow).join(ClaimRow, ClaimRow.id == FlagRow.claim_id)
        .join(FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id)
        .where(FactCheckRow.slug == factcheck, FlagRow.status == FlagStatus.OPEN,
               FlagRow.snapshot_id.in_(archived),
               ~exists(select(AlertRow.id).where(AlertRow.flag_id == FlagRow.id)))
        .order_by(FlagRow.id)).all()
    cache: DocumentCache = {}
    return [flag.id for flag in held if outbox.enqueue(session, config, flag, cache=cache)]


def review(session: Session, flag_id: int, *, decision: str, reviewer: str,
           note: str | None = None, verdict: str | None = None,
           account_id: int | None = None) -> FlagRecord:
    """Record an editor's decision on an open flag; return the flag with its review.

    Raises UsageError naming the field at fault, NotFound for an unknown flag, and Conflict
    when the flag is no longer open (another editor reviewed it meanwhile: the first decision
    stands, never two).
    """
    note = note.strip() if note and note.strip() else None
    if decision not in set(Decision):
        raise UsageError(f"must be one of {', '.join(Decision)}, not {decision!r}",
                         field="decision")
    if not reviewer.strip():
        raise UsageError("the reviewer's name is empty", field="reviewer")
    if decision == Decision.REVISED and not (verdict and verdict.strip()):
        raise UsageError("a revised decision needs the claim's new verdict", field="verdict")
    if decision != Decision.REVISED and verdict:
        raise UsageError("a new verdict goes with the decision 'revised' only", field="verdict")
    flag = by_id(session, FlagRow, flag_id)
    if flag is None:
        raise NotFound(f"there is no flag {flag_id}", field="flag")
    now = utcnow()
    # the status moves first, in one statement: two editors submitting at once get one review
    closed = session.execute(update(FlagRow).where(
        FlagRow.id == flag_id, FlagRow.status == FlagStatus.OPEN).values(
        status=FlagStatus.REVIEWED, closed_at=now).execution_options(synchronize_session=False))
    if closed.rowcount != 1:
        session.refresh(flag)
        earlier = session.scalars(select(ReviewRow).where(ReviewRow.flag_id == flag_id)).first()
        if earlier is not None:
            raise Conflict(f"flag {flag_id} was already reviewed by {earlier.reviewer} on "
                           f"{earlier.reviewed_at:%Y-%m-%d %H:%M} ({earlier.decision})")
        raise Conflict(f"flag {flag_id} is {flag.status}: there is nothing left to review")
    session.refresh(flag)

    claim = session.get(ClaimRow, flag.claim_id)
    evidence = session.get(EvidenceRow, flag.evidence_id)
    assert claim is not None and evidence is not None
    before = claim.verdict
    if decision == Decision.REVISED and verdict and verdict.strip() == before:
        raise UsageError(f"the verdict is already {before!r}: a revised decision changes it "
                         "(or the verdict stands: upheld)", field="verdict")
    row = ReviewRow(flag_id=flag.id, decision=decision, reviewer=reviewer.strip(),
                    account_id=account_id, note=note, verdict_before=before,
                    verdict_after=verdict.strip() if verdict else before, reviewed_at=now)
    session.add(row)
    session.flush()
    if flag.snapshot_id is not None:
        evidence.baseline_snapshot_id = flag.snapshot_id
    evidence.accepted_outcome_id = flag.outcome_id
    evidence.evaluated_snapshot_id = None  # the next check re-evaluates against the new baseline
    if decision == Decision.REVISED and verdict:
        claim.verdict = verdict.strip()
        session.add(VerdictRow(claim_id=claim.id, verdict=claim.verdict, origin="review",
                               review_id=row.id, at=now))
    source_row = session.get(SourceRow, flag.source_id)
    audit.record(session, "review", {
        "flag": flag.id, "review": row.id, "decision": decision, "by": row.reviewer,
        "note": note, "verdict_before": before, "verdict_after": row.verdict_after,
        "outcome": flag.outcome, "new_baseline": evidence.baseline_snapshot_id},
        claim=claim.slug, source=source_row.slug if source_row else None, at=now)
    return replace(flag_record(session, flag), review=ReviewRecord.from_row(row))


def close_for_retired_source(session: Session, source_id: int, *, now: dt.datetime) -> list[int]:
    """Close the open flags on a source an editor retired; return their ids."""
    closed = []
    for flag in session.scalars(select(FlagRow).where(FlagRow.source_id == source_id,
                                                      FlagRow.status == FlagStatus.OPEN)):
        flag.status, flag.closed_at = FlagStatus.RETIRED, now
        _event(session, "flag-retired", flag, {})
        closed.append(flag.id)
    return closed


def _event(session: Session, kind: str, flag: FlagRow, extra: dict[str, Any]) -> FlagRecord:
    """Record a flag's move in the audit log; return the flag's record."""
    record = flag_record(session, flag)
    audit.record(session, kind, {**record.spec_json(), **extra}, source=record.source,
                 claim=record.claim)
    return record
