"""sources.yaml → database rows: fact-checks, claims, sources and evidence items.

Rows are matched by their ids (slugs); an evidence item by its claim and `Evidence.identity()`,
so it keeps its baseline across edits elsewhere in the file. What the file no longer names is
deactivated, never deleted: its history stays. Every addition, removal and alteration is an
audit event, and a verdict edited in the file joins the claim's verdict history; a verdict
revised by a review stands until the file's own verdict changes.

The tables are only written through here, so a configuration that is the same as the last one
synced (its digest is kept in `config_sync`) is skipped: at 10,000 sources the sync read ~40,000
rows, a second and 60 MB of every unchanged run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from db import audit, utcnow
from db.leases import host_of
from db.models import ClaimRow, ConfigSyncRow, EvidenceRow, FactCheckRow, SourceRow, VerdictRow
from pipeline import __version__, schedule
from pipeline.config import Config
from pipeline.idle import FILES_ROW

CONFIG = "config"
# config_sync's rows: the digest of the configuration last synced, and (FILES_ROW) of the files
# it was read from; row 0 is only ever updated, for SQLite's write lock (`_lock`)
CONFIG_ROW = 1
SYNC_LOCK = 0x636C_6D77_7379  # pg_advisory_xact_lock key held while syncing


def sync_config(session: Session, config: Config) -> bool:
    """Bring the tables in line with `config`; False when they already were (the same
    configuration, read by the same claimwatch, was the last one synced): nothing is read.

    Syncs are serialized (two `check`s starting on a new database, a daemon reloading while a
    cron run starts): the second waits for the first, then finds its work done. The digest of
    the files `config` was read from (when it was: `config.load`) is kept too, in row FILES,
    so that a `check` of the same files knows the tables are in line without parsing them
    (`pipeline.idle`); a configuration from elsewhere that changes the tables clears it, and so
    does one whose check owes more than its due sources (`archive:`, `backfill_from`)."""
    digest = hashlib.sha256(f"{__version__}\n{config.model_dump_json()}".encode()).hexdigest()
    _lock(session)
    state = session.get(ConfigSyncRow, CONFIG_ROW)
    changed = state is None or state.digest != digest
    if changed:
        _sync(session, config)
        if state is None:
            state = ConfigSyncRow(id=CONFIG_ROW)
            session.add(state)
        state.digest, state.synced_at = digest, utcnow()
    files = session.get(ConfigSyncRow, FILES_ROW)
    # a check owes more than its due sources when the desk sends versions to a public archive
    # (a round after every check) or backfills new fact-checks: then no idle answer, ever
    idle = config.archive is None and config.defaults.backfill_from is None
    files_digest = (config.files_digest or "") if idle else ""
    if config.files_digest is not None or (changed and files is not None):
        if files is None:
            files = ConfigSyncRow(id=FILES_ROW)
            session.add(files)
        if files.digest != files_digest:
            files.digest, files.synced_at = files_digest, utcnow()
    return changed


def _lock(session: Session) -> None:
    """Take the sync lock for this transaction: PostgreSQL's advisory lock, or SQLite's write
    lock (a write as the transaction's first statement: a read first could not be upgraded
    to a write once another writer had committed)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(SYNC_LOCK)))
    else:
        session.execute(update(ConfigSyncRow).where(ConfigSyncRow.id == 0).values(digest=""))


def _published(day: dt.date | None) -> dict[str, str]:
    """`published` for an audit event (a day as text; nothing when the fact-check has none)."""
    return {"published": day.isoformat()} if day else {}


def _sync(session: Session, config: Config) -> None:
    """Existing rows are updated through the ORM; new ones (every row, on a desk's first run)
    go in as bulk INSERTs of plain dicts, which took a third of the memory."""
    now = utcnow()
    events: list[audit.Event] = []
    factchecks = _by_slug(session, FactCheckRow)
    claims = _by_slug(session, ClaimRow)
    sources = _by_slug(session, SourceRow)

    added: list[dict[str, Any]] = []
    for slug, src in config.sources.items():
        row = sources.get(slug)
        options: dict[str, Any] = {**src.extraction_options(), "every": config.every(slug)}
        if row is None:
            added.append({"slug": slug, "url": src.url, "host": host_of(src.url),
                          "options": options})
            _event(events, "source", slug, "added", {"url": src.url, "options": options},
                   source=slug)
            continue
        if (row.url, row.options, row.active) != (src.url, options, True):
            _event(events, "source", slug, "altered" if row.active else "restored",
                   _changes({"url": row.url, "options": row.options},
                            {"url": src.url, "options": options}), source=slug)
            if row.url != src.url:
                row.url, row.validators, row.next_check_at = src.url, {}, None
                row.host = host_of(src.url)
            elif row.options.get("every") != options["every"]:  # the next check follows it
                row.next_check_at = schedule.rescheduled(row.last_checked_at, options["every"],
                                                         row.consecutive_failures)
        row.options, row.active = options, True
    _deactivate(events, sources, set(config.sources), "source")
    source_ids = {slug: row.id for slug, row in sources.items()} | _insert(session, SourceRow,
                                                                         added)

    added = []
    for fc in config.factchecks:
        fc_row = factchecks.get(fc.id)
        if fc_row is None:
            added.append({"slug": fc.id, "title": fc.title, "url": fc.url,
                          "published": fc.published})
            _event(events, "factcheck", fc.id, "added", {"title": fc.title, "url": fc.url}
                   | _published(fc.published))
            continue
        if (fc_row.title, fc_row.url, fc_row.published, fc_row.active) != (
                fc.title, fc.url, fc.published, True):
            _event(events, "factcheck", fc.id, "altered",
                   _changes({"title": fc_row.title, "url": fc_row.url}
                            | _published(fc_row.published),
                            {"title": fc.title, "url": fc.url} | _published(fc.published)))
        fc_row.title, fc_row.url, fc_row.active = fc.title, fc.url, True
        fc_row.published = fc.published
    _deactivate(events, factchecks, {fc.id for fc in config.factchecks}, "factcheck")
    factcheck_ids = {slug: row.id for slug, row in factchecks.items()} | _insert(
        session, FactCheckRow, added)

    added = []
    verdicts: list[dict[str, Any]] = []
    for fc, claim in config.claims():
        row = claims.get(claim.id)
        if row is None:
            added.append({"slug": claim.id, "factcheck_id": factcheck_ids[fc.id],
                          "text": claim.text, "verdict": claim.verdict,
                          "config_verdict": claim.verdict})
            _event(events, "claim", claim.id, "added",
                   {"factcheck": fc.id, "text": claim.text, "verdict": claim.verdict},
                   claim=claim.id)
            continue
        if row.config_verdict is None:
            row.config_verdict = row.verdict
        before = {"factcheck": row.factcheck_id, "text": row.text,
                  "verdict": row.config_verdict, "active": row.active}
        after = {"factcheck": factcheck_ids[fc.id], "text": claim.text,
                 "verdict": claim.verdict, "active": True}
        if before != after:
            _event(events, "claim", claim.id, "altered" if row.active else "restored",
                   _changes(before, after), claim=claim.id)
        if claim.verdict != row.config_verdict:  # the desk edited the published verdict
            row.verdict = row.config_verdict = claim.verdict
            verdicts.append({"claim_id": row.id, "verdict": claim.verdict})
        row.factcheck_id, row.text, row.active = factcheck_ids[fc.id], claim.text, True
    _deactivate(events, claims, {claim.id for _fc, claim in config.claims()}, "claim")
    new_claims = _insert(session, ClaimRow, added)
    verdicts += [{"claim_id": new_claims[row["slug"]], "verdict": row["verdict"]}
                 for row in added]
    if verdicts:
        session.execute(insert(VerdictRow), [{**v, "origin": "sources.yaml", "at": now}
                                             for v in verdicts])
    claim_ids = {slug: row.id for slug, row in claims.items()} | new_claims

    existing = {(row.claim_id, row.identity): row
                for row in session.scalars(select(EvidenceRow))}
    wanted = set()
    added = []
    for _fc, claim in config.claims():
        claim_id = claim_ids[claim.id]
        for position, ev in enumerate(claim.evidence):
            ident = (claim_id, ev.identity())
            wanted.add(ident)
            row = existing.get(ident)
            if row is None or not row.active:
                _event(events, "evidence", claim.id, "added" if row is None else "restored",
                       {"source": ev.source, "expectation": ev.expectation()},
                       source=ev.source, claim=claim.id)
            if row is None:
                added.append({"claim_id": claim_id, "identity": ident[1],
                              "expectation": ev.expectation(), "position": position,
                              "source_id": source_ids[ev.source]})
                continue
            row.source_id = source_ids[ev.source]
            row.position, row.active = position, True
    if added:
        session.execute(insert(EvidenceRow), added)
    slugs = {row_id: slug for slug, row_id in claim_ids.items()}
    source_slugs = {row_id: slug for slug, row_id in source_ids.items()}
    for ident, row in existing.items():
        if ident not in wanted and row.active:
            row.active = False
            _event(events, "evidence", slugs.get(row.claim_id, "?"), "dropped",
                   {"source": source_slugs.get(row.source_id), "expectation": row.expectation},
                   source=source_slugs.get(row.source_id), claim=slugs.get(row.claim_id))
    audit.record_many(session, events)
    session.flush()


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> dict[str, int]:
    """INSERT `rows` at once; return their ids by slug."""
    if not rows:
        return {}
    session.flush()  # rows changed earlier reach the database first
    # the slug comes back with each id: in any order, so many rows go in one statement (with
    # sort_by_parameter_order, SQLite got one INSERT per row)
    inserted = session.execute(insert(model).returning(model.slug, model.id), rows)
    return {slug: row_id for slug, row_id in inserted}


def _event(events: list[audit.Event], what: str, ident: str, change: str, data: dict[str, Any],
           *, source: str | None = None, claim: str | None = None) -> None:
    events.append(audit.Event(CONFIG, {"what": what, "id": ident, "change": change, **data},
                              source=source, claim=claim))


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"changed": {k: {"from": before.get(k), "to": after.get(k)}
                        for k in {**before, **after} if before.get(k) != after.get(k)}}


def _by_slug(session: Session, model: Any) -> dict[str, Any]:
    return {row.slug: row for row in session.scalars(select(model))}


def _deactivate(events: list[audit.Event], rows: dict[str, Any], keep: set[str],
                what: str) -> None:
    for slug, row in rows.items():
        if slug not in keep and row.active:
            row.active = False
            subject = {"source": slug} if what == "source" else (
                {"claim": slug} if what == "claim" else {})
            _event(events, what, slug, "dropped", {}, **subject)
