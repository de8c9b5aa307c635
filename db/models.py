"""The data model (docs/architecture.md): what the desk configured, what each check saw, and what
it concluded. Snapshots, blobs, fetches and outcomes are append-only; `source` and `evidence` carry
the mutable scheduling and baseline state; flags move open → reviewed / resolved.

Datetimes are naive UTC everywhere (SQLite has no time zones); the API adds the "Z".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 1


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Any: JSON}


class FactCheckRow(Base):
    __tablename__ = "factcheck"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)


class ClaimRow(Base):
    __tablename__ = "claim"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    factcheck_id: Mapped[int] = mapped_column(ForeignKey("factcheck.id"))
    text: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)


class SourceRow(Base):
    __tablename__ = "source"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    next_check_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_status: Mapped[str | None] = mapped_column(String(20))
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    # conditional-GET validators per URL fetched for this source (page, followed document)
    validators: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latest_snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("snapshot.id", use_alter=True, name="fk_source_latest_snapshot"))


class EvidenceRow(Base):
    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("claim_id", "identity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claim.id"))
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), index=True)
    identity: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)
    expectation: Mapped[dict[str, Any]] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    # the snapshot an editor last accepted, or the first successful one until then
    baseline_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    # the snapshot (and source reading) the latest outcome was computed on
    evaluated_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    evaluated_options: Mapped[str | None] = mapped_column(String(64))
    last_outcome: Mapped[str | None] = mapped_column(String(20))


class BlobRow(Base):
    __tablename__ = "blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # zstd-compressed


class SnapshotRow(Base):
    __tablename__ = "snapshot"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), index=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    url: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(200))
    charset: Mapped[str | None] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime)


class FetchRow(Base):
    """One HTTP attempt. The last attempt of a source check carries the check's `result`."""

    __tablename__ = "fetch"
    __table_args__ = (Index("ix_fetch_source_time", "source_id", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)  # only when a redirect moved it
    status: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(20))  # new|unchanged|changed|error
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))


class OutcomeRow(Base):
    __tablename__ = "outcome"
    __table_args__ = (Index("ix_outcome_evidence_snapshot", "evidence_id", "snapshot_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"))
    fetch_id: Mapped[int] = mapped_column(ForeignKey("fetch.id"))
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    baseline_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    status: Mapped[str] = mapped_column(String(20))
    observed: Mapped[Any] = mapped_column(nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class FlagRow(Base):
    __tablename__ = "flag"
    __table_args__ = (Index("ix_flag_evidence_status", "evidence_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claim.id"))
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"))
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"))
    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcome.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    baseline_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|reviewed|resolved
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class MetaRow(Base):
    __tablename__ = "claimwatch_meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
