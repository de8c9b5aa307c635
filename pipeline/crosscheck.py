"""`audit verify --deep`: what the database serves, checked against what the audit chain says
happened. Each blob is re-hashed (its key is the sha256 of its bytes; a delta is decoded on its
base first), a rendered snapshot's kept served response (`raw_sha256`) as much as its DOM; each
snapshot row must point at the blob(s) and URL its `snapshot` event recorded; each
flag and review row must be what its events (flag, flag-resolved, flag-reopened, flag-retired,
review: see pipeline/flags.py) left it as. Rows and events stream side by side, both ordered by
the row's id, so memory stays flat however big the database is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

import zstandard
from sqlalchemy import ColumnElement, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from db import blobs
from db.models import AuditEventRow, BlobRow, ClaimRow, FlagRow, ReviewRow, SnapshotRow, SourceRow
from pipeline.vocab import FlagStatus, iso

# an event of a row: seq, kind (or source, for snapshots), data, at
Event = tuple[int, str, dict[str, Any], dt.datetime]
BATCH = 1000  # rows per round trip
BLOB_BATCH = 50  # blobs are up to a source's max_bytes each (compressed)
# what each event of a flag leaves its status as (pipeline/flags.py)
STATUS_AFTER = {"flag": FlagStatus.OPEN, "flag-reopened": FlagStatus.OPEN,
                "flag-resolved": FlagStatus.RESOLVED, "review": FlagStatus.REVIEWED,
                "flag-retired": FlagStatus.RETIRED}
# the flag's columns its events record (SPEC §3 flag JSON), as the event's data names them
FLAG_FIELDS = ("outcome", "severity", "reason", "claim", "source", "opened_at")
REVIEW_FIELDS = {"review": "id", "decision": "decision", "by": "reviewer", "note": "note",
                 "verdict_before": "verdict_before", "verdict_after": "verdict_after"}

@dataclass
class DeepCheck:
    """Counts of what was checked, and the first `limit` mismatches in words."""

    limit: int = 20
    blobs: int = 0
    snapshots: int = 0
    flags: int = 0
    reviews: int = 0
    older: int = 0  # rows older than the chain's first event: nothing to check them against
    mismatches: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def add(self, problem: str) -> None:
        self.mismatches += 1
        if len(self.problems) < self.limit:
            self.problems.append(problem)


def crosscheck(session: Session, limit: int = 20) -> DeepCheck:
    result = DeepCheck(limit)
    start = session.scalar(select(AuditEventRow.at).order_by(AuditEventRow.seq).limit(1))
    _blobs(session, result)
    _snapshots(session, result, start)
    _flags(session, result, start)
    return result


def _blobs(session: Session, result: DeepCheck) -> None:
    # in the order their sources stored them, so a delta's base was (almost always) decoded
    # just before it: one frame each (blobs no snapshot points at, kept bases, come first or
    # last, each decoding its chain, as does a source's first page stored on a sibling's page
    # whose source comes later: pipeline/siblings.py)
    # a rendered snapshot's served response is a blob too, a delta on the source's previous one
    served = union_all(
        select(SnapshotRow.blob_sha256.label("sha"), SnapshotRow.source_id, SnapshotRow.id),
        select(SnapshotRow.raw_sha256, SnapshotRow.source_id, SnapshotRow.id)
        .where(SnapshotRow.raw_sha256.is_not(None))).subquery()
    first = select(served.c.sha, func.min(served.c.source_id).label("source"),
                   func.min(served.c.id).label("snapshot")).group_by(served.c.sha).subquery()
    query = select(BlobRow.sha256, BlobRow.size, BlobRow.data, BlobRow.base_sha256
                   ).outerjoin(first, first.c.sha == BlobRow.sha256).order_by(
        first.c.source, first.c.snapshot, BlobRow.sha256).execution_options(yield_per=BLOB_BATCH)
    for sha, size, packed, base in session.execute(query):
        result.blobs += 1
        try:  # a delta is decoded on its base's bytes (themselves checked as a blob of their own)
            body = blobs.decode(session, sha, size, packed, base)
        except KeyError:
            result.add(f"blob {sha[:16]}… is stored as a delta on blob {base[:16]}…, which is "
                       f"missing{_used_by(session, sha)}")
            continue
        except zstandard.ZstdError:
            result.add(f"blob {sha[:16]}… does not decompress: its bytes were replaced"
                       f"{_used_by(session, sha)}")
            continue
        found = blobs.digest(body)
        if found != sha or len(body) != size:
            result.add(f"blob {sha[:16]}… holds {len(body)} bytes hashing to {found[:16]}…, not "
                       f"the bytes its key names: replaced{_used_by(session, sha)}")


def _used_by(session: Session, sha: str) -> str:
    used = session.execute(select(SnapshotRow.id, SourceRow.slug, SnapshotRow.blob_sha256)
                           .join(SourceRow, SourceRow.id == SnapshotRow.source_id)
                           .where(or_(SnapshotRow.blob_sha256 == sha,
                                      SnapshotRow.raw_sha256 == sha))
                           .order_by(SnapshotRow.id).limit(3)).all()
    named = (f"{i} of {slug}" + ("" if kept == sha else " (its response as served)")
             for i, slug, kept in used)
    return f" (snapshots: {', '.join(named)})" if used else ""


def _snapshots(session: Session, result: DeepCheck, start: dt.datetime | None) -> None:
    raw = aliased(BlobRow)
    rows = session.execute(
        select(SnapshotRow.id, SnapshotRow.blob_sha256, SnapshotRow.url, SnapshotRow.fetched_at,
               SourceRow.slug, BlobRow.size, SnapshotRow.raw_sha256, raw.size)
        .outerjoin(SourceRow, SourceRow.id == SnapshotRow.source_id)
        .outerjoin(BlobRow, BlobRow.sha256 == SnapshotRow.blob_sha256)
        .outerjoin(raw, raw.sha256 == SnapshotRow.raw_sha256)
        .order_by(SnapshotRow.id).execution_options(yield_per=BATCH))
    events = _events(session, AuditEventRow.data["snapshot"].as_integer(), ["snapshot"])
    for snapshot_id, row, found in _merged(rows, events):
        if row is None:
            continue  # pruned: prune removes old snapshots, never their events
        result.snapshots += 1
        _, sha, url, fetched_at, slug, size, raw_sha, raw_size = row
        if size is None:
            result.add(f"snapshot {snapshot_id} of {slug}: its blob {sha[:16]}… is missing")
        if raw_sha is not None and raw_size is None:
            result.add(f"snapshot {snapshot_id} of {slug}: the blob of its response as served "
                       f"{raw_sha[:16]}… is missing")
        if not found:
            _unrecorded(result, start, fetched_at, f"snapshot {snapshot_id} of {slug}")
            continue
        seq, source, data, _ = found[-1]
        differ = _differences({"blob": (sha, data.get("sha256", sha), seq),
                               # recorded since rendered snapshots kept it (older: not checked)
                               "raw blob": (raw_sha, data.get("raw_sha256", raw_sha), seq),
                               "url": (url, data.get("url", url), seq),
                               "source": (slug, source, seq)})
        if differ:
            result.add(f"snapshot {snapshot_id}: {differ}")


def _flags(session: Session, result: DeepCheck, start: dt.datetime | None) -> None:
    rows = session.execute(
        select(FlagRow.id, FlagRow, ClaimRow.slug, SourceRow.slug, ReviewRow)
        .outerjoin(ClaimRow, ClaimRow.id == FlagRow.claim_id)
        .outerjoin(SourceRow, SourceRow.id == FlagRow.source_id)
        .outerjoin(ReviewRow, ReviewRow.flag_id == FlagRow.id)
        .order_by(FlagRow.id).execution_options(yield_per=BATCH))
    key = func.coalesce(AuditEventRow.data["flag"].as_integer(),
                        AuditEventRow.data["id"].as_integer())
    events = _events(session, key, list(STATUS_AFTER), with_kind=True)
    for flag_id, row, found in _merged(rows, events):
        if row is None:
            seq = found[0][0]
            result.add(f"flag {flag_id} is in the audit log (seq {seq}) but not in the "
                       "database: deleted")
            continue
        _, flag, claim, source, review = row
        result.flags += 1
        reviews = [event for event in found if event[1] == "review"]
        if not found:
            _unrecorded(result, start, flag.opened_at, f"flag {flag_id}")
        else:
            actual = {"outcome": flag.outcome, "severity": flag.severity, "reason": flag.reason,
                      "claim": claim, "source": source, "opened_at": iso(flag.opened_at),
                      "status": flag.status, "snapshot": flag.snapshot_id,
                      "baseline": flag.baseline_snapshot_id}
            differ = _differences({name: (actual[name], *expected)
                                   for name, expected in _flag_state(found).items()})
            if differ:
                result.add(f"flag {flag_id}: {differ}")
        if review is not None:
            result.reviews += 1
            _review(result, start, flag_id, review, reviews)
        elif reviews:
            result.add(f"flag {flag_id} was reviewed (seq {reviews[-1][0]}) but its review row "
                       "is missing: deleted")


def _flag_state(found: list[Event]) -> dict[str, tuple[Any, int]]:
    """What a flag's events, oldest first, left it as: each column with the seq that set it."""
    state: dict[str, tuple[Any, int]] = {}
    for seq, kind, data, _ in found:
        for name in FLAG_FIELDS if kind != "review" else ("outcome",):
            if name in data:
                state[name] = (data[name], seq)
        state["status"] = (STATUS_AFTER[kind], seq)
        if kind == "flag":
            state["snapshot"], state["baseline"] = (data.get("snapshot"), seq), \
                (data.get("baseline"), seq)
        elif kind == "flag-reopened":  # the re-opening check's snapshot (older events lack it)
            if "snapshot" in data:
                state["snapshot"] = (data["snapshot"], seq)
            else:
                state.pop("snapshot", None)
    return state


def _review(result: DeepCheck, start: dt.datetime | None, flag_id: int, review: ReviewRow,
            found: list[Event]) -> None:
    if not found:
        _unrecorded(result, start, review.reviewed_at, f"review {review.id} of flag {flag_id}")
        return
    seq, _, data, at = found[-1]
    differ = _differences({column: (getattr(review, column), data.get(name), seq)
                           for name, column in REVIEW_FIELDS.items()}
                          | {"reviewed_at": (review.reviewed_at, at, seq)})
    if differ:
        result.add(f"review {review.id} of flag {flag_id}: {differ}")


def _unrecorded(result: DeepCheck, start: dt.datetime | None, at: dt.datetime,
                what: str) -> None:
    if start is None or at < start:
        result.older += 1
    else:
        result.add(f"{what} has no audit event: it was written outside claimwatch")


def _differences(pairs: dict[str, tuple[Any, Any, int]]) -> str:
    """"reason is 'x' in the database but 'y' in the audit log (seq 12); …" for each column
    (name: row's value, event's value, event's seq) whose two values differ."""
    parts = []
    for name, (actual, expected, where) in pairs.items():
        if actual != expected:
            parts.append(f"{name} is {_show(actual)} in the database but {_show(expected)} in "
                         f"the audit log (seq {where})")
    return "; ".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, str):  # a FlagStatus too: shown as its string
        value = str(value) if len(value) <= 80 else value[:79] + "…"
    return repr(value)


def _events(session: Session, key: ColumnElement[Any], kinds: list[str], *,
            with_kind: bool = False) -> Iterator[tuple[Any, ...]]:
    """(row id, seq, kind or source, data, at) of the events of `kinds`, ordered by row id and
    seq."""
    other = AuditEventRow.kind if with_kind else AuditEventRow.source
    return iter(session.execute(
        select(key, AuditEventRow.seq, other, AuditEventRow.data, AuditEventRow.at)
        .where(AuditEventRow.kind.in_(kinds), key.is_not(None))
        .order_by(key, AuditEventRow.seq).execution_options(yield_per=BATCH)))


def _merged(rows: Iterable[Any], events: Iterable[tuple[Any, ...]]
            ) -> Iterator[tuple[int, Any, list[Event]]]:
    """Rows (id first) and events (row id first), both ordered by id, paired by id: each id
    with its row or None, and its events without the id (a full outer merge join)."""
    row_iter, groups = iter(rows), groupby(events, key=itemgetter(0))
    row, group = next(row_iter, None), next(groups, None)
    while row is not None or group is not None:
        if group is None or (row is not None and row[0] < group[0]):
            yield row[0], row, []
            row = next(row_iter, None)
        elif row is None or group[0] < row[0]:
            yield group[0], None, [event[1:] for event in group[1]]
            group = next(groups, None)
        else:
            yield row[0], row, [event[1:] for event in group[1]]
            row, group = next(row_iter, None), next(groups, None)
