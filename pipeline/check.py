"""One check run (DESIGN "Data flow"): due sources → fetch → snapshot → extract → evaluate → flag.

Fetching runs concurrently; the checks that finish together are then written in ONE transaction
(fetch attempts, blob, snapshot, outcomes, flags, source state of each), so a crash leaves no
half-written check and the next run redoes it. An unchanged source (304, or the same bytes)
costs its fetch row and nothing else: no parse, no diff, unless an item still needs evaluating
on that snapshot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import socket
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from alerts import outbox
from db import Store, audit, blobs, utcnow
from db.models import (
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FetchRow,
    FlagRow,
    OutcomeRow,
    SnapshotRow,
    SourceRow,
)
from pipeline import __version__, evaluate
from pipeline.config import Config, Evidence, Source
from pipeline.diff import diff
from pipeline.errors import ExtractError, UsageError
from pipeline.extract import Document, resolve_kind
from pipeline.extract import read as read_body
from pipeline.extract.html import find_link
from pipeline.fetch import Attempt, Fetcher, FetchResult, FetchSettings
from pipeline.screen import NotEvidence, screen
from pipeline.sync import sync_config

FAILURES_BEFORE_UNREACHABLE = 3
LEASE_FACTOR = 8  # a lease lasts this many times the longest source timeout
JITTER = 0.1  # ±10% on every interval, so a desk's sources don't all fire together
SETTLE_TURNS = 20  # event-loop turns given to fetches under way before a batch is recorded
MAX_BACKOFF = 86400  # a failing source is retried at least daily (or at its own interval)
OPEN, RESOLVED_BY_SOURCE = "open", "resolved-by-source"
# an evaluated item: its row, its sources.yaml entry, the outcome, and whether it had no baseline
Concluded = tuple[EvidenceRow, Evidence, evaluate.Result, bool]


@dataclass(frozen=True)
class Plan:
    """What one source check needs from the database before going to the network."""

    slug: str
    url: str
    source: Source
    timeout: int
    max_bytes: int
    validators: dict[str, Any]
    items: dict[tuple[str, str], Evidence]  # (claim id, Evidence.identity()) → item
    owner: str = ""  # the lease this check holds on the source
    source_id: int = 0
    latest_snapshot_id: int | None = None
    latest_sha: str | None = None  # the bytes of the latest snapshot, if any
    quiet: bool = False  # healthy, and every item evaluated on the latest snapshot as read now


@dataclass
class Fetched:
    """The network side of one source check: the document's response and every attempt."""

    plan: Plan
    result: FetchResult
    attempts: list[Attempt]
    validators: dict[str, Any]  # what to send next time, if this check succeeds
    content_error: str | None = None  # e.g. `follow` found no link on the page


@dataclass
class SourceReport:
    source: str
    status: str  # new | unchanged | changed | error
    snapshot: int | None
    http_status: int | None
    error: str | None
    flags: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "snapshot": self.snapshot,
                "http_status": self.http_status, "error": self.error}


@dataclass
class CheckReport:
    sources: list[SourceReport] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # being checked by another worker: skipped

    @property
    def flags(self) -> list[dict[str, Any]]:
        return sorted((f for s in self.sources for f in s.flags), key=lambda f: f["id"])

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of a run: counts, and which sources changed or failed."""
        statuses = [s.status for s in self.sources]
        return {"checked": len(self.sources),
                **{status: statuses.count(status) for status in ("new", "changed", "unchanged",
                                                                 "error")},
                "flags": [f["id"] for f in self.flags],
                "changed_sources": sorted(s.source for s in self.sources
                                          if s.status in ("new", "changed")),
                "failed_sources": sorted(s.source for s in self.sources if s.error)}

    def to_json(self) -> dict[str, Any]:
        return {"checked": len(self.sources),
                "changed": sum(s.status == "changed" for s in self.sources),
                "errors": sum(s.error is not None for s in self.sources),
                "sources": [s.to_json() for s in sorted(self.sources, key=lambda s: s.source)],
                "flags": self.flags, **({"busy": self.busy} if self.busy else {})}


def run(store: Store, config: Config, *, everything: bool = False,
        only: Iterable[str] = (), transport: httpx.AsyncBaseTransport | None = None,
        settings: FetchSettings | None = None,
        on_progress: Callable[[SourceReport, int], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False, sync: bool = True) -> CheckReport:
    """Check the due sources (or `only` these, or `everything`) once; return what happened.

    Sources are claimed with a lease first, so a cron `check` overlapping a daemon, or several
    daemons on one PostgreSQL database, never check one source twice at once. Once
    `should_stop()` is true no further source is started.
    """
    only = list(only)
    if sync:
        with store.session() as session:
            sync_config(session, config)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with store.session() as session:
        plans, busy = _claim(session, config, owner, everything=everything, only=only)
    settings = settings or fetch_settings(config)
    try:
        report = asyncio.run(_run(store, config, plans, settings, transport, on_progress,
                                  should_stop))
    finally:  # whatever was not recorded (skipped on stop, failed) is free for others again
        with store.session() as session:
            session.execute(update(SourceRow).where(SourceRow.lease_owner == owner)
                            .values(lease_owner=None, lease_until=None))
    report.busy = busy
    if any(r.status != "unchanged" or r.error for r in report.sources):
        # a round where every source was unchanged is kept by its fetch rows alone: a daemon
        # ticking every second must not grow the audit chain with nothing to tell
        with store.session() as session:
            audit.record(session, "run", report.summary())
    return report


def fetch_settings(config: Config) -> FetchSettings:
    return FetchSettings(user_agent=user_agent(config), host_delay=config.defaults.host_delay,
                         allow_networks=tuple(config.defaults.allow_networks))


def user_agent(config: Config) -> str:
    contact = f"; +{config.desk.contact}" if config.desk.contact else ""
    return f"claimwatch/{__version__} (fact-check source monitor{contact})"


async def _run(store: Store, config: Config, plans: list[Plan], settings: FetchSettings,
               transport: httpx.AsyncBaseTransport | None,
               on_progress: Callable[[SourceReport, int], None] | None,
               should_stop: Callable[[], bool]) -> CheckReport:
    report = CheckReport()
    # a source holds its place from fetch to record: at most `global_limit` bodies are in
    # memory at once, however many thousand sources a run has
    gate = asyncio.Semaphore(settings.global_limit)

    finished: asyncio.Queue[Fetched | None] = asyncio.Queue()

    async def one(plan: Plan) -> None:
        await gate.acquire()
        if should_stop():
            gate.release()
            finished.put_nowait(None)
            return
        try:
            fetched = await fetch_source(fetcher, plan)
        except Exception as exc:  # a bug must not end the run: this source's check fails
            error = f"internal error while fetching: {type(exc).__name__}: {exc}"
            fetched = Fetched(plan, FetchResult(plan.url, plan.url, None, {}, None, error, ()),
                              [], {})
        finished.put_nowait(fetched)

    quiet = _QuietRows()
    async with Fetcher(settings, transport=transport) as fetcher:
        tasks = [asyncio.create_task(one(plan)) for plan in plans]
        remaining = len(tasks)
        try:
            while remaining:
                # every check that has finished by now is recorded together (≤ global_limit)
                arrived = [await finished.get()]
                for _ in range(SETTLE_TURNS):  # let fetches under way finish: fewer, bigger
                    await asyncio.sleep(0)     # transactions
                while not finished.empty():
                    arrived.append(finished.get_nowait())
                remaining -= len(arrived)
                batch = [f for f in arrived if f is not None]  # None: not started (stopping)
                try:
                    reports = _record_batch(store, config, batch, quiet)
                finally:
                    for fetched in batch:
                        fetched.result = replace(fetched.result, body=None)  # done with it
                        gate.release()
                for source_report in reports:
                    report.sources.append(source_report)
                    if on_progress:
                        on_progress(source_report, len(plans))
        finally:
            _record_quiet(store, quiet)
    return report


def _claim(session: Session, config: Config, owner: str, *, everything: bool,
           only: list[str]) -> tuple[list[Plan], list[str]]:
    """Lease the sources to check (due, or `only`, or `everything`) that no one else holds;
    return their plans and the ones another worker is checking right now."""
    unknown = [s for s in only if s not in config.sources]
    if unknown:
        raise UsageError(f"unknown source {unknown[0]!r}: it is not in sources.yaml")
    now = utcnow()
    wanted = select(SourceRow.id).where(SourceRow.active.is_(True))
    if only:
        wanted = wanted.where(SourceRow.slug.in_(only))
    elif not everything:
        wanted = wanted.where(SourceRow.next_check_at.is_(None) | (SourceRow.next_check_at <= now))
    free = wanted.where(SourceRow.lease_until.is_(None) | (SourceRow.lease_until < now))
    if session.get_bind().dialect.name == "postgresql":
        free = free.with_for_update(skip_locked=True)  # other workers' claims are skipped
    lease = dt.timedelta(seconds=LEASE_FACTOR * max(
        [config.timeout(slug) for slug in config.sources] or [30]))
    # one statement: atomic under SQLite's write lock and under PostgreSQL's row locks
    session.execute(update(SourceRow).where(SourceRow.id.in_(free.scalar_subquery()))
                    .values(lease_owner=owner, lease_until=now + lease)
                    .execution_options(synchronize_session=False))
    rows = session.scalars(select(SourceRow).where(SourceRow.lease_owner == owner)
                           .order_by(SourceRow.slug)).all()
    busy = sorted(set(session.scalars(select(SourceRow.slug).where(
        SourceRow.id.in_(wanted.scalar_subquery())))) - {row.slug for row in rows})
    items: dict[str, dict[tuple[str, str], Evidence]] = {slug: {} for slug in config.sources}
    for _fc, claim in config.claims():
        for ev in claim.evidence:
            items[ev.source][(claim.id, ev.identity())] = ev
    rows = [row for row in rows if row.slug in config.sources]
    shas = dict(session.execute(select(SnapshotRow.id, SnapshotRow.blob_sha256).where(
        SnapshotRow.id.in_([r.latest_snapshot_id for r in rows if r.latest_snapshot_id]))).all())
    evaluated: dict[int, list[tuple[int | None, str | None, str | None]]] = {}
    for source_id, snapshot_id, reading, outcome in session.execute(select(
            EvidenceRow.source_id, EvidenceRow.evaluated_snapshot_id,
            EvidenceRow.evaluated_options, EvidenceRow.last_outcome).where(
            EvidenceRow.active.is_(True),
            EvidenceRow.source_id.in_([r.id for r in rows]))):
        evaluated.setdefault(source_id, []).append((snapshot_id, reading, outcome))
    plans = []
    for row in rows:
        source = config.sources[row.slug]
        reading = _reading_key(source)
        settled = all(snapshot_id == row.latest_snapshot_id and key == reading
                      and outcome != evaluate.UNREACHABLE
                      for snapshot_id, key, outcome in evaluated.get(row.id, []))
        plans.append(Plan(
            slug=row.slug, url=row.url, source=source, timeout=config.timeout(row.slug),
            max_bytes=config.max_bytes(row.slug),
            validators=row.validators if row.latest_snapshot_id else {},
            items=items[row.slug], owner=owner, source_id=row.id,
            latest_snapshot_id=row.latest_snapshot_id,
            latest_sha=shas.get(row.latest_snapshot_id or -1),
            quiet=row.consecutive_failures == 0 and row.latest_snapshot_id is not None
            and settled))
    return plans, busy


# --- network -------------------------------------------------------------------------------


async def fetch_source(fetcher: Fetcher, plan: Plan) -> Fetched:
    """Fetch the source's page, and with `follow` the document it links to."""
    page_v = plan.validators.get("page", {})
    doc_v = plan.validators.get("doc", {})
    follow = plan.source.follow
    # a 304 for a `follow` page is only usable when we know which document it linked
    page_cond = page_v if (not follow or doc_v) else {}
    obey = plan.source.obey_robots
    page = await fetcher.fetch(plan.url, etag=page_cond.get("etag"),
                               last_modified=page_cond.get("last_modified"),
                               timeout=plan.timeout, max_bytes=plan.max_bytes, obey_robots=obey)
    page_v = _validators(page) or page_v
    if not follow or not (page.ok or page.not_modified) or (page.ok and screen(page)):
        return Fetched(plan, page, list(page.attempts), {"page": page_v})
    if page.not_modified:
        doc_url = doc_v["url"]
    else:
        try:
            doc_url = find_link(page.body or b"", follow, page.final_url, page.charset)
        except ExtractError as exc:
            return Fetched(plan, page, list(page.attempts), {}, content_error=str(exc))
    doc_cond = doc_v if doc_v.get("url") == doc_url else {}
    doc = await fetcher.fetch(doc_url, etag=doc_cond.get("etag"),
                              last_modified=doc_cond.get("last_modified"),
                              timeout=plan.timeout, max_bytes=plan.max_bytes, obey_robots=obey,
                              source_url=plan.url)
    return Fetched(plan, doc, [*page.attempts, *doc.attempts],
                   {"page": page_v, "doc": _validators(doc) or doc_cond})


def _validators(result: FetchResult) -> dict[str, Any]:
    """What a later conditional GET of this URL sends (nothing when the server gave neither)."""
    if not result.ok:
        return {}
    found = {"url": result.url, "etag": result.headers.get("etag"),
             "last_modified": result.headers.get("last-modified")}
    return found if found["etag"] or found["last_modified"] else {}


# --- recording: one transaction per batch of checks ------------------------------------------


def _record_batch(store: Store, config: Config, batch: list[Fetched],
                  quiet: _QuietRows) -> list[SourceReport]:
    """Record the source checks that finished together.

    Unchanged ones (`_QuietRows`) wait in `quiet` until it is due. The others are recorded in
    one transaction, with whatever `quiet` holds, each check whole or absent. If recording one
    fails (a bug in claimwatch), the transaction rolls back and each is recorded alone, so the
    failure costs that source's check and no other.
    """
    now = utcnow()
    reports, full = [], []
    for fetched in batch:
        unchanged = quiet.add(fetched, now, config)
        if unchanged is None:
            full.append(fetched)
        else:
            reports.append(unchanged)
    if not full:
        if quiet.due(now):
            _record_quiet(store, quiet)
        return reports
    try:
        with store.session() as session:
            loaded = _load(session, [fetched.plan for fetched in full])
            reports += [_record(session, config, fetched, *loaded[fetched.plan.source_id])
                        for fetched in full]
            quiet.write(session)
        quiet.clear()
        return reports
    except Exception as exc:
        if len(full) > 1 or quiet:
            _record_quiet(store, quiet)
            return reports + [report for fetched in full
                              for report in _record_batch(store, config, [fetched], quiet)]
        fetched = full[0]
        message = f"internal error while recording: {type(exc).__name__}: {exc}"
        print(f"claimwatch: {fetched.plan.slug}: {message}", file=sys.stderr)
        return [SourceReport(fetched.plan.slug, "error", None, fetched.result.status, message)]


def _record_quiet(store: Store, quiet: _QuietRows) -> None:
    """Write the unchanged checks waiting in `quiet` in a transaction of their own."""
    if not quiet:
        return
    try:
        with store.session() as session:
            quiet.write(session)
    except Exception as exc:  # they are checked again on the next run: nothing else is lost
        print(f"claimwatch: could not record {len(quiet)} unchanged checks: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
    quiet.clear()


def _record(session: Session, config: Config, fetched: Fetched, source: SourceRow,
            items: list[tuple[EvidenceRow, Evidence]]) -> SourceReport:
    result = fetched.result
    now = utcnow()
    rows = [_fetch_row(source.id, a) for a in fetched.attempts]
    if not rows:  # nothing was requested (robots.txt disallows it, a bad URL): still a check
        rows = [FetchRow(source_id=source.id, started_at=now, duration_ms=0,
                         url=fetched.result.url, status=None, bytes=0,
                         error=fetched.result.error)]
    final = rows[-1]
    every = config.every(source.slug)

    problem = (NotEvidence("blocked", fetched.content_error) if fetched.content_error
               else screen(result))
    if problem is not None and problem.kind == "blocked":
        # the site answered, but not with the evidence: the desk must decide how to read it
        final.result = source.last_status = "error"
        final.error = final.error or problem.reason
        source.consecutive_failures = 0
        _checked(session, source, rows, fetched.plan.owner, now, every)
        session.flush()
        outcome = evaluate.error(problem.reason)
        flags = _conclude(session, config, final, None,
                          [(row, ev, outcome, False) for row, ev in items])
        return SourceReport(source.slug, "error", None, result.status, problem.reason, flags)

    if problem is not None or not (result.ok or result.not_modified):
        error = problem.reason if problem else result.error
        final.result = source.last_status = "error"
        final.error = final.error or error
        source.consecutive_failures += 1
        backoff = min(every * 2 ** (source.consecutive_failures - 1), max(every, MAX_BACKOFF))
        _checked(session, source, rows, fetched.plan.owner, now, backoff)
        session.flush()
        audit.record(session, "failure", {"http_status": result.status, "error": error,
                                          "in_a_row": source.consecutive_failures},
                     source=source.slug)
        flags: list[dict[str, Any]] = []
        if result.gone or source.consecutive_failures >= FAILURES_BEFORE_UNREACHABLE:
            observed = {"http_status": result.status} if result.gone else {"error": error}
            why = (f"the source answers HTTP {result.status}" if result.gone else
                   f"the source failed {source.consecutive_failures} checks in a row: {error}")
            flags = _conclude(session, config, final, None,
                              [(row, ev, _unreachable(session, row, observed, why), False)
                               for row, ev in items])
        return SourceReport(source.slug, "error", None, result.status, error, flags)

    previous = source.latest_snapshot_id
    # the snapshot first: the check's rows then go in once, knowing it (no INSERT then UPDATE)
    snapshot, status = _snapshot(session, source, fetched, now)
    source.consecutive_failures = 0
    source.latest_snapshot_id = snapshot.id
    source.last_status = status
    source.validators = fetched.validators
    final.result = status
    final.snapshot_id = snapshot.id
    _checked(session, source, rows, fetched.plan.owner, now, every)
    session.flush()
    reading = _reading_key(fetched.plan.source)
    due = [(row, ev) for row, ev in items
           if row.evaluated_snapshot_id != snapshot.id or row.evaluated_options != reading
           or row.last_outcome == evaluate.UNREACHABLE]
    error = None
    docs: dict[int, Document | str] = {}
    outcomes: list[Concluded] = []
    if due:
        outcomes, error = _evaluate(session, fetched, snapshot, due, docs)
        for row, _ev in due:
            row.evaluated_snapshot_id = snapshot.id
            row.evaluated_options = reading
    if status != "unchanged":  # before the flags it leads to, so the history reads in order
        audit.record(session, "snapshot", {
            "status": status, "snapshot": snapshot.id, "previous": previous,
            "sha256": snapshot.blob_sha256, "url": snapshot.url,
            "change": _change_summary(docs.get(previous or -1), docs.get(snapshot.id))},
            source=source.slug, at=now)
    flags = _conclude(session, config, final, snapshot, outcomes, docs) if outcomes else []
    return SourceReport(source.slug, status, snapshot.id, result.status, error, flags)


def _checked(session: Session, source: SourceRow, rows: list[FetchRow], owner: str,
             now: dt.datetime, interval: float) -> None:
    """The check's fetch rows, the source's next check in about `interval` seconds, and the
    source's lease released if this check still holds it."""
    session.add_all(rows)
    source.last_checked_at = now
    source.next_check_at = _next_check(now, interval)
    if source.lease_owner == owner:
        source.lease_owner, source.lease_until = None, None


def _change_summary(before: Document | str | None, after: Document | str | None) -> str | None:
    """A few words on what changed, when both versions were read for this check anyway."""
    if not isinstance(before, Document) or not isinstance(after, Document):
        return None
    return diff(before, after).summary()


class _QuietRows:
    """The common case, kept cheap: the same bytes again (a 304, or the same sha256) on a healthy
    source whose items were all evaluated on them. No parse, no diff, no screening (those bytes
    were screened when stored): one fetch row per attempt and the source's schedule. They are
    gathered over several batches and written as one INSERT and one UPDATE: once MAX of them
    wait, or when a batch arrives and the first has waited WAIT seconds, with the next changed
    source, or at the end of the run. A crash before then loses those checks, not their sources:
    their schedule did not move, so they are due again."""

    MAX, WAIT = 500, dt.timedelta(seconds=2)

    def __init__(self) -> None:
        self.fetches: list[dict[str, Any]] = []
        self.sources: list[dict[str, Any]] = []
        self.owner = ""
        self.since = dt.datetime.max

    def __len__(self) -> int:
        return len(self.sources)

    def add(self, fetched: Fetched, now: dt.datetime, config: Config) -> SourceReport | None:
        """Take `fetched` if it is an unchanged check; None if it must be recorded in full."""
        plan, result = fetched.plan, fetched.result
        if not (plan.quiet and fetched.attempts and not fetched.content_error and (
                result.not_modified or (result.ok and blobs.digest(result.body or b"")
                                        == plan.latest_sha))):
            return None
        rows = [_fetch_values(plan.source_id, a) for a in fetched.attempts]
        rows[-1] |= {"result": "unchanged", "snapshot_id": plan.latest_snapshot_id}
        self.fetches += rows
        # on a 304 the validators are the ones sent; on the same bytes, the server's new ones
        self.sources.append({"b_id": plan.source_id, "b_now": now,
                             "b_next": _next_check(now, config.every(plan.slug)),
                             "b_validators": fetched.validators})
        self.owner = plan.owner
        self.since = min(self.since, now)
        return SourceReport(plan.slug, "unchanged", plan.latest_snapshot_id, result.status, None)

    def due(self, now: dt.datetime) -> bool:
        return len(self) >= self.MAX or (bool(self) and now - self.since >= self.WAIT)

    def write(self, session: Session) -> None:
        if not self.sources:
            return
        session.execute(insert(FetchRow), self.fetches)
        table = SourceRow.__table__
        ours = table.c.lease_owner == self.owner  # a lease that ran out may be another's now
        session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            last_checked_at=bindparam("b_now"), last_status="unchanged",
            next_check_at=bindparam("b_next"),
            validators=bindparam("b_validators", type_=table.c.validators.type),
            lease_owner=case((ours, None), else_=table.c.lease_owner),
            lease_until=case((ours, None), else_=table.c.lease_until)), self.sources)

    def clear(self) -> None:
        self.fetches, self.sources, self.since = [], [], dt.datetime.max


def _next_check(now: dt.datetime, seconds: float) -> dt.datetime:
    """When to check again: `seconds` from now, ±JITTER."""
    return now + dt.timedelta(seconds=seconds * random.uniform(1 - JITTER, 1 + JITTER))


def _unreachable(session: Session, row: EvidenceRow, observed: dict[str, Any],
                 why: str) -> evaluate.Result:
    """`unreachable`, compared with what an editor accepted: a page accepted as gone stays quiet
    while it stays gone the same way."""
    result = evaluate.unreachable(observed, why)
    accepted = session.get(OutcomeRow, row.accepted_outcome_id) \
        if row.accepted_outcome_id else None
    if accepted is not None and accepted.status == evaluate.UNREACHABLE:
        return replace(result, baseline_observed=accepted.observed)
    return result


def _snapshot(session: Session, source: SourceRow, fetched: Fetched,
              now: dt.datetime) -> tuple[SnapshotRow, str]:
    """The snapshot this check saw: the latest one when nothing changed, else a new one."""
    result = fetched.result
    latest = session.get(SnapshotRow, source.latest_snapshot_id) \
        if source.latest_snapshot_id else None
    if result.not_modified:
        if latest is None:
            raise RuntimeError("the server answered 304 but no snapshot is stored")
        return latest, "unchanged"
    body = result.body or b""
    sha = blobs.digest(body)
    if latest is not None and latest.blob_sha256 == sha:
        return latest, "unchanged"
    blobs.put(session, body)
    snapshot = SnapshotRow(
        source_id=source.id, blob_sha256=sha, url=result.final_url,
        content_type=result.content_type, charset=result.charset,
        kind=resolve_kind(fetched.plan.source.kind, result.content_type, result.final_url, body),
        headers=dict(result.headers), fetched_at=now)
    session.add(snapshot)
    session.flush()
    return snapshot, "changed" if latest is not None else "new"


def _evaluate(session: Session, fetched: Fetched, snapshot: SnapshotRow,
              due: list[tuple[EvidenceRow, Evidence]], docs: dict[int, Document | str]
              ) -> tuple[list[Concluded], str | None]:
    """Evaluate the due items on `snapshot`, each against its own baseline (documents read
    are left in `docs`)."""
    current = read(session, snapshot, fetched.plan.source, docs, body=fetched.result.body)
    if isinstance(current, str):
        return [(row, ev, evaluate.error(current), False) for row, ev in due], current
    outcomes = []
    for row, ev in due:
        first = row.baseline_snapshot_id is None
        baseline: Document | None = current
        if not first and row.baseline_snapshot_id != snapshot.id:
            base_snapshot = session.get(SnapshotRow, row.baseline_snapshot_id)
            read_base = read(session, base_snapshot, fetched.plan.source, docs) \
                if base_snapshot else "missing"
            # a baseline the current reading cannot read: start again from this snapshot
            baseline = read_base if isinstance(read_base, Document) else None
            first = baseline is None
        if first:
            row.baseline_snapshot_id = snapshot.id
            baseline = None
        outcomes.append((row, ev, evaluate.evaluate(ev, current, baseline), first))
    return outcomes, None


def read(session: Session, snapshot: SnapshotRow, source: Source,
         cache: dict[int, Document | str] | None = None, *,
         body: bytes | None = None) -> Document | str:
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


def _conclude(session: Session, config: Config, final: FetchRow, snapshot: SnapshotRow | None,
              outcomes: list[Concluded], docs: dict[int, Document | str] | None = None
              ) -> list[dict[str, Any]]:
    """Write each item's outcome and open the flags SPEC calls for; return the new flags.

    A flag opens when the outcome is not `holds` and what the item observed differs from its
    baseline's observation (or on its first evaluation), unless the same one is already open.
    Flip-flops (A/B tests, CDN nodes out of sync) must not alert on every swing: an item back to
    `holds` closes its open flags as resolved-by-source, and the same outcome recurring within
    `defaults.reopen_within` re-opens that flag instead of opening a new one.
    """
    opened = []
    now = utcnow()
    docs = {} if docs is None else docs  # the documents the flags' alerts quote from
    for row, _ev, res, first in outcomes:
        outcome = OutcomeRow(evidence_id=row.id, fetch_id=final.id,
                             snapshot_id=snapshot.id if snapshot else None,
                             baseline_snapshot_id=row.baseline_snapshot_id, status=res.status,
                             observed=res.observed, reason=res.reason,
                             created_at=final.started_at)
        session.add(outcome)
        previous, row.last_outcome = row.last_outcome, res.status
        if res.status == evaluate.HOLDS:
            if previous not in (None, evaluate.HOLDS):
                for flag in session.scalars(select(FlagRow).where(
                        FlagRow.evidence_id == row.id, FlagRow.status == OPEN)):
                    flag.status, flag.closed_at = RESOLVED_BY_SOURCE, now
                    _flag_event(session, "flag-resolved", flag, {"by": "source"})
            continue
        if res.status not in evaluate.SEVERITY or not (first or res.differs):
            continue
        same = session.scalars(select(FlagRow).where(
            FlagRow.evidence_id == row.id, FlagRow.outcome == res.status,
            FlagRow.status.in_([OPEN, RESOLVED_BY_SOURCE])).order_by(FlagRow.id.desc())).first()
        if same is not None and same.status == OPEN:
            continue
        session.flush()
        window = dt.timedelta(seconds=config.defaults.reopen_within)
        if same is not None and same.closed_at is not None and now - same.closed_at <= window:
            same.status, same.closed_at = OPEN, None
            same.outcome_id, same.snapshot_id, same.reason = outcome.id, outcome.snapshot_id, \
                res.reason
            _flag_event(session, "flag-reopened", same, {})
            continue
        flag = FlagRow(claim_id=row.claim_id, evidence_id=row.id, source_id=row.source_id,
                       outcome_id=outcome.id, outcome=res.status,
                       severity=evaluate.SEVERITY[res.status], reason=res.reason,
                       snapshot_id=outcome.snapshot_id,
                       baseline_snapshot_id=row.baseline_snapshot_id, opened_at=now)
        session.add(flag)
        session.flush()
        outbox.enqueue(session, config, flag, cache=docs)  # its alerts: in this transaction
        opened.append(_flag_event(session, "flag", flag, {
            "snapshot": flag.snapshot_id, "baseline": flag.baseline_snapshot_id}))
    return opened


def _flag_event(session: Session, kind: str, flag: FlagRow,
                extra: dict[str, Any]) -> dict[str, Any]:
    """Record a flag's move in the audit log; return the flag as SPEC §3 prints it."""
    data = flag_json(session, flag)
    audit.record(session, kind, {**data, **extra}, source=data["source"], claim=data["claim"])
    return data


def flag_json(session: Session, flag: FlagRow) -> dict[str, Any]:
    """A flag as SPEC §3 prints it."""
    claim = session.get(ClaimRow, flag.claim_id)
    source = session.get(SourceRow, flag.source_id)
    assert claim is not None and source is not None
    factcheck = session.get(FactCheckRow, claim.factcheck_id)
    assert factcheck is not None
    return {"id": flag.id, "claim": claim.slug, "factcheck": factcheck.slug,
            "source": source.slug, "outcome": flag.outcome, "severity": flag.severity,
            "reason": flag.reason, "opened_at": iso(flag.opened_at)}


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(session: Session, plans: list[Plan]
          ) -> dict[int, tuple[SourceRow, list[tuple[EvidenceRow, Evidence]]]]:
    """Each source's row and its active evidence rows, each with its item from sources.yaml:
    two queries for a whole batch."""
    ids = [plan.source_id for plan in plans]
    wanted = {plan.source_id: plan.items for plan in plans}
    loaded: dict[int, tuple[SourceRow, list[tuple[EvidenceRow, Evidence]]]] = {
        row.id: (row, []) for row in session.scalars(select(SourceRow).where(
            SourceRow.id.in_(ids)))}
    for row, slug in session.execute(
            select(EvidenceRow, ClaimRow.slug).join(ClaimRow, ClaimRow.id == EvidenceRow.claim_id)
            .where(EvidenceRow.source_id.in_(ids), EvidenceRow.active.is_(True))
            .order_by(EvidenceRow.id)):
        item = wanted[row.source_id].get((slug, row.identity))
        if item is not None:
            loaded[row.source_id][1].append((row, item))
    return loaded


def _fetch_row(source_id: int, attempt: Attempt) -> FetchRow:
    return FetchRow(**_fetch_values(source_id, attempt))


def _fetch_values(source_id: int, attempt: Attempt) -> dict[str, Any]:
    return {"source_id": source_id, "started_at": attempt.started_at.replace(tzinfo=None),
            "duration_ms": attempt.duration_ms, "url": attempt.url,
            "final_url": attempt.final_url if attempt.final_url != attempt.url else None,
            "status": attempt.status, "bytes": attempt.bytes, "error": attempt.error,
            "result": None, "snapshot_id": None}


def _reading_key(source: Source) -> str:
    """Identifies how the source is read: re-evaluate when select/ignore/kind/follow change."""
    blob = json.dumps(source.extraction_options(), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
