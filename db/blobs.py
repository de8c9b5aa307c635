"""Content-addressed bodies: sha256 names the bytes, zstd stores them, each body once.

A body is stored whole (a zstd frame) or as a delta: a zstd frame compressed with another
blob's bytes, its *base*, as a raw-content dictionary, so what the two share costs almost
nothing (a news page that changed by a paragraph: ~3% of its size rather than ~23%). A blob
row names its base and its *depth*, how many deltas lie between it and a whole body; a new
body is stored whole when its base is already CHAIN - 1 deltas deep, or when the delta would
not be much smaller (DELTA_AT_MOST, or the writer's own `at_most`), so reading any body back
decodes at most CHAIN frames (one query fetches them), whoever's bodies they are.

The base is chosen by the writer, only among blobs already stored, so chains never loop: the
recorder offers the source's previous snapshot, and for a source's first one the latest page
of another source on its host (`pipeline.siblings`: ~12% of a news page's size rather than
~24%), so a chain may run through several sources' bodies. A blob shared by several sources
or snapshots is still one row; whoever stores it first picks its base. A blob is kept while a
snapshot points at it (its body, or a rendered page's response as served: `pointed_at`) or a
kept blob's chain runs through it (`needed`); when `prune` removes the snapshot of a kept
blob's base, whichever source it was of, it re-encodes that blob on its nearest kept ancestor,
or whole (`unchain`). Bodies read or stored in a transaction are kept (LRU, up to CACHE_BYTES)
until it ends, so reading consecutive versions of a source decodes one frame each, and a body
stored on one the transaction just stored reads no base back; so are the depths of the blobs
it stored (`depth`).
"""

from __future__ import annotations

import hashlib
import importlib
from collections import OrderedDict
from typing import Any

import zstandard
from sqlalchemy import Select, bindparam, event, literal, select, union, update
from sqlalchemy.orm import Session, SessionTransaction

from db.models import BlobRow, SnapshotRow

# zstd's default: on news pages 23.6% of raw at 0.4 ms a page, where level 9 reaches 21.5% at
# 1.6 ms (bench/README.md); a first check of thousands of pages spent a tenth of its time here.
# Deltas too: level 9 saves a tenth of a delta's few KB for twice the time.
LEVEL = 3
# a whole body at least every CHAIN versions: reading one back decodes ≤ CHAIN frames (for an
# 80 KB page 0.2 ms for the whole one, 0.02 ms per delta), while a whole body per CHAIN versions
# costs ~23/16 ≈ 1.5% of raw per version on top of the deltas' (0.3% for a paragraph rewritten,
# 3% when every sidebar changes too: bench/storage.py)
CHAIN = 16
# a delta only where it at most halves the whole frame: a page rewritten wholly is stored whole,
# so a chain's dependencies always buy a real saving
DELTA_AT_MOST = 0.5
CACHE_BYTES = 16 << 20  # bodies kept per transaction (a chain of 1 MB pages), LRU
_CACHE = "claimwatch.blobs"  # the session.info key
_DEPTHS = _CACHE + ".depths"  # the depth of each blob the transaction stored or looked up
_ABSENT = _CACHE + ".absent"  # blobs looked up and not found (`look_up`)
_HINTS = _CACHE + ".hints"  # depths read earlier, told by callers (`known_depth`)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(session: Session, data: bytes, base: str | None = None,
        at_most: float = DELTA_AT_MOST, sha: str | None = None) -> str:
    """Store `data` (whose digest is `sha`, when the caller has it) unless a blob with its
    digest exists; return the digest. With `base` (the digest of a stored blob, e.g. the same
    source's previous version), store it as a delta on that blob where that keeps the chain
    within CHAIN and is at most `at_most` of the whole frame. What it stored is known for the
    rest of the transaction: its bytes (a base read back costs nothing) and its depth
    (`depth`)."""
    sha = sha or digest(data)
    # the caller's pending rows wait for its own flush (a batch's snapshots: one INSERT)
    with session.no_autoflush:
        if sha not in _depths(session) and (sha in _looked_up(session)
                                            or session.scalar(_SIZE, {"sha": sha}) is None):
            values = encode(session, data, base, sha=sha, at_most=at_most)
            if session.execute(_insert(session), values).rowcount:  # not another worker's row
                _depths(session)[sha] = values["depth"]
            _looked_up(session).discard(sha)  # another worker's row: asked again if need be
    _remember(session, sha, data)
    return sha


def look_up(session: Session, shas: list[str]) -> None:
    """Find out in one query which of these blobs are stored (a batch's bodies), so `put` asks
    no more: their depths are known for the transaction, and the others are known to be new
    (another worker storing one meanwhile is still no error: `put` inserts it as the first
    one's row stands)."""
    wanted = [sha for sha in set(shas) if sha not in _depths(session)]
    if not wanted:
        return
    with session.no_autoflush:
        found = {sha: deep for sha, deep in session.execute(
            select(_TABLE.c.sha256, _TABLE.c.depth).where(_TABLE.c.sha256.in_(wanted)))}
    _depths(session).update(found)
    _looked_up(session).update(sha for sha in wanted if sha not in found)


def known_depth(session: Session, sha: str, deep: int) -> None:
    """Blob `sha` was `deep` deltas from a whole body when the caller read it, maybe in an
    earlier transaction (a prune since then only shortened its chain: `unchain`): `depth`
    answers that without a query. Whether it is still stored, `put` and `get` still ask."""
    _hints(session)[sha] = deep


def depth(session: Session, sha: str) -> int | None:
    """How many deltas lie between blob `sha` and a whole body (None: no such blob); no query
    for a blob this transaction stored or looked up."""
    known = _depths(session).get(sha, _hints(session).get(sha))
    if known is not None:
        return known
    with session.no_autoflush:  # the caller's pending rows can wait for its own flush
        return session.scalar(_DEPTH, {"sha": sha})


# the statements `put` runs for every new body, built once: building them per body (a values()
# of five fields, an ON CONFLICT, a comparison) cost ~0.6 ms a body, twice what SQLite took
_TABLE = BlobRow.__table__
_SIZE = select(_TABLE.c.size).where(_TABLE.c.sha256 == bindparam("sha"))
_DEPTH = select(_TABLE.c.depth).where(_TABLE.c.sha256 == bindparam("sha"))
_INSERTS: dict[str, Any] = {}  # dialect name → INSERT … ON CONFLICT DO NOTHING


def _insert(session: Session) -> Any:
    """The INSERT of a blob row, where another worker may store the same bytes at once: the
    first one's row stands (the engine has imported its dialect already; importing both here
    cost 20 ms at start)."""
    name = session.get_bind().dialect.name
    statement = _INSERTS.get(name)
    if statement is None:
        dialect = importlib.import_module(f"sqlalchemy.dialects.{name}")
        statement = _INSERTS[name] = dialect.insert(_TABLE).on_conflict_do_nothing(
            index_elements=["sha256"])
    return statement


def encode(session: Session, data: bytes, base: str | None, sha: str | None = None,
           at_most: float = DELTA_AT_MOST) -> dict[str, Any]:
    """The blob row that stores `data`: a delta on `base` when that pays (at most `at_most` of
    the whole frame, within CHAIN), else whole."""
    values: dict[str, Any] = {"sha256": sha or digest(data), "size": len(data),
                              "data": pack(data), "base_sha256": None, "depth": 0}
    if base is None or base == values["sha256"]:
        return values
    deep = depth(session, base)
    if deep is None or deep + 1 >= CHAIN:
        return values
    try:
        with session.no_autoflush:  # the caller's pending rows can wait for its own flush
            previous = get(session, base)
    except (KeyError, zstandard.ZstdError):  # a broken chain (audit verify --deep says so)
        return values  # is no base for another
    # (a compressor kept per base for the next body on it saved nothing at 10,000 sources, where
    # a batch interleaves hosts, and took ~4 MB each: peak RSS 195 → 229 MB with 8 kept)
    delta = zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionary(previous)).compress(data)
    if len(delta) <= len(values["data"]) * at_most:
        values |= {"data": delta, "base_sha256": base, "depth": deep + 1}
    return values


def pack(data: bytes) -> bytes:
    """`data` stored whole, as a blob row without a base holds it (also how bench/desk.py
    fills a database in bulk)."""
    return zstandard.ZstdCompressor(level=LEVEL).compress(data)


def get(session: Session, sha: str) -> bytes:
    """The bytes of blob `sha`, its chain decoded (raises KeyError if it or a base is missing)."""
    cache = _cache(session)
    if sha in cache:
        cache.move_to_end(sha)
        return cache[sha]
    rows = {row.sha256: row for row in session.execute(_CHAIN, {"sha": sha})}
    if sha not in rows:
        raise KeyError(f"blob {sha} is missing")
    path, at = [], sha
    while at not in cache:  # down to a body read already, or a whole one
        row = rows.get(at)
        if row is None:
            raise KeyError(f"blob {at} is missing (the base of blob {path[-1].sha256})")
        path.append(row)
        if row.base_sha256 is None:
            break
        if len(path) > CHAIN:
            raise KeyError(f"blob {sha}'s chain is longer than {CHAIN}: a base loops")
        at = row.base_sha256
    body = None
    for row in reversed(path):
        base = cache[row.base_sha256] if body is None and row.base_sha256 else body
        body = unpack(row.data, row.size, base)
        _remember(session, row.sha256, body)
    return body if body is not None else cache[sha]


def decode(session: Session, sha: str, size: int, packed: bytes, base: str | None) -> bytes:
    """A blob row's bytes from its stored fields (its base read as `get` reads it), kept for
    the transaction like a body `get` read: blobs read in chain order decode one frame each."""
    body = unpack(packed, size, None if base is None else get(session, base))
    _remember(session, sha, body)
    return body


def _chain() -> Select[Any]:
    """Blob `:sha` and its bases, at most CHAIN rows, in one query (in no particular order);
    built once (building it took ~0.3 ms a read)."""
    blob = BlobRow.__table__
    wanted = (blob.c.sha256, blob.c.base_sha256, blob.c.size, blob.c.data)
    found = select(*wanted, literal(1).label("step")).where(blob.c.sha256 == bindparam("sha")) \
        .cte("chain", recursive=True)
    found = found.union_all(
        select(*wanted, (found.c.step + 1).label("step"))
        .join(found, blob.c.sha256 == found.c.base_sha256).where(found.c.step <= CHAIN))
    return select(found.c.sha256, found.c.base_sha256, found.c.size, found.c.data)


_CHAIN = _chain()


def pointed_at() -> Select[Any]:
    """Every blob a snapshot points at: its body, and a rendered one's response as served."""
    either = union(select(SnapshotRow.blob_sha256.label("sha256")),
                   select(SnapshotRow.raw_sha256).where(SnapshotRow.raw_sha256.is_not(None)))
    return select(either.subquery().c.sha256)


def needed() -> Select[Any]:
    """Every blob a snapshot points at, and every base these need, to the whole body."""
    blob = BlobRow.__table__
    keep = pointed_at().cte("keep", recursive=True)
    keep = keep.union(select(blob.c.base_sha256).join(keep, blob.c.sha256 == keep.c.sha256)
                      .where(blob.c.base_sha256.is_not(None)))
    return select(keep.c.sha256)


def unchain(session: Session) -> int:
    """Re-encode each blob a snapshot points at whose base no snapshot points at any more
    (`prune` removed it): as a delta on its nearest ancestor a snapshot still points at (e.g.
    the baseline, or another source's page it was first stored on), where that pays, else
    whole; return how many. The chain's blobs between them are then needed by nothing."""
    kept = pointed_at()
    orphans = session.scalars(select(BlobRow.sha256).where(
        BlobRow.base_sha256.is_not(None), BlobRow.sha256.in_(kept),
        BlobRow.base_sha256.not_in(kept)).order_by(BlobRow.depth)).all()
    if not orphans:
        return 0
    pointed = set(session.scalars(kept))
    for sha in orphans:
        rows = {row.sha256: row for row in session.execute(_CHAIN, {"sha": sha})}
        at = rows[sha].base_sha256
        while at is not None and at in rows and at not in pointed:
            at = rows[at].base_sha256
        values = encode(session, get(session, sha), at if at in pointed else None, sha=sha)
        session.execute(update(BlobRow).where(BlobRow.sha256 == sha).values(
            {k: v for k, v in values.items() if k != "sha256"}))  # the same bytes: its digest holds
        _depths(session).pop(sha, None)
    return len(orphans)


def unpack(packed: bytes, size: int, base: bytes | None = None) -> bytes:
    """A blob row's bytes as they were stored, given its base's bytes if it has a base (raises
    zstandard.ZstdError on a broken frame, or a frame decoded on the wrong base)."""
    if base is None:
        return zstandard.ZstdDecompressor().decompress(packed, max_output_size=size)
    return zstandard.ZstdDecompressor(dict_data=_dictionary(base)).decompress(
        packed, max_output_size=size)


def _dictionary(body: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(body, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def _cache(session: Session) -> OrderedDict[str, bytes]:
    cache: OrderedDict[str, bytes] | None = session.info.get(_CACHE)
    if cache is None:
        cache = session.info[_CACHE] = OrderedDict()
    return cache


def _depths(session: Session) -> dict[str, int]:
    depths: dict[str, int] | None = session.info.get(_DEPTHS)
    if depths is None:
        depths = session.info[_DEPTHS] = {}
    return depths


def _hints(session: Session) -> dict[str, int]:
    """Depths callers told (`known_depth`) for this transaction."""
    hints: dict[str, int] | None = session.info.get(_HINTS)
    if hints is None:
        hints = session.info[_HINTS] = {}
    return hints


def _looked_up(session: Session) -> set[str]:
    """The blobs `look_up` found not stored (yet) in this transaction."""
    absent: set[str] | None = session.info.get(_ABSENT)
    if absent is None:
        absent = session.info[_ABSENT] = set()
    return absent


def _remember(session: Session, sha: str, body: bytes) -> None:
    cache = _cache(session)
    if sha in cache:
        return
    cache[sha] = body
    total = session.info.get(_CACHE + ".bytes", 0) + len(body)
    while total > CACHE_BYTES and len(cache) > 1:
        total -= len(cache.popitem(last=False)[1])
    session.info[_CACHE + ".bytes"] = total


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CACHE, None)
        session.info.pop(_CACHE + ".bytes", None)
        session.info.pop(_DEPTHS, None)
        session.info.pop(_ABSENT, None)
        session.info.pop(_HINTS, None)
