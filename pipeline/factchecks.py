"""The desk's fact-checks at a glance: each with its claims, how many of its flags are open at
each severity, and where its backfill stands (`backfill.states`) when it has one. Read-only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import ClaimRow, FactCheckRow, FlagRow
from pipeline import backfill
from pipeline.backfill import BackfillState
from pipeline.config import Config
from pipeline.vocab import FlagStatus


@dataclass(frozen=True)
class FactCheckSummary:
    factcheck: str
    title: str
    url: str | None
    claims: int
    open_flags: dict[str, int] = field(default_factory=dict)  # severity → count
    backfill: BackfillState | None = None  # a dated fact-check's, when it has one

    def to_json(self) -> dict[str, object]:
        return {"id": self.factcheck, "title": self.title, "url": self.url,
                "claims": self.claims, "open_flags": self.open_flags,
                "backfill": self.backfill.to_json() if self.backfill else None}


def factchecks(session: Session, config: Config | None, now: dt.datetime
               ) -> list[FactCheckSummary]:
    """Every active fact-check, by title; `config` tells which ones await their backfill
    (`backfill.states`)."""
    claims = dict(session.execute(select(ClaimRow.factcheck_id, func.count()).where(
        ClaimRow.active.is_(True)).group_by(ClaimRow.factcheck_id)).all())
    flags: dict[int, dict[str, int]] = {}
    for factcheck_id, severity, n in session.execute(
            select(ClaimRow.factcheck_id, FlagRow.severity, func.count())
            .join(ClaimRow, ClaimRow.id == FlagRow.claim_id)
            .where(FlagRow.status == FlagStatus.OPEN)
            .group_by(ClaimRow.factcheck_id, FlagRow.severity)):
        flags.setdefault(factcheck_id, {})[severity] = n
    backfills = {state.factcheck: state for state in backfill.states(session, config, now)}
    return [FactCheckSummary(row.slug, row.title, row.url, claims.get(row.id, 0),
                             flags.get(row.id, {}), backfills.get(row.slug))
            for row in session.scalars(select(FactCheckRow).where(
                FactCheckRow.active.is_(True)).order_by(FactCheckRow.title))]
