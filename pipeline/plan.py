"""What one source check needs from the database before it goes to the network (`Plan`), read
for a whole claimed chunk of sources in three queries: the sources.yaml items per source, the
latest snapshot's digest, and whether every item is already evaluated on it (the quiet path).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import EvidenceRow, SnapshotRow, SourceRow
from pipeline.config import Config, Evidence, Source
from pipeline.vocab import Outcome


@dataclass(frozen=True)
class Plan:
    """One source check to make: where to fetch, how to read, which items to evaluate."""

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
    fetch_mode: str = "http"  # a FetchMode: `fetch` in sources.yaml


def plans(session: Session, config: Config, rows: list[SourceRow], owner: str) -> list[Plan]:
    """The plans of the claimed source rows still in sources.yaml."""
    items = items_by_source(config)
    rows = [row for row in rows if row.slug in config.sources]
    shas: dict[int, str] = {}
    modes: dict[int, str] = {}  # the latest snapshots' fetch modes
    for snapshot_id, sha, mode in session.execute(select(
            SnapshotRow.id, SnapshotRow.blob_sha256, SnapshotRow.fetch_mode).where(
            SnapshotRow.id.in_([r.latest_snapshot_id for r in rows if r.latest_snapshot_id]))):
        shas[snapshot_id], modes[snapshot_id] = sha, mode
    evaluated: dict[int, list[tuple[int | None, str | None, str | None]]] = {}
    for source_id, snapshot_id, reading, outcome in session.execute(select(
            EvidenceRow.source_id, EvidenceRow.evaluated_snapshot_id,
            EvidenceRow.evaluated_options, EvidenceRow.last_outcome).where(
            EvidenceRow.active.is_(True),
            EvidenceRow.source_id.in_([r.id for r in rows]))):
        evaluated.setdefault(source_id, []).append((snapshot_id, reading, outcome))
    found = []
    for row in rows:
        source = config.sources[row.slug]
        reading = reading_key(source)
        mode = config.fetch_mode(row.slug)
        settled = all(snapshot_id == row.latest_snapshot_id and key == reading
                      and outcome != Outcome.UNREACHABLE
                      for snapshot_id, key, outcome in evaluated.get(row.id, []))
        found.append(Plan(
            slug=row.slug, url=row.url, source=source, timeout=config.timeout(row.slug),
            max_bytes=config.max_bytes(row.slug),
            validators=row.validators if row.latest_snapshot_id else {},
            items=items[row.slug], owner=owner, source_id=row.id,
            latest_snapshot_id=row.latest_snapshot_id,
            latest_sha=shas.get(row.latest_snapshot_id or -1),
            quiet=row.consecutive_failures == 0 and row.latest_snapshot_id is not None
            and settled and modes.get(row.latest_snapshot_id) == mode, fetch_mode=mode))
    return found


# the last configuration's items by source: a run claims its sources chunk after chunk, and
# each chunk's plans need them (an item's identity is a JSON dump and a hash: ~10 µs each, for
# every item of sources.yaml, per chunk, made a 10,000-source run quadratic)
_items: tuple[Config, dict[str, dict[tuple[str, str], Evidence]]] | None = None


def items_by_source(config: Config) -> dict[str, dict[tuple[str, str], Evidence]]:
    """Each source's sources.yaml items, keyed by (claim id, Evidence.identity())."""
    global _items
    cached = _items
    if cached is not None and cached[0] is config:
        return cached[1]
    items: dict[str, dict[tuple[str, str], Evidence]] = {slug: {} for slug in config.sources}
    for _fc, claim in config.claims():
        for ev in claim.evidence:
            items[ev.source][(claim.id, ev.identity())] = ev
    _items = (config, items)
    return items


def reading_key(source: Source) -> str:
    """Identifies how the source is read: re-evaluate when select/ignore/kind/follow change."""
    blob = json.dumps(source.extraction_options(), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
