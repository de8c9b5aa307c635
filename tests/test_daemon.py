"""`claimwatch run` as a deployment runs it: a real process, real signals, a loopback site.
Due times survive a restart, sources.yaml reloads (a broken edit keeps the last good config),
SIGTERM stops cleanly within the grace period, and several workers never check one source
twice at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from db import open_store
from db.models import FetchRow, SnapshotRow, SourceRow
from pipeline.demo.cdx import CdxServer
from pipeline.demo.server import SiteServer
from tests.conftest import DAEMONS

PAGE = "<html><body><main><p>The office does not hold people on detainers alone.</p></main>" \
       "</body></html>"


def write_sources(path: Path, site: SiteServer, names: list[str], every: str = "2s",
                  extra: str = "") -> None:
    sources = "\n".join(f"  {n}: {{url: \"{site.url(n + '.html')}\", select: main}}"
                        for n in names)
    evidence = "\n".join(f"          - {{source: {n}, quote: does not hold people on detainers}}"
                         for n in names)
    path.write_text(f"""\
version: 1
defaults: {{every: {every}, host_delay: 0s}}
sources:
{sources}
{extra}factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
{evidence}
""")


def start(tmp_path: Path, db_url: str, *args: str, log: str = "daemon.log") -> subprocess.Popen:
    [process] = start_together(tmp_path, db_url, [log], *args)
    return process


def start_together(tmp_path: Path, db_url: str, logs: list[str],
                   *args: str) -> list[subprocess.Popen]:
    """A daemon per log file, launched at once (each interpreter's start-up overlaps the
    others'); returns once each has started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    launched = []
    for log in logs:
        logged = tmp_path / log
        before = logged.read_text().count("started") if logged.exists() else 0
        process = subprocess.Popen(
            [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
             str(tmp_path / "sources.yaml"), "--db", db_url, "run", "--tick", "0.2s", *args],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
            stderr=open(logged, "a"))  # noqa: SIM115 (the process owns it)
        DAEMONS.append(process)
        launched.append((process, logged, before))
    # the test's clock starts once the daemons run (a loaded machine takes seconds to start one)
    deadline = time.monotonic() + 30
    for process, logged, before in launched:
        while process.poll() is None and time.monotonic() < deadline and (
                not logged.exists() or logged.read_text().count("started") <= before):
            time.sleep(0.05)
    return [process for process, _logged, _before in launched]


def until(condition: Callable[[], bool], timeout: float = 20) -> bool:
    """Whether `condition` came true within `timeout` seconds (polled: a loaded machine is slow,
    an idle one need not wait)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop(process: subprocess.Popen, timeout: float = 20) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


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


@pytest.fixture
def pages(site: SiteServer) -> SiteServer:
    for name in ("a", "b", "c"):
        (site.root / f"{name}.html").write_text(PAGE)
    return site


def test_keeps_schedule_across_a_restart_and_stops_cleanly(tmp_path: Path, db_url: str,
                                                           pages: SiteServer) -> None:
    every = 8
    write_sources(tmp_path / "sources.yaml", pages, ["a", "b"], every=f"{every}s")
    daemon = start(tmp_path, db_url)
    time.sleep(1.5)
    assert stop(daemon) == 0
    first = checks(db_url)
    assert {k: len(v) for k, v in first.items()} == {"a": 1, "b": 1}
    restarted = start(tmp_path, db_url)
    time.sleep(0.5)
    assert {k: len(v) for k, v in checks(db_url).items()} == {"a": 1, "b": 1}, \
        "a restart resumes the schedule: nothing is due yet"
    deadline = time.monotonic() + every * 2
    while time.monotonic() < deadline and any(len(v) < 2 for v in checks(db_url).values()):
        time.sleep(0.2)
    assert stop(restarted) == 0
    again = checks(db_url)
    for name in ("a", "b"):
        assert len(again[name]) == 2
        gap = (again[name][1] - again[name][0]).total_seconds()
        assert every * 0.9 - 0.3 <= gap <= every * 1.1 + 1.5, gap
    log = (tmp_path / "daemon.log").read_text().splitlines()
    assert any(" started " in line for line in log) and log[-1].endswith("stopped")
    assert "Traceback" not in "\n".join(log)


def test_reloads_sources_yaml_and_keeps_the_last_good_one(tmp_path: Path, db_url: str,
                                                          pages: SiteServer) -> None:
    sources = tmp_path / "sources.yaml"
    write_sources(sources, pages, ["a"], every="1h")
    daemon = start(tmp_path, db_url, "--log-format", "json")
    assert until(lambda: "a" in checks(db_url))
    sources.write_text(sources.read_text() + "  oops: [unclosed\n")
    assert until(lambda: "config-invalid" in (tmp_path / "daemon.log").read_text())
    write_sources(sources, pages, ["a", "b"], every="1h")
    assert until(lambda: "b" in checks(db_url))
    assert stop(daemon) == 0
    events = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert "config-invalid" in kinds and "config-reloaded" in kinds
    invalid = next(e for e in events if e["event"] == "config-invalid")
    assert invalid["problem"].startswith(f"{sources}:") and "invalid YAML" in invalid["problem"]
    assert sorted(checks(db_url)) == ["a", "b"], "the new source is checked after the reload"


def test_sigterm_abandons_a_stuck_check_without_partial_rows(tmp_path: Path, db_url: str,
                                                             pages: SiteServer,
                                                             serve: object) -> None:
    def slow(request: object) -> None:
        time.sleep(6)

    slow_url = serve(slow)  # type: ignore[operator]
    write_sources(tmp_path / "sources.yaml", pages, ["a"], every="1h",
                  extra=f"  stuck: {{url: \"{slow_url}\", timeout: 30s}}\n")
    daemon = start(tmp_path, db_url, "--grace", "1s")
    time.sleep(2.0)
    started = time.monotonic()
    assert stop(daemon) == 0
    assert time.monotonic() - started < 5, "stopped within the grace period"
    found = checks(db_url)
    assert "a" in found and "stuck" not in found, "the abandoned check left nothing behind"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(SnapshotRow.id).join(
            SourceRow, SourceRow.id == SnapshotRow.source_id).where(
            SourceRow.slug == "stuck")).first() is None
    engine.dispose()
    assert "abandoned" in (tmp_path / "daemon.log").read_text()


def test_several_workers_check_each_source_once_per_period(tmp_path: Path, db_url: str,
                                                           site: SiteServer) -> None:
    names = [f"s{i:02d}" for i in range(12)]
    for name in names:
        (site.root / f"{name}.html").write_text(PAGE)
    write_sources(tmp_path / "sources.yaml", site, names, every="2s")
    open_store(db_url).close()  # an existing database (creating one at once is tested apart)
    workers = start_together(tmp_path, db_url, [f"worker{i}.log" for i in range(3)])
    # stopped once every source has had its three checks (not after a fixed 9 s)
    until(lambda: len(found := checks(db_url)) == len(names)
          and all(len(times) >= 3 for times in found.values()))
    assert [stop(w) for w in workers] == [0, 0, 0]
    found = checks(db_url)
    assert sorted(found) == names, "no source was skipped"
    for name, times in found.items():
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert len(times) >= 3, (name, times)
        assert min(gaps) >= 2 * 0.9 - 0.3, f"{name} was checked twice in one period: {gaps}"
        assert max(gaps) <= 2 * 1.1 + 1.5, f"{name} missed a period: {gaps}"
    worked = [bool(checks_in_log(tmp_path / f"worker{i}.log")) for i in range(3)]
    assert sum(worked) >= 2, "the work was shared"


def checks_in_log(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if " check source=" in line)


def test_signs_checkpoints_with_a_key_kept_outside_the_database(tmp_path: Path, db_url: str,
                                                                pages: SiteServer) -> None:
    from pipeline import api

    write_sources(tmp_path / "sources.yaml", pages, ["a"], every="1h")
    key, anchors = tmp_path / "audit.key", tmp_path / "anchors.jsonl"
    api.audit_keygen(key)
    daemon = start(tmp_path, db_url, "--audit-key", str(key), "--checkpoint-every", "1s",
                   "--checkpoint-file", str(anchors))

    def signed_after_a_check() -> bool:
        log = (tmp_path / "daemon.log").read_text().splitlines()
        ran = next((i for i, line in enumerate(log) if " run " in line), None)
        return ran is not None and any(" checkpoint " in line for line in log[ran:])

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not signed_after_a_check():
        time.sleep(0.2)
    assert stop(daemon) == 0
    lines = anchors.read_text().splitlines()
    assert lines and all(json.loads(line)["sig"] for line in lines)
    store = open_store(db_url)
    try:
        result = api.audit_verify(store, anchor_file=anchors,
                                  public_keys=[tmp_path / "audit.key.pub"])
        assert result.ok, result.problems
        assert result.anchors.signatures == 2 * len(lines), "each in the file and in the chain"
        assert result.anchors.latest is not None
    finally:
        store.close()
    log = (tmp_path / "daemon.log").read_text()
    assert " checkpoint seq=" in log and "Traceback" not in log
    broken = subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
         str(tmp_path / "sources.yaml"), "--db", db_url, "run", "--audit-key",
         str(tmp_path / "missing.key")], cwd=tmp_path, capture_output=True, text=True,
        timeout=30)
    assert broken.returncode == 2
    assert broken.stderr == f"claimwatch: cannot read key {tmp_path / 'missing.key'}: No such " \
                            "file or directory\n"


DATED = "<html><body><main><p>The council {} the budget.</p></main></body></html>"


def dated_sources(path: Path, site: SiteServer, cdx: CdxServer | Path, names: list[str],
                  alerts: Path) -> None:
    """One dated fact-check per source, `backfill_from: cdx` (the loopback stand-in), or this
    path."""
    where = f'backfill_from: cdx, cdx_url: "{cdx.cdx_url}"' if isinstance(cdx, CdxServer) \
        else f'backfill_from: "{cdx}"'
    sources = "\n".join(f"  {n}: {{url: \"{site.url(n + '.html')}\", select: main}}"
                        for n in names)
    factchecks = "\n".join(f"""\
  - id: fc-{n}
    title: T
    published: 2025-03-10
    claims:
      - id: c-{n}
        text: t
        verdict: v
        evidence:
          - {{source: {n}, quote: the council approved the budget}}""" for n in names)
    path.write_text(f"""\
version: 1
defaults: {{every: 1h, host_delay: 0s, {where}}}
sources:
{sources}
alerts:
  - to: "file:{alerts}"
factchecks:
{factchecks}
""")


def history(db_url: str) -> dict[str, dict[str, list]]:
    """Per source: its archived snapshots' capture times, the live checks' times, the flags
    (opened day, status), and the latest archived snapshot's loading time."""
    from db.models import AlertRow, FlagRow
    engine = create_engine(db_url)
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    try:
        with engine.connect() as conn:
            for slug, fetched, loaded in conn.execute(select(
                    SourceRow.slug, SnapshotRow.fetched_at, SnapshotRow.archived_at).join(
                    SourceRow, SourceRow.id == SnapshotRow.source_id).where(
                    SnapshotRow.archive_url.is_not(None)).order_by(SnapshotRow.fetched_at)):
                found[slug]["archived"].append(f"{fetched:%Y-%m-%d}")
                found[slug]["loaded"].append(loaded)
            for slug, at in conn.execute(select(SourceRow.slug, FetchRow.started_at).join(
                    SourceRow, SourceRow.id == FetchRow.source_id).where(
                    FetchRow.result.is_not(None), FetchRow.url.not_like("%/web/%"))):
                found[slug]["live"].append(at)
            for slug, opened, status, alerts in conn.execute(select(
                    SourceRow.slug, FlagRow.opened_at, FlagRow.status,
                    select(func.count()).where(AlertRow.flag_id == FlagRow.id)
                    .scalar_subquery()).join(SourceRow, SourceRow.id == FlagRow.source_id)
                    .order_by(FlagRow.id)):
                found[slug]["flags"].append((f"{opened:%Y-%m-%d}", status, alerts))
    finally:
        engine.dispose()
    return found


def wait_for(done: Callable[[], bool], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.3)


CAPTURES = {"20250310000000": "approved", "20250401000000": "rejected",
            "20250501000000": "approved", "20250621000000": "rejected"}


@pytest.fixture
def cdx() -> Iterator[CdxServer]:
    server = CdxServer({stamp: (200, DATED.format(words).encode(), "text/html; charset=utf-8")
                        for stamp, words in CAPTURES.items()})
    yield server
    server.close()


def test_the_daemon_backfills_a_new_dated_fact_check_before_its_first_check(
        tmp_path: Path, db_url: str, site: SiteServer, cdx: CdxServer) -> None:
    """`defaults.backfill_from` with `claimwatch run`: a fact-check with `published:` added to
    a running desk is backfilled first (flags dated at the capture), its first live check
    comes after, only the flag still open at the backfill's end is alerted, and a restart
    adds nothing."""
    (site.root / "a.html").write_text(DATED.format("rejected"))
    sources, alerts = tmp_path / "sources.yaml", tmp_path / "alerts.jsonl"
    write_sources(sources, site, ["old"], every="1h")
    (site.root / "old.html").write_text(PAGE)
    open_store(db_url).close()
    # alerts delivered every second (10 s by default): the test waits for the one alert
    daemon = start(tmp_path, db_url, "--log-format", "json", "--deliver-every", "1s")
    wait_for(lambda: bool(history(db_url)["old"]["live"]))
    dated_sources(sources, site, cdx, ["a"], alerts)  # the desk adds a dated fact-check
    wait_for(lambda: bool(history(db_url)["a"]["live"]) and alerts.exists())
    assert stop(daemon) == 0
    found = history(db_url)["a"]
    assert found["archived"] == ["2025-03-10", "2025-04-01", "2025-05-01", "2025-06-21"]
    assert found["flags"] == [("2025-04-01", "resolved-by-source", 0),
                              ("2025-06-21", "open", 1)], "the replay's own history pages no one"
    assert min(found["live"]) > max(found["loaded"]), "the live check came after the backfill"
    [alert] = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert alert["flag"]["opened_at"].startswith("2025-06-21")
    assert alert["snapshot"]["archive_url"].startswith(cdx.base)
    events = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    [loaded] = [e for e in events if e["event"] == "backfill"]
    assert (loaded["factcheck"], loaded["loaded"], loaded["flags"]) == ("fc-a", 4, 2)
    assert [e["flag"] for e in events if e["event"] == "backfill-alert"] == [2]
    restarted = start(tmp_path, db_url)
    time.sleep(2.0)
    assert stop(restarted) == 0
    assert history(db_url)["a"] == found, "a restart adds nothing twice"
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()


def test_two_daemons_backfill_each_fact_check_once(tmp_path: Path, db_url: str,
                                                   site: SiteServer, cdx: CdxServer) -> None:
    """Several daemons on one database: each new dated fact-check is backfilled by one of
    them (its sources leased meanwhile), each version is loaded once, each still-open flag
    alerted once, and no live check comes before the backfill of its source."""
    names = [f"s{i}" for i in range(6)]
    for name in names:
        (site.root / f"{name}.html").write_text(DATED.format("rejected"))
    alerts = tmp_path / "alerts.jsonl"
    dated_sources(tmp_path / "sources.yaml", site, cdx, names, alerts)
    open_store(db_url).close()
    workers = start_together(tmp_path, db_url, [f"worker{i}.log" for i in range(2)],
                             "--log-format", "json")
    wait_for(lambda: all(history(db_url)[n]["live"] for n in names))
    time.sleep(1.0)
    assert [stop(w) for w in workers] == [0, 0]
    found = history(db_url)
    for name in names:
        assert found[name]["archived"] == ["2025-03-10", "2025-04-01", "2025-05-01",
                                           "2025-06-21"], (name, "each version loaded once")
        assert found[name]["flags"] == [("2025-04-01", "resolved-by-source", 0),
                                        ("2025-06-21", "open", 1)], name
        assert min(found[name]["live"]) > max(found[name]["loaded"]), name
    events = [json.loads(line) for i in range(2)
              for line in (tmp_path / f"worker{i}.log").read_text().splitlines()]
    backfilled = sorted(e["factcheck"] for e in events if e["event"] == "backfill")
    assert backfilled == [f"fc-{n}" for n in names], "one worker backfilled each fact-check"


def test_a_fact_check_with_nothing_archived_is_not_held_back(tmp_path: Path, db_url: str,
                                                             site: SiteServer) -> None:
    """Nothing could be loaded (the archive has no capture): the worker that tried checks the
    fact-check's sources itself, so they are checked like any other."""
    empty = CdxServer({})
    try:
        (site.root / "a.html").write_text(DATED.format("approved"))
        dated_sources(tmp_path / "sources.yaml", site, empty, ["a"], tmp_path / "a.jsonl")
        open_store(db_url).close()
        daemon = start(tmp_path, db_url, "--log-format", "json")
        wait_for(lambda: bool(history(db_url)["a"]["live"]))
        assert stop(daemon) == 0
    finally:
        empty.close()
    found = history(db_url)["a"]
    assert (found["archived"], len(found["live"]), found["flags"]) == ([], 1, [])
    events = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    assert [(e["event"], e.get("loaded")) for e in events if e["event"].startswith("backfill")
            ] == [("backfill", 0)]


# a longer history, served slowly: a daemon can be stopped (or killed) in the middle of it
SLOW = {f"2025{month:02d}01000000": "approved" if month % 2 else "rejected"
        for month in range(3, 9)}  # 03-01 approved (the baseline), 04-01 rejected, …


@pytest.fixture
def slow_cdx() -> Iterator[CdxServer]:
    server = CdxServer({stamp: (200, DATED.format(words).encode(), "text/html; charset=utf-8")
                        for stamp, words in SLOW.items()}, delay=0.3)
    yield server
    server.close()


def marks(db_url: str, factcheck: str = "fc-a") -> tuple[bool, bool]:
    """Whether a daemon started the fact-check's backfill, and whether one finished."""
    from db.models import FactCheckRow
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            started, finished = conn.execute(select(
                FactCheckRow.backfill_started_at, FactCheckRow.backfill_finished_at).where(
                FactCheckRow.slug == factcheck)).one()
    finally:
        engine.dispose()
    return started is not None, finished is not None


def interrupted(tmp_path: Path, db_url: str, site: SiteServer, cdx: CdxServer,
                *args: str) -> subprocess.Popen:
    """A daemon backfilling fact-check fc-a from the slow archive, once its baseline and at
    least one later version are stored."""
    (site.root / "a.html").write_text(DATED.format("rejected"))
    dated_sources(tmp_path / "sources.yaml", site, cdx, ["a"], tmp_path / "alerts.jsonl")
    open_store(db_url).close()
    daemon = start(tmp_path, db_url, "--log-format", "json", *args, log="first.log")
    wait_for(lambda: len(history(db_url)["a"]["archived"]) >= 2)
    return daemon


def assert_resumed(db_url: str, found: dict[str, list]) -> None:
    """Every version stored once, in order, the live check after the last; the replay's own
    history pages no one, the flag still open at the end is alerted once."""
    assert found["archived"] == [f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" for stamp in SLOW]
    assert found["flags"] == [("2025-04-01", "resolved-by-source", 0),
                              ("2025-06-01", "resolved-by-source", 0),
                              ("2025-08-01", "open", 1)]
    assert found["live"] and min(found["live"]) > max(found["loaded"]), \
        "no live check before the backfill's end"
    assert marks(db_url) == (True, True)


def test_a_daemon_stopped_in_a_backfill_resumes_it_after_a_restart(
        tmp_path: Path, db_url: str, site: SiteServer, slow_cdx: CdxServer) -> None:
    """SIGTERM between two versions, after the baseline: the fact-check stays started and not
    finished, so its source is not checked live; the restarted daemon loads the rest (what was
    stored is `already`), then checks it."""
    first = interrupted(tmp_path, db_url, site, slow_cdx)
    assert stop(first) == 0
    stopped = history(db_url)["a"]
    stored = len(stopped["archived"])
    assert 2 <= stored < len(SLOW) and not stopped["live"] and marks(db_url) == (True, False)
    restarted = start(tmp_path, db_url, "--log-format", "json", log="second.log")
    wait_for(lambda: bool(history(db_url)["a"]["live"]))
    assert stop(restarted) == 0
    assert_resumed(db_url, history(db_url)["a"])
    events = [json.loads(line) for name in ("first.log", "second.log")
              for line in (tmp_path / name).read_text().splitlines()]
    assert [(e["event"], e.get("loaded"), e.get("already")) for e in events
            if e["event"].startswith("backfill") and e["event"] != "backfill-alert"] == [
        ("backfill-stopped", None, None), ("backfill", len(SLOW) - stored, stored)]


def test_a_killed_daemon_s_backfill_is_resumed_by_another_once_its_leases_run_out(
        tmp_path: Path, db_url: str, site: SiteServer, slow_cdx: CdxServer) -> None:
    """SIGKILL in the middle of a backfill: another daemon takes it when the dead one's leases
    expire, and loads the rest; nothing is loaded twice, no live check comes in between."""
    dead = interrupted(tmp_path, db_url, site, slow_cdx, "--lease", "3s")
    dead.kill()
    dead.wait(timeout=10)
    stored = len(history(db_url)["a"]["archived"])
    assert stored < len(SLOW) and marks(db_url) == (True, False)
    other = start(tmp_path, db_url, "--log-format", "json", "--lease", "3s", log="other.log")
    wait_for(lambda: bool(history(db_url)["a"]["live"]))
    assert stop(other) == 0
    assert_resumed(db_url, history(db_url)["a"])
    events = [json.loads(line) for line in (tmp_path / "other.log").read_text().splitlines()]
    [done] = [e for e in events if e["event"] == "backfill"]
    assert (done["loaded"], done["already"]) == (len(SLOW) - stored, stored)


def test_a_backfill_that_fails_is_finished_and_its_sources_checked(tmp_path: Path, db_url: str,
                                                                   site: SiteServer) -> None:
    """`backfill_from` names nothing that can be read: the backfill fails once, is marked
    finished, and the fact-check's source is checked live like any other."""
    (site.root / "a.html").write_text(DATED.format("approved"))
    dated_sources(tmp_path / "sources.yaml", site, tmp_path / "nowhere", ["a"],
                  tmp_path / "a.jsonl")
    open_store(db_url).close()
    daemon = start(tmp_path, db_url, "--log-format", "json")
    wait_for(lambda: bool(history(db_url)["a"]["live"]))
    time.sleep(0.5)
    assert stop(daemon) == 0
    assert marks(db_url) == (True, True)
    found = history(db_url)["a"]
    assert (found["archived"], len(found["live"])) == ([], 1)
    events = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    [failed] = [e for e in events if e["event"].startswith("backfill")]
    assert failed["event"] == "backfill-failed" and "is neither `cdx`" in failed["error"]
