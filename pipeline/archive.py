"""The public archive (issue 16): each new version of a source submitted once to the Internet
Archive's Save Page Now 2 API, and the link to its capture recorded with the snapshot.

An outbox like the alerts': `enqueue` writes one `archive` row in the transaction that records
a new snapshot (so a snapshot is never committed without it), and `send` works the rows after
a check run or as the daemon's own job, never during checks. A round claims what the desk's
limits allow (`rate` captures started per minute, `daily` per UTC day, counted in the database
so every worker shares them), POSTs `/save` (`url=…`, never `if_not_archived_within`: that can
answer with a capture older than the change), and polls `/save/status/{job_id}` until the job
succeeds or fails. Rate limits (429), server errors and the archive's passing refusals back off
and retry, up to the desk's `retry.attempts`; permanent refusals (`error:blocked-url`, …) are
recorded at once and never retried. The keys are read from the environment for each request:
no row, event or error line holds them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import Store, audit, leases, utcnow
from db.models import ArchiveRow, SnapshotRow, SourceRow
from pipeline import secrets
from pipeline.config import Archive, Config
from pipeline.fetch import Fetcher, FetchResult, FetchSettings, retry_after
from pipeline.records import ArchiveRecord
from pipeline.source_fetch import fetch_settings
from pipeline.vocab import ArchiveStatus

CLAIM = dt.timedelta(minutes=10)  # how long a round holds the rows it works
POLL_EVERY = dt.timedelta(seconds=20)  # between two status requests of a job
GIVE_UP_POLLING = dt.timedelta(hours=2)  # a job pending this long is recorded as failed
TIMEOUT = 30.0  # seconds per request to the archive (connecting: 10)

# The documented status_ext values that say "not now" rather than "never": the job is submitted
# again after a backoff (still at most `retry.attempts` times). Any other error is permanent.
PASSING = frozenset({
    "error:bad-gateway", "error:browsing-timeout", "error:capture-location-error",
    "error:cannot-fetch", "error:celery", "error:gateway-timeout",
    "error:internal-server-error", "error:invalid-server-response", "error:no-browsers-available",
    "error:protocol-error", "error:proxy-error", "error:read-timeout",
    "error:service-unavailable", "error:soft-time-limit-exceeded", "error:too-many-requests",
    "error:user-session-limit",
})
# … of which these say the account is over its limits: the round stops there
LIMITED = frozenset({"error:too-many-requests", "error:user-session-limit"})
# the URL was captured too often today: tried again after midnight UTC
DAILY_PER_URL = "error:too-many-daily-captures"


def wanted(config: Config, source: str, url: str) -> bool:
    """Whether a new snapshot of `source`, served from `url`, goes to the public archive: an
    archive is configured, the source did not opt out, and its URL carries no `${SECRET}` (a
    key in a URL must never reach a public archive)."""
    spec = config.sources.get(source)
    return (config.archive is not None and spec is not None and spec.archive
            and not secrets.PLACEHOLDER.search(url))


def enqueue(session: Session, config: Config, source: SourceRow,
            snapshot: SnapshotRow) -> ArchiveRow | None:
    """Write the archive row of a snapshot just flushed, in the recording transaction."""
    if not wanted(config, source.slug, snapshot.url):
        return None
    now = utcnow()
    row = ArchiveRow(snapshot_id=snapshot.id, source_id=source.id, url=snapshot.url,
                     status=ArchiveStatus.PENDING, attempts=0, next_attempt_at=now,
                     created_at=now)
    session.add(row)
    return row


@dataclass
class ArchiveReport:
    submitted: int = 0  # jobs the archive took this round
    archived: int = 0  # captures that finished this round
    failed: int = 0  # rows given up this round (permanent refusals included)
    retrying: int = 0  # rows that will be tried again later
    pending: int = 0  # rows not yet archived nor failed, after the round
    held: str | None = None  # why nothing more was submitted: a limit reached
    errors: list[str] = field(default_factory=list)  # one line per failure: "SOURCE: why"

    def to_json(self) -> dict[str, Any]:
        return {"submitted": self.submitted, "archived": self.archived, "failed": self.failed,
                "retrying": self.retrying, "pending": self.pending, "held": self.held,
                "errors": self.errors}


@dataclass(frozen=True)
class _Job:
    """A claimed row, as plain data: submit it (no job yet) or poll its job."""

    id: int
    source: str
    url: str
    job_id: str | None
    attempts: int
    submitted_at: dt.datetime | None


@dataclass(frozen=True)
class _Answer:
    """What one request to the archive came to, for the row."""

    status: ArchiveStatus
    retry: bool = False  # count a try and back off (then `status` is where it goes back to)
    wait: float | None = None  # seconds the archive asked us to wait (Retry-After)
    job_id: str | None = None
    archived_url: str | None = None
    captured_at: dt.datetime | None = None
    error: str | None = None
    message: str | None = None
    not_before: dt.datetime | None = None  # no retry before this (per-URL daily limit)
    busy: bool = False  # the archive itself is down, busy or limiting us: the round stops


def send(store: Store, config: Config, *, now: dt.datetime | None = None,
         transport: httpx.AsyncBaseTransport | None = None) -> ArchiveReport:
    """One round: submit what the limits allow, poll submitted jobs that are due."""
    report = ArchiveReport()
    spec = config.archive
    if spec is not None:
        now = now or utcnow()
        submit, poll, report.held = _claim(store, spec, now)
        if submit or poll:
            settings = replace(fetch_settings(config), timeout=TIMEOUT, retries=0, host_delay=0,
                               max_bytes=1024 * 1024)
            asyncio.run(_work(store, spec, settings, submit, poll, now, transport, report))
    with store.session() as session:
        report.pending = session.scalar(select(func.count()).select_from(ArchiveRow).where(
            ArchiveRow.status.in_([ArchiveStatus.PENDING, ArchiveStatus.SUBMITTED]))) or 0
    return report


def _claim(store: Store, spec: Archive, now: dt.datetime
           ) -> tuple[list[_Job], list[_Job], str | None]:
    """Claim the rows to submit (as many as the rate and the daily cap leave) and the jobs to
    poll; their next attempt moves `CLAIM` ahead, so two rounds never work one row."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with store.session() as session:
        leases.serialize(session)
        minute = session.scalar(select(func.count()).select_from(ArchiveRow).where(
            ArchiveRow.tried_at > now - dt.timedelta(minutes=1))) or 0
        today = session.scalar(select(func.count()).select_from(ArchiveRow).where(
            ArchiveRow.submitted_at >= day)) or 0
        room = min(spec.rate - minute, spec.daily - today)
        submit = []
        if room > 0:
            due = select(ArchiveRow.id).where(ArchiveRow.status == ArchiveStatus.PENDING,
                                              ArchiveRow.next_attempt_at <= now
                                              ).order_by(ArchiveRow.next_attempt_at,
                                                         ArchiveRow.id).limit(room)
            submit = _jobs(session, leases.claim_archives(session, due, now=now, hold=CLAIM,
                                                          tried=True))
        polls = select(ArchiveRow.id).where(ArchiveRow.status == ArchiveStatus.SUBMITTED,
                                            ArchiveRow.next_attempt_at <= now)
        poll = _jobs(session, leases.claim_archives(session, polls, now=now, hold=CLAIM))
        held = None
        if session.scalar(select(func.count()).select_from(ArchiveRow).where(
                ArchiveRow.status == ArchiveStatus.PENDING, ArchiveRow.next_attempt_at <= now)):
            held = (f"the daily cap of {spec.daily} captures is reached"
                    if today + len(submit) >= spec.daily else
                    f"the rate of {spec.rate} captures a minute is reached")
        return submit, poll, held


def _jobs(session: Session, ids: list[int]) -> list[_Job]:
    rows = session.execute(select(ArchiveRow, SourceRow.slug).join(
        SourceRow, SourceRow.id == ArchiveRow.source_id).where(ArchiveRow.id.in_(ids))
        .order_by(ArchiveRow.id)).all()
    return [_Job(r.id, slug, r.url, r.job_id, r.attempts, r.submitted_at) for r, slug in rows]


async def _work(store: Store, spec: Archive, settings: FetchSettings, submit: list[_Job],
                poll: list[_Job], now: dt.datetime, transport: httpx.AsyncBaseTransport | None,
                report: ArchiveReport) -> None:
    """The round's requests (the desk's User-Agent and address rules; no retries here: a
    failure is the row's to back off), each answer recorded as it comes."""
    hide = secrets.redactor(f"{spec.access}:{spec.secret}")
    auth = secrets.expand(f"LOW {spec.access}:{spec.secret}")
    headers = {"Authorization": auth, "Accept": "application/json"}
    base = str(spec.endpoint).rstrip("/")
    down: _Answer | None = None  # the archive is unreachable, busy or rate-limiting us
    try:
        async with Fetcher(settings, transport=transport) as fetcher:
            for job in submit:
                if down is not None:  # the rest wait with it, without a try counted
                    _hold(store, job, down, spec, now)
                    continue
                got = await fetcher.fetch(f"{base}/save", form={"url": job.url}, headers=headers,
                                          obey_robots=False)
                answer = _submitted(got, now, hide)
                _record(store, spec, job, answer, now, report)
                if answer.status == ArchiveStatus.SUBMITTED and not answer.retry:
                    # asked at once: a quick capture is known this round
                    poll.append(_Job(job.id, job.source, job.url, answer.job_id, job.attempts,
                                     now))
                down = answer if answer.busy else None
            for job in poll:
                if down is not None:
                    _hold(store, job, down, spec, now)
                    continue
                got = await fetcher.fetch(f"{base}/save/status/{job.job_id}", headers=headers,
                                          obey_robots=False)
                answer = _status(got, job, base, now, hide)
                _record(store, spec, job, answer, now, report)
                down = answer if answer.busy else None
    except BaseException:
        # a failure we live through gives the claims back (a dead process's run out after CLAIM)
        with store.session() as session:
            session.execute(update(ArchiveRow).where(
                ArchiveRow.id.in_([j.id for j in [*submit, *poll]]),
                ArchiveRow.next_attempt_at == now + CLAIM).values(next_attempt_at=now))
        raise


def _hold(store: Store, job: _Job, down: _Answer, spec: Archive, now: dt.datetime) -> None:
    """A row not tried this round because the archive was down or busy: it waits as long as
    the failed one does, its tries untouched."""
    with store.session() as session:
        row = session.get(ArchiveRow, job.id)
        assert row is not None
        wait = max(spec.retry.first, down.wait or 0)
        row.next_attempt_at = now + dt.timedelta(seconds=wait)


def _body(got: FetchResult) -> dict[str, Any] | None:
    try:
        data = json.loads(got.body or b"")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _failure(got: FetchResult, hide: secrets.Redactor, back_to: ArchiveStatus) -> _Answer:
    """A request that got no usable answer: rate-limited, a server error, a network failure
    (tried again), or a refusal of the request itself (permanent)."""
    error = hide(got.error or f"HTTP {got.status}: not the archive's JSON answer")
    status = got.status
    if status is None or status in (401, 403, 408, 429) or status >= 500 or got.ok:
        wait = retry_after(got.headers) if status in (429, 503) else None
        busy = status is None or status in (401, 403, 429) or status >= 500
        return _Answer(back_to, retry=True, wait=wait, error=error, busy=busy)
    return _Answer(ArchiveStatus.FAILED, error=error)


def _refusal(data: dict[str, Any], hide: secrets.Redactor, back_to: ArchiveStatus,
             now: dt.datetime) -> _Answer:
    """The archive's `status: error` answer: passing (tried again) or permanent."""
    ext = str(data.get("status_ext") or "error:unknown")
    message = hide(str(data.get("message") or "")) or None
    if ext == DAILY_PER_URL:
        tomorrow = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        return _Answer(ArchiveStatus.PENDING, retry=True, error=ext, message=message,
                       not_before=tomorrow)
    if ext in PASSING:
        return _Answer(back_to, retry=True, error=ext, message=message, busy=ext in LIMITED)
    return _Answer(ArchiveStatus.FAILED, error=ext, message=message)


def _submitted(got: FetchResult, now: dt.datetime, hide: secrets.Redactor) -> _Answer:
    """POST /save's answer: a job id, or why not."""
    data = _body(got) if got.ok else None
    if data is None:
        return _failure(got, hide, ArchiveStatus.PENDING)
    if data.get("status") == "error":
        return _refusal(data, hide, ArchiveStatus.PENDING, now)
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or not job_id or "/" in job_id or len(job_id) > 100:
        return _Answer(ArchiveStatus.PENDING, retry=True,
                       error="the archive's answer holds no job_id")
    return _Answer(ArchiveStatus.SUBMITTED, job_id=job_id,
                   message=hide(str(data.get("message") or "")) or None)


def _status(got: FetchResult, job: _Job, base: str, now: dt.datetime,
            hide: secrets.Redactor) -> _Answer:
    """GET /save/status/{job_id}'s answer: pending, success (the capture), or error."""
    data = _body(got) if got.ok else None
    if data is None:
        return _failure(got, hide, ArchiveStatus.SUBMITTED)
    status = data.get("status")
    if status == "success":
        stamp = str(data.get("timestamp") or "")
        original = str(data.get("original_url") or job.url)
        try:
            captured = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S")
        except ValueError:
            return _Answer(ArchiveStatus.SUBMITTED, retry=True,
                           error=f"the archive's success names no capture time: {stamp!r}")
        return _Answer(ArchiveStatus.ARCHIVED, archived_url=f"{base}/web/{stamp}/{original}",
                       captured_at=captured, message=hide(str(data.get("message") or "")) or None)
    if status == "error":
        return _refusal(data, hide, ArchiveStatus.PENDING, now)
    if job.submitted_at is not None and now - job.submitted_at > GIVE_UP_POLLING:
        return _Answer(ArchiveStatus.FAILED, error="error:status-timeout",
                       message=f"still pending after {GIVE_UP_POLLING}")
    return _Answer(ArchiveStatus.SUBMITTED)  # pending: asked again after POLL_EVERY


def _record(store: Store, spec: Archive, job: _Job, answer: _Answer, now: dt.datetime,
            report: ArchiveReport) -> None:
    """Write one answer to its row (its own short transaction), with an audit event when the
    snapshot's archive is settled (archived or failed)."""
    with store.session() as session:
        row = session.get(ArchiveRow, job.id)
        assert row is not None
        row.status = answer.status
        row.error, row.message = answer.error, answer.message or row.message
        if answer.job_id is not None:
            row.job_id, row.submitted_at = answer.job_id, now
            report.submitted += 1
        if answer.retry:
            row.attempts += 1
            if row.attempts >= spec.retry.attempts:
                row.status = ArchiveStatus.FAILED
            else:
                wait = max(spec.retry.delay(row.attempts), answer.wait or 0)
                row.next_attempt_at = max(now + dt.timedelta(seconds=wait),
                                          answer.not_before or now)
                report.retrying += 1
            report.errors.append(f"{job.source}: {answer.error}")
        elif row.status == ArchiveStatus.SUBMITTED:
            row.next_attempt_at = now + POLL_EVERY
        if row.status == ArchiveStatus.ARCHIVED:
            row.archived_url, row.captured_at, row.finished_at = (
                answer.archived_url, answer.captured_at, now)
            report.archived += 1
        elif row.status == ArchiveStatus.FAILED:
            row.finished_at = now
            report.failed += 1
            if not answer.retry:
                report.errors.append(f"{job.source}: {answer.error}")
        if row.status in (ArchiveStatus.ARCHIVED, ArchiveStatus.FAILED):
            audit.record(session, "archive", {
                "snapshot": row.snapshot_id, "status": row.status, "url": row.url,
                "job_id": row.job_id, "archived_url": row.archived_url, "error": row.error},
                source=job.source)


# --- reading ---------------------------------------------------------------------------------

def records(session: Session, snapshot_ids: list[int] | None = None, *,
            source: str | None = None) -> list[ArchiveRecord]:
    """The archive rows (of these snapshots, or of this source), oldest first."""
    query = select(ArchiveRow, SourceRow.slug).join(SourceRow, SourceRow.id == ArchiveRow.source_id)
    if snapshot_ids is not None:
        query = query.where(ArchiveRow.snapshot_id.in_(snapshot_ids))
    if source is not None:
        query = query.where(SourceRow.slug == source)
    return [ArchiveRecord.from_row(row, slug)
            for row, slug in session.execute(query.order_by(ArchiveRow.id))]


def links(session: Session, snapshot_ids: list[int | None]) -> dict[int, ArchiveRecord]:
    """Snapshot id → its archive record, for the snapshots that have one."""
    wanted_ids = [i for i in snapshot_ids if i is not None]
    if not wanted_ids:
        return {}
    return {r.snapshot: r for r in records(session, wanted_ids)}
