"""Scale-out on PostgreSQL, as a deployment runs it: several `claimwatch run` workers on one
database, sources spread over several loopback hosts with `host_delay`. Every due check is done
once, the work is shared, a host's spacing holds across workers, and a worker killed with
SIGKILL leaves its sources to the others within the lease, duplicating nothing.
(bench/scale_out.py runs the same at a larger size and prints the throughput.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from db.models import AlertRow, FetchRow, FlagRow, SourceRow
from pipeline.demo.server import SiteServer
from tests.conftest import DAEMONS, pg_schema

PAGE = "<html><body><main><p>Deputies do not hold people for {agency} on detainers alone.</p>" \
       "</main></body></html>"
HOSTS = 6


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own (a schema), for several processes at once."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[SiteServer]]:
    """Loopback publishers on 127.0.0.1 … 127.0.0.6, each a host of its own."""
    with ExitStack() as stack:
        servers = []
        for n in range(1, HOSTS + 1):
            root = tmp_path / f"host{n}"
            root.mkdir()
            servers.append(stack.enter_context(SiteServer(root, host=f"127.0.0.{n}")))
        yield servers


def desk(tmp_path: Path, servers: list[SiteServer], per_host: int, *, every: str,
         host_delay: str) -> list[str]:
    """Write sources.yaml with `per_host` pages on each host; return the source ids."""
    names, sources, items = [], [], []
    for h, server in enumerate(servers):
        for i in range(per_host):
            name = f"h{h}-p{i:02d}"
            (server.root / f"{name}.html").write_text(PAGE.format(agency=name))
            names.append(name)
            sources.append(f"  {name}: {{url: \"{server.url(name + '.html')}\", select: main}}")
            items.append(f"          - {{source: {name}, quote: do not hold people for {name}}}")
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
defaults: {{every: {every}, host_delay: {host_delay}, timeout: 10s}}
alerts:
  - to: "file:{tmp_path / 'alerts.jsonl'}"
sources:
{chr(10).join(sources)}
factchecks:
  - id: fc
    title: Sheriffs and detainers
    claims:
      - id: detainers
        text: No sheriff holds people on detainers alone.
        verdict: Supported
        evidence:
{chr(10).join(items)}
""")
    return names


def worker(tmp_path: Path, db_url: str, n: int, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
         str(tmp_path / "sources.yaml"), "--db", db_url, "run", "--tick", "0.2s",
         "--log-format", "json", *args],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"worker{n}.log", "w"))  # noqa: SIM115 (the process owns it)
    DAEMONS.append(process)
    return process


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def checks_by_worker(tmp_path: Path, n: int, since: str = "") -> list[str]:
    """The sources worker `n` checked (at or after `since`, an ISO time like the log's)."""
    lines = (tmp_path / f"worker{n}.log").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return [e["source"] for e in events if e["event"] == "check" and e["ts"] >= since]


def first_round(tmp_path: Path, db_url: str, names: list[str], workers: int = 3) -> None:
    """Wait (30 s at most) until the workers have started and every source was checked once."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            all('"started"' in (tmp_path / f"worker{n}.log").read_text() for n in range(workers))
            and len(checks(db_url)) == len(names)):  # (the workers create the schema first)
        time.sleep(0.2)


def checks(db_url: str) -> dict[str, list[dt.datetime]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(SourceRow.slug, FetchRow.started_at).join(
                SourceRow, SourceRow.id == FetchRow.source_id).where(
                FetchRow.result.is_not(None)).order_by(FetchRow.started_at)).all()
    finally:
        engine.dispose()
    found: dict[str, list[dt.datetime]] = defaultdict(list)
    for slug, at in rows:
        found[slug].append(at)
    return found


def test_three_workers_share_the_work_and_keep_each_hosts_spacing(
        tmp_path: Path, pg_url: str, hosts: list[SiteServer]) -> None:
    every, delay = 5.0, 0.2
    names = desk(tmp_path, hosts, 12, every="5s", host_delay="0.2s")
    workers = [worker(tmp_path, pg_url, n) for n in range(3)]
    first_round(tmp_path, pg_url, names)  # whoever starts first takes most of it
    time.sleep(1)  # the round's last checks are logged by now
    steady = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(14)
    assert [stop(w) for w in workers] == [0, 0, 0]

    found = checks(pg_url)
    assert sorted(found) == sorted(names), "every source was checked"
    for name, times in found.items():
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert len(times) >= 2, (name, times)
        assert min(gaps) >= every * 0.9 - 0.5, f"{name} was checked twice in a period: {gaps}"
    # every worker takes a real share (at least half an even one): how even the shares are on
    # a quiet machine is a figure bench/scale_out.py prints (target ±25%), not a timed test's
    # to assert on a shared CI machine, where one worker can be starved of CPU for seconds
    per_worker = [len(checks_by_worker(tmp_path, n, since=steady)) for n in range(3)]
    assert all(n >= sum(per_worker) / 3 / 2 for n in per_worker), \
        f"the checks are shared between the workers: {per_worker}"
    window = 2.0  # requests a host may see in any such span: window / host_delay, plus one
    for server in hosts:  # (one late arrival can sit close to the next on time: the rate holds)
        starts = sorted(r.at for r in server.requests if r.path != "/robots.txt")
        busiest = max(sum(1 for t in starts[i:] if t < start + window)
                      for i, start in enumerate(starts))
        assert busiest <= window / delay + 1, \
            f"{server.host}: {busiest} requests within {window}s; host_delay is {delay}s"
        gaps = sorted(b - a for a, b in zip(starts, starts[1:], strict=False))
        assert gaps[len(gaps) // 2] >= delay * 0.95, "most requests are spaced a turn apart"


def test_a_killed_worker_leaves_its_sources_to_the_others(
        tmp_path: Path, pg_url: str, hosts: list[SiteServer]) -> None:
    lease = 3.0
    names = desk(tmp_path, hosts, 6, every="4s", host_delay="0.1s")
    for server in hosts:
        server.delay = 0.8  # checks take a while: the killed worker holds some when it dies
    workers = [worker(tmp_path, pg_url, n, "--lease", f"{lease:g}s") for n in range(3)]
    first_round(tmp_path, pg_url, names)  # every item has its baseline (a fixed 6 s before)
    for server in hosts:  # the evidence breaks: every item flags, once
        for page in server.root.glob("*.html"):
            page.write_text("<html><body><main><p>Page retired.</p></main></body></html>")
    victim = workers[0]
    engine = create_engine(pg_url)
    held: set[str] = set()
    for _ in range(100):  # kill it while it holds sources
        with engine.connect() as conn:
            held = set(conn.scalars(select(SourceRow.slug).where(
                SourceRow.lease_owner.like(f"%:{victim.pid}:%"))))
        if held:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def taken_over() -> bool:
        """Every source the victim held was checked again, and every item has flagged."""
        found = checks(pg_url)
        with engine.connect() as conn:
            flagged = conn.scalar(select(func.count(FlagRow.evidence_id.distinct())))
        return all(any(t > killed_at for t in found[name]) for name in held) \
            and flagged == len(names)

    deadline = time.monotonic() + lease + 4 + 4  # (a fixed wait this long before)
    while time.monotonic() < deadline and not taken_over():
        time.sleep(0.2)
    assert [stop(w) for w in workers[1:]] == [0, 0]

    found = checks(pg_url)
    assert held, "the victim held sources when it died (else this test proves nothing)"
    for name in held:
        later = [t for t in found[name] if t > killed_at]
        assert later, f"{name}, held by the dead worker, was never checked again"
        assert (later[0] - killed_at).total_seconds() <= lease + 4 * 1.1 + 2, \
            f"{name} waited {(later[0] - killed_at).total_seconds():.1f}s"
    with engine.connect() as conn:
        per_item = conn.execute(select(FlagRow.evidence_id, FlagRow.outcome, func.count())
                                .group_by(FlagRow.evidence_id, FlagRow.outcome)).all()
        alerts = Counter(conn.scalars(select(AlertRow.flag_id)))
    engine.dispose()
    assert len(per_item) == len(names) and all(n == 1 for *_k, n in per_item), \
        "one flag per item and outcome, however the workers died"
    assert set(alerts.values()) == {1}, "one alert per flag (one channel)"
    verify = subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
         str(tmp_path / "sources.yaml"), "--db", pg_url, "audit", "verify"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
