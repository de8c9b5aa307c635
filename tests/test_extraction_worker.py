"""Reading what a check fetched is bounded per source (issue 14): a page whose extraction spins or
eats memory is a recorded `error` check, the other sources of the batch are recorded as usual,
and no lease stays held. The hostile extractor is a test seam registered in the extractor
registry (the workers are forked, so they run it): regexes are linear-time now, and a real page
that spins a parser is not at hand."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from db import Store
from db.models import FetchRow, SnapshotRow, SourceRow
from pipeline import api, config
from pipeline.demo.server import SiteServer
from pipeline.extract import EXTRACTORS, Document, Options
from pipeline.extraction_worker import Body, Job, Reading, Workers, read_job
from pipeline.fetch import FetchSettings

FAST = FetchSettings(user_agent="claimwatch-test", timeout=2, connect_timeout=1, retries=0,
                     backoff_base=0.01, host_delay=0)
LIMIT = 2  # seconds: the sources' extract_timeout here
SLACK = 10  # seconds a loaded 2-core machine may add to the limit
PAGE = "<html><body><p>The council approved the budget.</p>{extra}</body></html>"


def spin_on(marker: bytes, then: Callable[[], object]) -> None:
    """Read "html" as usual, except a page holding `marker`, which runs `then`."""
    original = EXTRACTORS["html"]

    def hostile(body: bytes, options: Options) -> Document:
        if marker in body:
            then()
        return original(body, options)
    return hostile  # type: ignore[return-value]


def forever() -> None:
    while True:
        pass


def eat_memory() -> None:
    hoard = []
    for _ in range(64):  # up to 4 GB, 64 MB at a time: the limit below stops it at ~256 MB
        hoard.append(bytearray(64 * 1024**2))


def watch(site: SiteServer, defaults: str) -> config.Config:
    (site.root / "calm.html").write_text(PAGE.format(extra="<p>Nothing else.</p>"))
    return config.parse(f"""\
version: 1
defaults: {defaults}
sources:
  calm: {{url: "{site.url('calm.html')}"}}
  hostile: {{url: "{site.url('hostile.html')}"}}
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
          - {{source: calm, quote: "The council approved the budget."}}
          - {{source: hostile, quote: "The council approved the budget."}}
""")


def leases(store: Store) -> list[str | None]:
    with store.session() as session:
        return list(session.scalars(select(SourceRow.lease_owner)))


def test_an_extraction_that_hangs_is_a_recorded_error_and_the_batch_goes_on(
        store: Store, site: SiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    (site.root / "hostile.html").write_text(PAGE.format(extra="<p>spin-forever</p>"))
    cfg = watch(site, f"{{extract_timeout: {LIMIT}s}}")
    monkeypatch.setitem(EXTRACTORS, "html", spin_on(b"spin-forever", forever))
    started = time.monotonic()
    report = api.check(store, cfg, everything=True, settings=FAST)
    took = time.monotonic() - started
    assert LIMIT <= took < LIMIT + SLACK
    by_source = {s.source: s for s in report.sources}
    assert by_source["hostile"].status == "error"
    assert by_source["hostile"].error == f"extraction took over {LIMIT} s"
    assert by_source["calm"].status == "new" and by_source["calm"].error is None
    assert leases(store) == [None, None]
    with store.session() as session:  # the hostile check: its fetch row says why, no snapshot
        hostile = session.scalars(select(SourceRow).where(SourceRow.slug == "hostile")).one()
        row = session.scalars(select(FetchRow).where(FetchRow.source_id == hostile.id)).one()
        assert (row.result, row.error) == ("error", f"extraction took over {LIMIT} s")
        assert session.scalars(select(SnapshotRow.source_id)).all() == [
            session.scalars(select(SourceRow.id).where(SourceRow.slug == "calm")).one()]
    assert sorted((f.source, f.outcome) for f in report.flags) == [("hostile", "error")]

    # a second check claims the source again (nothing held it), and the page fixed reads fine
    (site.root / "hostile.html").write_text(PAGE.format(extra="<p>Fixed.</p>"))
    again = api.check(store, cfg, only=["hostile"], settings=FAST)
    assert [(s.source, s.status, s.error) for s in again.sources] == [("hostile", "new", None)]
    assert leases(store) == [None, None]


def test_an_extraction_that_eats_memory_is_a_recorded_error(
        store: Store, site: SiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    (site.root / "hostile.html").write_text(PAGE.format(extra="<p>eat-memory</p>"))
    cfg = watch(site, "{extract_memory: 256MB}")
    monkeypatch.setitem(EXTRACTORS, "html", spin_on(b"eat-memory", eat_memory))
    report = api.check(store, cfg, everything=True, settings=FAST)
    by_source = {s.source: s for s in report.sources}
    assert (by_source["hostile"].status, by_source["hostile"].error) == (
        "error", "extraction needed more memory than extract_memory allows")
    assert by_source["calm"].status == "new" and by_source["calm"].error is None
    assert leases(store) == [None, None]


def test_the_limit_can_be_set_per_source(site: SiteServer) -> None:
    cfg = watch(site, "{extract_timeout: 5m}")
    assert cfg.extract_timeout("calm") == 300
    edited = cfg.model_copy(update={"sources": {
        **cfg.sources, "hostile": cfg.sources["hostile"].model_copy(
            update={"extract_timeout": 7})}})
    assert (edited.extract_timeout("calm"), edited.extract_timeout("hostile")) == (300, 7)


def test_workers_are_reused_and_a_timeout_costs_only_its_own_job(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRACTORS, "html", spin_on(b"spin-forever", forever))
    cfg = config.parse("version: 1\nsources: {s: {url: 'https://example.org/'}}\n")
    source = cfg.sources["s"]

    def job(text: str) -> Job:
        body = Body(PAGE.format(extra=f"<p>{text}</p>").encode(), "text/html",
                    "https://example.org/", "utf-8")
        return Job(source, body, None, {}, ())

    workers = Workers(size=1)  # one process: the spinning job must not hold the others back
    beats: list[float] = []
    try:
        found = workers.run([job("one"), job("spin-forever"), job("two")], [LIMIT] * 3,
                            heartbeat=lambda: beats.append(time.monotonic()), every=0.5)
        assert found[1] == f"extraction took over {LIMIT} s"
        assert len(beats) >= 2, "the caller renews its leases while a job spins"
        assert [r.current.blocks[-1] for r in (found[0], found[2])  # type: ignore[union-attr]
                ] == ["one", "two"]
        reused = workers.idle[0].process.pid
        again = workers.run([job("three")], [LIMIT])
        assert isinstance(again[0], Reading) and workers.idle[0].process.pid == reused
        assert again[0] == read_job(job("three"))
    finally:
        workers.close()
