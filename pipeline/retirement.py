"""Retiring a source an editor accepted as gone (a page taken down for good, a list replaced
by another): it is no longer checked, its open flags close as source-retired, it stops counting
as needing attention, and it keeps its history. Restoring it makes it due at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import audit
from db.models import SourceRow
from pipeline import flags
from pipeline.errors import Conflict, NotFound


def retire(session: Session, slug: str, *, by: str, note: str | None,
           now: dt.datetime) -> list[int]:
    """Retire the source; return the flags it closed."""
    row = _source(session, slug)
    if row.retired_at is not None:
        raise Conflict(f"source {slug!r} was already retired by {row.retired_by} on "
                       f"{row.retired_at:%Y-%m-%d}")
    row.retired_at, row.retired_by = now, by
    closed = flags.close_for_retired_source(session, row.id, now=now)
    audit.record(session, "source-retired", {"by": by, "note": note, "flags_closed": closed},
                 source=slug, at=now)
    return closed


def restore(session: Session, slug: str, *, by: str, now: dt.datetime) -> None:
    """Watch a retired source again, from now."""
    row = _source(session, slug)
    if row.retired_at is None:
        raise Conflict(f"source {slug!r} is not retired")
    row.retired_at, row.retired_by, row.next_check_at = None, None, None
    audit.record(session, "source-restored", {"by": by}, source=slug, at=now)


def _source(session: Session, slug: str) -> SourceRow:
    row = session.scalars(select(SourceRow).where(SourceRow.slug == slug,
                                                  SourceRow.active.is_(True))).first()
    if row is None:
        raise NotFound(f"unknown source {slug!r}", field="source")
    return row
