"""Numbering a transaction's new rows before they are written, so each table's go in one INSERT.

The ORM needs a new row's id back to point other rows at it (a fetch row at its snapshot, a
flag at its outcome). Where the database cannot hand back the ids of a multi-row INSERT in the
rows' order, SQLAlchemy inserts such rows one statement each: on SQLite every snapshot, fetch
and outcome row of a check, and on PostgreSQL every snapshot (its `fetch_mode` has a server
default to read back). A first check of 500 pages ran ~1,500 single-row INSERTs. Rows that
already carry their id need nothing back, and the ORM writes each table's in one executemany.

So the recorder numbers its rows itself (`number`), from where the database would have:
- SQLite gives a new row max(id) + 1. A transaction that holds the write lock is the only one
  inserting, so the ids after the table's max are its own until it commits. `number` takes the
  lock first unless the transaction has written already (an UPDATE that matches nothing: SQLite
  locks at a write statement's start);
- PostgreSQL hands out ids from the column's sequence, to any number of sessions at once
  (`nextval`, one round trip for all of a table's rows); the ids of rolled-back rows are lost,
  as with the ORM's own inserts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import false, func, select, text, update
from sqlalchemy.orm import Session


def number(session: Session, kinds: Iterable[type[Any]]) -> None:
    """Give the new rows of these mapped classes pending in `session` without an id one, in the
    order they were added, where a class has two or more of them."""
    wanted = tuple(kinds)
    pending: dict[type[Any], list[Any]] = {}
    for row in session.new:  # in the order added (an ordered set)
        if isinstance(row, wanted) and row.id is None:
            pending.setdefault(type(row), []).append(row)
    for kind, rows in pending.items():
        if len(rows) < 2:  # one row goes in one INSERT anyway: numbering it would add a query
            continue
        for row, new_id in zip(rows, _reserve(session, kind.__table__, len(rows)), strict=True):
            row.id = new_id


def _reserve(session: Session, table: Any, count: int) -> list[int]:
    """`count` ids of `table` no other transaction will use."""
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            sequence = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                      {"t": table.name})
            return list(session.scalars(
                select(func.nextval(sequence)).select_from(func.generate_series(1, count))))
        # sqlite3 opens a transaction at its first write, which takes the write lock: a
        # transaction that has written holds it already
        if not session.connection().connection.driver_connection.in_transaction:
            session.execute(update(table).where(false()).values(id=table.c.id))
        top = session.scalar(select(func.max(table.c.id))) or 0
        return list(range(top + 1, top + 1 + count))
