"""sources.yaml → database rows: fact-checks, claims, sources and evidence items.

Rows are matched by their ids (slugs); an evidence item by its claim and `Evidence.identity()`,
so it keeps its baseline across edits elsewhere in the file. What the file no longer names is
deactivated, never deleted: its history stays.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ClaimRow, EvidenceRow, FactCheckRow, SourceRow
from pipeline.config import Config


def sync_config(session: Session, config: Config) -> None:
    factchecks = _by_slug(session, FactCheckRow)
    claims = _by_slug(session, ClaimRow)
    sources = _by_slug(session, SourceRow)

    for slug, src in config.sources.items():
        row = sources.get(slug)
        options: dict[str, Any] = {**src.extraction_options(), "every": config.every(slug)}
        if row is None:
            row = sources[slug] = SourceRow(slug=slug, url=src.url, options=options,
                                            validators={}, consecutive_failures=0)
            session.add(row)
        elif row.url != src.url:
            row.url, row.validators, row.next_check_at = src.url, {}, None
        row.options, row.active = options, True
    _deactivate(sources, set(config.sources))

    for fc in config.factchecks:
        fc_row = factchecks.get(fc.id)
        if fc_row is None:
            fc_row = factchecks[fc.id] = FactCheckRow(slug=fc.id, title=fc.title)
            session.add(fc_row)
        fc_row.title, fc_row.url, fc_row.active = fc.title, fc.url, True
    _deactivate(factchecks, {fc.id for fc in config.factchecks})
    session.flush()

    for fc, claim in config.claims():
        claim_row = claims.get(claim.id)
        if claim_row is None:
            claim_row = claims[claim.id] = ClaimRow(slug=claim.id, factcheck_id=0, text="",
                                                    verdict="")
            session.add(claim_row)
        claim_row.factcheck_id = factchecks[fc.id].id
        claim_row.text, claim_row.verdict, claim_row.active = claim.text, claim.verdict, True
    _deactivate(claims, {claim.id for _fc, claim in config.claims()})
    session.flush()

    existing = {(row.claim_id, row.identity): row
                for row in session.scalars(select(EvidenceRow))}
    wanted = set()
    for _fc, claim in config.claims():
        claim_id = claims[claim.id].id
        for position, ev in enumerate(claim.evidence):
            ident = (claim_id, ev.identity())
            wanted.add(ident)
            row = existing.get(ident)
            if row is None:
                row = existing[ident] = EvidenceRow(claim_id=claim_id, identity=ev.identity(),
                                                    expectation=ev.expectation())
                session.add(row)
            row.source_id = sources[ev.source].id
            row.position, row.active = position, True
    for ident, row in existing.items():
        if ident not in wanted:
            row.active = False
    session.flush()


def _by_slug(session: Session, model: Any) -> dict[str, Any]:
    return {row.slug: row for row in session.scalars(select(model))}


def _deactivate(rows: dict[str, Any], keep: set[str]) -> None:
    for slug, row in rows.items():
        if slug not in keep:
            row.active = False
