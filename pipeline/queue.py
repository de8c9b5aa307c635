"""The review queue (the desk's home): flags to review, most severe and newest first, grouped by
fact-check and claim, with who has looked at each ("seen by J. Doe 10 min ago") so two editors
don't do the same work. Read-only; a page of claims at a time, whatever the queue's size.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db.models import (
    AccountRow,
    ClaimRow,
    CommentRow,
    FactCheckRow,
    FlagRow,
    FlagViewRow,
    SourceRow,
)
from pipeline.errors import UsageError
from pipeline.records import FlagRecord, flag_records
from pipeline.vocab import FlagStatus, Severity, rank

PAGE_SIZE = 50  # claims per page
STATUSES = ("open", "reviewed", "resolved", "all")  # what the status filter takes


@dataclass(frozen=True)
class Filters:
    severity: str | None = None
    factcheck: str | None = None
    source: str | None = None
    status: str = "open"

    def check(self) -> Filters:
        if self.severity is not None and self.severity not in set(Severity):
            raise UsageError(f"{self.severity!r} is not a severity: low, medium or high",
                             field="severity")
        if self.status not in STATUSES:
            raise UsageError(f"{self.status!r} is not a status: {', '.join(STATUSES)}",
                             field="status")
        return self


@dataclass(frozen=True)
class Seen:
    name: str
    at: dt.datetime


@dataclass(frozen=True)
class Item:
    flag: FlagRecord
    seen: list[Seen]  # most recent first
    comments: int


@dataclass(frozen=True)
class ClaimGroup:
    claim: str
    text: str
    verdict: str
    items: list[Item]

    @property
    def severity(self) -> str:
        return max((i.flag.severity for i in self.items), key=rank)


@dataclass(frozen=True)
class FactCheckGroup:
    factcheck: str
    title: str
    claims: list[ClaimGroup]


@dataclass(frozen=True)
class Queue:
    filters: Filters
    open_by_severity: dict[str, int]  # every open flag, whatever the filters
    unseen: int  # open flags nobody has looked at
    matching: int  # flags the filters select
    groups: list[FactCheckGroup]
    page: int
    pages: int
    factchecks: list[tuple[str, str]] = field(default_factory=list)  # (id, title) to filter by
    sources: list[str] = field(default_factory=list)

    @property
    def open(self) -> int:
        return sum(self.open_by_severity.values())


def queue(session: Session, filters: Filters, *, page: int = 1) -> Queue:
    filters = filters.check()
    rows = session.execute(_matching(filters)).all()
    # claims ordered by their most severe flag, then by their newest
    by_claim: dict[int, list[tuple[int, str, dt.datetime]]] = defaultdict(list)
    for flag_id, claim_id, severity, opened_at in rows:
        by_claim[claim_id].append((flag_id, severity, opened_at))
    order = sorted(by_claim, key=lambda c: (-max(rank(s) for _i, s, _o in by_claim[c]),
                                           -max(o.timestamp() for _i, _s, o in by_claim[c])))
    pages = max(1, -(-len(order) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = order[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    groups = _groups(session, shown, by_claim)
    counts = dict(session.execute(select(FlagRow.severity, func.count()).where(
        FlagRow.status == FlagStatus.OPEN).group_by(FlagRow.severity)).all())
    seen_any = select(FlagViewRow.flag_id)
    unseen = session.scalar(select(func.count()).select_from(FlagRow).where(
        FlagRow.status == FlagStatus.OPEN, FlagRow.id.not_in(seen_any))) or 0
    return Queue(filters, {s.value: counts.get(s.value, 0) for s in reversed(Severity)}, unseen,
                 len(rows), groups, page, pages, *_choices(session))


def _matching(filters: Filters) -> Select[tuple[int, int, str, dt.datetime]]:
    query = select(FlagRow.id, FlagRow.claim_id, FlagRow.severity, FlagRow.opened_at)
    status = {"open": [FlagStatus.OPEN], "reviewed": [FlagStatus.REVIEWED],
              "resolved": [FlagStatus.RESOLVED, FlagStatus.RETIRED]}.get(filters.status)
    if status is not None:
        query = query.where(FlagRow.status.in_(status))
    if filters.severity:
        query = query.where(FlagRow.severity == filters.severity)
    if filters.factcheck:
        query = query.where(FlagRow.claim_id.in_(
            select(ClaimRow.id).join(FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id)
            .where(FactCheckRow.slug == filters.factcheck)))
    if filters.source:
        query = query.where(FlagRow.source_id.in_(
            select(SourceRow.id).where(SourceRow.slug == filters.source)))
    return query


def _groups(session: Session, claim_ids: list[int],
            by_claim: dict[int, list[tuple[int, str, dt.datetime]]]) -> list[FactCheckGroup]:
    flag_ids = [f for c in claim_ids for f, _s, _o in by_claim[c]]
    rows = {row.id: row for row in session.scalars(select(FlagRow).where(
        FlagRow.id.in_(flag_ids)))}
    records = {r.id: r for r in flag_records(session, list(rows.values()))}
    seen: dict[int, list[Seen]] = defaultdict(list)
    for flag_id, name, at in session.execute(
            select(FlagViewRow.flag_id, AccountRow.display_name, FlagViewRow.at)
            .join(AccountRow, AccountRow.id == FlagViewRow.account_id)
            .where(FlagViewRow.flag_id.in_(flag_ids)).order_by(FlagViewRow.at.desc())):
        seen[flag_id].append(Seen(name, at))
    comments = Counter(dict(session.execute(
        select(CommentRow.flag_id, func.count()).where(CommentRow.flag_id.in_(flag_ids))
        .group_by(CommentRow.flag_id)).all()))
    claims = {row.id: row for row in session.scalars(select(ClaimRow).where(
        ClaimRow.id.in_(claim_ids)))}
    factchecks = {row.id: row for row in session.scalars(select(FactCheckRow).where(
        FactCheckRow.id.in_({c.factcheck_id for c in claims.values()})))}
    grouped: dict[int, list[ClaimGroup]] = {}
    for claim_id in claim_ids:
        claim = claims[claim_id]
        items = sorted((Item(records[f], seen[f], comments[f]) for f, _s, _o in by_claim[claim_id]),
                       key=lambda i: (-rank(i.flag.severity), -i.flag.opened_at.timestamp()))
        grouped.setdefault(claim.factcheck_id, []).append(
            ClaimGroup(claim.slug, claim.text, claim.verdict, items))
    return [FactCheckGroup(factchecks[fc].slug, factchecks[fc].title, groups)
            for fc, groups in grouped.items()]


def _choices(session: Session) -> tuple[list[tuple[str, str]], list[str]]:
    """The fact-checks and sources that have flags at all, to filter the queue by."""
    factchecks = session.execute(
        select(FactCheckRow.slug, FactCheckRow.title).where(FactCheckRow.id.in_(
            select(ClaimRow.factcheck_id).where(ClaimRow.id.in_(select(FlagRow.claim_id)))))
        .order_by(FactCheckRow.title)).all()
    sources = session.scalars(select(SourceRow.slug).where(SourceRow.id.in_(
        select(FlagRow.source_id))).order_by(SourceRow.slug)).all()
    return [(slug, title) for slug, title in factchecks], list(sources)
