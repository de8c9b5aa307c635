"""Bytes stored per changed version of a page, and the time to read a version back (issue 15).

    python bench/storage.py [--pages 20] [--versions 20]

Takes news-like pages of ~80 KB (bench/web.py) and stores `--versions` versions of each, as
checks would (`db.blobs.put`, the source's previous version as base), in a new SQLite
database in a temporary directory, twice: "before", every version whole (zstd level 3,
as claimwatch stored them until deltas), and "after", deltas on the previous version. Two kinds
of edit: a paragraph rewritten per version (the rest of the page as it was), and bench/web.py's
own edit (a paragraph, the "Updated" time and every sidebar rail: most-read, latest, trending,
the breaking bar, the ad slot). Prints, per edit, the bytes stored per changed version as % of
its raw size, the CPU time to store one, and the median time to read back the version deepest
in its chain (before: a whole body), each read in a new transaction (nothing cached), as
wall-clock and as CPU time (the machine the figures come from is shared: its wall-clock times
wait for other processes), and the time `audit verify --deep` takes per blob (the snapshot and
flag passes included: they find no audit events here).

Then the first snapshot of each page, which has no version of its own before it: `--pages`
pages on each of 9 hosts, a site per host (as bench/run.py serves them), each page's first
version stored as a check stores it, in a transaction of its own, "before" whole and "after" on
a sibling page of its host, as a run does (`pipeline.siblings`: the candidates' query once per
host, the choice, the put, the page kept as a candidate). Prints the bytes stored as % of raw,
how many were stored on a sibling, and the median CPU time to store one (its base read back
from the database: each page is a batch of its own).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import web  # noqa: E402  (bench/web.py)
from sqlalchemy import func, select  # noqa: E402

from db import Store, blobs, open_store, utcnow  # noqa: E402
from db.models import BlobRow, SnapshotRow, SourceRow  # noqa: E402
from pipeline import crosscheck  # noqa: E402
from pipeline.siblings import SIBLING_AT_MOST, Siblings  # noqa: E402

SEED = 15
PARAGRAPH = re.compile(rb"<p>(?:(?!</p>).)*</p>", re.S)


def paragraph_edits(src: web.Source, versions: int) -> list[bytes]:
    """Version 1 of the page, then each version with one more article paragraph rewritten."""
    body, _ = web.render_html(SEED, src, 1)
    start = body.index(b"<article")
    rng = random.Random(f"storage:{src.index}")
    out = [body]
    for _ in range(versions - 1):
        spans = [m.span() for m in PARAGRAPH.finditer(body, start)]
        a, b = rng.choice(spans[1:])
        new = " ".join(web.sentence(rng) for _ in range(rng.randint(2, 5)))
        body = body[:a] + f"<p>{new}</p>".encode() + body[b:]
        out.append(body)
    return out


def site_edits(src: web.Source, versions: int) -> list[bytes]:
    """bench/web.py's versions: a paragraph, the time and every sidebar change each time."""
    return [web.render_html(SEED, src, v)[0] for v in range(1, versions + 1)]


def store_all(store: Store, pages: list[list[bytes]], deltas: bool) -> tuple[list[str], float]:
    """Store every version of every page with its snapshot, each in a transaction of its own
    as a check does; the digest of the deepest version of each page, and the median CPU ms to
    store a changed version (its base's chain decoded, the delta and the whole frame
    compressed)."""
    deepest, took = [], []
    for n_page, versions in enumerate(pages):
        with store.session() as session:
            source = SourceRow(slug=f"p{n_page}", url=f"http://h/p{n_page}", options={})
            session.add(source)
            session.flush()
            source_id = source.id
        base = None
        for n, body in enumerate(versions):
            with store.session() as session:
                start = time.process_time()
                sha = blobs.put(session, body, base=base if deltas else None)
                if n:
                    took.append(time.process_time() - start)
                session.add(SnapshotRow(source_id=source_id, blob_sha256=sha, url="http://h/",
                                        content_type="text/html", charset="utf-8", kind="html",
                                        headers={}, fetched_at=utcnow()))
            base = sha
        with store.session() as session:
            shas = [blobs.digest(v) for v in versions]
            depths = dict(session.execute(select(BlobRow.sha256, BlobRow.depth)
                                          .where(BlobRow.sha256.in_(shas))).all())
            deepest.append(max(shas, key=lambda s: depths[s]))
    return deepest, statistics.median(took) * 1000


def deep_ms(store: Store) -> float:
    """`audit verify --deep` (each blob decoded and re-hashed), CPU ms per blob."""
    with store.session() as session:
        n = session.scalar(select(func.count()).select_from(BlobRow)) or 1
        start = time.process_time()
        crosscheck.crosscheck(session)
        return (time.process_time() - start) * 1000 / n


def stored(store: Store, pages: list[list[bytes]]) -> tuple[float, int]:
    """Bytes stored for the changed versions (2…) as % of their raw bytes; the deepest chain."""
    changed = [blobs.digest(v) for versions in pages for v in versions[1:]]
    raw = sum(len(v) for versions in pages for v in versions[1:])
    with store.session() as session:
        packed, depth = session.execute(select(func.sum(func.length(BlobRow.data)),
                                               func.max(BlobRow.depth))
                                        .where(BlobRow.sha256.in_(changed))).one()
    return 100 * packed / raw, depth


def read_ms(store: Store, shas: list[str], rounds: int = 5) -> tuple[float, float]:
    """Median ms to read one of `shas` back in a transaction of its own: wall-clock, and this
    process's CPU time (what is left of it on a machine busy with other work)."""
    wall, cpu = [], []
    for _ in range(rounds):
        for sha in shas:
            with store.session() as session:
                start, start_cpu = time.perf_counter(), time.process_time()
                blobs.get(session, sha)
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def measure(url: Callable[[str], str], edit: Callable[[web.Source, int], list[bytes]],
            n_pages: int, versions: int) -> list[str]:
    sources = web.plan(n_pages, ["h"], {"html": 1.0})
    pages = [edit(src, versions) for src in sources]
    sizes = [len(v) for p in pages for v in p]
    rows = [f"  pages: {n_pages} × {versions} versions, {statistics.mean(sizes) / 1000:.1f} KB "
            "on average"]
    for label, deltas in (("before (whole, zstd 3)", False), ("after (deltas)", True)):
        store = open_store(url(f"{label[:6].strip()}-{edit.__name__}"))
        deepest, put_ms = store_all(store, pages, deltas)
        share, depth = stored(store, pages)
        wall, cpu = read_ms(store, deepest)
        rows.append(f"  {label:24} {share:5.2f}% of raw per changed version, "
                    f"store {put_ms:.2f} ms CPU, read at depth {depth}: {wall:.2f} ms "
                    f"({cpu:.2f} ms CPU), medians; audit verify --deep "
                    f"{deep_ms(store):.2f} ms CPU a blob")
        store.close()
    return rows


def first_snapshots(url: Callable[[str], str], n_pages: int) -> list[str]:
    """Every page's first version stored whole, then on a sibling page of its host."""
    sources = web.plan(9 * n_pages, [f"h{n}" for n in range(9)], {"html": 1.0})
    pages = [web.render_html(SEED, src, 1)[0] for src in sources]
    raw = sum(len(body) for body in pages)
    rows = [f"  pages: {len(pages)} on 9 hosts, {raw / len(pages) / 1000:.1f} KB on average"]
    for label, sibling in (("before (whole, zstd 3)", False), ("after (on a sibling)", True)):
        store = open_store(url(f"first-{label[:6].strip()}"))
        took, run = [], Siblings()
        for src, body in zip(sources, pages, strict=True):
            with store.session() as session:
                source = SourceRow(slug=src.slug, url=src.url(80), host=src.host, options={})
                session.add(source)
                session.flush()
                start = time.process_time()
                on = run.load(session, [source]).choose(
                    source.host, "html", source.url, source.id) if sibling else None
                sha = blobs.put(session, body, base=on.blob_sha256 if on else None,
                                at_most=SIBLING_AT_MOST)
                run.add(session, source.host, "html", source.url, source.id, sha, None)
                took.append(time.process_time() - start)
                snapshot = SnapshotRow(source_id=source.id, blob_sha256=sha, url=source.url,
                                       content_type="text/html", charset="utf-8", kind="html",
                                       headers={}, fetched_at=utcnow())
                session.add(snapshot)
                session.flush()
                source.latest_snapshot_id = snapshot.id
        with store.session() as session:
            packed, deltas = session.execute(select(func.sum(func.length(BlobRow.data)),
                                                    func.count(BlobRow.base_sha256))).one()
        rows.append(f"  {label:24} {100 * packed / raw:5.2f}% of raw per first snapshot, "
                    f"{deltas} of {len(pages)} on a sibling, store "
                    f"{statistics.median(took) * 1000:.2f} ms CPU (median)")
        store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--versions", type=int, default=blobs.CHAIN + 4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        def url(name: str) -> str:
            return f"sqlite:///{Path(tmp) / name}.db"
        print(f"claimwatch storage: chains of at most {blobs.CHAIN}, zstd level {blobs.LEVEL}")
        for title, edit in (("a paragraph rewritten per version", paragraph_edits),
                            ("bench/web.py's edit (paragraph, time, sidebar rails)",
                             site_edits)):
            print(title)
            for line in measure(url, edit, args.pages, args.versions):
                print(line)
        print("the first snapshot of a page, a sibling page of its host stored before it")
        for line in first_snapshots(url, args.pages):
            print(line)


if __name__ == "__main__":
    main()
