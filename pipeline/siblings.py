"""A base for a source's first snapshot: the latest page of another source on the same host.

A source's later versions are stored as deltas on its previous one (`db.blobs`), but its first
has no version of its own before it, and was stored whole: ~24% of a news page's raw size.
Pages of one site share most of their bytes (inline CSS and scripts, navigation, footer), so a
first page compressed with a sibling page as dictionary stores in ~12% (bench/storage.py).

The sibling is another source on the same host (`source.host`) whose latest snapshot is of the
same kind (a workbook is never tried against a page), preferring the URL that shares the most
path segments with this one (the same section of the site), then the shallowest chain (the new
source's own chain starts there), then the most recent. Only a source's *latest* snapshot is
offered: prune never removes it while it is the latest, and when a later prune does, it
re-encodes what was stored on it (`db.blobs.unchain`); a base is always a blob stored already,
so no chain loops, and `db.blobs.encode` keeps every chain within CHAIN.

It costs a check no query per source. A run keeps one `Siblings`: `load` asks, in one query
per batch, for the hosts of the batch's sources that have no snapshot yet that it has not asked
about before (the AT_HAND latest snapshots per host and kind; no query when every source has
one, or every host was asked about), and each snapshot the run stores joins the candidates as
it is stored (`add`), so pages of one host checked in one run are stored on each other without
asking again (a query for a host of 3,000 sources took ~10 ms). A candidate the run kept may be
gone by the time it is used (its transaction rolled back, a prune removed it): `db.blobs.encode`
then finds no base and stores the page whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import blobs
from db.models import BlobRow, SnapshotRow, SourceRow

# a delta on a sibling is kept where it is at most this share of the whole frame (a version's
# delta must halve it: blobs.DELTA_AT_MOST): on bench/web.py's news pages half the sibling
# deltas are 51-76% of the whole frame, each still saving 6-12% of the page's raw size once,
# while costing its source's chain a frame or two of depth (a whole body a version sooner)
SIBLING_AT_MOST = 0.8
# a page more deltas deep than this is no candidate: the first page stored on it starts its
# source's own chain one deeper, so its next whole body comes that many versions sooner (on a
# source that changes often, ~1.3% of raw per level, against the ~12% a sibling saves once)
DEEPEST = 3
# candidates kept per host and kind, among which choosing stays cheap: the most recent, and the
# shallowest when the run stores more (so first pages do not drift deeper, page on page)
AT_HAND = 32


@dataclass(frozen=True)
class Sibling:
    """Another source's latest snapshot, as a base for a first one (its blobs named as a
    SnapshotRow names them)."""

    source_id: int
    path: tuple[str, ...]  # its URL's path segments
    blob_sha256: str  # its body (rendered: the DOM)
    raw_sha256: str | None  # rendered: its response as served
    depth: int  # its body's chain depth


class Stored(Protocol):
    blob_sha256: str
    raw_sha256: str | None


def served(snapshot: Stored) -> str:
    """A snapshot's response as served: its body, unless rendered."""
    return snapshot.raw_sha256 or snapshot.blob_sha256


class Siblings:
    """The candidate siblings of a run's first snapshots, by host and kind."""

    def __init__(self) -> None:
        self.hosts: set[str] = set()  # those asked about: a first snapshot of the run is on it
        self.at: dict[tuple[str, str], list[Sibling]] = {}  # the oldest first

    def load(self, session: Session, sources: Iterable[SourceRow]) -> Siblings:
        """Ask for the candidates on the hosts of those of `sources` with no snapshot yet, unless
        asked before: one query."""
        hosts = {row.host for row in sources
                 if row.latest_snapshot_id is None and row.host} - self.hosts
        if not hosts:
            return self
        self.hosts |= hosts
        recent = func.row_number().over(partition_by=(SourceRow.host, SnapshotRow.kind),
                                        order_by=SnapshotRow.id.desc())
        ranked = select(SourceRow.host, SnapshotRow.kind, SnapshotRow.source_id,
                        SnapshotRow.url, SnapshotRow.blob_sha256, SnapshotRow.raw_sha256,
                        BlobRow.depth, recent.label("n")) \
            .join(SnapshotRow, SnapshotRow.id == SourceRow.latest_snapshot_id) \
            .join(BlobRow, BlobRow.sha256 == SnapshotRow.blob_sha256) \
            .where(SourceRow.host.in_(sorted(hosts)), BlobRow.depth <= DEEPEST) \
            .subquery()
        for row in session.execute(select(ranked).where(ranked.c.n <= AT_HAND)
                                   .order_by(ranked.c.n.desc())):  # the oldest first
            self._keep(row.host, row.kind, Sibling(row.source_id, _path(row.url),
                                                   row.blob_sha256, row.raw_sha256, row.depth))
        return self

    def base(self, session: Session, previous: Stored | None, source: SourceRow, kind: str,
             url: str) -> tuple[Stored | None, float]:
        """What a new snapshot of `source` (`url`, of `kind`) is stored on, and the share of its
        whole frame a delta on it may take: the source's `previous` snapshot, else a sibling
        (whose depth `session` then knows: storing on it asks no more)."""
        if previous is not None:
            return previous, blobs.DELTA_AT_MOST
        sibling = self.choose(source.host, kind, url, source.id)
        if sibling is None:
            return None, blobs.DELTA_AT_MOST
        # read by this run, maybe in an earlier transaction: a prune since then only shortened
        # its chain (`blobs.unchain`), so the chain stays within CHAIN
        blobs.known_depth(session, sibling.blob_sha256, sibling.depth)
        return sibling, SIBLING_AT_MOST

    def choose(self, host: str, kind: str, url: str, source_id: int) -> Sibling | None:
        """The base for `source_id`'s first snapshot (`url`, of `kind`), if any."""
        near = self.at.get((host, kind))
        if not near:
            return None
        path = _path(url)
        best = max((((_shared(path, s.path), -s.depth, n), s) for n, s in enumerate(near)
                    if s.source_id != source_id), default=None)
        return best[1] if best else None

    def add(self, session: Session, host: str, kind: str, url: str, source_id: int, blob: str,
            raw: str | None) -> None:
        """A snapshot the run just stored: a candidate for the next first ones."""
        if host not in self.hosts:  # no first snapshot of the run is on it
            return
        deep = blobs.depth(session, blob)  # known: the transaction stored it
        if deep is not None and deep <= DEEPEST:
            self._keep(host, kind, Sibling(source_id, _path(url), blob, raw, deep))

    def _keep(self, host: str, kind: str, sibling: Sibling) -> None:
        near = self.at.setdefault((host, kind), [])
        near[:] = [s for s in near if s.source_id != sibling.source_id]  # its latest stands for it
        near.append(sibling)
        if len(near) > AT_HAND:
            near.remove(max(near, key=lambda s: s.depth))  # the oldest of the deepest


def _path(url: str) -> tuple[str, ...]:
    try:
        return tuple(urlsplit(url).path.split("/"))
    except ValueError:
        return ()


def _shared(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
