"""`claimwatch backfill`: a fact-check's cited sources, from its publication day until now,
loaded from where their versions are kept (`pipeline.archive_sources`) and evaluated in time
order as live checks would have been.

For each cited source: list the captures (`Kept.captures`), take the one nearest the
publication day as the items' baseline, then read and record each later one in capture order,
one transaction per version (`recorder.record_archived`: the snapshot marked archived, the
outcomes and flags dated at the capture). Flags raise no alert while the replay goes on: at the
fact-check's end, the ones still open are alerted (one each, "since DAY"); the ones the replay
itself resolved are history, in the timeline and the audit log, and page no one. Live checks
are not touched; a version already loaded is skipped, so a re-run adds nothing twice.

Which fact-checks await their backfill (with `defaults.backfill_from`: `check` and the daemon
backfill them before their first live check) is kept on the fact-check's row: a daemon marks
it started when it takes it (`claim_waiting`), a whole backfill marks it finished when it ends
(`backfill`; the daemon also when it fails, `finish`). A dated, active fact-check awaits one
while it is not finished and either none of its items was ever evaluated (new to the desk) or a
daemon started it: so a daemon stopped or killed after the baseline leaves it awaiting, and the
next one resumes it, skipping what was loaded. A fact-check evaluated before the marks existed
has neither, and awaits nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update

from db import Store, leases, utcnow
from db.models import ClaimRow, EvidenceRow, FactCheckRow, SnapshotRow, SourceRow
from pipeline import flags
from pipeline.archive_sources import Capture, Kept, nearest
from pipeline.config import Config, Evidence, Source
from pipeline.errors import FetchError, NotFound, UsageError
from pipeline.recorder import Archived, record_archived
from pipeline.records import FlagRecord
from pipeline.sync import sync_config
from pipeline.vocab import iso

EARLIEST = dt.timedelta(days=31)  # how far before publication a baseline may be looked for


@dataclass
class SourceBackfill:
    """What backfilling one source did: captures listed, versions loaded (or already there, or
    the same bytes as the version before, or unreadable), the baseline's capture, the flags
    opened, and the time it took."""

    source: str
    captures: int = 0
    loaded: int = 0
    already: int = 0
    same: int = 0
    errors: list[str] = field(default_factory=list)
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

    def to_json(self) -> dict[str, Any]:
        return {"factcheck": self.factcheck, "published": self.published.isoformat(),
                "sources": [s.to_json() for s in self.sources], "alerted": self.alerted}


def backfill(store: Store, config: Config, factcheck_id: str,
             kept_for: Callable[[str, Source], Kept], *, only: str | None = None,
             until: dt.datetime | None = None,
             on_version: Callable[[str, Archived], None] | None = None) -> BackfillReport:
    """Backfill every source the fact-check cites (or `only` this one) from `kept_for(source id,
    source)`, between its publication day and `until` (now). A whole backfill that ends marks
    the fact-check's backfill finished, with the alerts of what it left open."""
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
    try:
        for slug in cited:
            spec = config.sources[slug]
            kept = kept_for(slug, spec)
            opened[id(kept)] = kept
            report.sources.append(_source(store, config, fc.id, slug, spec, kept, fc.published,
                                          since, until, on_version))
        with store.session() as session:  # what the replay left open: alerted now, once
            report.alerted = flags.alert_still_open(session, config, fc.id)
            if whole:  # and the fact-check awaits its backfill no more
                finish(session, fc.id)
    finally:
        for kept in opened.values():
            close = getattr(kept, "close", None)
            if close is not None:
                close()
    return report


def _source(store: Store, config: Config, factcheck: str, slug: str, spec: Source, kept: Kept,
            published: dt.date, since: dt.datetime, until: dt.datetime,
            on_version: Callable[[str, Archived], None] | None) -> SourceBackfill:
    """Backfill one source: list its captures, then load the baseline and the later ones."""
    started = time.perf_counter()
    done = SourceBackfill(slug)
    try:
        captures = kept.captures(spec.url, since, until)
    except FetchError as exc:  # the listing failed: reported, and the other sources go on
        done.errors.append(str(exc))
        captures = []
    done.captures = len(captures)
    if captures:
        first = nearest(captures, published)
        done.baseline = captures[first].captured_at
        pending = True  # the baseline is the first version that could be read
        for capture in captures[first:]:
            result = _one(store, config, factcheck, slug, kept, capture, baseline=pending)
            pending = pending and result.status == "error"
            _count(done, result)
            if on_version is not None:
                on_version(slug, result)
    done.seconds = time.perf_counter() - started
    return done


def unchecked(store: Store, config: Config) -> list[str]:
    """The fact-checks awaiting their backfill (`_waiting`: dated, new to the desk or left
    unfinished by a daemon): what `check` backfills first when `defaults.backfill_from` is
    set; but not one a daemon is backfilling now (started, a source of it leased): the rest
    is that daemon's, and the check finds its sources busy."""
    dated = [fc.id for fc in config.factchecks if fc.published is not None]
    if not dated:
        return []
    with store.session() as session:
        sync_config(session, config)
        busy = set(session.scalars(
            select(FactCheckRow.slug).join(ClaimRow, ClaimRow.factcheck_id == FactCheckRow.id)
            .join(EvidenceRow, EvidenceRow.claim_id == ClaimRow.id)
            .join(SourceRow, SourceRow.id == EvidenceRow.source_id)
            .where(FactCheckRow.backfill_started_at.is_not(None), EvidenceRow.active.is_(True),
                   ~leases.free(utcnow()))))
        return [slug for slug in _waiting_of(session, dated) if slug not in busy]


def awaiting() -> ColumnElement[bool]:
    """The sources cited by a fact-check awaiting its backfill (`_waiting`): what a daemon's
    live checks leave alone while `defaults.backfill_from` is set, so no live check becomes
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
    worker holds any (a live check of a source it shares, another daemon backfilling it, or a
    dead one's until its leases expire). None when there is none to take. While the leases last
    no other worker checks or backfills these sources; once they are let go (the backfill
    stopped) or run out (its worker died), started and not finished, it is taken again."""
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


def finish(session: Any, factcheck: str) -> None:
    """Mark the fact-check's backfill finished: it awaits none any more (its sources are
    checked live from now on), whether it loaded everything, nothing, or failed."""
    session.execute(update(FactCheckRow).where(FactCheckRow.slug == factcheck)
                    .values(backfill_finished_at=utcnow()))


def _cited() -> Select[Any]:
    """The sources the active items cite (the caller says of which fact-checks, on ClaimRow)."""
    return select(EvidenceRow.source_id).join(ClaimRow, ClaimRow.id == EvidenceRow.claim_id) \
        .where(EvidenceRow.active.is_(True))


def _waiting() -> Select[Any]:
    """The fact-checks awaiting their backfill (id, slug): dated, active, not finished, and
    either none of their items was ever evaluated or a daemon started it."""
    evaluated = select(EvidenceRow.id).join(ClaimRow, ClaimRow.id == EvidenceRow.claim_id) \
        .where(ClaimRow.factcheck_id == FactCheckRow.id, EvidenceRow.last_outcome.is_not(None)) \
        .correlate(FactCheckRow)
    return select(FactCheckRow.id, FactCheckRow.slug).where(
        FactCheckRow.published.is_not(None), FactCheckRow.active.is_(True),
        FactCheckRow.backfill_finished_at.is_(None),
        ~evaluated.exists() | FactCheckRow.backfill_started_at.is_not(None))


def _waiting_of(session: Any, dated: list[str]) -> list[str]:
    """Those of the fact-checks `dated` that are awaiting their backfill, in that order."""
    found = set(session.scalars(_waiting().with_only_columns(FactCheckRow.slug)
                                .where(FactCheckRow.slug.in_(dated))))
    return [slug for slug in dated if slug in found]


def _one(store: Store, config: Config, factcheck: str, slug: str, kept: Kept, capture: Capture,
         *, baseline: bool) -> Archived:
    """Read one capture and record it, in a transaction of its own; a capture loaded before
    (the same time and place) is not even read again (the archive is asked nothing)."""
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
        return record_archived(session, config, source, items, version, baseline=baseline)


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
    if result.status == "loaded":
        done.loaded += 1
        done.flags += result.flags
    elif result.status == "already":
        done.already += 1
    elif result.status == "same":
        done.same += 1
    else:
        done.errors.append(f"{iso(result.captured_at)} {result.archive_url}: {result.error}")
