"""`claimwatch prune`: retention. Removes fetch attempts, outcomes and snapshots older than a
cutoff, and blobs no snapshot needs any more, but never a baseline, the latest snapshot of a
source, anything a flag or a review points to, or an audit event (the chain still verifies:
the prune itself is recorded as an event).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, union
from sqlalchemy.orm import Session

from db import audit
from db.models import (
    BlobRow,
    EvidenceRow,
    FetchRow,
    FlagRow,
    OutcomeRow,
    SnapshotRow,
    SourceRow,
)


def prune(session: Session, older_than: dt.timedelta, now: dt.datetime,
          label: str) -> dict[str, int | str]:
    cutoff = now - older_than
    kept_outcomes = union(select(FlagRow.outcome_id),
                          select(EvidenceRow.accepted_outcome_id)
                          .where(EvidenceRow.accepted_outcome_id.is_not(None)))
    outcomes = session.execute(delete(OutcomeRow).where(
        OutcomeRow.created_at < cutoff, OutcomeRow.id.not_in(kept_outcomes))).rowcount
    fetches = session.execute(delete(FetchRow).where(
        FetchRow.started_at < cutoff,
        FetchRow.id.not_in(select(OutcomeRow.fetch_id)))).rowcount
    needed = union(
        select(EvidenceRow.baseline_snapshot_id), select(EvidenceRow.evaluated_snapshot_id),
        select(SourceRow.latest_snapshot_id), select(FlagRow.snapshot_id),
        select(FlagRow.baseline_snapshot_id), select(OutcomeRow.snapshot_id),
        select(OutcomeRow.baseline_snapshot_id), select(FetchRow.snapshot_id))
    needed_ids = {i for i in session.scalars(select(needed.subquery().c[0])) if i is not None}
    old = session.scalars(select(SnapshotRow.id).where(SnapshotRow.fetched_at < cutoff)).all()
    doomed = [i for i in old if i not in needed_ids]
    for start in range(0, len(doomed), 500):
        session.execute(delete(SnapshotRow).where(SnapshotRow.id.in_(doomed[start:start + 500])))
    blobs = session.execute(delete(BlobRow).where(
        BlobRow.sha256.not_in(select(SnapshotRow.blob_sha256)),
        BlobRow.sha256.not_in(select(SnapshotRow.raw_sha256).where(
            SnapshotRow.raw_sha256.is_not(None))))).rowcount
    counts: dict[str, int | str] = {"older_than": label, "snapshots": len(doomed),
                                    "fetches": fetches, "outcomes": outcomes, "blobs": blobs,
                                    "snapshots_kept": session.scalar(
                                        select(func.count()).select_from(SnapshotRow)) or 0}
    audit.record(session, "prune", counts, at=now)
    return counts
