"""An editor's decision on a flag (SPEC §1 Outcomes, §2 `review`).

Every decision closes the flag and makes the snapshot it was raised on the item's new baseline
(for a flag raised on a failed fetch, the accepted outcome is what later checks compare with), so
once an editor has accepted a state later checks that observe the same thing stay quiet.
`revised` also records the claim's new verdict in its verdict history. One transaction: the
review, the baseline, the verdict and the audit event commit together.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import audit, utcnow
from db.models import ClaimRow, EvidenceRow, FlagRow, ReviewRow, SourceRow, VerdictRow, by_id
from pipeline.errors import UsageError

DECISIONS = ("upheld", "revised", "dismissed")


def review(session: Session, flag_id: int, *, decision: str, reviewer: str,
           note: str | None = None, verdict: str | None = None) -> ReviewRow:
    if decision not in DECISIONS:
        raise UsageError(f"--decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not reviewer.strip():
        raise UsageError("--by needs the reviewer's name")
    if decision == "revised" and not (verdict and verdict.strip()):
        raise UsageError("--decision revised needs --verdict with the claim's new verdict")
    if decision != "revised" and verdict:
        raise UsageError("--verdict goes with --decision revised")
    flag = by_id(session, FlagRow, flag_id)
    if flag is None:
        raise UsageError(f"there is no flag {flag_id}: see 'claimwatch flags --all'")
    if flag.status != "open":
        earlier = session.scalars(select(ReviewRow).where(ReviewRow.flag_id == flag_id)).first()
        if earlier is not None:
            raise UsageError(f"flag {flag_id} was already reviewed by {earlier.reviewer} on "
                             f"{earlier.reviewed_at:%Y-%m-%d %H:%M} ({earlier.decision})")
        raise UsageError(f"flag {flag_id} is {flag.status}: there is nothing left to review")

    now = utcnow()
    claim = session.get(ClaimRow, flag.claim_id)
    evidence = session.get(EvidenceRow, flag.evidence_id)
    assert claim is not None and evidence is not None
    before = claim.verdict
    row = ReviewRow(flag_id=flag.id, decision=decision, reviewer=reviewer.strip(),
                    note=note, verdict_before=before,
                    verdict_after=verdict.strip() if verdict else before, reviewed_at=now)
    session.add(row)
    session.flush()
    flag.status, flag.closed_at = "reviewed", now
    if flag.snapshot_id is not None:
        evidence.baseline_snapshot_id = flag.snapshot_id
    evidence.accepted_outcome_id = flag.outcome_id
    evidence.evaluated_snapshot_id = None  # the next check re-evaluates against the new baseline
    if decision == "revised" and verdict:
        claim.verdict = verdict.strip()
        session.add(VerdictRow(claim_id=claim.id, verdict=claim.verdict, origin="review",
                               review_id=row.id, at=now))
    source_row = session.get(SourceRow, flag.source_id)
    audit.record(session, "review", {
        "flag": flag.id, "review": row.id, "decision": decision, "by": row.reviewer,
        "note": note, "verdict_before": before, "verdict_after": row.verdict_after,
        "outcome": flag.outcome, "new_baseline": evidence.baseline_snapshot_id},
        claim=claim.slug, source=source_row.slug if source_row else None, at=now)
    return row


def review_json(row: ReviewRow) -> dict[str, object]:
    return {"decision": row.decision, "by": row.reviewer, "note": row.note,
            "verdict_before": row.verdict_before, "verdict_after": row.verdict_after,
            "reviewed_at": row.reviewed_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
