"""One flag as an editor reviews it: the claim and its verdict, the expectation in words, why it
was flagged, the evidence change itself (baseline → the flagged snapshot, through
`pipeline.evidence_change`), both snapshots, who has looked at it and what they said, its review
if there is one, and what the expectation would become if the review accepted what is observed
now. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    AccountRow,
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FlagRow,
    FlagViewRow,
    SnapshotRow,
    SourceRow,
    by_id,
)
from pipeline import archive
from pipeline.config import Config, Evidence, Source
from pipeline.describe import expectation_in_words
from pipeline.errors import NotFound
from pipeline.evidence_change import EvidenceChange, QuoteChange, TableChange, change
from pipeline.extract import Document
from pipeline.flag_notes import Comment, comments
from pipeline.queue import Seen
from pipeline.records import ArchiveRecord, FlagRecord, SnapshotRecord, flag_record
from pipeline.snapshots import DocumentCache, read
from pipeline.vocab import Outcome, iso


@dataclass(frozen=True)
class Proposal:
    """The expectation updated to what is observed now, for a review to write back to
    sources.yaml (`count: 6` → `count: 7`, a reworded quote)."""

    expectation: dict[str, Any]
    words: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "words": self.words, "why": self.why}


@dataclass(frozen=True)
class FlagDetail:
    flag: FlagRecord
    claim_text: str
    verdict: str
    factcheck_title: str
    factcheck_url: str | None
    source_url: str
    expectation: dict[str, Any]
    expectation_words: str
    baseline: SnapshotRecord | None
    flagged: SnapshotRecord | None
    change: EvidenceChange | None  # None: a side has no snapshot, or cannot be read
    change_problem: str | None  # why there is no change to show
    seen: list[Seen]
    comments: list[Comment]
    proposal: Proposal | None
    # snapshot id → its submission to the public archive (`pipeline.archive`), when it has one
    archived: dict[int, ArchiveRecord] = field(default_factory=dict)

    def archive_of(self, snapshot: SnapshotRecord | None) -> ArchiveRecord | None:
        return None if snapshot is None else self.archived.get(snapshot.id)

    def _snapshot_json(self, snapshot: SnapshotRecord | None) -> dict[str, Any] | None:
        if snapshot is None:
            return None
        found = self.archive_of(snapshot)
        return {**snapshot.to_json(), **({"archive": found.link_json()} if found else {})}

    def to_json(self) -> dict[str, Any]:
        return {"flag": self.flag.to_json(),
                "claim": {"id": self.flag.claim, "text": self.claim_text,
                          "verdict": self.verdict},
                "factcheck": {"id": self.flag.factcheck, "title": self.factcheck_title,
                              "url": self.factcheck_url},
                "source": {"id": self.flag.source, "url": self.source_url},
                "expectation": self.expectation, "expectation_words": self.expectation_words,
                "baseline": self._snapshot_json(self.baseline),
                "snapshot": self._snapshot_json(self.flagged),
                "change": self.change.to_json() if self.change else None,
                "change_problem": self.change_problem,
                "seen": [{"by": s.name, "at": iso(s.at)} for s in self.seen],
                "comments": [{"by": c.by, "text": c.text, "at": iso(c.at)}
                             for c in self.comments],
                "proposal": self.proposal.to_json() if self.proposal else None}


def flag_detail(session: Session, config: Config, flag_id: int) -> FlagDetail:
    flag = by_id(session, FlagRow, flag_id)
    if flag is None:
        raise NotFound(f"there is no flag {flag_id}", field="flag")
    record = flag_record(session, flag)
    claim = session.get(ClaimRow, flag.claim_id)
    evidence = session.get(EvidenceRow, flag.evidence_id)
    source_row = session.get(SourceRow, flag.source_id)
    assert claim is not None and evidence is not None and source_row is not None
    factcheck = session.get(FactCheckRow, claim.factcheck_id)
    assert factcheck is not None
    baseline = session.get(SnapshotRow, flag.baseline_snapshot_id) \
        if flag.baseline_snapshot_id else None
    flagged = session.get(SnapshotRow, flag.snapshot_id) if flag.snapshot_id else None
    item = Evidence.model_validate({"source": record.source, **evidence.expectation})
    found, problem = flag_change(session, config.sources.get(record.source), item, baseline,
                                 flagged, {})
    seen = [Seen(name, at) for name, at in session.execute(
        select(AccountRow.display_name, FlagViewRow.at)
        .join(AccountRow, AccountRow.id == FlagViewRow.account_id)
        .where(FlagViewRow.flag_id == flag_id).order_by(FlagViewRow.at.desc()))]
    return FlagDetail(
        record, claim.text, claim.verdict, factcheck.title, factcheck.url, source_row.url,
        evidence.expectation, expectation_in_words(evidence.expectation),
        SnapshotRecord.from_row(baseline) if baseline else None,
        SnapshotRecord.from_row(flagged) if flagged else None, found, problem, seen,
        comments(session, flag_id), proposal(item, record.outcome, found),
        archive.links(session, [flag.baseline_snapshot_id, flag.snapshot_id]))


def flag_change(session: Session, source: Source | None, item: Evidence,
                baseline: SnapshotRow | None, flagged: SnapshotRow | None,
                cache: DocumentCache) -> tuple[EvidenceChange | None, str | None]:
    """What changed for `item` from a flag's baseline to its flagged snapshot, both read under
    the source's current settings (`source`: None when sources.yaml no longer has it), or the
    one line saying why that cannot be shown."""
    if source is None:
        return None, f"source {item.source!r} is no longer in sources.yaml"
    if baseline is None or flagged is None:
        return None, ("the source could not be fetched: there is no new version to compare"
                      if flagged is None else "there is no baseline yet")
    before, after = read(session, baseline, source, cache), read(session, flagged, source, cache)
    if isinstance(before, Document) and isinstance(after, Document):
        return change(item, before, after), None
    return None, next(d for d in (before, after) if isinstance(d, str))


def proposal(item: Evidence, outcome: str, found: EvidenceChange | None) -> Proposal | None:
    """The expectation as what is observed now, where that is a small, clear edit: a table's
    count, a quote's rewording. None where accepting the new state is the review itself (a
    new item, any change) or there is nothing to write (the quote is gone)."""
    if found is None or outcome not in (Outcome.BROKEN, Outcome.CHANGED):
        return None
    detail = found.detail
    expectation: dict[str, Any] = item.expectation()
    if isinstance(detail, TableChange) and item.table is not None \
            and item.table.count is not None and detail.count_now is not None \
            and detail.count_now != item.table.count:
        table = {**expectation["table"], "count": detail.count_now}
        new = {**expectation, "table": table}
        why = f"the list now counts {detail.count_now} ({detail.counts})"
    elif isinstance(detail, QuoteChange) and detail.now is not None \
            and detail.now.text.strip() not in ("", item.quote):
        new = {**expectation, "quote": detail.now.text.strip()}
        why = ("the quoted passage was reworded" if detail.now.matches else
               f"the closest passage now ({detail.now.similarity:.0%} like the quote)")
    else:
        return None
    return Proposal(new, expectation_in_words(new), why)
