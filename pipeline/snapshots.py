"""Stored snapshots: found and listed, and read back as Documents under a source's *current*
options (so an edited `select` or `ignore` applies to old versions too), with a cache for the
documents one transaction reads more than once (a baseline shared by several items, an alert's
excerpt).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import blobs
from db.models import SnapshotRow, SourceRow, by_id
from pipeline.config import Source
from pipeline.errors import ExtractError, NotFound
from pipeline.extract import Document
from pipeline.extract import read as read_body

# snapshot id → its Document, or the one line saying why it cannot be read that way
DocumentCache = dict[int, Document | str]


def read(session: Session, snapshot: SnapshotRow, source: Source,
         cache: DocumentCache | None = None, *, body: bytes | None = None) -> Document | str:
    """The snapshot as a Document under the source's current options, or why it can't be read
    (`body`: the snapshot's bytes when they are at hand, not to be read back from the blob)."""
    cache = {} if cache is None else cache
    if snapshot.id not in cache:
        body = blobs.get(session, snapshot.blob_sha256) if body is None else body
        try:
            cache[snapshot.id] = read_body(body, kind=source.kind,
                                           content_type=snapshot.content_type, url=snapshot.url,
                                           charset=snapshot.charset, select=source.select,
                                           ignore=source.ignore,
                                           main_content=source.main_content)
        except ExtractError as exc:
            cache[snapshot.id] = str(exc)
    return cache[snapshot.id]


def snapshot(session: Session, snapshot_id: int) -> tuple[SnapshotRow, str]:
    """A stored snapshot and its source's id (NotFound when there is none)."""
    row = by_id(session, SnapshotRow, snapshot_id)
    if row is None:
        raise NotFound(f"there is no snapshot {snapshot_id}", field="snapshot")
    source = session.get(SourceRow, row.source_id)
    assert source is not None
    return row, source.slug


def listed(session: Session, source: str, *, limit: int = 50,
           before: int | None = None) -> list[SnapshotRow]:
    """A source's snapshots, newest first, `limit` at a time (`before`: older than this id)."""
    row = session.scalars(select(SourceRow).where(SourceRow.slug == source)).first()
    if row is None:
        raise NotFound(f"unknown source {source!r}", field="source")
    query = select(SnapshotRow).where(SnapshotRow.source_id == row.id)
    if before is not None:
        query = query.where(SnapshotRow.id < before)
    return list(session.scalars(query.order_by(SnapshotRow.id.desc()).limit(limit)))
