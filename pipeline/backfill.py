"""`claimwatch backfill`: a fact-check's cited sources, from its publication day until now, loaded
from where their versions are kept (`pipeline.archive_sources`) and evaluated in time order as
live checks would have been.

For each cited source: list the captures (`Kept.captures`), take the one nearest the
publication day as the items' baseline, then read and record each later one in capture order,
one transaction per version (`recorder.record_archived`: the snapshot marked archived, the
outcomes and flags dated at the capture). Each version is read as a live check's bytes are, in
a worker process under the source's `extract_timeout` and `extract_memory` (one process per
backfill, `extraction_worker.Workers`): a version read past them is a failed attempt whose
items read as `error`, and the backfill goes on with the next. Flags raise no alert while the
replay goes on: at the fact-check's end, the ones still open are alerted (one each, "since
DAY"); the ones the replay itself resolved are history, in the timeline and the audit log, and
page no one. Live checks are not touched; a version already loaded is skipped, so a re-run adds
nothing twice.

Which fact-checks await their backfill (with `defaults.backfill_from`: `check` and the daemon
backfill them before their first live check) is kept on the fact-check's row. `check`
(`backfill_waiting`) and the daemon take one the same way: all its sources leased and the
fact-check marked started, in one transaction (`claim_waiting`), the leases renewed while it
runs and let go at its end (`holding`), so one worker backfills it and live checks, which leave
the sources of a fact-check awaiting its backfill alone (`held_back`), come after. A whole
backfill marks it finished when it ends (`backfill`); `check` and the daemon also when it fails
for anything but the database (`backfill_claimed`), so that every later check does not fail on
it again, and say why: in their output, and on the row as its reason (`finish`), so that it
reads as failed, not finished, until a whole backfill of it ends (`claimwatch backfill`, once
the cause is fixed). A dated, active fact-check awaits one while it is not finished and
either none of its items was ever evaluated (new to the desk) or a worker started it: so a
`check` or a daemon stopped or killed after the baseline leaves it awaiting, and the next one
resumes it, skipping what was loaded. A fact-check evaluated before the marks existed has
neither, and awaits nothing. Where each one stands, for people (`status`, the REST API and the
desk's fact-check pages), is `states`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.exc import DBAPIError

from db import Store, leases, utcnow
from db.models import ClaimRow, EvidenceRow, FactCheckRow, SnapshotRow, SourceRow
from pipeline import flags
from pipeline.archive_sources import Capture, Kept, nearest
from pipeline.config import Config, Evidence, Source
from pipeline.errors import ClaimwatchError, FetchError, NotFound, UsageError, first_line
from pipeline.extraction_worker import Workers
from pipeline.recorder import Archived, record_archived
from pipeline.records import FlagRecord
from pipeline.sync import sync_config
from pipeline.textnorm import printable
from pipeline.vocab import iso

EARLIEST = dt.timedelta(days=31)  # how far before publication a baseline may be looked for
REASON_CHARS = 300  # a failed backfill's reason kept: one line, as `status` and the desk show it


@dataclass
class SourceBackfill:
    """What backfilling one source did: captures listed, versions loaded (or already there, or
    the same bytes as the version before, or unreadable), the baseline's capture, the flags
    opened, and the time it took. `unlisted` says why its captures could not be listed (the
    archive down or refusing): then nothing of it was loaded, and a re-run may load it all."""

    source: str
    captures: int = 0
    loaded: int = 0
    already: int = 0
    same: int = 0
    errors: list[str] = field(default_factory=list)
    unlisted: str | None = None
    baseline: dt.datetime | None = None
    flags: list[FlagRecord] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "captures": self.captures, "loaded": self.loaded,
                "already": self.already, "same": self.same, "errors": self.errors,
                "baseline": iso(self.baseline) if self.baseline else None,
                "flags": [f.to_json() for f in self.flags], "seconds": round(self.seconds, 3)}


@dataclass
class BackfillReport:
    factcheck: str
    published: dt.date
    sources: list[SourceBackfill]
    alerted: list[int] = field(default_factory=list)  # flags still open at the end, alerted
    # why a backfill that was ended failed, in one line: a worker's that raised
    # (`backfill_claimed`: `sources` is empty), or a whole one with a source's captures unlisted
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"factcheck": self.factcheck, "published": self.published.isoformat(),
                "sources": [s.to_json() for s in self.sources], "alerted": self.alerted,
                **({"error": self.error} if self.error is not None else {})}


class Stopped(Exception):
    """Raised by a backfill's `on_version` to end it between two versions (a daemon stopping):
    it stays started and not finished, and the next worker to claim it resumes it."""


def backfill(store: Store, config: Config, factcheck_id: str,
             kept_for: Callable[[str, Source], Kept], *, only: str | None = None,
             until: dt.datetime | None = None,
             on_version: Callable[[str, Archived], None] | None = None) -> BackfillReport:
    """Backfill every source the fact-check cites (or `only` this one) from `kept_for(source id,
    source)`, between its publication day and `until` (now). A whole backfill that ends marks
    the fact-check's backfill finished (a failed one's reason cleared; failed, if the captures
    of a source could not be listed), with the alerts of what it left open."""
    fc = next((f for f in config.factchecks if f.id == factcheck_id), None)
    if fc is None:
        raise NotFound(f"unknown fact-check {factcheck_id!r}", field="factcheck")
    if fc.published is None:
        raise UsageError(f"fact-check {factcheck_id!r} has no `published:` day: backfill starts "
                         "there (add it to its YAML)", field="factcheck")
    cited = list(dict.fromkeys(ev.source for claim in fc.claims for ev in claim.evidence))
    whole = only is None or cited == [only]  # every cited source: the whole backfill
    if only is not None:
        if only not in cited:
            raise UsageError(f"fact-check {factcheck_id!r} does not cite source {only!r}",
                             field="source")
        cited = [only]
    with store.session() as session:
        sync_config(session, config)
    since = dt.datetime.combine(fc.published, dt.time()) - EARLIEST
    until = until or utcnow()
    report = BackfillReport(fc.id, fc.published, [])
    opened: dict[int, Kept] = {}
    # the processes that read the versions, under the sources' limits as live checks read
    # (`extraction_worker`): one, started when a version is first read, ended with the backfill
    workers = Workers(1, memory=config.defaults.extract_memory)
    try:
        for slug in cited:
            spec = config.sources[slug]
            kept = kept_for(slug, spec)
            opened[id(kept)] = kept
            report.sources.append(_source(store, config, fc.id, slug, spec, kept, fc.published,
                                          since, until, on_version, workers))
        with store.session() as session:  # what the replay left open: alerted now, once
            report.alerted = flags.alert_still_open(session, config, fc.id)
            if whole:  # and the fact-check awaits its backfill no more; one whose captures
                # could not all be listed is failed, for people to see and re-run (a version
                # that cannot be read is the archive's for good: it is in the timeline)
                unlisted = [f"{s.source}: {s.unlisted}" for s in report.sources if s.unlisted]
                why = f"the captures of a source could not be listed: {'; '.join(unlisted)}" \
                    if unlisted else None
                report.error = finish(session, fc.id, error=why)
    finally:
        workers.close()
        for kept in opened.values():
            close = getattr(kept, "close", None)
            if close is not None:
                close()
    return report


def _source(store: Store, config: Config, factcheck: str, slug: str, spec: Source, kept: Kept,
            published: dt.date, since: dt.datetime, until: dt.datetime,
            on_version: Callable[[str, Archived], None] | None, workers: Workers
            ) -> SourceBackfill:
    """Backfill one source: list its captures, then load the baseline and the later ones."""
    started = time.perf_counter()
    done = SourceBackfill(slug)
    try:
        captures = kept.captures(spec.url, since, until)
    except FetchError as exc:  # the listing failed: reported, and the other sources go on
        done.unlisted = str(exc)
        done.errors.append(done.unlisted)
        captures = []
    done.captures = len(captures)
    if captures:
        first = nearest(captures, published)
        done.baseline = captures[first].captured_at
        pending = True  # the baseline is the first version that could be read
        for capture in captures[first:]:
            result = _one(store, config, factcheck, slug, kept, capture, baseline=pending,
                          workers=workers)
            pending = pending and result.status == "error"
            _count(done, result)
            if on_version is not None:
                on_version(slug, result)
    done.seconds = time.perf_counter() - started
    return done


def awaiting() -> ColumnElement[bool]:
    """The sources cited by a fact-check awaiting its backfill (`_waiting`): what live checks
    leave alone while `defaults.backfill_from` is set (`held_back`), so no live check becomes
    such a fact-check's baseline before its backfill ran, nor comes between two of its
    versions when a stopped backfill is resumed."""
    return SourceRow.id.in_(_cited().where(
        ClaimRow.factcheck_id.in_(_waiting().with_only_columns(FactCheckRow.id))))


@dataclass(frozen=True)
class Claimed:
    """A fact-check whose backfill one worker took: every source it cites, leased to `owner`."""

    factcheck: str
    owner: str
    source_ids: tuple[int, ...]


def claim_waiting(store: Store, config: Config, owner: str, *, lease: dt.timedelta
                  ) -> Claimed | None:
    """Take the backfill of the first fact-check awaiting one: lease all its sources to `owner`
    (`db.leases`) and mark it started, in one transaction; or take none of them when another
    worker holds any (a live check of a source it shares, another daemon or `check`
    backfilling it, or a dead one's until its leases expire). None when there is none to take.
    While the leases last no other worker checks or backfills these sources; once they are let
    go (the backfill stopped) or run out (its worker died), started and not finished, it is
    taken again."""
    dated = [fc.id for fc in config.factchecks if fc.published is not None]
    if not dated:
        return None
    with store.session() as session:
        waiting = _waiting_of(session, dated)
        for slug in waiting:
            cited = set(session.scalars(_cited().join(
                FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id).where(
                FactCheckRow.slug == slug)))
            if not cited:
                continue
            taken = [source_id for source_id, _host in leases.claim_sources(
                session, owner, SourceRow.id.in_(cited), now=utcnow(), lease=lease,
                limit=len(cited))]
            # under the claim lock now: a backfill that ended meanwhile is seen
            if len(taken) == len(cited) and _waiting_of(session, [slug]):
                session.execute(update(FactCheckRow).where(
                    FactCheckRow.slug == slug, FactCheckRow.backfill_started_at.is_(None))
                    .values(backfill_started_at=utcnow()))
                return Claimed(slug, owner, tuple(sorted(cited)))
            leases.release(session, owner, taken)
    return None


def finish(session: Any, factcheck: str, *, error: str | None = None) -> str | None:
    """Mark the fact-check's backfill finished: it awaits none any more (its sources are
    checked live from now on), whether it loaded everything, nothing, or failed. `error` says
    why one failed; it is kept as `reason` makes it, and returned so (a backfill that ends
    whole clears it)."""
    kept = None if error is None else reason(error)
    session.execute(update(FactCheckRow).where(FactCheckRow.slug == factcheck)
                    .values(backfill_finished_at=utcnow(), backfill_error=kept))
    return kept


def reason(text: str) -> str:
    """Why a backfill failed, fit to keep and show anywhere: control characters out
    (`printable`: it can quote a path or a URL), on one line, at most `REASON_CHARS`."""
    line = " ".join(printable(text).split())
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 1] + "…"


@contextlib.contextmanager
def holding(store: Store, claimed: Claimed, lease: dt.timedelta) -> Iterator[None]:
    """Keep `claimed`'s sources while the block runs (the backfill): their leases renewed every
    third of a lease, in a thread, and let go when it ends, however it ends. A process killed
    meanwhile leaves them until they run out; then another worker takes the backfill."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease.total_seconds() / 3):
            with store.session() as session:
                leases.renew(session, claimed.owner, utcnow() + lease)

    thread = threading.Thread(target=renew, name="backfill-leases", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        with store.session() as session:
            leases.release(session, claimed.owner, claimed.source_ids)


def backfill_claimed(store: Store, config: Config, claimed: Claimed, lease: dt.timedelta,
                     run: Callable[[str], BackfillReport]) -> BackfillReport:
    """Backfill a fact-check a worker claimed (`claim_waiting`): `run(its id)`, a whole
    `backfill` of it, `holding` its sources meanwhile; what `check` (`backfill_waiting`) and the
    daemon share. One that fails for anything but the database (`backfill_from` names nothing
    that can be read, a bug while reading a capture) is marked finished, so that its sources go
    back to live checks rather than every later check failing on it again (`claimwatch
    backfill` completes it later), its reason kept with it (`finish`), and comes back as a
    report whose `error` says why in one line. A database error, or `Stopped`, is raised: the
    backfill stays started and not finished, and the next worker to claim it resumes it."""
    with holding(store, claimed, lease):
        try:
            return run(claimed.factcheck)
        except (DBAPIError, Stopped):
            raise
        except Exception as exc:
            why = first_line(exc)
            if not isinstance(exc, ClaimwatchError):  # a bug: say which
                why = f"{type(exc).__name__}: {why}"
            with store.session() as session:  # it must not hold its sources back for ever
                why = finish(session, claimed.factcheck, error=why)
    published = next(fc.published for fc in config.factchecks if fc.id == claimed.factcheck)
    assert published is not None  # `claim_waiting` takes dated fact-checks only
    return BackfillReport(claimed.factcheck, published, [], error=why)


def backfill_waiting(store: Store, config: Config, run: Callable[[str], BackfillReport], *,
                     lease: dt.timedelta) -> list[BackfillReport]:
    """`check`'s backfills, before its live checks: each fact-check awaiting one, taken as a
    daemon takes it (`claim_waiting`: its sources leased, it marked started), backfilled by
    `run(its id)` `holding` its sources, then let go (`backfill_claimed`: one that failed for
    anything but the database is finished, its report saying why, and the next is taken). One
    whose sources another worker holds (another `check`, a daemon) is left to it. A check
    stopped in the middle leaves its backfill started and not finished: the next `check` (or a
    daemon) resumes it, skipping what was loaded."""
    with store.session() as session:
        sync_config(session, config)
    owner = leases.new_owner("backfill")
    done = []
    while (claimed := claim_waiting(store, config, owner, lease=lease)) is not None:
        done.append(backfill_claimed(store, config, claimed, lease, run))
    return done


def held_back(config: Config) -> ColumnElement[bool] | None:
    """The sources live checks leave alone (`check.run`'s `hold_back`): with
    `defaults.backfill_from`, those of the fact-checks awaiting their backfill (`awaiting`)."""
    return awaiting() if config.defaults.backfill_from else None


STATES = ("awaiting", "in-progress", "interrupted", "failed", "finished")


@dataclass(frozen=True)
class BackfillState:
    """Where a dated fact-check's backfill stands, for people (`status`, the REST API, the
    desk's fact-check pages): `awaiting` (new to the desk, with `defaults.backfill_from`),
    `in-progress` (started, a worker holds its sources), `interrupted` (started, and no worker
    holds them: the next `check` or a daemon resumes it), `failed` (ended by `check` or a
    daemon when it failed, `error` saying why: its sources are checked live, and `claimwatch
    backfill` completes it) or `finished`."""

    factcheck: str
    state: str  # one of STATES
    started_at: dt.datetime | None  # when a worker took it (None: `claimwatch backfill`)
    finished_at: dt.datetime | None  # when it ended, finished or failed
    error: str | None = None  # failed: why, in one line

    def to_json(self) -> dict[str, Any]:
        return {"factcheck": self.factcheck, "state": self.state,
                "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
                "error": self.error}


def states(session: Any, config: Config | None, now: dt.datetime, *,
           only: str | None = None) -> list[BackfillState]:
    """The backfill of each active dated fact-check that has one (or of `only` this one), by
    id: finished (failed when it was ended with a reason), started (in progress while a worker
    holds any of its sources), or awaited (none of its items evaluated yet, and `config` has
    `defaults.backfill_from`; without `config` that is not known, and only the marks are
    told)."""
    holder = select(SourceRow.id).where(
        SourceRow.id.in_(_cited().where(ClaimRow.factcheck_id == FactCheckRow.id)
                         .correlate(FactCheckRow)), ~leases.free(now)).correlate(FactCheckRow)
    query = select(FactCheckRow.slug, FactCheckRow.backfill_started_at,
                   FactCheckRow.backfill_finished_at, FactCheckRow.backfill_error,
                   _evaluated().exists(), holder.exists()) \
        .where(FactCheckRow.published.is_not(None), FactCheckRow.active.is_(True)) \
        .order_by(FactCheckRow.slug)
    if only is not None:
        query = query.where(FactCheckRow.slug == only)
    backfilling = config is not None and bool(config.defaults.backfill_from)
    rows = session.execute(query).all()
    found = []
    for slug, started, finished, error, evaluated, held in rows:
        if finished is not None:
            state = "finished" if error is None else "failed"
        elif started is not None:
            state = "in-progress" if held else "interrupted"
        elif backfilling and not evaluated:
            state = "awaiting"
        else:  # checked live before the desk turned `backfill_from` on, or never to be
            continue
        found.append(BackfillState(slug, state, started, finished, error))
    if backfilling and config is not None:  # dated in sources.yaml, not synced yet: new
        dated = [fc.id for fc in config.factchecks
                 if fc.published is not None and only in (None, fc.id)]
        synced = set(session.scalars(select(FactCheckRow.slug).where(
            FactCheckRow.slug.in_(dated)))) if dated else set()
        found += [BackfillState(slug, "awaiting", None, None) for slug in dated
                  if slug not in synced]
    return sorted(found, key=lambda one: one.factcheck)


def _cited() -> Select[Any]:
    """The sources the active items cite (the caller says of which fact-checks, on ClaimRow)."""
    return select(EvidenceRow.source_id).join(ClaimRow, ClaimRow.id == EvidenceRow.claim_id) \
        .where(EvidenceRow.active.is_(True))


def _waiting() -> Select[Any]:
    """The fact-checks awaiting their backfill (id, slug): dated, active, not finished, and
    either none of their items was ever evaluated or a worker started it."""
    return select(FactCheckRow.id, FactCheckRow.slug).where(
        FactCheckRow.published.is_not(None), FactCheckRow.active.is_(True),
        FactCheckRow.backfill_finished_at.is_(None),
        ~_evaluated().exists() | FactCheckRow.backfill_started_at.is_not(None))


def _evaluated() -> Select[Any]:
    """The items of the fact-check (FactCheckRow, of the enclosing query) ever evaluated."""
    return select(EvidenceRow.id).join(ClaimRow, ClaimRow.id == EvidenceRow.claim_id) \
        .where(ClaimRow.factcheck_id == FactCheckRow.id, EvidenceRow.last_outcome.is_not(None)) \
        .correlate(FactCheckRow)


def _waiting_of(session: Any, dated: list[str]) -> list[str]:
    """Those of the fact-checks `dated` that are awaiting their backfill, in that order."""
    found = set(session.scalars(_waiting().with_only_columns(FactCheckRow.slug)
                                .where(FactCheckRow.slug.in_(dated))))
    return [slug for slug in dated if slug in found]


def _one(store: Store, config: Config, factcheck: str, slug: str, kept: Kept, capture: Capture,
         *, baseline: bool, workers: Workers) -> Archived:
    """Fetch one capture, read it (by `workers`) and record it, in a transaction of its own; a
    capture loaded before (the same time and place) is not even fetched again (the archive is
    asked nothing)."""
    with store.session() as session:
        source = session.scalars(select(SourceRow).where(SourceRow.slug == slug)).one()
        kept_id = session.scalar(select(SnapshotRow.id).where(
            SnapshotRow.source_id == source.id, SnapshotRow.fetched_at == capture.captured_at,
            SnapshotRow.archive_url == capture.archive_url).limit(1))
    if kept_id is not None:
        return Archived(capture.captured_at, capture.archive_url, "already", kept_id)
    version = kept.read(capture)
    with store.session() as session:
        source = session.scalars(select(SourceRow).where(SourceRow.slug == slug)).one()
        items = _items(session, config, factcheck, source.id)
        return record_archived(session, config, source, items, version, baseline=baseline,
                               workers=workers)


def _items(session: Any, config: Config, factcheck: str, source_id: int
           ) -> list[tuple[EvidenceRow, Evidence]]:
    """The fact-check's active items on this source, each with its sources.yaml entry."""
    wanted = {(claim.id, ev.identity()): ev for fc in config.factchecks if fc.id == factcheck
              for claim in fc.claims for ev in claim.evidence}
    rows = session.execute(
        select(EvidenceRow, ClaimRow.slug).join(ClaimRow, ClaimRow.id == EvidenceRow.claim_id)
        .join(FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id)
        .where(FactCheckRow.slug == factcheck, EvidenceRow.source_id == source_id,
               EvidenceRow.active.is_(True)).order_by(EvidenceRow.id))
    return [(row, wanted[(slug, row.identity)]) for row, slug in rows
            if (slug, row.identity) in wanted]


def _count(done: SourceBackfill, result: Archived) -> None:
    done.flags += result.flags  # a version read past its limits opens flags too (`error`)
    if result.status == "loaded":
        done.loaded += 1
    elif result.status == "already":
        done.already += 1
    elif result.status == "same":
        done.same += 1
    else:
        done.errors.append(f"{iso(result.captured_at)} {result.archive_url}: {result.error}")
