"""How each source is doing, in one word a desk can act on, for `claimwatch status` and the
desk's Sources page: new, ok, blocked (the site answers with a challenge or a login wall),
failing, backed off, unreachable, overdue (nothing is checking it), or retired (accepted as
gone). Read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db.models import EvidenceRow, FetchRow, FlagRow, SourceRow
from pipeline.config import Config
from pipeline.evaluate import FAILURES_BEFORE_UNREACHABLE
from pipeline.vocab import CheckResult, FlagStatus, iso

OVERDUE_FLOOR = dt.timedelta(minutes=15)
STATES = ("new", "ok", "blocked", "failing", "backed off", "unreachable", "overdue", "retired")
# states that need someone (a health check fails on them)
NEEDS_ATTENTION = ("unreachable", "backed off", "overdue")
# what a source's state is made of (`_state`)
_COLUMNS = (SourceRow.id, SourceRow.slug, SourceRow.url, SourceRow.last_checked_at,
            SourceRow.next_check_at, SourceRow.last_status, SourceRow.consecutive_failures,
            SourceRow.lease_until, SourceRow.retired_at, SourceRow.retired_by)


@dataclass(frozen=True)
class SourceHealth:
    source: str
    url: str
    state: str  # one of STATES
    every: int  # seconds
    last_check_at: dt.datetime | None
    next_check_at: dt.datetime | None  # None: due now
    failures: int  # checks failed in a row
    last_error: str | None
    open_flags: int
    items: int  # evidence items reading it
    being_checked: bool
    retired_by: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "url": self.url, "state": self.state,
                "every": self.every, "last_check_at": iso(self.last_check_at),
                "next_check_at": iso(self.next_check_at), "failures": self.failures,
                "last_error": self.last_error, "open_flags": self.open_flags,
                "items": self.items, "being_checked": self.being_checked,
                "retired_by": self.retired_by}


def health(session: Session, config: Config, now: dt.datetime, *,
           state: str | None = None, only: str | None = None) -> list[SourceHealth]:
    """Every active source's health, by id (only those in `state`, or the source `only`)."""
    # the columns the states need, not the rows: at 10,000 sources, loading the rows (their
    # options and validators parsed from JSON) took half of the desk's Sources page
    query = select(*_COLUMNS).where(SourceRow.active.is_(True)).order_by(SourceRow.slug)
    if only is not None:
        query = query.where(SourceRow.slug == only)
    rows = session.execute(query).all()
    ids = [row.id for row in rows] if only is not None else None
    flags = dict(session.execute(_per_source(FlagRow.source_id, ids).where(
        FlagRow.status == FlagStatus.OPEN)).all())
    items = dict(session.execute(_per_source(EvidenceRow.source_id, ids).where(
        EvidenceRow.active.is_(True))).all())
    troubled = [row.id for row in rows if row.last_status == CheckResult.ERROR]
    errors = _last_errors(session, troubled) if troubled else {}
    found = []
    for row in rows:
        every = config.every(row.slug) if row.slug in config.sources else \
            int(OVERDUE_FLOOR.total_seconds())
        found.append(SourceHealth(
            row.slug, row.url, _state(row, every, now), every, row.last_checked_at,
            row.next_check_at, row.consecutive_failures, errors.get(row.id),
            flags.get(row.id, 0), items.get(row.id, 0),
            row.lease_until is not None and row.lease_until > now, row.retired_by))
    return [h for h in found if state is None or h.state == state]


def _per_source(column: Any, ids: list[int] | None) -> Select[Any]:
    """count(*) per source id of `column`'s table (for these sources only, when given)."""
    query = select(column, func.count()).group_by(column)
    return query if ids is None else query.where(column.in_(ids))


def _state(row: Any, every: int, now: dt.datetime) -> str:
    """`row`: a source's `_COLUMNS`."""
    if row.retired_at is not None:
        return "retired"
    if row.consecutive_failures >= FAILURES_BEFORE_UNREACHABLE:
        return "unreachable"
    due_for = now - row.next_check_at if row.next_check_at is not None else dt.timedelta(0)
    if row.last_checked_at is not None and due_for > max(dt.timedelta(seconds=every / 2),
                                                         OVERDUE_FLOOR):
        return "overdue"
    if row.consecutive_failures > 1 and row.next_check_at is not None \
            and row.next_check_at > now:
        return "backed off"
    if row.consecutive_failures:
        return "failing"
    if row.last_status == CheckResult.ERROR:
        return "blocked"  # answered, but not with the evidence (a challenge, a login wall)
    return "new" if row.last_checked_at is None else "ok"


def _last_errors(session: Session, source_ids: list[int]) -> dict[int, str | None]:
    """Each source's last check's error line: one query for all of them."""
    last = select(FetchRow.source_id, func.max(FetchRow.id).label("id")).where(
        FetchRow.source_id.in_(source_ids), FetchRow.result.is_not(None)).group_by(
        FetchRow.source_id).subquery()
    return dict(session.execute(select(FetchRow.source_id, FetchRow.error).join(
        last, last.c.id == FetchRow.id)).all())
