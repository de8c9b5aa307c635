"""The audit log: append-only events in a hash chain (DESIGN "History is never rewritten").

Each event's hash is sha256(previous hash + the event's canonical JSON). Events wait in their
session until it commits; then the writer bumps the one-row chain head with UPDATE … RETURNING,
which takes the write lock (SQLite) or the row lock (PostgreSQL) until commit, so concurrent
writers append one after another and never fork the chain. An event commits with the transaction
that made it: a rolled-back check leaves none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session

from db.engine import utcnow
from db.models import AuditEventRow, AuditHeadRow

GENESIS = "0" * 64
_PENDING = "claimwatch.audit.pending"  # the session.info key of events waiting for the commit
_CHUNK = 1000  # events inserted per statement: a first sync of 10,000 sources has ~50,000


@dataclass(frozen=True)
class Event:
    """An event to append: what happened (`kind`, `data`) and to which source and claim."""

    kind: str
    data: dict[str, Any]
    source: str | None = None
    claim: str | None = None
    at: dt.datetime | None = None


def record(session: Session, kind: str, data: dict[str, Any], *, source: str | None = None,
           claim: str | None = None, at: dt.datetime | None = None) -> None:
    """Append one event to the chain, in the caller's transaction."""
    record_many(session, [Event(kind, data, source, claim, at)])


def record_many(session: Session, events: list[Event]) -> None:
    """Append events in order, in the caller's transaction.

    They wait in the session and join the chain when it commits (or at `flush`), all with one
    move of the head: a batch of source checks, or a config sync with thousands of events, costs
    three statements. A rolled-back transaction drops them with everything else.
    """
    now = utcnow()
    session.info.setdefault(_PENDING, []).extend(
        event if event.at else replace(event, at=now) for event in events)


def flush(session: Session) -> None:
    """Write the session's waiting events to the chain now."""
    events: list[Event] = session.info.pop(_PENDING, [])
    if not events:
        return
    last, prev = session.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == 1)
        .values(seq=AuditHeadRow.seq + len(events))
        .returning(AuditHeadRow.seq, AuditHeadRow.hash)).one()
    first = last - len(events) + 1
    for start in range(0, len(events), _CHUNK):
        rows = []
        for seq, event in enumerate(events[start:start + _CHUNK], start=first + start):
            assert event.at is not None
            digest = chain_hash(prev, seq, event.at, event.kind, event.source, event.claim,
                                event.data)
            rows.append({"seq": seq, "at": event.at, "kind": event.kind, "source": event.source,
                         "claim": event.claim, "data": event.data, "prev_hash": prev,
                         "hash": digest})
            prev = digest
        # plain INSERTs of plain dicts: the ORM's unit of work cost a quarter of a first check
        session.execute(insert(AuditEventRow), rows)
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(hash=prev))


@listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    flush(session)


@listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def chain_hash(prev: str, seq: int, at: dt.datetime, kind: str, source: str | None,
               claim: str | None, data: dict[str, Any]) -> str:
    """The hash of an event (given by its columns) following the one hashed `prev`."""
    body = json.dumps([seq, at.isoformat(), kind, source, claim, data],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + body).encode()).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain's last event: what a desk anchors outside the database (db/anchor.py)."""

    seq: int  # 0 for an empty chain
    hash: str
    at: dt.datetime | None  # when the event happened; None for an empty chain
    kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash,
                "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.at else None}


def head(session: Session) -> Head:
    """The last event of the chain, read in one statement (committed events only)."""
    last = session.execute(select(AuditEventRow.seq, AuditEventRow.hash, AuditEventRow.at,
                                  AuditEventRow.kind)
                           .order_by(AuditEventRow.seq.desc()).limit(1)).first()
    return Head(*last) if last else Head(0, GENESIS, None)


@dataclass(frozen=True)
class Verification:
    events: int
    problem: str | None  # the first broken row, in words; None when the chain is intact
    good: int = 0  # events that verified before the problem

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(session: Session, batch: int = 1000) -> Verification:
    """Walk the chain in order; name the first row that was edited, deleted or inserted, or a
    head row that is missing or does not match the last event."""
    flush(session)
    # the head first: events committed during the walk can only come after it
    start = session.execute(select(AuditHeadRow.seq, AuditHeadRow.hash)).first()
    prev, count, at_head = GENESIS, 0, None
    query = select(AuditEventRow).order_by(AuditEventRow.seq).execution_options(yield_per=batch)
    for event in session.scalars(query):
        count += 1
        problem = _row_problem(event, count, prev)
        if problem:
            return Verification(count, problem, count - 1)
        prev = event.hash
        if start is not None and event.seq == start.seq:
            at_head = event.hash
    return Verification(count, _head_problem(session, start, count, at_head), count)


def _row_problem(event: AuditEventRow, seq: int, prev: str) -> str | None:
    """What is wrong with `event` as the chain's `seq`th event, following the hash `prev`."""
    if event.seq != seq:
        what = "deleted" if event.seq > seq else "inserted out of order"
        return (f"event seq {seq} is missing before seq {event.seq} (id {event.id}): rows were "
                f"{what}")
    if event.prev_hash != prev:
        return (f"event seq {event.seq} (id {event.id}) does not follow seq {event.seq - 1}: "
                "inserted out of order or the previous row was replaced")
    if chain_hash(prev, event.seq, event.at, event.kind, event.source, event.claim,
                  event.data) != event.hash:
        return (f"event seq {event.seq} (id {event.id}, {event.kind} at "
                f"{event.at:%Y-%m-%d %H:%M:%S}) was edited: its hash no longer matches its "
                "contents")
    return None


def _head_problem(session: Session, start: Row[tuple[int, str]] | None, last: int,
                  at_head: str | None) -> str | None:
    """What is wrong with the head row (as read before the walk) for a chain ending at `last`
    whose event at the head's seq had the hash `at_head`."""
    if start is None:
        return (f"the chain's head row is missing (the chain ends at seq {last}): its last "
                "events may have been deleted with it")
    if last < start.seq:
        return f"the chain ends at seq {last} but its head says seq {start.seq}: the last rows " \
               "were deleted"
    if (at_head or GENESIS) != start.hash:
        return f"event seq {start.seq} is not the one the chain's head names: the last rows " \
               "were replaced"
    if last > start.seq:  # appended while we walked, or behind the head's back
        now = session.execute(select(AuditHeadRow.seq)).scalar()
        if now is None or now < last:
            return f"the chain goes on to seq {last} but its head says seq {now}: rows were " \
                   "added without moving the head"
    return None
