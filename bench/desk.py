"""The review desk's pages timed on a big desk (issue 11, item 7).

Target: the queue, a flag page and a claim page each answer in under 200 ms (median) with
10,000 sources, 2,000 open flags and 200,000 snapshots.

    python bench/desk.py [--sources 10000] [--versions 20] [--open-flags 2000] [--requests 30]
    python bench/desk.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/desk.py --dir /tmp/desk-10k     # keep the SQLite build; the next run reuses it

1. Builds the database through the real schema (`db.open_store`: Alembic) and the real sync of
   a generated sources.yaml (fact-checks of 2-4 claims, each claim's evidence on 10 sources of
   its fact-check, `select: main`, quotes and a few `absent` items), written at a simulated
   first run 180 days ago. The history is bulk-inserted with SQLAlchemy Core: each source has
   VERSIONS snapshots of a ~3 KB HTML page (its quoted sentences in `<main>`, a paragraph there
   and the "Updated" line and rails around it new in every version; zstd-packed with
   `db.blobs.pack`), checked every 3 days (a changed check per version, then unchanged ones),
   with fetch rows, an outcome per item and snapshot, the flags' outcomes and reasons from the
   real extractor and evaluator, open flags (quotes reworded or gone, `absent` text appearing,
   pages gone 404, bot challenges), reviewed ones (with reviews, some revising a verdict that
   sources.yaml then carries), resolved ones, "seen by" rows and comments from five people, and
   the audit events all of that writes, chained in time order (`audit verify` passes).
   With `--db URL` (PostgreSQL) it builds in a schema of its own, dropped at the end;
   otherwise an SQLite file in a temporary directory (`--dir` keeps it, and reuses it: the
   flag pages' visits and the clock move on in it, so build afresh for figures to quote).
2. Serves it with `claimwatch serve` (uvicorn, a process of its own, on a loopback port), logs in
   as an editor and times REQUESTS rounds (after a warm-up) of: the queue, the queue filtered by
   severity, five flag pages and five claim pages, interleaved; then a few of the sources page
   and the history page (no target). Prints median and p90 per page, PASS/MISS against 200 ms,
   the build time, the database's size and its rows per table.

Needs only claimwatch (`pip install -e .`); PostgreSQL for `--db`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import web  # noqa: E402  (bench/web.py: the benchmark's words and sentences)
from scale_out import drop, schema_url  # noqa: E402  (a PostgreSQL schema of our own)

import db.engine  # noqa: E402
from db import Store, blobs, open_store  # noqa: E402
from db.audit import chain_hash  # noqa: E402
from db.models import (  # noqa: E402
    AccountRow,
    AuditEventRow,
    AuditHeadRow,
    Base,
    BlobRow,
    ClaimRow,
    CommentRow,
    EvidenceRow,
    FetchRow,
    FlagRow,
    FlagViewRow,
    OutcomeRow,
    ReviewRow,
    SnapshotRow,
    SourceRow,
    VerdictRow,
)
from pipeline import api  # noqa: E402
from pipeline.config import Config, Evidence  # noqa: E402
from pipeline.config import Source as SourceConfig  # noqa: E402
from pipeline.evaluate import Result, evaluate  # noqa: E402
from pipeline.extract import Document  # noqa: E402
from pipeline.extract import read as extract  # noqa: E402
from pipeline.plan import reading_key  # noqa: E402
from pipeline.records import FlagRecord  # noqa: E402
from pipeline.sync import sync_config  # noqa: E402
from pipeline.vocab import SEVERITY_OF, CheckResult, FlagStatus, Outcome  # noqa: E402

TARGET_MS = 200.0
EVERY = dt.timedelta(days=3)  # sources.yaml's `every`: checks of a source are this far apart
HISTORY = dt.timedelta(days=180)  # the first sync, the desk's accounts: this long ago
PASSWORD = "bench desk password"
PEOPLE = [("bench", "editor", "Bench Editor"), ("ana", "editor", "Ana Garcia"),
          ("ben", "checker", "Ben Nguyen"), ("carla", "editor", "Carla Smith"),
          ("david", "admin", "David Olson")]
REVIEWERS = [1, 3, 4]  # indexes into PEOPLE: the editors and the admin
VERDICTS = ["Supported", "Mostly true", "Accurate", "True, with context"]
REVISED = ["Outdated", "No longer accurate", "Needs context"]
ABSENT = "this statement has been withdrawn"
BLOCKED = "blocked: the page is a bot challenge (Cloudflare), not the source"
CHUNK = 250  # sources per transaction while filling
SEED = 7


# --- the world: who reads what, and what happens to it ----------------------------------------


@dataclass
class Item:
    """An evidence item and its fate: quiet, or its text altered from version `start` (a word
    changed, or the sentence gone; for `absent`, the text appearing) and then left open,
    reviewed, or back at version `end` (resolved by the source)."""

    claim: int
    source: int
    position: int
    kind: str  # quote | absent
    text: str
    fate: str = "quiet"  # quiet | open | reviewed | resolved | source (its source's fate)
    variant: str = ""  # changed | broken
    start: int = 0
    end: int = 0
    altered: str = ""  # the quote's altered text
    flag: int = 0  # the id of its flag, if it has one
    decision: str = ""  # reviewed: the editor's decision


@dataclass
class Src:
    index: int
    slug: str
    url: str
    title: str
    paragraphs: list[str]
    items: list[int] = field(default_factory=list)
    fate: str = "ok"  # ok | unreachable (404 after its last version) | blocked | failing
    last_check: dt.datetime = dt.datetime.min
    checks: int = 0

    def check_at(self, c: int) -> dt.datetime:
        return self.last_check - (self.checks - 1 - c) * EVERY


@dataclass
class Claim:
    slug: str
    factcheck: int
    text: str
    verdict: str
    items: list[int] = field(default_factory=list)
    revised: str = ""  # the verdict a review revised it to


@dataclass
class World:
    sources: list[Src]
    factchecks: list[tuple[str, str]]  # (slug, title)
    claims: list[Claim]
    items: list[Item]
    versions: int
    per_version: int  # checks per version: one changed, the others unchanged
    now: dt.datetime
    filler: list[str]  # the paragraphs in <main> that change with every version
    headlines: list[str]
    flags: list[tuple[dt.datetime, int]] = field(default_factory=list)  # (opened, item)


def plan(args: argparse.Namespace, now: dt.datetime) -> World:
    rng = random.Random(SEED)
    per_fc = 10
    n_fc = max(1, args.sources // per_fc)
    sources = []
    for i in range(args.sources):
        slug = f"src-{i:05d}"
        url = f"https://news{i % 400:03d}.example.org/{web.WORDS[i % 300]}/{slug}.html"
        sources.append(Src(i, slug, url, web.headline(rng),
                           [" ".join(web.sentence(rng) for _ in range(2)) for _ in range(3)]))
    claims, items, factchecks = [], [], []
    for f in range(n_fc):
        factchecks.append((f"fc-{f:04d}", web.headline(rng)))
        mine = list(range(f * per_fc, min((f + 1) * per_fc, args.sources))) or [0]
        n_claims = 2 + f % 3
        per_claim = -(-len(mine) // n_claims) + 1
        for j in range(n_claims):
            claim = Claim(f"fc-{f:04d}-c{j}", f, web.sentence(rng, 10, 18),
                          VERDICTS[rng.randrange(len(VERDICTS))])
            for m in range(per_claim):
                s = mine[(j * per_claim + m) % len(mine)]
                absent = rng.random() < 0.08
                items.append(Item(len(claims), s, m, "absent" if absent else "quote",
                                  ABSENT if absent else web.sentence(rng, 12, 18).rstrip(".")))
                claim.items.append(len(items) - 1)
                sources[s].items.append(len(items) - 1)
            claims.append(claim)
    world = World(sources, factchecks, claims, items, args.versions, 3, now,
                  [" ".join(web.sentence(rng) for _ in range(3)) for _ in range(997)],
                  [web.headline(rng) for _ in range(499)])
    _fates(world, args.open_flags, rng)
    return world


def _fates(world: World, open_flags: int, rng: random.Random) -> None:
    """Which sources fail and which items move, and when; flag ids in order of opening."""
    v = world.versions
    order = list(range(len(world.sources)))
    rng.shuffle(order)
    n_gone, n_blocked = max(1, open_flags // 100), max(1, open_flags // 200)
    fates = (["unreachable"] * n_gone + ["blocked"] * n_blocked
             + ["failing"] * (len(order) // 100))
    for s, fate in zip(order, fates, strict=False):
        world.sources[s].fate = fate
    for src in world.sources:
        src.checks = v * world.per_version + {"unreachable": 3, "blocked": 1,
                                              "failing": 1}.get(src.fate, 0)
        src.last_check = world.now - dt.timedelta(hours=rng.uniform(1, 60))
        if src.fate in ("unreachable", "blocked"):
            for i in src.items:
                world.items[i].fate = "source"
                world.flags.append((src.check_at(v * world.per_version), i))
    free = [i for i, item in enumerate(world.items) if item.fate == "quiet"]
    rng.shuffle(free)
    wanted = {"open": max(0, open_flags - len(world.flags)), "reviewed": open_flags * 2 // 5,
              "resolved": open_flags // 5}
    for fate, n in wanted.items():
        for i in free[:n]:
            item = world.items[i]
            src = world.sources[item.source]
            item.fate = fate
            item.variant = "broken" if item.kind == "absent" or rng.random() < 0.6 else "changed"
            last = v - 1
            item.start = rng.randint(max(1, v // 2), last) if fate == "open" else \
                rng.randint(1, max(1, last - 2))
            item.end = rng.randint(item.start + 1, last) if fate == "resolved" else v
            if fate == "resolved":
                item.variant = "broken"
            if fate == "reviewed":
                claim = world.claims[item.claim]
                item.decision = rng.choice(["upheld", "upheld", "dismissed", "revised"])
                if item.decision == "revised" and claim.revised:
                    item.decision = "upheld"  # one revision per claim
                elif item.decision == "revised":
                    claim.revised = REVISED[rng.randrange(len(REVISED))]
            item.altered = _altered(item, rng)
            world.flags.append((src.check_at(item.start * world.per_version), i))
        free = free[n:]
    world.flags.sort()
    for flag_id, (_at, i) in enumerate(world.flags, start=1):
        world.items[i].flag = flag_id


def _altered(item: Item, rng: random.Random) -> str:
    """The item's text from its `start` version: one word replaced, or another sentence."""
    if item.kind == "absent":
        return ""
    words = item.text.split(" ")
    if item.variant == "changed":
        k = rng.randrange(len(words) // 3, 2 * len(words) // 3)
        words[k] = rng.choice([w for w in web.WORDS if w != words[k] and
                               abs(len(w) - len(words[k])) <= 1] or ["the"])
        return " ".join(words)
    return web.sentence(rng, 12, 18).rstrip(".")


# --- the pages ----------------------------------------------------------------------------------


def render(world: World, src: Src, version: int, at: dt.datetime) -> bytes:
    """The source's page at `version` (~3 KB): what changes in every version is the Updated
    line, the rails and one paragraph in <main>; its items' sentences as their fate says."""
    host = src.url.split("/")[2]
    pool = world.filler
    quoted = []
    for i in src.items:
        item = world.items[i]
        altered = item.fate not in ("quiet", "source") and item.start <= version < item.end
        if item.kind == "absent":
            if altered:
                quoted.append(f"Editor's note: {ABSENT} by the newsroom on {at:%B %d}.")
            continue
        quoted.append(f"{item.altered if altered else item.text}. "
                      f"{pool[(src.index + len(quoted)) % len(pool)]}")
    paragraphs = [src.paragraphs[0], *quoted, src.paragraphs[1],
                  pool[(src.index * 13 + version * 7) % len(pool)], src.paragraphs[2]]
    rails = "".join(f'<li><a href="/story/{(src.index + version * 5 + k) % 9973}">'
                    f"{world.headlines[(src.index + version * 5 + k) % len(world.headlines)]}"
                    "</a></li>" for k in range(5))
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(src.title)} | {host}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="stylesheet" href="/assets/site.css"></head>\n<body>'
            f'<header><a class="logo" href="/">{host}</a><nav><a href="/news">News</a> '
            '<a href="/politics">Politics</a> <a href="/public-safety">Public safety</a> '
            '<a href="/opinion">Opinion</a></nav>'
            f'<p class="updated">Updated {at:%B %d, %Y %H:%M} UTC</p></header>\n'
            f"<main><h1>{html.escape(src.title)}</h1>\n{body}</main>\n"
            f'<aside><h2>Most read</h2><ul>{rails}</ul></aside>\n'
            f'<footer><p>&copy; {at:%Y} {host}. All rights reserved.</p>'
            '<a href="/privacy">Privacy</a> <a href="/contact">Contact</a></footer>'
            "</body></html>\n").encode()


# --- sources.yaml ---------------------------------------------------------------------------


def write_yaml(world: World, path: Path, *, revised: bool) -> None:
    """The desk's sources.yaml; with `revised`, the verdicts reviews revised (the desk writes
    them back)."""
    out = ["version: 1", "desk: {name: Bench desk, contact: desk@example.org}",
           "defaults: {every: 3d, timeout: 30s}", "sources:"]
    out += [f"  {s.slug}: {{url: {json.dumps(s.url)}, select: main}}" for s in world.sources]
    out.append("factchecks:")
    by_fc: dict[int, list[Claim]] = {}
    for claim in world.claims:
        by_fc.setdefault(claim.factcheck, []).append(claim)
    for f, (slug, title) in enumerate(world.factchecks):
        out += [f"  - id: {slug}", f"    title: {json.dumps(title)}",
                f"    url: https://factcheck.example.org/2026/{slug}", "    claims:"]
        for claim in by_fc.get(f, []):
            verdict = claim.revised if revised and claim.revised else claim.verdict
            out += [f"      - id: {claim.slug}", f"        text: {json.dumps(claim.text)}",
                    f"        verdict: {json.dumps(verdict)}", "        evidence:"]
            for i in claim.items:
                item = world.items[i]
                out.append(f"          - {{source: {world.sources[item.source].slug}, "
                           f"{item.kind}: {json.dumps(item.text)}}}")
    path.write_text("\n".join(out) + "\n")


# --- the database ---------------------------------------------------------------------------


@contextmanager
def frozen(moment: dt.datetime) -> Iterator[None]:
    """claimwatch's clock stopped at `moment` (the first sync and the accounts happened then)."""
    real = db.engine.utcnow
    patched = [m for m in list(sys.modules.values()) if getattr(m, "utcnow", None) is real]
    for module in patched:
        module.utcnow = lambda: moment  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.utcnow = real  # type: ignore[attr-defined]


class Ids:
    """The next id of each table we fill with explicit ids."""

    def __init__(self) -> None:
        self.next = {"snapshot": 0, "fetch": 0, "outcome": 0, "review": 0, "comment": 0}

    def __call__(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


@dataclass
class Filled:
    """What a chunk of sources adds: rows per table, and events to chain (in time order later)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def event(self, at: dt.datetime, kind: str, source: str | None, claim: str | None,
              data: dict[str, Any]) -> None:
        self.events.append((at, kind, source, claim, data))


def build(world: World, url: str, workdir: Path) -> None:
    """Fill a new database at `url`, with the desk's sources.yaml in `workdir`."""
    yaml_path = workdir / "sources.yaml"
    write_yaml(world, yaml_path, revised=False)
    first = world.now - HISTORY
    store = open_store(url)
    config = api.load_config(yaml_path)
    with frozen(first):
        with store.session() as session:
            sync_config(session, config)
        for name, role, display in PEOPLE:
            api.add_user(store, name, role, PASSWORD, display_name=display)
    with store.session() as session:
        ids = _id_maps(session, world)
    events: list[tuple[Any, ...]] = []
    counter = Ids()
    rng = random.Random(SEED + 1)
    for start in range(0, len(world.sources), CHUNK):
        filled = Filled()
        for src in world.sources[start:start + CHUNK]:
            _fill_source(world, config, src, ids, counter, filled, rng)
        with store.session() as session:
            _write(session, filled)
        events += filled.events
    _chain(store, events)
    if store.engine.dialect.name == "postgresql":
        with store.session() as session:
            for model in (SnapshotRow, FetchRow, OutcomeRow, FlagRow, ReviewRow, CommentRow):
                session.execute(select(func.setval(  # the ids we gave: the next one follows
                    func.pg_get_serial_sequence(model.__tablename__, "id"),
                    select(func.max(model.id)).scalar_subquery())))
    write_yaml(world, yaml_path, revised=True)  # the reviews' revised verdicts, written back
    with store.session() as session:
        sync_config(session, api.load_config(yaml_path))
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")  # what autovacuum does after a bulk load
    store.close()


def _id_maps(session: Session, world: World) -> dict[str, Any]:
    sources = dict(session.execute(select(SourceRow.slug, SourceRow.id)).all())
    claims = dict(session.execute(select(ClaimRow.slug, ClaimRow.id)).all())
    evidence = {(c, p): e for e, c, p in session.execute(
        select(EvidenceRow.id, EvidenceRow.claim_id, EvidenceRow.position))}
    people = dict(session.execute(select(AccountRow.name, AccountRow.id)).all())
    return {"source": [sources[s.slug] for s in world.sources],
            "claim": [claims[c.slug] for c in world.claims],
            "evidence": [evidence[(claims[world.claims[it.claim].slug], it.position)]
                         for it in world.items],
            "people": [people[name] for name, _r, _d in PEOPLE]}


def _fill_source(world: World, config: Config, src: Src, ids: dict[str, Any], counter: Ids,
                 filled: Filled, rng: random.Random) -> None:
    """One source's whole history: its checks, snapshots, outcomes, flags and what people did
    with them."""
    source_id = ids["source"][src.index]
    options = config.sources[src.slug]
    evidence = {i: _evidence(world, config, i) for i in src.items}
    docs: dict[int, bytes | Document] = {}  # version → its body, parsed when an item needs it
    snapshots: list[int] = []  # snapshot id per version
    results: dict[int, Result] = {}  # item → its latest result
    opened: dict[int, tuple[int, Result | None]] = {}  # item → (outcome id, result) of its flag
    baseline: dict[int, int] = {}  # item → its baseline version, when not the first
    for c in range(src.checks):
        at = src.check_at(c)
        fetch_id = counter("fetch")
        fetch = {"id": fetch_id, "source_id": source_id, "started_at": at,
                 "duration_ms": rng.randint(60, 900), "url": src.url, "final_url": None,
                 "status": 304, "bytes": 0, "error": None, "result": CheckResult.UNCHANGED,
                 "snapshot_id": snapshots[-1] if snapshots else None}
        version, rest = divmod(c, world.per_version)
        if version < world.versions and rest == 0:
            body = render(world, src, version, at)
            sha = blobs.digest(body)
            snapshot_id = counter("snapshot")
            filled.add("blob", {"sha256": sha, "size": len(body), "data": blobs.pack(body)})
            filled.add("snapshot", {
                "id": snapshot_id, "source_id": source_id, "blob_sha256": sha, "url": src.url,
                "content_type": "text/html; charset=utf-8", "charset": "utf-8", "kind": "html",
                "headers": {"content-type": "text/html; charset=utf-8", "server": "nginx",
                            "etag": f'"{sha[:16]}"', "cache-control": "max-age=300",
                            "last-modified": f"{at:%a, %d %b %Y %H:%M:%S} GMT"},
                "fetched_at": at})
            status = CheckResult.NEW if version == 0 else CheckResult.CHANGED
            fetch |= {"status": 200, "bytes": len(body), "result": status,
                      "snapshot_id": snapshot_id}
            filled.event(at, "snapshot", src.slug, None, {
                "status": status, "snapshot": snapshot_id,
                "previous": snapshots[-1] if snapshots else None, "sha256": sha,
                "url": src.url, "change": None})
            snapshots.append(snapshot_id)
            docs[version] = body
            for i in src.items:
                moved = _moved(world, options, evidence[i], i, version, docs, baseline)
                results[i] = moved or results[i]
                outcome_id = counter("outcome")
                filled.add("outcome", {
                    "id": outcome_id, "evidence_id": ids["evidence"][i], "fetch_id": fetch_id,
                    "snapshot_id": snapshot_id,
                    "baseline_snapshot_id": snapshots[baseline.get(i, 0)],
                    "status": results[i].status, "observed": results[i].observed,
                    "reason": results[i].reason, "created_at": at})
                item = world.items[i]
                if item.fate in ("open", "reviewed", "resolved") and version == item.start:
                    opened[i] = (outcome_id, results[i])
        elif version >= world.versions:  # the source's fate, after its history
            fetch |= _failure(src, filled, at, ids, fetch_id, counter, opened, results)
        filled.add("fetch", fetch)
    for i in src.items:
        if world.items[i].flag:
            _flag(world, src, i, snapshots, opened[i], ids, counter, filled, rng)
    failures = {"unreachable": 3, "failing": 1}.get(src.fate, 0)
    checked = src.check_at(src.checks - 1)
    filled.add("source", {
        "b_id": source_id, "b_latest": snapshots[-1], "b_checked": checked,
        "b_next": checked + EVERY * 2 ** failures, "b_failures": failures,
        "b_status": CheckResult.ERROR if src.fate != "ok" else CheckResult.UNCHANGED,
        "b_validators": {src.url: {"etag": f'"{snapshots[-1]}"',
                                   "last_modified": f"{checked:%a, %d %b %Y} GMT"}}})
    reading = reading_key(options)
    for i in src.items:
        reviewed = world.items[i].fate == "reviewed"
        filled.add("evidence", {
            "b_id": ids["evidence"][i], "b_baseline": snapshots[baseline.get(i, 0)],
            "b_evaluated": snapshots[-1], "b_options": reading,
            "b_outcome": results[i].status, "b_accepted": opened[i][0] if reviewed else None})


def _evidence(world: World, config: Config, i: int) -> Evidence:
    item = world.items[i]
    claim = world.claims[item.claim]
    for c in config.factchecks[claim.factcheck].claims:
        if c.id == claim.slug:
            return c.evidence[item.position]
    raise KeyError(claim.slug)


def _moved(world: World, options: SourceConfig, ev: Evidence, i: int, version: int,
           docs: dict[int, bytes | Document], baseline: dict[int, int]) -> Result | None:
    """The item's result on `version`, evaluated for real on the versions where its state moves;
    None: as on the version before."""
    item = world.items[i]
    moving = item.fate in ("open", "reviewed", "resolved")
    if version == 0:  # what the evaluator says of a quote found, or a text not there
        if item.kind == "absent":
            return Result(Outcome.HOLDS, None, None, f'"{ABSENT}" does not appear')
        short = item.text if len(item.text) <= 120 else item.text[:117] + "..."
        return Result(Outcome.HOLDS, item.text, item.text, f'quote found: "{short}"')
    after_review = item.fate == "reviewed" and version == item.start + 1
    if not moving or version not in (item.start, item.end) and not after_review:
        return None
    if after_review:
        baseline[i] = item.start  # the review made the flagged version the baseline
    return evaluate(ev, _doc(options, docs, version), _doc(options, docs, baseline.get(i, 0)))


def _doc(options: SourceConfig, docs: dict[int, bytes | Document], version: int) -> Document:
    found = docs[version]
    if isinstance(found, bytes):
        found = docs[version] = extract(
            found, kind="html", content_type="text/html; charset=utf-8", url="",
            charset="utf-8", select=options.select, ignore=options.ignore,
            main_content=options.main_content)
    return found


def _failure(src: Src, filled: Filled, at: dt.datetime, ids: dict[str, Any], fetch_id: int,
             counter: Ids, opened: dict[int, tuple[int, Result | None]],
             results: dict[int, Result]) -> dict[str, Any]:
    """A failed check after the source's history: a 503 (failing), a 404 (unreachable at once)
    or a bot challenge (blocked); the fetch row's columns."""
    status, error = {"failing": (503, "HTTP 503 Service Unavailable"),
                     "unreachable": (404, "HTTP 404 Not Found"),
                     "blocked": (403, BLOCKED)}[src.fate]
    if src.fate != "blocked":
        filled.event(at, "failure", src.slug, None,
                     {"http_status": status, "error": error, "in_a_row": 1})
    if src.fate != "failing":
        result = Result(Outcome.UNREACHABLE, {"http_status": 404}, None,
                        "the source answers HTTP 404") if src.fate == "unreachable" else \
            Result(Outcome.ERROR, {"error": BLOCKED}, None, BLOCKED)
        for i in src.items:
            outcome_id = counter("outcome")
            filled.add("outcome", {"id": outcome_id, "evidence_id": ids["evidence"][i],
                                   "fetch_id": fetch_id, "snapshot_id": None,
                                   "baseline_snapshot_id": None, "status": result.status,
                                   "observed": result.observed, "reason": result.reason,
                                   "created_at": at})
            opened.setdefault(i, (outcome_id, result))
            results[i] = result
    return {"status": status, "error": error, "result": CheckResult.ERROR, "snapshot_id": None}


def _flag(world: World, src: Src, i: int, snapshots: list[int],
          opened: tuple[int, Result | None], ids: dict[str, Any], counter: Ids, filled: Filled,
          rng: random.Random) -> None:
    """The item's flag, with its review, who saw it, comments, and their events."""
    item = world.items[i]
    claim = world.claims[item.claim]
    outcome_id, result = opened
    assert result is not None
    if result.status not in SEVERITY_OF:
        raise RuntimeError(f"{src.slug}: item {i} was to be flagged, but {result.status}: "
                           f"{result.reason}")
    at, _ = world.flags[item.flag - 1]
    snapshot = snapshots[item.start] if item.fate != "source" else None
    base = snapshots[0] if snapshot else None
    status, closed = FlagStatus.OPEN, None
    if item.fate == "resolved":
        status, closed = FlagStatus.RESOLVED, src.check_at(item.end * world.per_version)
    elif item.fate == "reviewed":
        status, closed = FlagStatus.REVIEWED, at + dt.timedelta(hours=rng.uniform(2, 72))
    severity = SEVERITY_OF[Outcome(result.status)]
    filled.add("flag", {
        "id": item.flag, "claim_id": ids["claim"][item.claim], "evidence_id": ids["evidence"][i],
        "source_id": ids["source"][src.index], "outcome_id": outcome_id,
        "outcome": result.status, "severity": severity, "reason": result.reason,
        "snapshot_id": snapshot, "baseline_snapshot_id": base, "opened_at": at,
        "status": status, "closed_at": closed})
    spec = FlagRecord(item.flag, claim.slug, world.factchecks[claim.factcheck][0], src.slug,
                      result.status, severity, result.reason, at).spec_json()
    filled.event(at, "flag", src.slug, claim.slug, {**spec, "snapshot": snapshot,
                                                     "baseline": base})
    if item.fate == "resolved":
        filled.event(closed, "flag-resolved", src.slug, claim.slug, {**spec, "by": "source"})
    people = ids["people"]
    viewers = set(rng.sample(range(len(PEOPLE)), rng.choice([0, 0, 1, 1, 2, 3])))
    if item.fate == "reviewed":
        assert closed is not None
        who = REVIEWERS[item.flag % len(REVIEWERS)]
        viewers.add(who)
        _review(src, claim, item, who, closed, result.status, snapshot, ids, counter, filled,
                rng)
    for k in sorted(viewers):
        seen = at + ((closed or world.now) - at) * rng.random()
        filled.add("flag_view", {"flag_id": item.flag, "account_id": people[k], "at": seen})
        if rng.random() < 0.2:
            words = rng.choice(["Asked the press office about this.",
                                "The new wording is in their PDF too.",
                                "Looks like a CMS migration; watch the next check.",
                                "Passed to the politics desk."])
            filled.add("comment", {"id": counter("comment"), "flag_id": item.flag,
                                   "account_id": people[k], "text": words, "at": seen})
            filled.event(seen, "comment", src.slug, claim.slug,
                         {"flag": item.flag, "by": PEOPLE[k][2], "text": words})


def _review(src: Src, claim: Claim, item: Item, who: int, at: dt.datetime, outcome: str,
            snapshot: int | None, ids: dict[str, Any], counter: Ids, filled: Filled,
            rng: random.Random) -> None:
    """The editor's decision, with the verdict it revised."""
    decision, after = item.decision, claim.verdict
    review_id = counter("review")
    if decision == "revised":
        after = claim.revised
        filled.add("verdict", {"claim_id": ids["claim"][item.claim], "verdict": after,
                               "origin": "review", "review_id": review_id, "at": at})
    note = rng.choice([None, "Checked with the agency: the wording changed, not the policy.",
                       "The page was edited; the claim stands.", "A false alarm."])
    reviewer = PEOPLE[who][2]
    filled.add("review", {"id": review_id, "flag_id": item.flag, "decision": decision,
                          "reviewer": reviewer, "account_id": ids["people"][who], "note": note,
                          "verdict_before": claim.verdict, "verdict_after": after,
                          "reviewed_at": at})
    filled.event(at, "review", src.slug, claim.slug, {
        "flag": item.flag, "review": review_id, "decision": decision, "by": reviewer,
        "note": note, "verdict_before": claim.verdict, "verdict_after": after,
        "outcome": outcome, "new_baseline": snapshot})


INSERTS = [("blob", BlobRow), ("snapshot", SnapshotRow), ("fetch", FetchRow),
           ("outcome", OutcomeRow), ("flag", FlagRow), ("review", ReviewRow),
           ("verdict", VerdictRow), ("flag_view", FlagViewRow), ("comment", CommentRow)]


def _write(session: Session, filled: Filled) -> None:
    """A chunk's rows, in the order their foreign keys need, and its sources' and items' state."""
    for name, model in INSERTS:
        rows = filled.rows.get(name, [])
        for start in range(0, len(rows), 2000):
            session.execute(insert(model), rows[start:start + 2000])
    source, evidence = SourceRow.__table__, EvidenceRow.__table__
    session.execute(update(source).where(source.c.id == bindparam("b_id")).values(
        latest_snapshot_id=bindparam("b_latest"), last_checked_at=bindparam("b_checked"),
        next_check_at=bindparam("b_next"), last_status=bindparam("b_status"),
        consecutive_failures=bindparam("b_failures"),
        validators=bindparam("b_validators", type_=source.c.validators.type)),
        filled.rows["source"])
    session.execute(update(evidence).where(evidence.c.id == bindparam("b_id")).values(
        baseline_snapshot_id=bindparam("b_baseline"),
        evaluated_snapshot_id=bindparam("b_evaluated"),
        evaluated_options=bindparam("b_options"), last_outcome=bindparam("b_outcome"),
        accepted_outcome_id=bindparam("b_accepted")), filled.rows["evidence"])


def _chain(store: Store, events: list[tuple[Any, ...]]) -> None:
    """Append the events to the audit chain in time order (as the checks would have), hashed
    as `db.audit` hashes them, and move the chain's head."""
    events.sort(key=lambda e: e[0])  # stable: a snapshot stays before the flag it opened
    with store.session() as session:
        seq, prev = session.execute(select(AuditHeadRow.seq, AuditHeadRow.hash)).one()
        for start in range(0, len(events), 5000):
            rows = []
            for at, kind, source, claim, data in events[start:start + 5000]:
                seq += 1
                digest = chain_hash(prev, seq, at, kind, source, claim, data)
                rows.append({"seq": seq, "at": at, "kind": kind, "source": source,
                             "claim": claim, "data": data, "prev_hash": prev, "hash": digest})
                prev = digest
            session.execute(insert(AuditEventRow), rows)
        session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(
            seq=seq, hash=prev))


def sizes(url: str) -> tuple[int, dict[str, int]]:
    """The database's bytes (SQLite: the file after a checkpoint; PostgreSQL: the schema's
    tables with their indexes and TOAST) and its rows per table."""
    store = open_store(url)
    with store.engine.connect() as conn:
        counts = {t.name: conn.scalar(select(func.count()).select_from(t))
                  for t in Base.metadata.sorted_tables}
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            size = Path(store.engine.url.database or "").stat().st_size
        else:
            size = conn.scalar(text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND c.relkind = 'r'"))
    store.close()
    return int(size or 0), counts


# --- timing -------------------------------------------------------------------------------------


def pages(world: World) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The flag and claim pages to time: one of each kind of flag, and claims that differ."""
    flags: dict[str, int] = {}
    for item in world.items:
        if not item.flag:
            continue
        src = world.sources[item.source]
        kind = {"source": src.fate, "reviewed": "reviewed"}.get(
            item.fate, f"{item.kind} {item.variant}" if item.fate == "open" else "")
        if kind and kind != "blocked":
            flags.setdefault(kind, item.flag)
    flag_pages = [(f"/flags/{n}", kind) for kind, n in sorted(flags.items())][:5]
    flagged = [sum(1 for i in c.items if world.items[i].flag) for c in world.claims]
    busiest = max(range(len(world.claims)), key=lambda c: (flagged[c], len(world.claims[c].items)))
    chosen = {"most flags": busiest}
    for n, claim in enumerate(world.claims):
        fates = {world.items[i].fate for i in claim.items}
        for label, hit in (("revised verdict", bool(claim.revised)),
                           ("an open flag", "open" in fates), ("quiet", fates == {"quiet"}),
                           ("source gone", "source" in fates)):
            if hit and label not in chosen and n not in chosen.values():
                chosen[label] = n
    claim_pages = [(f"/claims/{world.claims[n].slug}", label) for label, n in chosen.items()]
    return flag_pages, claim_pages


@contextmanager
def served(workdir: Path, url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`claimwatch serve` on the database, on a free loopback port, until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    log = open(workdir / "desk.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
         str(workdir / "sources.yaml"), "--db", url, "serve", "--host", "127.0.0.1",
         "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the desk did not start: {(workdir / 'desk.log').read_text()}")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def login(client: httpx.Client) -> None:
    form = client.get("/login").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    done = client.post("/login", data={"name": PEOPLE[0][0], "password": PASSWORD, "next": "/",
                                       "csrf": csrf})
    if done.status_code != 303:
        raise RuntimeError(f"logging in failed: HTTP {done.status_code}")


def timed(client: httpx.Client, targets: list[tuple[str, str]], rounds: int,
          warmup: int) -> dict[str, list[float]]:
    """Milliseconds per request of each path, `rounds` times each, the paths interleaved."""
    times: dict[str, list[float]] = {path: [] for path, _ in targets}
    for n in range(warmup + rounds):
        for path, _label in targets:
            start = time.perf_counter()
            response = client.get(path)
            took = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
            if n >= warmup:
                times[path].append(took)
    return times


def figures(samples: list[float]) -> tuple[float, float]:
    """Median and 90th percentile."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def measure(world: World, workdir: Path, url: str, args: argparse.Namespace) -> list[str]:
    """Time the pages on the served desk; return the PASS/MISS lines."""
    flag_pages, claim_pages = pages(world)
    targets = [("/", "queue"), ("/?severity=high", "queue, high only"), *flag_pages,
               *claim_pages]
    verdicts = []
    with served(workdir, url) as (base, proc), \
            httpx.Client(base_url=base, timeout=120, follow_redirects=False) as client:
        login(client)
        times = timed(client, targets, args.requests, args.warmup)
        others = [("/sources", "sources page"), ("/history", "history page")]
        other_times = timed(client, others, args.others, 1) if args.others else {}
        peak = _peak_rss(proc.pid)
    print(f"\npages ({args.requests} requests each after {args.warmup} warm-up rounds, "
          f"interleaved; the desk's peak RSS {peak})")
    print(f"  {'page':<44} {'median':>9} {'p90':>9}")
    groups = [("queue", targets[:1]), ("queue ?severity=high", targets[1:2]),
              (f"flag pages ({len(flag_pages)})", flag_pages),
              (f"claim pages ({len(claim_pages)})", claim_pages)]
    for name, members in groups:
        pooled = [t for path, _ in members for t in times[path]]
        median, p90 = figures(pooled)
        print(f"  {name:<44} {median:7.1f} ms {p90:7.1f} ms")
        if len(members) > 1:
            for path, label in members:
                m, p = figures(times[path])
                print(f"    {path[:22] + ' (' + label + ')':<42} {m:7.1f} ms {p:7.1f} ms")
        verdicts.append(f"  {'PASS' if median < TARGET_MS else 'MISS'}  {name:<40} median "
                        f"{median:7.1f} ms   target < {TARGET_MS:.0f} ms")
    for path, label in others if other_times else []:
        m, p = figures(other_times[path])
        print(f"  {label + ' ' + path + f' ({args.others} requests)':<44} {m:7.1f} ms "
              f"{p:7.1f} ms   (no target)")
    return verdicts


def _peak_rss(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return f"{int(line.split()[1]) // 1024} MB"
    except OSError:
        pass
    return "unknown"


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=20, help="snapshots per source")
    parser.add_argument("--open-flags", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--others", type=int, default=5,
                        help="requests of the sources and history pages (0: skip them)")
    parser.add_argument("--db", help="a PostgreSQL URL: build in a schema of its own there, "
                                     "dropped after (default: SQLite in a temporary directory)")
    parser.add_argument("--dir", help="build the SQLite database and sources.yaml here and keep "
                                      "them; a directory that holds them already is reused")
    args = parser.parse_args()
    if args.versions < 4:
        parser.error("--versions must be at least 4")
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="claimwatch-desk-"))
    workdir.mkdir(parents=True, exist_ok=True)
    schema = None
    try:
        if args.db:
            url, schema = schema_url(args.db)
        else:
            url = f"sqlite:///{workdir / 'claimwatch.db'}"
        stamp = workdir / "built.json"
        now = db.engine.utcnow()
        wanted = {k: getattr(args, k) for k in ("sources", "versions", "open_flags")}
        reuse = not args.db and stamp.exists() and json.loads(stamp.read_text())["args"] == wanted
        if reuse:
            now = dt.datetime.fromisoformat(json.loads(stamp.read_text())["now"])
        started = time.perf_counter()
        world = plan(args, now)
        planned = time.perf_counter() - started
        print(f"claimwatch desk benchmark: {args.sources:,} sources, {args.versions} snapshots "
              f"each, {args.open_flags:,} open flags; {os.cpu_count()} cores, Python "
              f"{sys.version.split()[0]}, {'PostgreSQL' if args.db else 'SQLite'}, "
              f"{dt.datetime.now():%Y-%m-%d %H:%M}")
        print(f"claimwatch code: {_commit()}")
        if reuse:
            print(f"built before: reusing {workdir}")
        else:
            for stale in workdir.glob("claimwatch.db*"):  # a build that did not finish
                stale.unlink()
            build(world, url, workdir)
            took = time.perf_counter() - started
            if not args.db:
                stamp.write_text(json.dumps({"args": wanted, "now": now.isoformat()}))
            print(f"built in {took:.0f} s (the plan {planned:.1f} s) in {workdir}")
        with api.opened(url) as store:
            verified = api.audit_verify(store)
        print(f"audit chain: {verified.events:,} events, "
              f"{'intact' if verified.ok else 'WARNING: ' + str(verified.problem)}")
        size, counts = sizes(url)
        print(f"database: {size / 1e6:,.0f} MB, sources.yaml "
              f"{(workdir / 'sources.yaml').stat().st_size / 1e6:.1f} MB")
        print("  rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items() if n))
        verdicts = measure(world, workdir, url, args)
        print("\ntargets (issue 11, item 7)")
        print("\n".join(verdicts))
    finally:
        if schema is not None:
            drop(args.db, schema)
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)


def _commit() -> str:
    found = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
                           capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "pipeline",
                            "db", "desk"], capture_output=True, text=True, check=False).stdout
    return (found[:72] or "unknown") + (" (with uncommitted changes)" if dirty else "")


if __name__ == "__main__":
    main()
