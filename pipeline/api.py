"""The library surface: what the CLI calls, and what a web UI will call. Each function takes plain
arguments, opens what it needs, and returns plain data; errors are `ClaimwatchError`s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.deliver import DeliveryReport, deliver, requeue
from db import (
    SchemaState,
    Store,
    audit,
    blobs,
    open_store,
    schema_state,
    upgrade_schema,
    utcnow,
)
from db.audit import Verification
from db.copy import copy as copy_database
from db.models import (
    AlertRow,
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FlagRow,
    SnapshotRow,
    SourceRow,
    by_id,
)
from pipeline import archive as archive_stage
from pipeline import (
    archive_sources,
    factcheck_files,
    flag_notes,
    retirement,
)
from pipeline import backfill as backfill_stage
from pipeline import check as check_stage
from pipeline import config as config_stage
from pipeline import flags as flag_stage
from pipeline import prune as prune_stage
from pipeline import snapshots as snapshot_stage
from pipeline.archive import ArchiveReport
from pipeline.config import Config, Evidence, Source
from pipeline.diff import Diff, diff
from pipeline.errors import FetchError, NotFound, Unauthorized, UsageError
from pipeline.extract import Document
from pipeline.factchecks import FactCheckSummary
from pipeline.factchecks import factchecks as factcheck_list
from pipeline.fetch import Fetcher, FetchResult, FetchSettings
from pipeline.probe import ProbeResult
from pipeline.probe import probe as run_probe
from pipeline.recorder import Archived
from pipeline.records import (
    AlertRecord,
    ArchiveRecord,
    CheckReport,
    FlagRecord,
    SnapshotRecord,
    SourceReport,
    flag_records,
)
from pipeline.screen import screen
from pipeline.snapshots import DocumentCache, read
from pipeline.source_fetch import fetch_settings
from pipeline.source_health import STATES, SourceHealth, health
from pipeline.sync import sync_config
from pipeline.textnorm import printable
from pipeline.vocab import AlertStatus, FlagStatus

if TYPE_CHECKING:  # what `check` does not need loads with the functions that need it
    from db.anchor import Anchor, AnchorCheck
    from pipeline import accounts
    from pipeline import queue as queue_stage
    from pipeline import report as report_stage
    from pipeline.claim_detail import ClaimDetail
    from pipeline.crosscheck import DeepCheck
    from pipeline.flag_detail import FlagDetail
    from pipeline.history import Event
    from pipeline.importer import Draft
    from pipeline.review_edits import Reviewed
    from pipeline.timeline import Timeline
    from pipeline.wacz_export import WaczSummary
    from pipeline.worddiff import RegionDiff


def load_config(path: str | Path) -> Config:
    """Read and validate sources.yaml (raises ConfigError listing every problem)."""
    return config_stage.load(path)


def validate_config(path: str | Path) -> Config:
    """`validate`: sources.yaml read as `load_config` reads it, and what it asks of this
    machine (`fetch: browser` needs Playwright and Chromium) checked too."""
    from pipeline.browser_fetch import config_problems
    return config_stage.load(path, checks=[config_problems])


def empty_config() -> Config:
    """The configuration of a desk with no sources.yaml (for probing a bare URL)."""
    return Config(version=1)


def open_db(url: str, *, create: bool = True) -> Store:
    """The database at `url`; with `create=False` (commands that only read) a missing one is a
    UsageError rather than created."""
    return open_store(url, create=create)


@contextmanager
def opened(url: str, *, create: bool = True) -> Iterator[Store]:
    """The database at `url`, open for the `with` block and closed after (`create`: as in
    `open_db`)."""
    store = open_store(url, create=create)
    try:
        yield store
    finally:
        store.close()


def db_upgrade(url: str) -> SchemaState:
    """Bring the database's schema to this claimwatch's revision; returns where it was."""
    return upgrade_schema(url)


def db_copy(url: str, target: str) -> dict[str, int]:
    """Copy the database at `url` into the new, empty database at `target`."""
    source, destination = open_store(url, create=False), open_store(target)
    try:
        return copy_database(source, destination)
    finally:
        source.close()
        destination.close()


def db_current(url: str) -> SchemaState:
    """Where the database's schema stands; changes nothing."""
    return schema_state(url)


@dataclass
class RunReport(CheckReport):
    """A check run and what followed it: SPEC §3's report plus an "alerts" key (the delivery)
    and, with an `archive:` configured, an "archive" key (the round of submissions); the
    backfills it ran first, and the sources it left to their fact-check's backfill, when any."""

    alerts: DeliveryReport = field(default_factory=DeliveryReport)
    # the fact-checks backfilled before their first check (`defaults.backfill_from`)
    backfills: list[backfill_stage.BackfillReport] = field(default_factory=list)
    archive: ArchiveReport | None = None
    # a check that runs no backfill (`backfill=False`): the sources asked for that it left
    # alone, a fact-check citing them awaiting its backfill
    awaiting_backfill: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {**super().to_json(), "alerts": self.alerts.to_json()}
        if self.archive is not None:
            out["archive"] = self.archive.to_json()
        if self.backfills:
            out["backfills"] = [done.to_json() for done in self.backfills]
        if self.awaiting_backfill:
            out["awaiting_backfill"] = self.awaiting_backfill
        return out


def check(store: Store, config: Config, *, everything: bool = False, only: Iterable[str] = (),
          transport: httpx.AsyncBaseTransport | None = None,
          settings: FetchSettings | None = None,
          on_progress: Callable[[SourceReport, int], None] | None = None,
          backfill: bool = True) -> RunReport:
    """Check the due sources once (or `only` these, or `everything`), then submit new versions
    to the public archive (one round, with an `archive:` configured) and send the alerts due,
    which carry the archive links known by then (a failing channel or archive is recorded and
    retried later; it never fails the check). With `defaults.backfill_from`, a fact-check with
    `published:` never checked before, or whose backfill was left unfinished, is first
    backfilled from there, its sources leased meanwhile (`backfill.backfill_waiting`), so its
    first check starts from its publication day; until then its sources are not checked. A
    backfill that fails for anything but the database is ended, kept as failed with its reason
    (`backfill.states`), and reported (its `error`), and the check goes on. Without `backfill`
    (the desk's "check now": no backfill in a web request) none runs: the sources it would
    check whose fact-check awaits one are left alone and listed in `awaiting_backfill`."""
    only = list(only)
    backfills: list[backfill_stage.BackfillReport] = []
    awaiting: list[str] = []
    if config.defaults.backfill_from and backfill:
        backfills = backfill_stage.backfill_waiting(
            store, config, backfill_from_defaults(store, config, transport=transport,
                                                  settings=settings),
            lease=dt.timedelta(seconds=check_stage.LEASE))
    elif config.defaults.backfill_from:
        awaiting = awaiting_backfill(store, config, only or None)
    report = check_stage.run(store, config, everything=everything, only=only,
                             transport=transport, settings=settings, on_progress=on_progress,
                             hold_back=backfill_stage.held_back)
    archived = archive_stage.send(store, config) if config.archive is not None else None
    return RunReport(**vars(report), alerts=deliver(store, config), backfills=backfills,
                     archive=archived, awaiting_backfill=awaiting)


def archive_send(store: Store, config: Config) -> ArchiveReport:
    """One round of public-archive submissions: new versions submitted as the desk's rate and
    daily cap allow, submitted jobs polled (`archive:` in sources.yaml)."""
    if config.archive is None:
        raise UsageError("sources.yaml has no 'archive:' block: nothing is sent to a public "
                         "archive", field="sources")
    return archive_stage.send(store, config)


def archive_status(store: Store, *, source: str | None = None,
                   snapshot: int | None = None) -> list[ArchiveRecord]:
    """Each snapshot's submission to the public archive (of one source, or one snapshot),
    oldest first."""
    with store.session() as session:
        if source is not None and session.scalar(
                select(SourceRow.id).where(SourceRow.slug == source)) is None:
            raise NotFound(f"unknown source {source!r}", field="source")
        return archive_stage.records(session, None if snapshot is None else [snapshot],
                                     source=source)


def alerts(store: Store, *, failed_only: bool = False) -> list[AlertRecord]:
    """Every alert delivery and its state (only the given-up ones with `failed_only`), oldest
    first. Channels appear by key: secrets masked."""
    with store.session() as session:
        query = select(AlertRow).order_by(AlertRow.id)
        if failed_only:
            query = query.where(AlertRow.status == AlertStatus.FAILED)
        return [AlertRecord.from_row(row) for row in session.scalars(query)]


def retry_alerts(store: Store, config: Config, alert_ids: Iterable[str] = ()) -> DeliveryReport:
    """Deliver undelivered alerts (all, or these ids) now: failed ones are re-queued, pending
    ones stop waiting out their backoff (a channel was just fixed)."""
    requeue(store, list(alert_ids))
    return deliver(store, config)


def backfill_alerts(store: Store, config: Config) -> tuple[dict[str, int], DeliveryReport]:
    """Give each channel the open flags it never got (it was added while they were open), and
    deliver them; returns how many alerts each channel key got, and the delivery."""
    with store.session() as session:
        made = outbox.backfill(session, config)
    return made, deliver(store, config)


def flags(store: Store, *, include_closed: bool = False) -> list[FlagRecord]:
    """Open flags (all of them with `include_closed`), oldest first, with their review when
    there is one."""
    with store.session() as session:
        query = select(FlagRow).order_by(FlagRow.id)
        if not include_closed:
            query = query.where(FlagRow.status == FlagStatus.OPEN)
        return flag_records(session, session.scalars(query).all())


def history(store: Store, *, claim: str | None = None, source: str | None = None,
            since: str | None = None, until: str | None = None,
            kinds: list[str] | None = None, newest_first: bool = False,
            before: int | None = None, limit: int | None = None) -> list[Event]:
    """The audit trail, oldest first: checks, changes, flags, alerts, reviews, config edits
    (`newest_first`, `limit` at a time before event `before`, for pages of it)."""
    from pipeline import history as history_stage
    with store.session() as session:
        return history_stage.events(
            session, claim=claim, source=source,
            since=history_stage.parse_moment(since) if since else None,
            until=history_stage.parse_moment(until, end=True) if until else None,
            kinds=kinds, newest_first=newest_first, before=before, limit=limit)


def status(store: Store, config: Config) -> dict[str, Any]:
    """The deployment's state; `attention` lists what needs someone (empty when healthy)."""
    from pipeline import status as status_stage
    with store.session() as session:
        return status_stage.status(session, config, utcnow())


@dataclass(frozen=True)
class AuditReport:
    """`audit verify`: the chain walked, compared with its anchors (and the checkpoints it
    carries), and with `deep` the stored bytes and rows compared with the chain."""

    chain: Verification
    head: Anchor
    anchors: AnchorCheck
    deep: DeepCheck | None = None

    @property
    def problems(self) -> list[str]:
        """Each problem in one line (with `deep`, its first `limit` mismatches)."""
        return ([self.chain.problem] if self.chain.problem else []) + self.anchors.problems \
            + (self.deep.problems if self.deep else [])

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.anchors.ok and (self.deep is None or self.deep.ok)

    @property
    def events(self) -> int:
        return self.chain.events

    @property
    def problem(self) -> str | None:
        return next(iter(self.problems), None)


def audit_verify(store: Store, *, anchor_file: Path | None = None,
                 public_keys: Iterable[Path] = (), deep: bool = False,
                 limit: int = 20) -> AuditReport:
    """Walk the audit chain (the first edited, deleted or out-of-order row, a missing head);
    compare it with the anchors of `anchor_file` and check checkpoint signatures with
    `public_keys`; with `deep`, re-hash every blob and match snapshot, flag and review rows with
    their events (the first `limit` mismatches)."""
    from db import anchor
    from pipeline.crosscheck import crosscheck

    keys = [anchor.load_public_key(path) for path in public_keys]
    anchors, unreadable = anchor.read(anchor_file) if anchor_file else ([], [])
    with store.session() as session:
        chain = audit.verify(session)
        return AuditReport(chain, anchor.current(session),
                           anchor.check(session, anchors, keys, unreadable),
                           crosscheck(session, limit) if deep else None)


def audit_head(store: Store, *, append: Path | None = None) -> Anchor:
    """The audit chain's head (seq, hash, time), appended to the anchor file `append` too."""
    from db import anchor

    with store.session() as session:
        head = anchor.current(session)
    if append is not None:
        anchor.append(append, head)
    return head


def audit_keygen(path: Path) -> str:
    """Write a new signing key to `path` (mode 0600) and `path`.pub; return the public key."""
    from db import anchor

    return anchor.keygen(path)


def audit_checkpoint(store: Store, key: Path, *, append: Path | None = None) -> Anchor | None:
    """Sign the chain's head with the private key at `key` and record it in the chain (and in the
    anchor file `append`); None when nothing happened since the last checkpoint."""
    from db import anchor

    private = anchor.load_private_key(key)
    with store.session() as session:
        made = anchor.checkpoint(session, private)
    if made is not None and append is not None:
        anchor.append(append, made)
    return made


def report(store: Store, factcheck: str, fmt: str = "md", *, standalone: bool = True,
           desk_url: str | None = None, config: Config | None = None) -> str:
    """The evidence report of a fact-check, as Markdown or HTML (`standalone`: a whole HTML
    document; else the fragment a desk page embeds). `config` lets it read the before/after
    text from the stored snapshots; `desk_url` links snapshots and flags to the desk ("": links
    relative to the desk)."""
    from pipeline import report as report_stage

    if fmt not in report_stage.FORMATS:  # before any work
        raise UsageError(f"{fmt!r} is not a report format: md or html", field="format")
    built = report_document(store, factcheck, config=config, desk_url=desk_url)
    return render_report(built, fmt, standalone=standalone)


def render_report(built: report_stage.Report, fmt: str = "md", *, standalone: bool = True
                  ) -> str:
    """A report built by `report_document`, as Markdown or HTML (see `report`)."""
    from pipeline import report as report_stage

    return report_stage.render(built, fmt, standalone=standalone)


def report_document(store: Store, factcheck: str, *, config: Config | None = None,
                    desk_url: str | None = None) -> report_stage.Report:
    """The evidence report of a fact-check as data (see `report`)."""
    from pipeline import report as report_stage

    with store.session() as session:
        return report_stage.build(session, factcheck, utcnow(), config=config,
                                  desk_url=desk_url)


def backfill(store: Store, config: Config, factcheck: str, *, source: str | None = None,
             where: str = "cdx", cdx_url: str = archive_sources.CDX_URL,
             transport: httpx.AsyncBaseTransport | None = None,
             settings: FetchSettings | None = None,
             on_version: Callable[[str, Archived], None] | None = None
             ) -> backfill_stage.BackfillReport:
    """Load the versions of the fact-check's cited sources (or of `source`) from its
    publication day until now, from `where` (`cdx`, a directory of dated copies, a WARC or
    WACZ file), as archived snapshots evaluated in time order; flags carry the capture's date."""
    return backfill_stage.backfill(store, config, factcheck,
                                   _kept_in(config, where, cdx_url, transport, settings),
                                   only=source, on_version=on_version)


def backfill_from_defaults(store: Store, config: Config, *,
                           transport: httpx.AsyncBaseTransport | None = None,
                           settings: FetchSettings | None = None,
                           on_version: Callable[[str, Archived], None] | None = None
                           ) -> Callable[[str], backfill_stage.BackfillReport]:
    """A whole backfill of a fact-check (given its id) from `defaults.backfill_from`: what
    `check` and the daemon run for each one awaiting its backfill."""
    def run(factcheck: str) -> backfill_stage.BackfillReport:
        return backfill(store, config, factcheck, where=config.defaults.backfill_from or "cdx",
                        cdx_url=config.defaults.cdx_url, transport=transport,
                        settings=settings, on_version=on_version)
    return run


def awaiting_backfill(store: Store, config: Config, sources: list[str] | None = None
                      ) -> list[str]:
    """Of `sources` (None: every source), those a live check leaves alone now because a
    fact-check citing them awaits its backfill (`backfill.held_back`), by id."""
    held = backfill_stage.held_back(config)
    if held is None:
        return []
    with store.session() as session:
        sync_config(session, config)  # a fact-check added a moment ago awaits one too
        query = select(SourceRow.slug).where(held, SourceRow.active.is_(True),
                                             SourceRow.retired_at.is_(None))
        if sources is not None:
            query = query.where(SourceRow.slug.in_(sources))
        return sorted(session.scalars(query))


def _kept_in(config: Config, where: str, cdx_url: str,
             transport: httpx.AsyncBaseTransport | None, settings: FetchSettings | None
             ) -> Callable[[str, Source], archive_sources.Kept]:
    """Where versions are kept (`--from`, `backfill_from`), read with the desk's fetch settings
    unless told others."""
    return archive_sources.kept_in(where, cdx_url=cdx_url, transport=transport,
                                   settings=settings or fetch_settings(config))


def export_warc(store: Store, out: Path, *, claim: str | None = None,
                factcheck: str | None = None, source: str | None = None) -> int:
    """Write the stored snapshots of a claim's, a fact-check's or a source's sources as WARC."""
    from pipeline import warc
    with store.session() as session:
        snapshots, _ = _snapshots_of(session, claim, factcheck, source)
        try:
            return warc.export(session, snapshots, out)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror}", field="out") from None


def export_wacz(store: Store, out: Path, *, claim: str | None = None,
                factcheck: str | None = None, source: str | None = None) -> WaczSummary:
    """Package the same snapshots as `export_warc` as a WACZ (index, pages, digests) that
    ReplayWeb.page opens and `wacz validate` accepts."""
    from pipeline import wacz_export

    with store.session() as session:
        snapshots, names = _snapshots_of(session, claim, factcheck, source)
        kind = "claim" if claim else "fact-check" if factcheck else "source"
        title = f"claimwatch evidence: {kind} {claim or factcheck or source}"
        return wacz_export.export(session, snapshots, out, title=title, source_names=names)


def _snapshots_of(session: Session, claim: str | None, factcheck: str | None,
                  source: str | None) -> tuple[list[SnapshotRow], dict[int, str]]:
    """Every stored snapshot of one claim's, fact-check's or source's sources, and the names
    of those sources by id."""
    if sum(x is not None for x in (claim, factcheck, source)) != 1:
        raise UsageError("give exactly one of a claim, a fact-check or a source",
                         field="target")
    query = select(SourceRow.id, SourceRow.slug)
    if source is not None:
        query = query.where(SourceRow.slug == source)
    else:
        claims = select(ClaimRow.id).where(ClaimRow.slug == claim) if claim else \
            select(ClaimRow.id).join(FactCheckRow, FactCheckRow.id == ClaimRow.factcheck_id
                                     ).where(FactCheckRow.slug == factcheck)
        query = query.join(EvidenceRow, EvidenceRow.source_id == SourceRow.id).where(
            EvidenceRow.claim_id.in_(claims))
    names: dict[int, str] = dict(session.execute(query).all())
    if not names:
        raise NotFound(f"nothing known as {claim or factcheck or source!r}", field="target")
    snapshots = session.scalars(select(SnapshotRow).where(
        SnapshotRow.source_id.in_(names))).all()
    if not snapshots:
        raise NotFound("no snapshots stored yet (nothing has been checked)")
    return list(snapshots), names


def prune(store: Store, older_than: str, *, vacuum: bool = False) -> dict[str, int | str]:
    """Remove old snapshots, fetch attempts and outcomes nothing refers to (never a baseline,
    a flagged or reviewed snapshot, or an audit event). With `vacuum`, then give the space back
    (`Store.vacuum`): an SQLite file's bytes before and after are `bytes_before`/`bytes_after`."""
    try:
        seconds = config_stage.parse_duration(older_than)
    except ValueError as exc:
        raise UsageError(str(exc), field="older_than") from None
    with store.session() as session:
        counts = prune_stage.prune(session, dt.timedelta(seconds=seconds), utcnow(), older_than)
    if vacuum:
        sizes = store.vacuum()
        if sizes is not None:
            counts = {**counts, "bytes_before": sizes[0], "bytes_after": sizes[1]}
    return counts


def review(store: Store, flag_id: int, *, decision: str, reviewer: str,
           note: str | None = None, verdict: str | None = None, sources: Path | None = None,
           config: Config | None = None, update_expectation: bool = False,
           account_id: int | None = None) -> Reviewed:
    """Record an editor's decision on a flag; return the flag with its review and the edits
    made to sources.yaml. With `sources` (the file or directory), a `revised` verdict is
    written into it, and with `update_expectation` the item's expectation too (`config` is
    then needed); an edit that cannot be written is returned as the edit to make by hand."""
    from pipeline import review_edits
    from pipeline.review_edits import Reviewed

    if sources is None:
        if update_expectation:
            raise UsageError("updating the expectation needs the sources.yaml to edit",
                             field="update_expectation")
        with store.session() as session:
            return Reviewed(flag_stage.review(session, flag_id, decision=decision,
                                              reviewer=reviewer, note=note, verdict=verdict,
                                              account_id=account_id), [])
    if update_expectation and config is None:
        config = load_config(sources)
    return review_edits.review(store, config or empty_config(), sources, flag_id,
                               decision=decision, reviewer=reviewer, note=note,
                               verdict=verdict, update_expectation=update_expectation,
                               account_id=account_id)


@dataclass(frozen=True)
class SourceDiff:
    source: str
    before: SnapshotRecord
    after: SnapshotRecord
    diff: Diff
    error: str | None = None  # a snapshot that could not be read under the current options
    region: RegionDiff | None = None  # the region's lines, inline and side by side

    def to_json(self) -> dict[str, Any]:
        d = self.diff
        return {"source": self.source, "before": self.before.to_json(),
                "after": self.after.to_json(), "error": self.error,
                "summary": d.summary() if not self.error else None,
                "tables": [{"header": list(t.header), "added": [list(r) for r in t.added],
                            "removed": [list(r) for r in t.removed],
                            "changed": [[list(a), list(b)] for a, b in t.changed]}
                           for t in d.tables],
                "items_added": [{"key": i.key, "title": i.title, "link": i.link}
                                for i in d.items_added],
                "items_removed": [{"key": i.key, "title": i.title, "link": i.link}
                                  for i in d.items_removed],
                "region": self.region.to_json() if self.region is not None else None}


def source_diff(store: Store, config: Config, source_id: str, *, from_id: int | None = None,
                to_id: int | None = None) -> SourceDiff:
    """What changed in a source between two snapshots (default: its baseline → its latest)."""
    from pipeline.worddiff import lines as region_lines
    if source_id not in config.sources:
        raise NotFound(f"unknown source {source_id!r}: it is not in sources.yaml",
                       field="source")
    source = config.sources[source_id]
    with store.session() as session:
        row = session.scalars(select(SourceRow).where(SourceRow.slug == source_id)).first()
        if row is None or row.latest_snapshot_id is None:
            raise NotFound(f"source {source_id!r} has no snapshot yet (it has not been checked)",
                           field="source")
        baseline = session.scalars(
            select(EvidenceRow.baseline_snapshot_id)
            .where(EvidenceRow.source_id == row.id, EvidenceRow.active.is_(True),
                   EvidenceRow.baseline_snapshot_id.is_not(None))
            .order_by(EvidenceRow.baseline_snapshot_id)).first()
        after = _snapshot(session, row.id, to_id or row.latest_snapshot_id)
        first = session.scalars(select(SnapshotRow.id).where(
            SnapshotRow.source_id == row.id, SnapshotRow.fetch_mode == after.fetch_mode)
            .order_by(SnapshotRow.id)).first()
        snapshots = [_snapshot(session, row.id, from_id or baseline or first), after]
        if snapshots[0].fetch_mode != after.fetch_mode:
            raise UsageError(
                f"snapshot {snapshots[0].id} was read with fetch: {snapshots[0].fetch_mode} and "
                f"snapshot {after.id} with fetch: {after.fetch_mode}: a rendered page is never "
                "compared with a page as served; compare two snapshots read the same way",
                field="snapshot")
        cache: DocumentCache = {}
        docs = [read(session, s, source, cache) for s in snapshots]
    before, after = (SnapshotRecord.from_row(s) for s in snapshots)
    problems = [d for d in docs if isinstance(d, str)]
    if problems:
        return SourceDiff(source_id, before, after, Diff(), error=problems[0])
    assert isinstance(docs[0], Document) and isinstance(docs[1], Document)
    return SourceDiff(source_id, before, after, diff(docs[0], docs[1]),
                      region=region_lines([printable(b) for b in docs[0].blocks],
                                          [printable(b) for b in docs[1].blocks]))


def probe(config: Config, *, source_id: str | None = None, url: str | None = None,
          options: dict[str, Any] | None = None, expect: Iterable[str] = ()) -> ProbeResult:
    """Fetch a source now (from sources.yaml, or `url` with `options`) and evaluate its evidence
    plus the `expect` items (each a YAML mapping such as "quote: some words"); store nothing."""
    extra = [_expectation(text) for text in expect]
    if source_id is not None:
        if source_id not in config.sources:
            raise NotFound(f"unknown source {source_id!r}: it is not in sources.yaml",
                           field="source")
        source = config.sources[source_id]
        evidence = [ev for _fc, claim in config.claims() for ev in claim.evidence
                    if ev.source == source_id]
        return run_probe(config, source, evidence + extra, timeout=config.timeout(source_id),
                         max_bytes=config.max_bytes(source_id))
    if url is None:
        raise UsageError("give a source or a URL to probe", field="url")
    try:
        source = Source.model_validate({"url": url, **(options or {})})
    except ValidationError as exc:
        raise UsageError(f"bad probe options: {_first_error(exc)}", field="options") from None
    return run_probe(config, source, extra, timeout=config.defaults.timeout,
                     max_bytes=config.defaults.max_bytes)


def _expectation(text: str) -> Evidence:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise UsageError(f"{text!r} is not a YAML mapping like 'quote: some words'",
                         field="expect")
    try:
        return Evidence.model_validate({"source": "probe", **data})
    except ValidationError as exc:
        raise UsageError(f"{text!r}: {_first_error(exc)}", field="expect") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function"))
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _snapshot(session: Any, source_row_id: int, snapshot_id: int | None) -> SnapshotRow:
    snapshot = by_id(session, SnapshotRow, snapshot_id) if snapshot_id else None
    if snapshot is None:
        raise NotFound(f"snapshot {snapshot_id} does not exist", field="snapshot")
    if snapshot.source_id != source_row_id:
        raise NotFound(f"snapshot {snapshot_id} is not a snapshot of this source",
                       field="snapshot")
    return snapshot


# --- the desk's people ---------------------------------------------------------------------


def add_user(store: Store, name: str, role: str, password: str, *,
             display_name: str | None = None, by: str = "cli") -> accounts.Account:
    """A new desk account (the password is hashed with Argon2; never stored or logged)."""
    from pipeline import accounts

    with store.session() as session:
        return accounts.add(session, name, role, password, display_name=display_name,
                            now=utcnow(), by=by)


def users(store: Store) -> list[accounts.Account]:
    from pipeline import accounts

    with store.session() as session:
        return accounts.accounts(session)


def set_user_active(store: Store, name: str, active: bool, *, by: str = "cli"
                    ) -> accounts.Account:
    """Disable an account (its sessions end, its API tokens are revoked) or enable it again."""
    from pipeline import accounts

    with store.session() as session:
        return accounts.set_active(session, name, active, now=utcnow(), by=by)


def set_user_role(store: Store, name: str, role: str, *, by: str = "cli") -> accounts.Account:
    from pipeline import accounts

    with store.session() as session:
        return accounts.set_role(session, name, role, by=by)


def set_user_password(store: Store, name: str, password: str, *, by: str = "cli"
                      ) -> accounts.Account:
    from pipeline import accounts

    with store.session() as session:
        return accounts.set_password(session, name, password, by=by)


def issue_token(store: Store, name: str, label: str, *, by: str = "cli"
                ) -> tuple[str, accounts.Token]:
    """A new API token for the account; the token is in the return value and nowhere else."""
    from pipeline import accounts

    with store.session() as session:
        return accounts.issue_token(session, name, label, now=utcnow(), by=by)


def tokens(store: Store, name: str | None = None) -> list[accounts.Token]:
    from pipeline import accounts

    with store.session() as session:
        return accounts.tokens(session, name)


def revoke_token(store: Store, token_id: int, *, by: str = "cli") -> accounts.Token:
    from pipeline import accounts

    with store.session() as session:
        return accounts.revoke_token(session, token_id, now=utcnow(), by=by)


def login(store: Store, name: str, password: str) -> accounts.Account:
    """The account, or Unauthorized (failed logins slow the account down)."""
    from pipeline import accounts

    with store.session() as session:
        try:
            return accounts.login(session, name, password, now=utcnow())
        except Unauthorized as exc:
            refused = exc  # raised after the commit: the failure counts
    raise refused


def session_account(store: Store, account_id: int, epoch: int) -> accounts.Account | None:
    from pipeline import accounts

    with store.session() as session:
        return accounts.session_account(session, account_id, epoch)


def token_account(store: Store, token: str) -> accounts.Account | None:
    from pipeline import accounts

    with store.session() as session:
        return accounts.token_account(session, token, now=utcnow())


def session_key(store: Store) -> str:
    from pipeline import accounts

    with store.session() as session:
        return accounts.session_key(session)


# --- the desk's reading ----------------------------------------------------------------------


def review_queue(store: Store, filters: queue_stage.Filters, *, page: int = 1
                 ) -> queue_stage.Queue:
    """Flags to review, most severe and newest first, grouped by fact-check and claim."""
    from pipeline import queue as queue_stage
    with store.session() as session:
        return queue_stage.queue(session, filters, page=page)


def claim(store: Store, slug: str) -> ClaimDetail:
    """A claim with its verdict history and every evidence item's standing and flags."""
    from pipeline.claim_detail import claim_detail
    with store.session() as session:
        return claim_detail(session, slug)


def timeline(store: Store, claim: str, *, config: Config | None = None) -> Timeline:
    """When each evidence item of a claim changed outcome or observation, in capture order
    (`config`: to count a table item's distinct values on its snapshots)."""
    from pipeline import timeline as timeline_stage
    with store.session() as session:
        return timeline_stage.build(session, claim, config)


def factchecks(store: Store, config: Config | None = None) -> list[FactCheckSummary]:
    """The desk's fact-checks, each with its open flags and its backfill's state (`config`
    tells which await theirs)."""
    with store.session() as session:
        return factcheck_list(session, config, utcnow())


def sources(store: Store, config: Config, *, state: str | None = None) -> list[SourceHealth]:
    """Every source's health (only those in `state`: new, ok, blocked, failing, backed off,
    unreachable, overdue, retired)."""
    if state is not None and state not in STATES:
        raise UsageError(f"{state!r} is not a state: one of {', '.join(STATES)}",
                         field="state")
    with store.session() as session:
        return health(session, config, utcnow(), state=state)


def source(store: Store, config: Config, slug: str) -> SourceHealth:
    """One source's health (NotFound for a source the desk does not watch)."""
    with store.session() as session:
        found = health(session, config, utcnow(), only=slug)
    if not found:
        raise NotFound(f"unknown source {slug!r}", field="source")
    return found[0]


def snapshots(store: Store, source: str, *, limit: int = 50,
              before: int | None = None) -> list[SnapshotRecord]:
    """A source's stored versions, newest first."""
    with store.session() as session:
        return [SnapshotRecord.from_row(row)
                for row in snapshot_stage.listed(session, source, limit=limit, before=before)]


def snapshot(store: Store, snapshot_id: int) -> tuple[SnapshotRecord, str]:
    """A snapshot's record and its source's id."""
    with store.session() as session:
        row, source = snapshot_stage.snapshot(session, snapshot_id)
        return SnapshotRecord.from_row(row), source


def snapshot_content(store: Store, snapshot_id: int) -> tuple[bytes, SnapshotRecord]:
    """The bytes the publisher served for this snapshot, exactly, with its record."""
    with store.session() as session:
        row, _source = snapshot_stage.snapshot(session, snapshot_id)
        return blobs.get(session, row.blob_sha256), SnapshotRecord.from_row(row)


# --- the desk's doing ------------------------------------------------------------------------


def check_now(store: Store, config: Config, source: str, *, by: str,
              settings: FetchSettings | None = None,
              defer: Callable[..., object] | None = None) -> RunReport:
    """Check one source now (an editor asked), unless another worker is checking it. No
    backfill runs here (it may take many archive requests): a source whose fact-check awaits
    its backfill is not checked either, since a live check first would become its baseline;
    the report says so at once (`awaiting_backfill`), and the next scheduled check (or the
    daemon) backfills it first. With `defer` (the desk's `BackgroundTasks.add_task`), the
    check itself is handed to it, to run after the answer, and the report is empty."""
    if source not in config.sources:
        raise NotFound(f"unknown source {source!r}: it is not in sources.yaml", field="source")
    awaiting = awaiting_backfill(store, config, [source])
    if awaiting:
        return RunReport(awaiting_backfill=awaiting)
    with store.session() as session:
        audit.record(session, "check-requested", {"by": by}, source=source)
    if defer is not None:
        defer(check, store, config, only=[source], settings=settings, backfill=False)
        return RunReport()
    return check(store, config, only=[source], settings=settings, backfill=False)


def retire_source(store: Store, source: str, *, by: str, note: str | None = None) -> list[int]:
    """Accept a source as gone: no more checks or alerts; its open flags close. Returns them."""
    with store.session() as session:
        return retirement.retire(session, source, by=by, note=note, now=utcnow())


def restore_source(store: Store, source: str, *, by: str) -> None:
    with store.session() as session:
        retirement.restore(session, source, by=by, now=utcnow())


def mark_seen(store: Store, flag_id: int, account_id: int) -> None:
    with store.session() as session:
        flag_notes.mark_seen(session, flag_id, account_id, now=utcnow())


def comment(store: Store, flag_id: int, account_id: int, text: str) -> flag_notes.Comment:
    with store.session() as session:
        return flag_notes.comment(session, flag_id, account_id, text, now=utcnow())


def snapshot_document(store: Store, config: Config, snapshot_id: int) -> Document | str:
    """A snapshot as claimwatch reads it under its source's current settings, or why not."""
    with store.session() as session:
        row, slug = snapshot_stage.snapshot(session, snapshot_id)
        source = config.sources.get(slug)
        if source is None:
            return f"source {slug!r} is no longer in sources.yaml"
        return read(session, row, source)


def flag(store: Store, config: Config, flag_id: int) -> FlagDetail:
    """A flag as an editor reviews it: the claim, the expectation in words, the evidence
    change, both snapshots, who has seen it, comments, and the update a review could make."""
    from pipeline.flag_detail import flag_detail
    with store.session() as session:
        return flag_detail(session, config, flag_id)


def import_factcheck(target: str, *, sources: str | Path | None = None,
                     factcheck_id: str | None = None, output: Path | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> Draft:
    """Draft a watch of the published fact-check at `target` (a URL, or a saved HTML file):
    its claims, the pages they cite, and evidence proposed and checked on each
    (`pipeline.importer`). The draft is validated with the desk's configuration at `sources`
    (a directory: with its other files, and the sources it declares are used by their ids);
    with `output` it is also written there, as a new file."""
    from pipeline import importer  # its parsers load only when a fact-check is imported

    desk = Path(sources) if sources is not None else None
    if output is not None and output.exists():
        raise UsageError(f"{output} exists already: choose another file", field="output")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in target):
        raise UsageError("the fact-check's address holds a control character or an unpaired "
                         "surrogate: give its URL or a file's path", field="url")
    config = load_config(desk) if desk is not None and desk.exists() else empty_config()
    body, read_from, charset, home = _factcheck_page(target, config, transport)
    draft = importer.draft_watch(body, read_from, config, when=f"{utcnow():%Y-%m-%d}",
                                 charset=charset, home=home, factcheck_id=factcheck_id,
                                 reuse=desk is not None and desk.is_dir(), transport=transport)
    path = output or (desk / f"{draft.factcheck_id}.yaml" if desk is not None and desk.is_dir()
                   else Path(f"{draft.factcheck_id}.yaml"))
    factcheck_files.check(draft.text, path, desk)
    if output is not None:
        factcheck_files.write_new(output, draft.text)
    return draft


def _factcheck_page(target: str, config: Config, transport: httpx.AsyncBaseTransport | None
                    ) -> tuple[bytes, str, str | None, str | None]:
    """The page's bytes, where they were read, their charset, and the URL they came from."""
    if not target.startswith(("http://", "https://")):
        path = Path(target)
        try:
            return path.read_bytes(), path.resolve().as_uri(), None, None
        except OSError as exc:
            raise UsageError(f"cannot read {target}: {exc.strerror or exc}",
                             field="page") from None

    async def fetch() -> FetchResult:
        async with Fetcher(fetch_settings(config), transport=transport) as fetcher:
            return await fetcher.fetch(target, timeout=config.defaults.timeout,
                                       max_bytes=config.defaults.max_bytes)

    result = asyncio.run(fetch())
    refused = screen(result)
    problem = result.error or (f"{refused.kind}: {refused.reason}" if refused else None)
    if problem or result.body is None:
        raise FetchError(f"cannot read {target}: {problem or 'no body'}")
    return result.body, result.final_url, result.charset, result.final_url


def add_factcheck(store: Store, text: str, sources: str | Path, *, by: str,
                  imported_from: str | None = None) -> Path:
    """Save an editor's accepted draft as a new fact-check file of the directory `sources`
    (validated with the other files first: ConfigError lists every problem), and record it in
    the audit chain; the next check syncs it."""
    path, _config = factcheck_files.add(text, Path(sources))
    with store.session() as session:
        audit.record(session, "sources-file", {"file": str(path), "by": by,
                                               "from": imported_from})
    return path
