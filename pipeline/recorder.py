"""Recording source checks: the only writer of what a check found (fetch attempts, blobs,
snapshots, outcomes, the source's schedule and health), with the flags it leads to moved by
`pipeline.flags`.

The checks that finish together are written in ONE transaction, each whole or absent, so a
crash leaves no half-written check and the next run redoes it. If recording one fails (a bug in
claimwatch), the transaction rolls back and each is recorded alone: the failure costs that
source's check and no other. An unchanged source (304, or the same bytes) on the quiet path
costs its fetch row and nothing else: no parse, no diff (`QuietRows`).
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from db import Store, audit, blobs, utcnow
from db.models import ClaimRow, EvidenceRow, FetchRow, OutcomeRow, SnapshotRow, SourceRow
from pipeline import evaluate, flags, schedule
from pipeline.config import Config, Evidence
from pipeline.diff import diff
from pipeline.extract import Document, resolve_kind
from pipeline.fetch import Attempt
from pipeline.plan import Plan, reading_key
from pipeline.records import FlagRecord, SourceReport
from pipeline.screen import NotEvidence, screen
from pipeline.snapshots import DocumentCache, read
from pipeline.source_fetch import Fetched
from pipeline.vocab import CheckResult, Outcome

# an evaluated item: its row, its sources.yaml entry, the outcome, and whether it had no baseline
Concluded = tuple[EvidenceRow, Evidence, evaluate.Result, bool]


@dataclass
class Checked:
    """A source check back from the network, waiting to be recorded."""

    plan: Plan
    fetched: Fetched


def record_batch(store: Store, config: Config, batch: list[Checked],
                 quiet: QuietRows) -> list[SourceReport]:
    """Record the source checks that finished together.

    Unchanged ones wait in `quiet` until it is due. The others are recorded in one
    transaction, with whatever `quiet` holds, each check whole or absent.
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
    try:
        with store.session() as session:
            loaded = _load(session, [checked.plan for checked in full])
            reports += [_record(session, config, checked, *loaded[checked.plan.source_id])
                        for checked in full]
            quiet.write(session)
        quiet.clear()
        return reports
    except Exception as exc:
        if len(full) > 1 or quiet:
            record_quiet(store, quiet)
            return reports + [report for checked in full
                              for report in record_batch(store, config, [checked], quiet)]
        checked = full[0]
        message = f"internal error while recording: {type(exc).__name__}: {exc}"
        print(f"claimwatch: {checked.plan.slug}: {message}", file=sys.stderr)
        return [SourceReport(checked.plan.slug, CheckResult.ERROR, None,
                             checked.fetched.result.status, message)]


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
            items: list[tuple[EvidenceRow, Evidence]]) -> SourceReport:
    plan, fetched = checked.plan, checked.fetched
    result = fetched.result
    now = utcnow()
    rows = [FetchRow(**_fetch_values(source.id, a)) for a in fetched.attempts]
    if not rows:  # nothing was requested (robots.txt disallows it, a bad URL): still a check
        rows = [FetchRow(source_id=source.id, started_at=now, duration_ms=0,
                         url=result.url, status=None, bytes=0, error=result.error)]
    final = rows[-1]
    every = config.every(source.slug)

    problem = (NotEvidence("blocked", fetched.content_error) if fetched.content_error
               else screen(result))
    if problem is not None and problem.kind == "blocked":
        # the site answered, but not with the evidence: the desk must decide how to read it
        final.result = source.last_status = CheckResult.ERROR
        final.error = final.error or problem.reason
        source.consecutive_failures = 0
        _checked(session, source, rows, plan.owner, now, every)
        session.flush()
        opened = _conclude(session, config, final, None,
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
        session.flush()
        audit.record(session, "failure", {"http_status": result.status, "error": error,
                                          "in_a_row": source.consecutive_failures},
                     source=source.slug)
        opened: list[FlagRecord] = []
        if result.gone or source.consecutive_failures >= evaluate.FAILURES_BEFORE_UNREACHABLE:
            observed = {"http_status": result.status} if result.gone else {"error": error}
            why = (f"the source answers HTTP {result.status}" if result.gone else
                   f"the source failed {source.consecutive_failures} checks in a row: {error}")
            opened = _conclude(session, config, final, None,
                               [(row, ev, _unreachable(session, row, observed, why), False)
                                for row, ev in items])
        return SourceReport(source.slug, CheckResult.ERROR, None, result.status, error, opened)

    previous = source.latest_snapshot_id
    was = session.get(SnapshotRow, previous) if previous else None
    # the snapshot first: the check's rows then go in once, knowing it (no INSERT then UPDATE)
    snapshot, status = _snapshot(session, source, checked, now)
    source.consecutive_failures = 0
    source.latest_snapshot_id = snapshot.id
    source.last_status = status
    source.validators = fetched.validators
    final.result = status
    final.snapshot_id = snapshot.id
    _checked(session, source, rows, plan.owner, now, every)
    session.flush()
    reading = reading_key(plan.source)
    due = [(row, ev) for row, ev in items
           if row.evaluated_snapshot_id != snapshot.id or row.evaluated_options != reading
           or row.last_outcome == Outcome.UNREACHABLE]
    error = None
    docs: DocumentCache = {}
    outcomes: list[Concluded] = []
    if due:
        outcomes, error = _evaluate(session, checked, snapshot, due, docs)
        for row, _ev in due:
            row.evaluated_snapshot_id = snapshot.id
            row.evaluated_options = reading
    if was is not None and was.fetch_mode != snapshot.fetch_mode:
        # never compared across modes: each item's baseline started again on this snapshot
        audit.record(session, "fetch-mode", {
            "from": was.fetch_mode, "to": snapshot.fetch_mode, "snapshot": snapshot.id,
            "previous": was.id, "new_baselines": sum(1 for *_x, first in outcomes if first)},
            source=source.slug, at=now)
    if status != CheckResult.UNCHANGED:  # before the flags it leads to: history reads in order
        audit.record(session, "snapshot", {
            "status": status, "snapshot": snapshot.id, "previous": previous,
            "sha256": snapshot.blob_sha256, "url": snapshot.url,
            "change": _change_summary(docs.get(previous or -1), docs.get(snapshot.id))},
            source=source.slug, at=now)
    opened = _conclude(session, config, final, snapshot, outcomes, docs) if outcomes else []
    return SourceReport(source.slug, status, snapshot.id, result.status, error, opened)


def _checked(session: Session, source: SourceRow, rows: list[FetchRow], owner: str,
             now: dt.datetime, interval: float) -> None:
    """The check's fetch rows, the source's next check in about `interval` seconds, and the
    source's lease released if this check still holds it."""
    session.add_all(rows)
    source.last_checked_at = now
    source.next_check_at = schedule.next_check(now, interval)
    if source.lease_owner == owner:
        source.lease_owner, source.lease_until = None, None


def _change_summary(before: Document | str | None, after: Document | str | None) -> str | None:
    """A few words on what changed, when both versions were read for this check anyway."""
    if not isinstance(before, Document) or not isinstance(after, Document):
        return None
    return diff(before, after).summary()


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
                result.not_modified or (result.ok and blobs.digest(result.body or b"")
                                        == plan.latest_sha))):
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


def _snapshot(session: Session, source: SourceRow, checked: Checked,
              now: dt.datetime) -> tuple[SnapshotRow, CheckResult]:
    """The snapshot this check saw: the latest one when nothing changed, else a new one."""
    result, raw = checked.fetched.result, checked.fetched.raw
    mode = checked.plan.fetch_mode
    latest = session.get(SnapshotRow, source.latest_snapshot_id) \
        if source.latest_snapshot_id else None
    if result.not_modified:
        if latest is None:
            raise RuntimeError("the server answered 304 but no snapshot is stored")
        return latest, CheckResult.UNCHANGED
    body = result.body or b""
    sha = blobs.digest(body)
    if latest is not None and latest.blob_sha256 == sha and latest.fetch_mode == mode:
        return latest, CheckResult.UNCHANGED
    blobs.put(session, body)
    raw_sha = None
    if raw is not None and raw.body is not None:  # rendered: the response as served, for WARC
        raw_sha = blobs.put(session, raw.body)
    snapshot = SnapshotRow(
        source_id=source.id, blob_sha256=sha, url=result.final_url,
        content_type=result.content_type, charset=result.charset,
        kind=resolve_kind(checked.plan.source.kind, result.content_type, result.final_url, body),
        headers=dict(raw.headers if raw is not None else result.headers), fetched_at=now,
        fetch_mode=mode, raw_sha256=raw_sha)
    session.add(snapshot)
    session.flush()
    return snapshot, CheckResult.CHANGED if latest is not None else CheckResult.NEW


def _evaluate(session: Session, checked: Checked, snapshot: SnapshotRow,
              due: list[tuple[EvidenceRow, Evidence]], docs: DocumentCache
              ) -> tuple[list[Concluded], str | None]:
    """Evaluate the due items on `snapshot`, each against its own baseline (documents read
    are left in `docs`)."""
    source = checked.plan.source
    current = read(session, snapshot, source, docs, body=checked.fetched.result.body)
    if isinstance(current, str):
        return [(row, ev, evaluate.error(current), False) for row, ev in due], current
    outcomes = []
    for row, ev in due:
        first = row.baseline_snapshot_id is None
        baseline: Document | None = current
        if not first and row.baseline_snapshot_id != snapshot.id:
            base_snapshot = session.get(SnapshotRow, row.baseline_snapshot_id)
            if base_snapshot is None:
                read_base: Document | str = "missing"
            elif base_snapshot.fetch_mode != snapshot.fetch_mode:  # `fetch:` was switched
                read_base = "fetched otherwise"  # a rendered DOM is not a served page's peer
            else:
                read_base = read(session, base_snapshot, source, docs)
            # a baseline the current reading cannot read: start again from this snapshot
            baseline = read_base if isinstance(read_base, Document) else None
            first = baseline is None
        if first:
            row.baseline_snapshot_id = snapshot.id
            baseline = None
        outcomes.append((row, ev, evaluate.evaluate(ev, current, baseline), first))
    return outcomes, None


def _conclude(session: Session, config: Config, final: FetchRow, snapshot: SnapshotRow | None,
              outcomes: list[Concluded], docs: DocumentCache | None = None) -> list[FlagRecord]:
    """Write each item's outcome and move its flags (`pipeline.flags`); return the new flags."""
    opened = []
    docs = {} if docs is None else docs  # the documents the flags' alerts quote from
    written = []
    for row, _ev, res, first in outcomes:
        outcome = OutcomeRow(evidence_id=row.id, fetch_id=final.id,
                             snapshot_id=snapshot.id if snapshot else None,
                             baseline_snapshot_id=row.baseline_snapshot_id, status=res.status,
                             observed=res.observed, reason=res.reason,
                             created_at=final.started_at)
        session.add(outcome)
        written.append((row, outcome, res, first, row.last_outcome))
        row.last_outcome = res.status
    if any(res.status != Outcome.HOLDS for _row, _o, res, _f, _p in written):
        session.flush()  # the flags point at their outcomes
    for row, outcome, res, first, previous in written:
        flag = flags.follow_outcome(session, config, row, outcome, res, first=first,
                                    previous=previous, docs=docs)
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
