"""A claim's timeline: per evidence item, the days its outcome or what it observed changed,
read from its stored outcomes in the order their versions were captured (archived ones by
their capture time), e.g. `2025-05-27 holds: 6 distinct LAW ENFORCEMENT AGENCY` ·
`2025-06-27 broken: 7 … (added: Mille Lacs County Sheriff's Office)` · `2025-07-12 still
broken, rows changed: …`. A table item's snapshots at its change points are read again (the
source's current reading, as `evaluate` reads) to count and name distinct values; the rest is
the stored observations. Frozen data with `to_json`, pure of output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ClaimRow, EvidenceRow, OutcomeRow, SnapshotRow, SourceRow
from pipeline.config import Config, Evidence
from pipeline.describe import expectation_in_words
from pipeline.diff import diff_rows
from pipeline.errors import NotFound
from pipeline.evaluate import TableMatch, table_matches
from pipeline.extract import Document
from pipeline.snapshots import DocumentCache, read
from pipeline.vocab import iso

SHOWN = 3  # rows or values named per change


@dataclass(frozen=True)
class Moment:
    """One change of an item: when (the version's capture), its outcome, what changed
    (`outcome`, or `observation` when the outcome stayed), and in words."""

    at: dt.datetime
    outcome: str
    changed: str | None  # None for the first entry
    text: str
    snapshot: int | None
    archived: bool
    count: int | None = None  # distinct values, or rows, for a table item
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        return f"{self.at:%Y-%m-%d} {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"date": f"{self.at:%Y-%m-%d}", "at": iso(self.at), "outcome": self.outcome,
                "changed": self.changed, "text": self.text, "snapshot": self.snapshot,
                "archived": self.archived, "count": self.count, "added": list(self.added),
                "removed": list(self.removed)}


@dataclass(frozen=True)
class ItemTimeline:
    position: int
    source: str
    expectation: str  # in words
    moments: tuple[Moment, ...]

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "source": self.source,
                "expectation": self.expectation, "moments": [m.to_json() for m in self.moments]}


@dataclass(frozen=True)
class Timeline:
    claim: str
    text: str
    items: tuple[ItemTimeline, ...]

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "text": self.text, "items": [i.to_json() for i in self.items]}


def build(session: Session, claim_slug: str, config: Config | None = None) -> Timeline:
    """The timeline of a claim (`config`: to read a table item's snapshots for its values)."""
    claim = session.scalars(select(ClaimRow).where(ClaimRow.slug == claim_slug)).first()
    if claim is None:
        raise NotFound(f"there is no claim {claim_slug!r}", field="claim")
    items = []
    for row, slug in session.execute(
            select(EvidenceRow, SourceRow.slug).join(SourceRow,
                                                     SourceRow.id == EvidenceRow.source_id)
            .where(EvidenceRow.claim_id == claim.id, EvidenceRow.active.is_(True))
            .order_by(EvidenceRow.position, EvidenceRow.id)):
        items.append(ItemTimeline(row.position, slug, expectation_in_words(row.expectation),
                                  tuple(_moments(session, row, slug, config))))
    return Timeline(claim.slug, claim.text, tuple(items))


def _moments(session: Session, row: EvidenceRow, slug: str, config: Config | None
             ) -> list[Moment]:
    when = SnapshotRow.fetched_at
    found = session.execute(
        select(OutcomeRow, when, SnapshotRow.archived_at)
        .outerjoin(SnapshotRow, SnapshotRow.id == OutcomeRow.snapshot_id)
        .where(OutcomeRow.evidence_id == row.id)).all()
    found.sort(key=lambda f: (f[1] or f[0].created_at, f[0].id))
    ev = _evidence(row, slug)
    source = config.sources.get(slug) if config is not None else None
    docs: DocumentCache = {}
    moments: list[Moment] = []
    last: OutcomeRow | None = None
    for outcome, fetched, archived in found:
        if last is None or _moved(last, outcome):
            at = fetched or outcome.created_at
            match = _match(session, ev, source, outcome.snapshot_id, docs)
            before = _match(session, ev, source, last.snapshot_id, docs) if last else None
            moments.append(_moment(outcome, last, at, archived is not None, ev, match, before))
        last = outcome
    return moments


def _moved(last: OutcomeRow, outcome: OutcomeRow) -> bool:
    """Whether the item moved from one outcome to the next: its outcome, or what it observed.
    Matching rows count by identity: a row edited in place (a cell filled in, `link pending`
    → `link`) is the same row, so it moves neither a count nor a set of values."""
    if outcome.status != last.status:
        return True
    rows = _rows(last.observed), _rows(outcome.observed)
    if rows[0] is None or rows[1] is None:
        return bool(outcome.observed != last.observed)
    change = diff_rows((), rows[0], rows[1])
    return bool(change.added or change.removed)


def _rows(observed: Any) -> list[tuple[str, ...]] | None:
    if isinstance(observed, list) and all(isinstance(r, list) for r in observed):
        return [tuple(r) for r in observed]
    return None


def _moment(outcome: OutcomeRow, last: OutcomeRow | None, at: dt.datetime, archived: bool,
            ev: Evidence | None, match: TableMatch | None, before: TableMatch | None) -> Moment:
    status = outcome.status
    count = None
    added: list[str] = []
    removed: list[str] = []
    what = outcome.reason
    if ev is not None and ev.table is not None and isinstance(outcome.observed, list):
        rows = outcome.observed
        if match is not None and ev.table.distinct:
            count = len(match.values)
            what = f"{count} distinct {ev.table.distinct} in {len(rows)} rows"
        else:
            count = len(rows)
            what = f"{count} rows"
    if last is None:
        return Moment(at, status, None, f"{status}: {what}", outcome.snapshot_id, archived,
                      count)
    if match is not None and before is not None and ev is not None and ev.table is not None \
            and ev.table.distinct and match.values != before.values:
        added = sorted(match.values - before.values)
        removed = sorted(before.values - match.values)
        kind = "values"
    elif (before_rows := _rows(last.observed)) is not None and (
            after_rows := _rows(outcome.observed)) is not None:
        change = diff_rows((), before_rows, after_rows)
        added = [_row(r) for r in change.added]
        removed = [_row(r) for r in change.removed]
        kind = "rows"
    else:
        kind = "observation"
    delta = "; ".join(
        [f"added: {', '.join(added[:SHOWN])}" + (f" (+{len(added) - SHOWN} more)"
                                               if len(added) > SHOWN else "")] * bool(added)
        + [f"removed: {', '.join(removed[:SHOWN])}" + (f" (+{len(removed) - SHOWN} more)"
                                                     if len(removed) > SHOWN else "")]
        * bool(removed))
    if status != last.status:
        text = f"{status}: {what}" + (f" ({delta})" if delta else "")
        changed = "outcome"
    else:
        text = f"still {status}, {kind} changed: {delta or what}" + (
            f" ({what})" if delta else "")
        changed = "observation"
    return Moment(at, status, changed, text, outcome.snapshot_id, archived, count,
                  tuple(added), tuple(removed))


def _row(cells: tuple[str, ...]) -> str:
    return " | ".join(c for c in cells if c)


def _evidence(row: EvidenceRow, slug: str) -> Evidence | None:
    try:
        return Evidence.model_validate({"source": slug, **row.expectation})
    except (ValidationError, TypeError):
        return None


def _match(session: Session, ev: Evidence | None, source: Any, snapshot_id: int | None,
           docs: DocumentCache) -> TableMatch | None:
    """A table item's matching rows and values on a snapshot, when it can be read."""
    if ev is None or ev.table is None or source is None or snapshot_id is None:
        return None
    snapshot = session.get(SnapshotRow, snapshot_id)
    doc = read(session, snapshot, source, docs) if snapshot is not None else None
    if not isinstance(doc, Document):
        return None
    found = table_matches(ev, doc)
    return found if isinstance(found, TableMatch) else None
