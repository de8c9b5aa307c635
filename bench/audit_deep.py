"""`claimwatch audit verify --deep` on a big database, measured (issue 14).

    python bench/audit_deep.py [--snapshots 10000] [--versions 1] [--whole] [--rendered]
                               [--db URL]

Fills a new database (default: SQLite in a temporary directory) with N snapshots of the
benchmark's pages (bench/web.py: 85% news-like HTML of 40-100 KB, XLSX lists, JSON, feeds), each
with its blob and its `snapshot` event, and one flag per 100 snapshots with its `flag` event, as
checks would write them. With `--versions V`, N / V sources of V versions each, every version
stored as a delta on the one before as the recorder stores it (`db/blobs.py`), or whole with
`--whole` (how every body was stored before deltas); with `--rendered`, every HTML snapshot also
keeps a served response (`raw_sha256`, a delta on the previous one), as `fetch: browser` does.
Then runs `audit verify` and `audit verify --deep` each in a fresh process and prints their time
(also per 10,000 snapshots) and peak RSS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import web  # noqa: E402  (bench/web.py)

from db import audit, blobs, open_store, utcnow  # noqa: E402
from db.models import (  # noqa: E402
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FetchRow,
    FlagRow,
    OutcomeRow,
    SnapshotRow,
    SourceRow,
)
from pipeline.records import flag_record  # noqa: E402

MIX = {"html": 0.85, "xlsx": 0.05, "json": 0.05, "feed": 0.05}
BATCH = 200

VERIFY = """
import resource, sys, time
from pipeline import api
store = api.open_db(sys.argv[1])
start = time.perf_counter()
result = api.audit_verify(store, deep=sys.argv[2] == "deep")
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(took, peak, result.ok, result.events, result.deep.blobs if result.deep else 0)
"""


def fill(url: str, n: int, versions: int = 1, whole: bool = False,
         rendered: bool = False) -> None:
    store = open_store(url)
    now = utcnow()
    with store.session() as session:
        factcheck = FactCheckRow(slug="fc", title="bench", url=None)
        session.add(factcheck)
        session.flush()
        claim = ClaimRow(slug="claim", factcheck_id=factcheck.id, text="t", verdict="v")
        session.add(claim)
        session.flush()
        claim_id = claim.id
    sources = web.plan(max(1, n // versions), ["127.0.0.1"], MIX)
    per_batch = max(1, BATCH // versions)
    for start in range(0, len(sources), per_batch):
        with store.session() as session:
            events = []
            for src in sources[start:start + per_batch]:
                row = SourceRow(slug=src.slug, url=src.url(80), options={})
                session.add(row)
                session.flush()
                sha = raw = previous = None
                for version in range(1, versions + 1):
                    body = web.render(1, src, version)
                    sha = blobs.put(session, body, base=None if whole else sha)
                    served = None
                    if rendered and src.kind == "html":  # the response before scripts ran
                        served = body.replace(b"<body", b"<body data-served", 1)
                        raw = blobs.put(session, served, base=None if whole else raw)
                    snapshot = SnapshotRow(
                        source_id=row.id, blob_sha256=sha, url=row.url, content_type="text/html",
                        charset="utf-8", kind=src.kind, headers={}, fetched_at=now,
                        fetch_mode="browser" if served else "http",
                        raw_sha256=raw if served else None)
                    session.add(snapshot)
                    session.flush()
                    events.append(audit.Event("snapshot", {
                        "status": "new" if previous is None else "changed",
                        "snapshot": snapshot.id, "previous": previous, "sha256": sha,
                        "url": row.url, "change": None}
                        | ({"fetch_mode": "browser", "raw_sha256": raw} if served else {}),
                        source=src.slug))
                    previous = snapshot.id
                row.latest_snapshot_id = previous
                if src.index % max(1, 100 // versions) == 0:
                    events.append(_flag(session, claim_id, row, snapshot, now))
            audit.record_many(session, events)
        done = min(start + per_batch, len(sources)) * versions
        print(f"\r{done}/{n} snapshots", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    store.close()


def _flag(session, claim_id, source, snapshot, now) -> audit.Event:  # type: ignore[no-untyped-def]
    evidence = EvidenceRow(claim_id=claim_id, source_id=source.id, identity=source.slug,
                           expectation={"changes": "any"}, baseline_snapshot_id=snapshot.id)
    fetch = FetchRow(source_id=source.id, started_at=now, duration_ms=1, url=source.url,
                     status=200, bytes=1, result="new", snapshot_id=snapshot.id)
    session.add_all([evidence, fetch])
    session.flush()
    outcome = OutcomeRow(evidence_id=evidence.id, fetch_id=fetch.id, snapshot_id=snapshot.id,
                         baseline_snapshot_id=snapshot.id, status="changed", observed=None,
                         reason="the region changed", created_at=now)
    session.add(outcome)
    session.flush()
    flag = FlagRow(claim_id=claim_id, evidence_id=evidence.id, source_id=source.id,
                   outcome_id=outcome.id, outcome="changed", severity="low",
                   reason="the region changed", snapshot_id=snapshot.id,
                   baseline_snapshot_id=snapshot.id, opened_at=now)
    session.add(flag)
    session.flush()
    data = flag_record(session, flag).spec_json()
    return audit.Event("flag", {**data, "snapshot": snapshot.id, "baseline": snapshot.id},
                       source=source.slug, claim="claim")


def measure(url: str, mode: str) -> tuple[float, int, str]:
    out = subprocess.run([sys.executable, "-c", VERIFY, url, mode], check=True,
                         capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    took, peak = float(out[0]), int(out[1])
    return took, peak, " ".join(out[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1, help="versions per source")
    parser.add_argument("--whole", action="store_true",
                        help="store every version whole, not as a delta (as before deltas)")
    parser.add_argument("--rendered", action="store_true",
                        help="HTML snapshots keep a served response too (fetch: browser)")
    parser.add_argument("--db", help="a new, empty database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/deep.db"
        started = time.perf_counter()
        fill(url, args.snapshots, args.versions, args.whole, args.rendered)
        print(f"filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if url.startswith("sqlite:///"):
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
            print(f"database: {size / 2**20:.0f} MB")
        for mode in ("chain", "deep"):
            took, peak, what = measure(url, mode)
            per = took * 10_000 / args.snapshots
            print(f"audit verify {'--deep' if mode == 'deep' else '':6} {took:6.2f} s "
                  f"({per:.2f} s per 10,000 snapshots), peak RSS {peak} MB  [ok events blobs: "
                  f"{what}]")


if __name__ == "__main__":
    main()
