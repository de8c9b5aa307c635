"""Recording source checks: the only writer of what a check found (fetch attempts, blobs,
snapshots, outcomes, the source's schedule and health), with the flags it leads to moved by
`pipeline.flags`.

The checks that finish together are written in ONE transaction, each whole or absent, so a
crash leaves no half-written check and the next run redoes it. They are written side by side:
each check's recording is a generator that yields where it needs the ids of the rows it added
(its snapshot, its fetch rows, its outcomes), and the batch flushes once for all of them at each
step, so each table gets one INSERT (and each kind of update one executemany) per batch rather
than one per check. If recording one fails (a bug in
claimwatch), the transaction rolls back and each is recorded alone: the failure costs that
source's check and no other. An unchanged source (304, or the same bytes) on the quiet path
costs its fetch row and nothing else: no parse, no diff (`QuietRows`). The others are read
(extracted and evaluated) before their transaction, outside it, by `extraction_worker`: each
under its source's time and memory limits, past which that check is recorded as an error. A
version `backfill` loads (`record_archived`) is read the same way, before its transaction
writes anything.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from alerts.outbox import Excerpts
from db import Store, audit, blobs, numbering, utcnow
from db.models import ClaimRow, EvidenceRow, FetchRow, OutcomeRow, SnapshotRow, SourceRow
from pipeline import archive, evaluate, flags, schedule
from pipeline.archive_sources.base import Version
from pipeline.config import Config, Evidence
from pipeline.extract import resolve_kind
from pipeline.extraction_worker import (
    Body,
    Job,
    Reading,
    ReadingFailed,
    Workers,
    read_safely,
)
from pipeline.fetch import Attempt
from pipeline.plan import Plan, reading_key
from pipeline.records import FlagRecord, SourceReport
from pipeline.screen import NotEvidence, screen
from pipeline.siblings import Siblings, served
from pipeline.snapshots import DocumentCache
from pipeline.source_fetch import Fetched
from pipeline.vocab import CheckResult, FetchMode, Outcome

# a source's reading: what it found, why it has none (too long, too big), or a bug's failure
Found = Reading | str | ReadingFailed
# an evaluated item: its row, its sources.yaml entry, the outcome, and whether it had no baseline
Concluded = tuple[EvidenceRow, Evidence, evaluate.Result, bool]
# a check's recording: yields where the batch must flush (for the ids of the rows it added)
Steps = Generator[None, None, Any]
T = TypeVar("T")
# the rows a batch adds many of, numbered before each flush: one INSERT per table (db/numbering.py)
_NUMBERED = (SnapshotRow, FetchRow, OutcomeRow)
_HOLDS = "claimwatch.recorder.holds"  # session.info: `holds` outcomes, one INSERT per batch


@dataclass
class Checked:
    """A source check back from the network, waiting to be recorded."""

    plan: Plan
    fetched: Fetched
    _screened: tuple[NotEvidence | None] | None = None
    _digest: str | None = None

    def screened(self) -> NotEvidence | None:
        """`screen` of what was fetched, worked out once (reading and recording both ask: on a
        first check of news pages, 0.3 ms a page each time)."""
        if self._screened is None:
            self._screened = (screen(self.fetched.result),)
        return self._screened[0]

    def digest(self) -> str:
        """The sha256 of the body fetched, worked out once (the quiet path, reading, the
        batch's blob lookup and storing all need it)."""
        if self._digest is None:
            self._digest = blobs.digest(self.fetched.result.body or b"")
        return self._digest


def record_batch(store: Store, config: Config, batch: list[Checked], quiet: QuietRows,
                 workers: Workers | None = None, renew: Callable[[], None] | None = None,
                 every: float = 20.0, siblings: Siblings | None = None) -> list[SourceReport]:
    """Record the source checks that finished together.

    Unchanged ones wait in `quiet` until it is due. The others are read (extracted, evaluated)
    by `workers`, each under its source's time limit (in this process without `workers`;
    `renew` is called every `every` seconds while they are read), then recorded in one
    transaction, with whatever `quiet` holds, each check whole or absent. A first snapshot is
    stored on a sibling page of its host from `siblings`, the run's (`pipeline.siblings`).
    """
    now = utcnow()
    reports, full = [], []
    for checked in batch:
        unchanged = quiet.add(checked, now, config)
        if unchanged is None:
            full.append(checked)
        else:
            reports.append(unchanged)
    if not full:
        if quiet.due(now):
            record_quiet(store, quiet)
        return reports
    found = _readings(store, config, full, workers, renew, every)
    return reports + _write(store, config, full, found, quiet, siblings or Siblings())


def _write(store: Store, config: Config, full: list[Checked], readings: dict[int, Found],
           quiet: QuietRows, siblings: Siblings) -> list[SourceReport]:
    try:
        with store.session() as session:
            loaded = _load(session, [checked.plan for checked in full])
            siblings.load(session, (source for source, _items in loaded.values()))
            # which of the batch's bodies are stored already: one query, not one per body
            blobs.look_up(session, [checked.digest() for checked in full
                                    if checked.fetched.result.body is not None])
            reports = _side_by_side(session, [
                _record(session, config, checked, *loaded[checked.plan.source_id],
                        readings.get(checked.plan.source_id), siblings)
                for checked in full])
            quiet.write(session)
        quiet.clear()
        return reports
    except Exception as exc:
        if len(full) > 1 or quiet:
            record_quiet(store, quiet)
            return [report for checked in full
                    for report in _write(store, config, [checked], readings, quiet,
                                         siblings)]
        checked = full[0]
        message = f"internal error while recording: {type(exc).__name__}: {exc}"
        print(f"claimwatch: {checked.plan.slug}: {message}", file=sys.stderr)
        return [SourceReport(checked.plan.slug, CheckResult.ERROR, None,
                             checked.fetched.result.status, message)]


def _readings(store: Store, config: Config, full: list[Checked], workers: Workers | None,
              renew: Callable[[], None] | None, every: float) -> dict[int, Found]:
    """Each source's reading of what it fetched (source id → Reading, or why there is none),
    for the checks that have items to evaluate: the jobs are gathered in a read-only session
    and run outside any transaction."""
    try:
        with store.session() as session:
            loaded = _load(session, [checked.plan for checked in full])
            jobs = {checked.plan.source_id: job for checked in full
                    if (job := _job(session, config, checked,
                                    *loaded[checked.plan.source_id]))}
    except Exception:  # recording each check alone says what went wrong
        return {}
    if not jobs:
        return {}
    ids = list(jobs)
    limits = {checked.plan.source_id: config.extract_timeout(checked.plan.slug)
              for checked in full}
    found = _read_bounded([jobs[i] for i in ids], [limits[i] for i in ids], workers, renew,
                          every)
    return dict(zip(ids, found, strict=True))


def _read_bounded(jobs: list[Job], limits: list[float], workers: Workers | None,
                  renew: Callable[[], None] | None = None, every: float = 20.0) -> list[Found]:
    """`jobs` read by `workers`, the nth under `limits[n]` seconds (`renew` called every `every`
    seconds meanwhile); in this process, without limits, when there are no workers or no
    process can be started."""
    if workers is None:
        return [read_safely(job) for job in jobs]
    try:
        return workers.run(jobs, limits, renew, every)
    except OSError as exc:  # no process can be started (a process limit): read them here
        print(f"claimwatch: reading in this process, without a time limit: cannot start a "
              f"worker process: {exc}", file=sys.stderr)
        return [read_safely(job) for job in jobs]


def _job(session: Session, config: Config, checked: Checked, source: SourceRow,
         items: list[tuple[EvidenceRow, Evidence]]) -> Job | None:
    """What reading this check takes, if it has items to evaluate (as `_record` will find)."""
    plan, fetched = checked.plan, checked.fetched
    result = fetched.result
    if fetched.content_error or checked.screened() is not None or not (result.ok
                                                                   or result.not_modified):
        return None
    latest = session.get(SnapshotRow, source.latest_snapshot_id) \
        if source.latest_snapshot_id else None
    if result.not_modified:
        if latest is None:
            return None
        current = _stored(session, latest)
        current_id: int | None = latest.id
    else:
        body = result.body or b""
        if latest is not None and latest.blob_sha256 == checked.digest() \
                and latest.fetch_mode == plan.fetch_mode:  # read as stored
            current, current_id = Body(body, latest.content_type, latest.url, latest.charset), \
                latest.id
        else:
            current = Body(body, result.content_type, result.final_url, result.charset)
            current_id = None
    reading = reading_key(plan.source)
    due = [(row.id, ev, row.baseline_snapshot_id) for row, ev in items
           if _due(row, current_id, reading)]
    if not due:
        return None
    bases = {base for _id, _ev, base in due if base is not None and base != current_id}
    previous = source.latest_snapshot_id if current_id is None else None
    return Job(plan.source, current, current_id, _baselines(session, bases, plan.fetch_mode),
               tuple(due), previous,
               excerpts=bool(config.alerts))


def _baselines(session: Session, bases: set[int], mode: str) -> dict[int, Body | None]:
    """The stored baselines a reading compares with (None: gone, or fetched the other way —
    after `fetch:` was switched it is no peer, and the item starts again)."""
    return {base: _stored(session, row) if (row := session.get(SnapshotRow, base))
            and row.fetch_mode == mode else None for base in bases}


def _stored(session: Session, snapshot: SnapshotRow) -> Body:
    return Body(blobs.get(session, snapshot.blob_sha256), snapshot.content_type, snapshot.url,
                snapshot.charset)


def _due(row: EvidenceRow, snapshot_id: int | None, reading: str) -> bool:
    """Is the item to be evaluated on this snapshot (None: new bytes)?"""
    return (snapshot_id is None or row.evaluated_snapshot_id != snapshot_id
            or row.evaluated_options != reading or row.last_outcome == Outcome.UNREACHABLE)


def _side_by_side(session: Session, recordings: list[Generator[None, None, T]]) -> list[T]:
    """Run the checks' recordings step by step together, one flush between steps."""
    reports: list[T | None] = [None] * len(recordings)
    going = list(enumerate(recordings))
    while going:
        waiting = []
        for i, recording in going:
            try:
                next(recording)
                waiting.append((i, recording))
            except StopIteration as done:
                reports[i] = done.value
        if waiting:
            numbering.number(session, _NUMBERED)
            session.flush()
        going = waiting
    holds = session.info.pop(_HOLDS, [])
    if holds:
        session.execute(insert(OutcomeRow), holds)
    return [report for report in reports if report is not None]


def record_quiet(store: Store, quiet: QuietRows) -> None:
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


def _record(session: Session, config: Config, checked: Checked, source: SourceRow,
            items: list[tuple[EvidenceRow, Evidence]], found: Found | None,
            siblings: Siblings) -> Steps:
    """Record one check; `found` is its reading (None: no item was due on what it
    fetched; `siblings`: the bases a first snapshot may be stored on); yields where the batch
    flushes (`_side_by_side`), returns its report."""
    plan, fetched = checked.plan, checked.fetched
    result = fetched.result
    if isinstance(found, ReadingFailed):  # a bug: this check is not recorded at all
        raise found
    now = utcnow()
    rows = [FetchRow(**_fetch_values(source.id, a)) for a in fetched.attempts]
    if not rows:  # nothing was requested (robots.txt disallows it, a bad URL): still a check
        rows = [FetchRow(source_id=source.id, started_at=now, duration_ms=0,
                         url=result.url, status=None, bytes=0, error=result.error)]
    final = rows[-1]
    every = config.every(source.slug)

    problem = (NotEvidence("blocked", fetched.content_error) if fetched.content_error
               else checked.screened())
    if problem is None and isinstance(found, str):
        # reading it passed its time or memory limit: no snapshot, the items read as errors
        problem = NotEvidence("blocked", found)
    if problem is not None and problem.kind == "blocked":
        # the site answered, but not with the evidence: the desk must decide how to read it
        final.result = source.last_status = CheckResult.ERROR
        final.error = final.error or problem.reason
        source.consecutive_failures = 0
        _checked(session, source, rows, plan.owner, now, every)
        yield
        opened = yield from _conclude(session, config, final, None,
                                      [(row, ev, evaluate.error(problem.reason), False)
                                       for row, ev in items])
        return SourceReport(source.slug, CheckResult.ERROR, None, result.status,
                            problem.reason, opened)

    if problem is not None or not (result.ok or result.not_modified):
        error = problem.reason if problem else result.error
        final.result = source.last_status = CheckResult.ERROR
        final.error = final.error or error
        source.consecutive_failures += 1
        _checked(session, source, rows, plan.owner, now,
                 schedule.interval(every, source.consecutive_failures))
        yield
        audit.record(session, "failure", {"http_status": result.status, "error": error,
                                          "in_a_row": source.consecutive_failures},
                     source=source.slug)
        opened: list[FlagRecord] = []
        if result.gone or source.consecutive_failures >= evaluate.FAILURES_BEFORE_UNREACHABLE:
            observed = {"http_status": result.status} if result.gone else {"error": error}
            why = (f"the source answers HTTP {result.status}" if result.gone else
                   f"the source failed {source.consecutive_failures} checks in a row: {error}")
            opened = yield from _conclude(
                session, config, final, None,
                [(row, ev, _unreachable(session, row, observed, why), False) for row, ev in items])
        return SourceReport(source.slug, CheckResult.ERROR, None, result.status, error, opened)

    previous = source.latest_snapshot_id
    was = session.get(SnapshotRow, previous) if previous else None
    # the snapshot first: the check's rows then go in once, knowing it (no INSERT then UPDATE)
    snapshot, status = yield from _snapshot(session, source, checked, now, siblings)
    source.consecutive_failures = 0
    source.latest_snapshot_id = snapshot.id
    source.last_status = status
    source.validators = fetched.validators
    final.result = status
    final.snapshot_id = snapshot.id
    _checked(session, source, rows, plan.owner, now, every)
    yield
    error = None
    docs: DocumentCache = {}  # the documents read, for the flags' alerts to quote from
    excerpts: Excerpts = {}  # and the changes they quote, summed up with them
    outcomes: list[Concluded] = []
    if isinstance(found, Reading):
        excerpts = {(snapshot.id if base is None else base, snapshot.id): change
                    for base, change in found.excerpts.items()}
        docs |= found.baselines
        docs[snapshot.id] = found.current
        error = found.current if isinstance(found.current, str) else None
        reading = reading_key(plan.source)
        outcomes = _concluded(items, found, snapshot)
        for row, _ev, _res, _first in outcomes:
            row.evaluated_snapshot_id = snapshot.id
            row.evaluated_options = reading
    if was is not None and was.fetch_mode != snapshot.fetch_mode:
        # never compared across modes: each item's baseline started again on this snapshot
        audit.record(session, "fetch-mode", {
            "from": was.fetch_mode, "to": snapshot.fetch_mode, "snapshot": snapshot.id,
            "previous": was.id, "new_baselines": sum(1 for *_x, first in outcomes if first)},
            source=source.slug, at=now)
    if status != CheckResult.UNCHANGED:  # before the flags it leads to: history reads in order
        archive.enqueue(session, config, source, snapshot)
        audit.record(session, "snapshot", {
            "status": status, "snapshot": snapshot.id, "previous": previous,
            "sha256": snapshot.blob_sha256, "url": snapshot.url,
            "change": found.change if isinstance(found, Reading) else None}
            # rendered: the response as served, kept too (audit verify --deep checks both)
            | ({"fetch_mode": snapshot.fetch_mode, "raw_sha256": snapshot.raw_sha256}
               if snapshot.raw_sha256 else {}),
            source=source.slug, at=now)
    opened = (yield from _conclude(session, config, final, snapshot, outcomes, docs,
                                   excerpts)) \
        if outcomes else []
    return SourceReport(source.slug, status, snapshot.id, result.status, error, opened)


@dataclass(frozen=True)
class Archived:
    """One archived version, as `record_archived` took it: `loaded` (a new snapshot, its items
    evaluated), `already` (loaded by an earlier backfill), `same` (the bytes of the version
    before it) or `error` (it could not be read)."""

    captured_at: dt.datetime
    archive_url: str
    status: str
    snapshot: int | None = None
    error: str | None = None
    outcomes: tuple[tuple[int, str], ...] = ()  # (evidence id, outcome)
    flags: tuple[FlagRecord, ...] = ()


def record_archived(session: Session, config: Config, source: SourceRow,
                    items: list[tuple[EvidenceRow, Evidence]], version: Version, *,
                    baseline: bool, workers: Workers | None = None) -> Archived:
    """Record a version loaded from where it was kept (`backfill`): a snapshot marked archived
    (its capture time, the archive's address), each item evaluated on it as a live check would
    (`baseline`: this version becomes the items' baseline), and the flags that follow, dated
    when the version was captured, without their alerts (the backfill's end queues those still
    open: `flags.alert_still_open`). A version already loaded is left alone, so a re-run adds
    nothing twice; live state (schedule, validators, failures) is not touched.

    It is read by `workers` under the source's `extract_timeout` and `extract_memory`, as a
    live check is (in this process, without limits, when there are none): one read past them
    is recorded as a live check records it, a failed attempt whose items read as `error` with
    the reason, and no snapshot. A bug while reading it (`ReadingFailed`) is raised: nothing
    of it is written."""
    capture, now = version.capture, utcnow()
    fetch = FetchRow(source_id=source.id, started_at=now, duration_ms=version.duration_ms,
                     url=capture.archive_url, status=version.status, bytes=len(version.body),
                     error=version.error)
    if version.error is not None:
        session.add(fetch)
        return Archived(capture.captured_at, capture.archive_url, "error", error=version.error)
    sha = blobs.digest(version.body)
    kept = session.scalars(select(SnapshotRow).where(
        SnapshotRow.source_id == source.id, SnapshotRow.fetched_at == capture.captured_at,
        SnapshotRow.blob_sha256 == sha)).first()
    if kept is not None:
        return Archived(capture.captured_at, capture.archive_url, "already", kept.id)
    before = session.scalars(select(SnapshotRow).where(
        SnapshotRow.source_id == source.id, SnapshotRow.fetched_at < capture.captured_at)
        .order_by(SnapshotRow.fetched_at.desc(), SnapshotRow.id.desc()).limit(1)).first()
    if not baseline and before is not None and before.blob_sha256 == sha:
        return Archived(capture.captured_at, capture.archive_url, "same", before.id)
    spec = config.sources[source.slug]
    url = version.document or capture.url  # with `follow`: the document's, as live
    kind = resolve_kind(spec.kind, version.content_type, url, version.body)
    # read before this transaction writes anything: the transaction (and on SQLite the write
    # lock, taken at its first write) never waits on a reading, which may take up to the
    # source's extract_timeout (it used to: the version was read after its snapshot's flush)
    found = _read_archived(session, config, source.slug, items, version, url, before,
                           baseline=baseline, workers=workers)
    if isinstance(found, ReadingFailed):  # a bug: this version is not recorded at all
        raise found
    if isinstance(found, str):  # past its time or memory limit: no snapshot, items in error
        fetch.result, fetch.error = CheckResult.ERROR, found
        session.add(fetch)
        for row, _ev in items:  # the next live check evaluates them again
            row.evaluated_snapshot_id = None
        session.flush()  # the outcomes point at the fetch
        failed = [(row, ev, evaluate.error(found), False) for row, ev in items]
        opened = _side_by_side(session, [_conclude(session, config, fetch, None, failed,
                                                   at=capture.captured_at, alert=False)])[0]
        return Archived(capture.captured_at, capture.archive_url, "error", error=found,
                        outcomes=tuple((row.id, res.status) for row, _ev, res, _f in failed),
                        flags=tuple(opened))
    latest = session.get(SnapshotRow, source.latest_snapshot_id) \
        if source.latest_snapshot_id else None
    # a delta on the version before it, else on a later one, else on a sibling page, as live
    on, at_most = Siblings().load(session, [source]).base(session, before or latest, source,
                                                       kind, url)
    blobs.put(session, version.body, base=served(on) if on else None, at_most=at_most, sha=sha)
    snapshot = SnapshotRow(
        source_id=source.id, blob_sha256=sha, url=url,
        content_type=version.content_type, charset=None, kind=kind,
        headers={}, fetched_at=capture.captured_at, archived_at=now,
        archive_url=capture.archive_url, fetch_mode=FetchMode.HTTP)
    session.add(snapshot)
    session.flush()
    fetch.result = CheckResult.NEW if baseline else CheckResult.CHANGED
    fetch.snapshot_id = snapshot.id
    session.add(fetch)
    if latest is None or latest.fetched_at < snapshot.fetched_at:
        source.latest_snapshot_id = snapshot.id
    if baseline:
        for row, _ev in items:
            row.baseline_snapshot_id = None  # this version is the item's first evaluation
    docs: DocumentCache = found.baselines | {snapshot.id: found.current}
    outcomes = _concluded(items, found, snapshot)
    for row, _ev in items:  # the next live check evaluates again, against this baseline
        row.evaluated_snapshot_id = None
    session.flush()
    audit.record(session, "snapshot", {
        "status": fetch.result, "snapshot": snapshot.id,
        "previous": before.id if before else None, "sha256": sha, "url": snapshot.url,
        "archived": {"captured_at": capture.captured_at.isoformat() + "Z",
                     "archive_url": capture.archive_url},
        "change": found.change}, source=source.slug)
    opened = _side_by_side(session, [_conclude(session, config, fetch, snapshot, outcomes, docs,
                                               at=capture.captured_at, alert=False)])[0]
    return Archived(capture.captured_at, capture.archive_url, "loaded", snapshot.id,
                    outcomes=tuple((row.id, res.status) for row, _ev, res, _f in outcomes),
                    flags=tuple(opened))


def _read_archived(session: Session, config: Config, slug: str,
                   items: list[tuple[EvidenceRow, Evidence]], version: Version, url: str,
                   before: SnapshotRow | None, *, baseline: bool, workers: Workers | None
                   ) -> Found:
    """Read an archived version (new bytes, not stored yet) as a worker reads a live check's,
    under the same limits: its items against their baselines (none: `baseline`), the change
    from `before`."""
    due = tuple((row.id, ev, None if baseline else row.baseline_snapshot_id)
                for row, ev in items)
    bases = {base for _id, _ev, base in due if base is not None}
    if before is not None:
        bases.add(before.id)
    job = Job(config.sources[slug], Body(version.body, version.content_type, url, None), None,
              _baselines(session, bases, FetchMode.HTTP), due,
              before.id if before else None)
    return _read_bounded([job], [config.extract_timeout(slug)], workers)[0]


def _concluded(items: list[tuple[EvidenceRow, Evidence]], found: Reading,
               snapshot: SnapshotRow) -> list[Concluded]:
    """The items `found` evaluated, each with its outcome; an item evaluated for the first
    time takes `snapshot` as its baseline."""
    outcomes = []
    for row, ev in items:
        if row.id not in found.outcomes:
            continue
        res, first = found.outcomes[row.id]
        if first:
            row.baseline_snapshot_id = snapshot.id
        outcomes.append((row, ev, res, first))
    return outcomes

def _checked(session: Session, source: SourceRow, rows: list[FetchRow], owner: str,
             now: dt.datetime, interval: float) -> None:
    """The check's fetch rows, the source's next check in about `interval` seconds, and the
    source's lease released if this check still holds it."""
    session.add_all(rows)
    source.last_checked_at = now
    source.next_check_at = schedule.next_check(now, interval)
    if source.lease_owner == owner:
        source.lease_owner, source.lease_until = None, None


class QuietRows:
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

    def add(self, checked: Checked, now: dt.datetime, config: Config) -> SourceReport | None:
        """Take `checked` if it is an unchanged check; None if it must be recorded in full."""
        plan, fetched = checked.plan, checked.fetched
        result = fetched.result
        if not (plan.quiet and fetched.attempts and not fetched.content_error and (
                result.not_modified or (result.ok and checked.digest() == plan.latest_sha))):
            return None
        rows = [_fetch_values(plan.source_id, a) for a in fetched.attempts]
        rows[-1] |= {"result": CheckResult.UNCHANGED, "snapshot_id": plan.latest_snapshot_id}
        self.fetches += rows
        # on a 304 the validators are the ones sent; on the same bytes, the server's new ones
        self.sources.append({"b_id": plan.source_id, "b_now": now,
                             "b_next": schedule.next_check(now, config.every(plan.slug)),
                             "b_validators": fetched.validators})
        self.owner = plan.owner
        self.since = min(self.since, now)
        return SourceReport(plan.slug, CheckResult.UNCHANGED, plan.latest_snapshot_id,
                            result.status, None)

    def due(self, now: dt.datetime) -> bool:
        return len(self) >= self.MAX or (bool(self) and now - self.since >= self.WAIT)

    def write(self, session: Session) -> None:
        if not self.sources:
            return
        session.execute(insert(FetchRow), self.fetches)
        table = SourceRow.__table__
        ours = table.c.lease_owner == self.owner  # a lease that ran out may be another's now
        session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            last_checked_at=bindparam("b_now"), last_status=CheckResult.UNCHANGED,
            next_check_at=bindparam("b_next"),
            validators=bindparam("b_validators", type_=table.c.validators.type),
            lease_owner=case((ours, None), else_=table.c.lease_owner),
            lease_until=case((ours, None), else_=table.c.lease_until)), self.sources)

    def clear(self) -> None:
        self.fetches, self.sources, self.since = [], [], dt.datetime.max


def _unreachable(session: Session, row: EvidenceRow, observed: dict[str, Any],
                 why: str) -> evaluate.Result:
    """`unreachable`, compared with what an editor accepted: a page accepted as gone stays quiet
    while it stays gone the same way."""
    result = evaluate.unreachable(observed, why)
    accepted = session.get(OutcomeRow, row.accepted_outcome_id) \
        if row.accepted_outcome_id else None
    if accepted is not None and accepted.status == Outcome.UNREACHABLE:
        return replace(result, baseline_observed=accepted.observed)
    return result


def _snapshot(session: Session, source: SourceRow, checked: Checked, now: dt.datetime,
              siblings: Siblings) -> Generator[None, None, tuple[SnapshotRow, CheckResult]]:
    """The snapshot this check saw: the latest one when nothing changed, else a new one
    (yields for the flush that gives it its id)."""
    result, raw = checked.fetched.result, checked.fetched.raw
    mode = checked.plan.fetch_mode
    latest = session.get(SnapshotRow, source.latest_snapshot_id) \
        if source.latest_snapshot_id else None
    if result.not_modified:
        if latest is None:
            raise RuntimeError("the server answered 304 but no snapshot is stored")
        return latest, CheckResult.UNCHANGED
    body = result.body or b""
    sha = checked.digest()
    if latest is not None and latest.blob_sha256 == sha and latest.fetch_mode == mode:
        return latest, CheckResult.UNCHANGED
    kind = resolve_kind(checked.plan.source.kind, result.content_type, result.final_url, body)
    # stored as a delta on the version before it where that is smaller (db/blobs.py), a first
    # one on a sibling page of the same host (pipeline/siblings.py); a rendered DOM on the DOM
    # before it, a page as served on the page as served before it (also after `fetch:` changed)
    on, at_most = siblings.base(session, latest, source, kind, result.final_url)
    as_served = served(on) if on is not None else None
    dom = on.blob_sha256 if on is not None and mode == FetchMode.BROWSER else as_served
    blobs.put(session, body, base=dom, at_most=at_most, sha=sha)
    raw_sha = None
    if raw is not None and raw.body is not None:  # rendered: the response as served, for WARC
        raw_sha = blobs.put(session, raw.body, base=as_served, at_most=at_most)
    siblings.add(session, source.host, kind, result.final_url, source.id, sha, raw_sha)
    snapshot = SnapshotRow(
        source_id=source.id, blob_sha256=sha, url=result.final_url,
        content_type=result.content_type, charset=result.charset, kind=kind,
        headers=dict(raw.headers if raw is not None else result.headers), fetched_at=now,
        fetch_mode=mode, raw_sha256=raw_sha)
    session.add(snapshot)
    yield
    return snapshot, CheckResult.CHANGED if latest is not None else CheckResult.NEW


def _conclude(session: Session, config: Config, final: FetchRow, snapshot: SnapshotRow | None,
              outcomes: list[Concluded], docs: DocumentCache | None = None,
              excerpts: Excerpts | None = None, at: dt.datetime | None = None,
              alert: bool = True) -> Generator[None, None, list[FlagRecord]]:
    """Write each item's outcome and move its flags (`pipeline.flags`); return the new flags
    (yields for the flush that gives the outcomes their ids, when a flag may point at one).
    `at`: when it happened, if not at this check (an archived version's capture time);
    without `alert`, new flags wait for their alerts (`flags.alert_still_open`)."""
    opened = []
    docs = {} if docs is None else docs  # the documents the flags' alerts quote from
    written = []
    for row, _ev, res, first in outcomes:
        values = {"evidence_id": row.id, "fetch_id": final.id,
                  "snapshot_id": snapshot.id if snapshot else None,
                  "baseline_snapshot_id": row.baseline_snapshot_id, "status": res.status,
                  "observed": res.observed, "reason": res.reason,
                  "created_at": at or final.started_at}
        outcome = OutcomeRow(**values)
        if res.status == Outcome.HOLDS:  # no flag points at it: the batch's one INSERT
            session.info.setdefault(_HOLDS, []).append(values)
        else:
            session.add(outcome)
        written.append((row, outcome, res, first, row.last_outcome))
        row.last_outcome = res.status
    if any(res.status != Outcome.HOLDS for _row, _o, res, _f, _p in written):
        yield  # the flags point at their outcomes
    for row, outcome, res, first, previous in written:
        flag = flags.follow_outcome(session, config, row, outcome, res, first=first,
                                    previous=previous, docs=docs, excerpts=excerpts, at=at,
                                    alert=alert)
        if flag is not None:
            opened.append(flag)
    return opened


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


def _fetch_values(source_id: int, attempt: Attempt) -> dict[str, Any]:
    return {"source_id": source_id, "started_at": attempt.started_at.replace(tzinfo=None),
            "duration_ms": attempt.duration_ms, "url": attempt.url,
            "final_url": attempt.final_url if attempt.final_url != attempt.url else None,
            "status": attempt.status, "bytes": attempt.bytes, "error": attempt.error,
            "result": None, "snapshot_id": None}
