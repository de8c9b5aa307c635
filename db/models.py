"""The data model (docs/architecture.md): what the desk configured, what each check saw, and what
it concluded. Snapshots, blobs, fetches and outcomes are append-only; `source` and `evidence` carry
the mutable scheduling and baseline state; flags move open → reviewed / resolved.

Datetimes are naive UTC everywhere (SQLite has no time zones); the API adds the "Z".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Any: JSON}


MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL
_Row = TypeVar("_Row", bound=Base)


def by_id(session: Session, model: type[_Row], ident: int) -> _Row | None:
    """The row with this id, or None, also for an id no id column can hold (one typed on the
    command line), which PostgreSQL would refuse as out of range and SQLite as too large."""
    return session.get(model, ident) if 0 < ident <= MAX_ID else None


class FactCheckRow(Base):
    __tablename__ = "factcheck"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    published: Mapped[dt.date | None] = mapped_column(Date)  # sources.yaml's `published:`
    # a daemon took its backfill (`backfill.claim_waiting`); a backfill of it ended: started
    # and not finished, it is resumed (pipeline/backfill.py)
    backfill_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    backfill_finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # why the backfill that ended it failed, one line (`backfill.backfill_claimed`); cleared
    # when a later one of it ends whole
    backfill_error: Mapped[str | None] = mapped_column(Text)


class ClaimRow(Base):
    __tablename__ = "claim"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    factcheck_id: Mapped[int] = mapped_column(ForeignKey("factcheck.id"))
    text: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text)  # current: as published, or as last revised
    config_verdict: Mapped[str | None] = mapped_column(Text)  # as sources.yaml last said
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
    # a worker's claim on the source while it checks it; an expired lease is free again
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # where its requests go (`db.leases.host_of(url)`): hosts take turns, and share spacing
    host: Mapped[str] = mapped_column(String(255), default="", index=True)
    # an editor accepted the source as gone: not checked, never alerting, needing no attention
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    retired_by: Mapped[str | None] = mapped_column(Text)


class HostRow(Base):
    """A host the desk's sources live on: when its next request may start, shared by every
    worker, so spacing holds however many workers fetch from it (`db.leases`)."""

    __tablename__ = "host"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


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
    # the outcome an editor last accepted (its observation is the baseline's when it has no
    # snapshot, e.g. a page accepted as gone)
    accepted_outcome_id: Mapped[int | None] = mapped_column(
        ForeignKey("outcome.id", use_alter=True, name="fk_evidence_accepted_outcome"))


class BlobRow(Base):
    """A body, named by its sha256: a zstd frame, whole or a delta on its base (`db.blobs`)."""

    __tablename__ = "blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # zstd-compressed
    # the blob whose bytes `data` was compressed against (a raw-content dictionary), or None
    # for a whole body; no foreign key, so `db copy` may insert a chain in any order
    base_sha256: Mapped[str | None] = mapped_column(String(64))
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # deltas to a whole


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
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime)  # archived: the capture's time
    # a version loaded by `backfill` from where it was kept (an archive, a directory, a WARC):
    # when it was loaded, and where it came from
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    archive_url: Mapped[str | None] = mapped_column(Text)
    # how it was fetched (a FetchMode): snapshots of one mode are never compared with another's
    fetch_mode: Mapped[str] = mapped_column(String(10), default="http", server_default="http")
    # `fetch: browser`: the response as served, before the browser ran its scripts (the blob
    # is the rendered DOM); None for plain fetches
    raw_sha256: Mapped[str | None] = mapped_column(String(64))


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
    __table_args__ = (Index("ix_flag_evidence_status", "evidence_id", "status"),
                      Index("ix_flag_status_opened", "status", "opened_at"))
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


class ReviewRow(Base):
    """An editor's decision on a flag (SPEC §2 `review`): append-only."""

    __tablename__ = "review"
    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flag.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(20))  # upheld | revised | dismissed
    reviewer: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))  # a desk review
    note: Mapped[str | None] = mapped_column(Text)
    verdict_before: Mapped[str | None] = mapped_column(Text)
    verdict_after: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime] = mapped_column(DateTime)


class VerdictRow(Base):
    """A claim's verdict history: as published (sources.yaml) and as revised by reviews."""

    __tablename__ = "verdict"
    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claim.id"), index=True)
    verdict: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20))  # sources.yaml | review
    review_id: Mapped[int | None] = mapped_column(ForeignKey("review.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditEventRow(Base):
    """The append-only audit log: each row's hash covers the row and the previous row's hash, so
    an edit, a deletion or an insertion out of order breaks the chain (`claimwatch audit verify`).
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(String(200), index=True)
    claim: Mapped[str | None] = mapped_column(String(200), index=True)
    data: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's head (one row): writers update it first, which serializes them."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class ConfigSyncRow(Base):
    """Row 1: the digest of the configuration last synced into the tables: a check whose
    sources.yaml (and claimwatch) is the same skips the sync and its reading of every row.
    Row 2: the digest of the files that configuration was read from (`sources_digest`), for
    `pipeline.idle`; empty when it was not read from files."""

    __tablename__ = "config_sync"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AlertRow(Base):
    """One flag for one alert channel: the outbox. Written in the transaction that opens the flag,
    sent by `alerts.deliver` (at least once: receivers drop repeats by `alert_id`).

    `channel` is the channel's key (`alerts.channels.channel_keys`): its `to` with every secret
    masked, so no password or token ever lands here.
    """

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_status_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), unique=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flag.id"), index=True)
    channel: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column()  # SPEC §3: what the alert carries
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    digest_id: Mapped[str | None] = mapped_column(String(64))  # sent inside this digest message
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ArchiveRow(Base):
    """One new snapshot's submission to the public archive (`pipeline.archive`): the outbox row
    written with the snapshot, then the archive's job, its answer and the capture's address.
    No key is ever stored here: requests are signed from the environment."""

    __tablename__ = "archive"
    __table_args__ = (Index("ix_archive_status_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshot.id"), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), index=True)
    url: Mapped[str] = mapped_column(Text)  # what was submitted: the snapshot's URL
    status: Mapped[str] = mapped_column(String(10))  # pending|submitted|archived|failed
    job_id: Mapped[str | None] = mapped_column(String(100))
    archived_url: Mapped[str | None] = mapped_column(Text)
    captured_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # the capture's timestamp
    error: Mapped[str | None] = mapped_column(Text)  # the archive's status_ext, or why not
    message: Mapped[str | None] = mapped_column(Text)  # the archive's words about it
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    tried_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)  # last POST
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)  # job taken
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AccountRow(Base):
    """A person on the desk (`claimwatch users`): a role, an Argon2 password hash, and a session
    epoch that, bumped, ends every session the account has (disabling, a new password)."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # what they log in as
    display_name: Mapped[str] = mapped_column(Text)  # what reviews and "seen by" show
    role: Mapped[str] = mapped_column(String(10))  # viewer | checker | editor | admin
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    session_epoch: Mapped[int] = mapped_column(default=0)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)  # failed logins slow it
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ApiTokenRow(Base):
    """A REST API token: only its sha256 is stored; the token is shown once, when made."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    label: Mapped[str] = mapped_column(Text)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell tokens apart
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class FlagViewRow(Base):
    """Who last looked at a flag, and when ("seen by J. Doe 10 min ago"): one row per person."""

    __tablename__ = "flag_view"
    flag_id: Mapped[int] = mapped_column(ForeignKey("flag.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)


class CommentRow(Base):
    """A note on a flag by someone on the desk (append-only; also an audit event)."""

    __tablename__ = "comment"
    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flag.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime)


class DeskSettingRow(Base):
    """Settings the desk's web processes share: the key that signs session cookies."""

    __tablename__ = "desk_setting"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
