"""Scale-out on PostgreSQL (issue 12): several claimwatch workers on one database.

    python bench/scale_out.py [--db URL] [--minutes 3] [--sources 600] [--hosts 6]

Part 1, sharing: 3 `claimwatch run` workers check SOURCES sources spread over HOSTS loopback
hosts (127.0.0.1 …) with `host_delay`, every source due every 30 s, for MINUTES. Prints each
worker's share, checks done twice in one period (none expected), how late checks came after
falling due, and each host's smallest gap between two requests (never under host_delay).

Part 2, throughput: `claimwatch check --all` in 1, 2 and 3 processes at once on network-bound
sources (every answer takes LATENCY seconds; no host_delay), on a fresh database each time.
Prints sources checked per second for each and the ratio to one worker.

Everything runs on loopback; each part gets a PostgreSQL schema of its own, dropped after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db.models import FetchRow, SourceRow  # noqa: E402

PAGE = ("<html><body><nav>Home · News</nav><main><h1>Statement {name}</h1><p>The sheriff's "
        "office does not hold people for ICE on detainers alone ({name}).</p></main></body>"
        "</html>").encode()


class Host:
    """A loopback publisher: every page answers after `latency` seconds; requests are logged."""

    def __init__(self, address: str, latency: float) -> None:
        self.address, self.latency = address, latency
        self.starts: list[float] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/robots.txt":
                    host.starts.append(time.time())
                time.sleep(host.latency)
                name = self.path.strip("/").removesuffix(".html")
                body = PAGE.replace(b"{name}", name.encode()) if self.path != "/robots.txt" \
                    else b"User-agent: *\nAllow: /\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{name}"')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.server.server_address[1]}/{path}"


def schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop(base: str, schema: str) -> None:
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def write_sources(path: Path, hosts: list[Host], n: int, *, every: str, delay: str) -> None:
    sources, items = [], []
    for i in range(n):
        host, name = hosts[i % len(hosts)], f"s{i:05d}"
        sources.append(f"  {name}: {{url: \"{host.url(name + '.html')}\", select: main}}")
        items.append(f"          - {{source: {name}, quote: does not hold people for ICE}}")
    path.write_text(f"version: 1\ndefaults: {{every: {every}, host_delay: {delay}, "
                    f"timeout: 20s}}\nsources:\n" + "\n".join(sources) +
                    "\nfactchecks:\n  - id: fc\n    title: T\n    claims:\n      - id: c\n"
                    "        text: t\n        verdict: v\n        evidence:\n" +
                    "\n".join(items) + "\n")


def claimwatch(workdir: Path, db: str, *args: str, log: Path | None = None
               ) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
         str(workdir / "sources.yaml"), "--db", db, *args], cwd=workdir, env=env,
        stdout=subprocess.DEVNULL, stderr=open(log, "w") if log else subprocess.DEVNULL)  # noqa: SIM115


def sharing(base: str, workdir: Path, args: argparse.Namespace) -> None:
    every, delay = 30.0, args.host_delay
    hosts = [Host(f"127.0.0.{n + 1}", 0.0) for n in range(args.hosts)]
    write_sources(workdir / "sources.yaml", hosts, args.sources, every="30s", delay=f"{delay}s")
    db, schema = schema_url(base)
    try:
        print(f"1. sharing: 3 workers, {args.sources} sources over {args.hosts} hosts, every "
              f"30 s, host_delay {delay} s, {args.minutes} min")
        logs = [workdir / f"worker{n}.log" for n in range(3)]
        workers = [claimwatch(workdir, db, "run", "--log-format", "json", log=log)
                   for log in logs]
        time.sleep(args.minutes * 60)
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
        per_worker = [sum(1 for line in log.read_text().splitlines()
                          if line.startswith("{") and json.loads(line)["event"] == "check")
                      for log in logs]
        mean = statistics.mean(per_worker)
        spread = max(abs(n - mean) / mean for n in per_worker) if mean else 0.0
        print(f"   checks per worker: {per_worker} (furthest from the mean: {spread:.0%}; "
              "target ±25%)")
        engine = create_engine(db)
        with engine.connect() as conn:
            rows = conn.execute(select(SourceRow.slug, FetchRow.started_at).join(
                SourceRow, SourceRow.id == FetchRow.source_id).where(
                FetchRow.result.is_not(None)).order_by(FetchRow.started_at)).all()
        engine.dispose()
        times: dict[str, list[dt.datetime]] = defaultdict(list)
        for slug, at in rows:
            times[slug].append(at)
        gaps = [(b - a).total_seconds() for ts in times.values()
                for a, b in zip(ts, ts[1:], strict=False)]
        twice = sum(g < every * 0.9 - 1 for g in gaps)
        late = sorted(g - every for g in gaps)
        print(f"   {len(rows)} checks of {len(times)} sources; done twice in one period: "
              f"{twice}; period length median {statistics.median(gaps):.1f} s, "
              f"95th percentile {late[int(len(late) * 0.95)] + every:.1f} s (every 30 s ±10%, "
              f"plus waiting for the host's turn)")
        window = 10.0
        print(f"   per host: requests, the most in any {window:g} s (host_delay allows "
              f"{window / delay:.0f}), gaps under 90% of host_delay as the server saw them")
        for host in hosts:
            starts = sorted(host.starts)
            gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
            busiest = max((sum(1 for t in starts[i:] if t < s + window)
                           for i, s in enumerate(starts)), default=0)
            short = sum(g < delay * 0.9 for g in gaps)
            print(f"   {host.address}: {len(starts)} requests, most in {window:g} s: {busiest}, "
                  f"short gaps: {short} (smallest {min(gaps, default=0):.3f} s)")
    finally:
        drop(base, schema)


def throughput(base: str, workdir: Path, args: argparse.Namespace) -> None:
    hosts = [Host(f"127.0.0.{n + 1}", args.latency) for n in range(args.hosts)]
    write_sources(workdir / "sources.yaml", hosts, args.throughput_sources, every="1d",
                  delay="0s")
    print(f"\n2. throughput: `check --all` on {args.throughput_sources} sources over "
          f"{args.hosts} hosts, each answer {args.latency * 1000:.0f} ms, no host_delay")
    rates = {}
    for workers in (1, 2, 3):
        db, schema = schema_url(base)
        try:
            claimwatch(workdir, db, "db", "upgrade").wait()  # the schema: not timed
            started = time.monotonic()
            procs = [claimwatch(workdir, db, "check", "--all") for _ in range(workers)]
            for p in procs:
                p.wait()
            took = time.monotonic() - started
            rates[workers] = args.throughput_sources / took
            print(f"   {workers} worker(s): {took:.1f} s, {rates[workers]:.0f} sources/s "
                  f"({rates[workers] / rates[1]:.2f}× one worker)")
        finally:
            drop(base, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get(
        "CLAIMWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--sources", type=int, default=600)
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--host-delay", type=float, default=0.2)
    parser.add_argument("--throughput-sources", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--skip-sharing", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="claimwatch-scale-") as tmp:
        if not args.skip_sharing:
            (Path(tmp) / "sharing").mkdir()
            sharing(args.db, Path(tmp) / "sharing", args)
        (Path(tmp) / "throughput").mkdir()
        throughput(args.db, Path(tmp) / "throughput", args)


if __name__ == "__main__":
    main()
