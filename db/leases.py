"""Leases: how workers share sources and alerts without ever handling one twice at once.

A lease is an owner and an expiry on a row. A worker claims rows in bounded chunks, renews what
it still holds, and lets go of each row as it records it; a worker that dies (SIGKILL) loses
its claims when the lease runs out, so they are short and renewed rather than long.

Claims are serialized (PostgreSQL: a transaction-level advisory lock; SQLite: the write lock
the first UPDATE takes), so every claim sees every earlier one committed. Sources are claimed
across hosts in turn (each host's next due source, then each host's second, …), so one busy
host cannot fill a worker; and when the desk spaces requests to a host (`host_delay`), each
request takes its *turn* on its host from the `host` table, shared by every worker: three
workers together fetch from one site no faster than one would.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import os
import socket
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, update
from sqlalchemy.orm import Session

from db.models import AlertRow, ArchiveRow, HostRow, SourceRow

# pg_advisory_xact_lock key serializing claims (another key than the schema lock's)
CLAIM_LOCK = 0x636C_6D77_636C
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """The host a URL's requests go to, as the `host` table and `source.host` name it."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # a bad port: sources.yaml validation says so; here it is just a name
        return url[:255]
    return f"{(parts.hostname or '')[:240]}:{port}"


def new_owner(role: str | None = None) -> str:
    """A worker's name on its leases: the host and process, its `role` (`backfill`), and a
    random part, as one process may run several workers."""
    return ":".join([socket.gethostname(), str(os.getpid()), *([role] if role else []),
                     uuid.uuid4().hex[:8]])


def serialize(session: Session) -> None:
    """Make this transaction's claims wait for any other worker's to commit first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))


def free(now: dt.datetime) -> ColumnElement[bool]:
    """A source nobody holds (or whose holder's lease ran out)."""
    return SourceRow.lease_until.is_(None) | (SourceRow.lease_until < now)


def claim_sources(session: Session, owner: str, wanted: ColumnElement[bool], *,
                  now: dt.datetime, lease: dt.timedelta, limit: int,
                  per_host: int | None = None, reserved_until: dt.datetime | None = None
                  ) -> list[tuple[int, str]]:
    """Lease up to `limit` free sources matching `wanted` to `owner`; return (id, host) of each,
    in claiming order. Hosts take turns: at most `per_host` sources of one host, and none from a
    host whose turns are reserved beyond `reserved_until` (both None: no spacing)."""
    serialize(session)
    turn = func.row_number().over(partition_by=SourceRow.host, order_by=(
        SourceRow.next_check_at.asc().nulls_first(), SourceRow.id)).label("turn")
    candidates = select(SourceRow.id, SourceRow.next_check_at, turn).where(wanted, free(now))
    if reserved_until is not None:
        candidates = candidates.where(~exists(select(HostRow.name).where(
            HostRow.name == SourceRow.host, HostRow.next_at > reserved_until)))
    ranked = candidates.subquery()
    chosen = select(ranked.c.id).order_by(
        ranked.c.turn, ranked.c.next_check_at.asc().nulls_first(), ranked.c.id).limit(limit)
    if per_host is not None:
        chosen = chosen.where(ranked.c.turn <= per_host)
    claimed = session.execute(
        update(SourceRow).where(SourceRow.id.in_(chosen.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + lease)
        .returning(SourceRow.id, SourceRow.host, SourceRow.next_check_at)
        .execution_options(synchronize_session=False)).all()
    # RETURNING gives no order: again each host's first, then each host's second, …
    due = sorted(claimed, key=lambda r: (r.next_check_at is not None, r.next_check_at, r.id))
    taken: dict[str, int] = {}
    ranked = []
    for n, row in enumerate(due):
        turn = taken.get(row.host, 0)
        taken[row.host] = turn + 1
        ranked.append((turn, n, row.id, row.host))
    return [(source_id, host) for _turn, _n, source_id, host in sorted(ranked)]


def take_turn(session: Session, host: str, *, now: dt.datetime, delay: float) -> dt.datetime:
    """Reserve the next request start on `host`, `delay` seconds after the last one any worker
    reserved there; return it (now, when the host has been quiet). Its own short transaction."""
    dialect = importlib.import_module(f"sqlalchemy.dialects.{session.get_bind().dialect.name}")
    # a write first: it takes SQLite's write lock, and gives PostgreSQL a row to lock
    session.execute(dialect.insert(HostRow).values(name=host, next_at=None)
                    .on_conflict_do_nothing(index_elements=["name"]))
    row = session.scalars(select(HostRow).where(HostRow.name == host).with_for_update()).one()
    start = max(row.next_at or now, now)
    row.next_at = start + dt.timedelta(seconds=delay)
    return start


def per_host(horizon: float, delay: float) -> int | None:
    """How many sources of one host a worker claims at once: as many as `horizon` seconds of
    its turns hold (None: unlimited, when requests to a host are not spaced)."""
    return None if delay <= 0 else max(1, math.ceil(horizon / delay))


def renew(session: Session, owner: str, until: dt.datetime) -> int:
    """Extend every lease `owner` still holds; return how many."""
    return session.execute(update(SourceRow).where(SourceRow.lease_owner == owner)
                           .values(lease_until=until)
                           .execution_options(synchronize_session=False)).rowcount


def release(session: Session, owner: str, ids: Iterable[int] | None = None) -> None:
    """Let go of `owner`'s leases (these sources only, when `ids` is given)."""
    query = update(SourceRow).where(SourceRow.lease_owner == owner)
    if ids is not None:
        query = query.where(SourceRow.id.in_(list(ids)))
    session.execute(query.values(lease_owner=None, lease_until=None)
                    .execution_options(synchronize_session=False))


def any_free(session: Session, wanted: ColumnElement[bool], now: dt.datetime) -> bool:
    """Whether a source matching `wanted` is free to claim (one a host's turns held back)."""
    return session.scalar(select(exists().where(wanted, free(now)))) or False


def held_by_others(session: Session, owner: str, wanted: ColumnElement[bool],
                   now: dt.datetime) -> list[str]:
    """The slugs of sources matching `wanted` that another worker holds right now."""
    return list(session.scalars(select(SourceRow.slug).where(
        wanted, ~free(now), or_(SourceRow.lease_owner.is_(None),
                                SourceRow.lease_owner != owner)).order_by(SourceRow.slug)))


def claim_alerts(session: Session, due: Select[Any], *, now: dt.datetime,
                 hold: dt.timedelta) -> list[int]:
    """Claim the alerts `due` selects (their ids): their next attempt moves `hold` ahead in one
    statement, so two deliverers never send one; a deliverer that dies leaves them due again
    when the hold runs out."""
    return _claim_rows(session, AlertRow, due, {"next_attempt_at": now + hold})


def claim_archives(session: Session, due: Select[Any], *, now: dt.datetime,
                   hold: dt.timedelta, tried: bool = False) -> list[int]:
    """Claim the archive rows `due` selects, like `claim_alerts`; with `tried`, they are
    submissions about to be made, stamped `tried_at` (what the archive's rate counts)."""
    values: dict[str, Any] = {"next_attempt_at": now + hold}
    if tried:
        values["tried_at"] = now
    return _claim_rows(session, ArchiveRow, due, values)


def _claim_rows(session: Session, model: type[AlertRow] | type[ArchiveRow], due: Select[Any],
                values: dict[str, Any]) -> list[int]:
    """Set `values` on the outbox rows `due` selects, in one statement; their ids (rows another
    worker is claiming right now are skipped on PostgreSQL, serialized by SQLite's write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return list(session.scalars(
        update(model).where(model.id.in_(due.scalar_subquery()))
        .values(**values).returning(model.id)
        .execution_options(synchronize_session=False)))
