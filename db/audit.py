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

from sqlalchemy import insert, select, update
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
class Verification:
    events: int
    problem: str | None  # the first broken row, in words; None when the chain is intact

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(session: Session, batch: int = 5000) -> Verification:
    """Walk the chain in order; name the first row that was edited, deleted or inserted."""
    flush(session)
    prev, expected_seq, count = GENESIS, 1, 0
    query = select(AuditEventRow).order_by(AuditEventRow.seq).execution_options(yield_per=batch)
    for event in session.scalars(query):
        count += 1
        if event.seq != expected_seq:
            what = "deleted" if event.seq > expected_seq else "inserted out of order"
            return Verification(count, f"event seq {expected_seq} is missing before seq "
                                       f"{event.seq} (id {event.id}): rows were {what}")
        if event.prev_hash != prev:
            return Verification(count, f"event seq {event.seq} (id {event.id}) does not follow "
                                       f"seq {event.seq - 1}: inserted out of order or the "
                                       f"previous row was replaced")
        if chain_hash(prev, event.seq, event.at, event.kind, event.source, event.claim,
                      event.data) != event.hash:
            return Verification(count, f"event seq {event.seq} (id {event.id}, {event.kind} at "
                                       f"{event.at:%Y-%m-%d %H:%M:%S}) was edited: its hash no "
                                       f"longer matches its contents")
        prev, expected_seq = event.hash, expected_seq + 1
    head = session.get(AuditHeadRow, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        return Verification(count, f"the chain ends at seq {expected_seq - 1} but its head says "
                                   f"seq {head.seq}: the last rows were deleted")
    return Verification(count, None)
