"""The cost of `claimwatch backfill` per source, in seconds per version (issue 17).

Backfills ICE's real 287(g) workbooks (../shared/real/ice-287g, else the demo's three copies)
for the seed's `count: 6, distinct: LAW ENFORCEMENT AGENCY` item published 2025-05-27 (the
demo's replay configuration), three ways, each into a fresh database: read as a directory of
dated copies; served by a loopback CDX server (`--from cdx`, no spacing: the Internet
Archive's own second between requests is not counted); and read back from claimwatch's own WARC
export. Prints seconds per version loaded, and the time of a re-run (nothing added).
`--db-url` to run on PostgreSQL (an empty database).

    python bench/backfill.py [--db-url URL] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db import open_store  # noqa: E402
from pipeline import api, config  # noqa: E402
from pipeline.archive_sources.directory import stamp_of  # noqa: E402
from pipeline.demo.cdx import CdxServer  # noqa: E402
from pipeline.demo.run import replay_sources  # noqa: E402
from pipeline.fetch import FetchSettings  # noqa: E402

REAL = ROOT.parent / "shared" / "real" / "ice-287g"
DEMO = ROOT / "pipeline" / "demo" / "real" / "ice-287g"


def cdx_server(files: list[Path], page: str) -> CdxServer:
    """The workbooks as a loopback stand-in for the Internet Archive holds ICE's: captures of
    the program page (`page`), each linking the workbook of its day, archived at that time."""
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    captures: dict[str, tuple[int, bytes, str]] = {}
    for f in files:
        stamp = f"{stamp_of(f.name):%Y%m%d%H%M%S}"
        name = f.name.partition("-")[2]
        captures[stamp] = (200, f'<a href="/sites/default/files/{name}">list</a>'.encode(),
                           "text/html")
        captures[f"{stamp} {urljoin(page, '/sites/default/files/' + name)}"] = (
            200, f.read_bytes(), kind)
    return CdxServer(captures)


def one(db_url: str, where: str, cfg: config.Config, **kw: object) -> tuple[float, float, int]:
    store = open_store(db_url)
    try:
        report = api.backfill(store, cfg, "mn-police-ice", where=where, **kw)  # type: ignore
        [done] = report.sources
        again = api.backfill(store, cfg, "mn-police-ice", where=where, **kw)  # type: ignore
        return done.seconds, again.sources[0].seconds, done.loaded + done.same
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", help="an empty PostgreSQL database (default: SQLite files)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = REAL if REAL.is_dir() else DEMO
    files = sorted(folder.glob("*.xlsx"))
    cfg = config.parse(replay_sources(api.load_config(ROOT / "sources.yaml")))
    server = cdx_server(files, cfg.sources["ice-287g"].url)
    cdx_url = server.cdx_url
    fast = FetchSettings(user_agent="claimwatch-bench", retries=0, host_delay=0)
    print(f"{len(files)} workbooks from {folder.name} ({sum(f.stat().st_size for f in files):,} "
          f"bytes); database: {'PostgreSQL' if args.db_url else 'SQLite'}")
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "ice.warc.gz"
        seed = open_store(f"sqlite:///{tmp}/seed.db")
        api.backfill(seed, cfg, "mn-police-ice", where=str(folder))
        api.export_warc(seed, warc, factcheck="mn-police-ice")
        seed.close()
        for name, where, kw in [("directory", str(folder), {}),
                                ("cdx (loopback)", "cdx", {"cdx_url": cdx_url,
                                                           "settings": fast}),
                                ("warc", str(warc), {})]:
            firsts, agains = [], []
            versions = 0
            for r in range(args.rounds):
                url = args.db_url or f"sqlite:///{tmp}/{name[:4]}-{r}.db"
                if args.db_url:
                    from sqlalchemy import create_engine, text
                    engine = create_engine(args.db_url)
                    with engine.begin() as conn:
                        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                    engine.dispose()
                started = time.perf_counter()
                first, again, versions = one(url, where, cfg, **kw)
                firsts.append(first)
                agains.append(again)
                del started
            med = statistics.median(firsts)
            if not versions:
                print(f"{name:15} nothing loaded")
                continue
            print(f"{name:15} {versions} versions: {med:.2f} s ({med / versions:.3f} s a "
                  f"version); re-run {statistics.median(agains):.2f} s (nothing added)")
    server.close()


if __name__ == "__main__":
    main()
