"""Sharing work (db/leases.py, pipeline/check.py): sources are claimed in bounded chunks, hosts
take turns, a host's spacing holds across workers (a worker that wakes past its turn takes
another), leases are renewed while a source is being checked, a slow host holds up nothing
else, and an edited `every` takes effect at the next sync. On SQLite and (with
CLAIMWATCH_TEST_PG) PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from db import Store, leases, open_store, utcnow
from db.models import FetchRow, SourceRow
from pipeline import api, check, config
from pipeline.demo.server import SiteServer
from pipeline.fetch import FetchSettings
from pipeline.records import SourceReport
from pipeline.sync import sync_config

PAGE = "<html><body><main><p>The office does not hold people on detainers.</p></main></body>" \
       "</html>"


def desk(urls: dict[str, str], every: str = "6h", host_delay: str = "0s") -> config.Config:
    sources = "\n".join(f"  {name}: {{url: \"{url}\", select: main}}" for name, url in urls.items())
    items = "\n".join(f"          - {{source: {name}, quote: does not hold people}}"
                      for name in urls)
    return config.parse(f"""\
version: 1
defaults: {{every: {every}, host_delay: {host_delay}, timeout: 20s}}
sources:
{sources}
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: The office does not hold people on detainers.
        verdict: Supported
        evidence:
{items}
""")


def synced(store: Store, cfg: config.Config) -> config.Config:
    with store.session() as session:
        sync_config(session, cfg)
    return cfg


def claim(store: Store, owner: str, limit: int, *, delay: float = 0.0) -> list[tuple[str, str]]:
    """What `owner` claims: (slug, host) in claiming order."""
    now = utcnow()
    with store.session() as session:
        taken = leases.claim_sources(
            session, owner, SourceRow.active.is_(True), now=now,
            lease=dt.timedelta(seconds=60), limit=limit,
            per_host=leases.per_host(check.HORIZON, delay),
            reserved_until=now + dt.timedelta(seconds=check.HORIZON) if delay else None)
        slugs = dict(session.execute(select(SourceRow.id, SourceRow.slug).where(
            SourceRow.id.in_([i for i, _h in taken]))).all())
    return [(slugs[i], h) for i, h in taken]


def turn(store: Store, host: str, delay: float) -> dt.datetime:
    with store.session() as session:
        return leases.take_turn(session, host, now=utcnow(), delay=delay)


def test_claims_come_in_chunks_with_hosts_taking_turns(store: Store) -> None:
    urls = {f"a{i}": f"http://a.example/{i}" for i in range(5)}
    urls |= {f"b{i}": f"http://b.example/{i}" for i in range(3)}
    urls |= {"c0": "http://c.example:8080/0"}
    synced(store, desk(urls))
    first = claim(store, "worker-1", 4)
    assert [host for _s, host in first] == ["a.example:80", "b.example:80",
                                                 "c.example:8080", "a.example:80"], \
        "each host's first source, then each host's second: a busy host cannot fill a chunk"
    second = claim(store, "worker-2", 4)
    third = claim(store, "worker-3", 4)
    slugs = [s for batch in (first, second, third) for s, _h in batch]
    assert len(second) == 4 and len(third) == 1, "a chunk is bounded; the rest goes to others"
    assert sorted(slugs) == sorted(urls), "every source claimed once"
    assert claim(store, "worker-4", 4) == [], "nothing is claimed twice while leased"


def test_a_hosts_spacing_is_shared_by_every_worker(store: Store, db_url: str) -> None:
    synced(store, desk({f"s{i}": f"http://agency.example/{i}" for i in range(12)}))
    other = open_store(db_url)  # another worker's connection
    try:
        turns = [turn(s, "agency.example:80", 1.0) for s in (store, other, store, other)]
    finally:
        other.close()
    gaps = [round((b - a).total_seconds(), 3) for a, b in zip(turns, turns[1:], strict=False)]
    assert gaps == [1.0, 1.0, 1.0], "each request's turn comes after every worker's last one"
    assert turns[0] <= utcnow(), "a quiet host's first turn is now"
    many = claim(store, "worker-3", 50, delay=4.0)
    assert len(many) == leases.per_host(check.HORIZON, 4.0) == 3, \
        "a worker takes at most HORIZON seconds' worth of one host's sources at a time"
    for _ in range(12):  # a dozen seconds of turns reserved: beyond the horizon
        turn(store, "agency.example:80", 1.0)
    assert claim(store, "worker-4", 50, delay=1.0) == [], \
        "a host whose turns are reserved beyond the horizon gives nothing more for now"


def test_a_lease_is_renewed_while_its_source_is_checked(store: Store, site: SiteServer) -> None:
    (site.root / "slow.html").write_text(PAGE)
    cfg = synced(store, desk({"slow": site.url("slow.html")}))
    site.delay = 2.5  # longer than the lease
    fast = FetchSettings(user_agent="t", timeout=10, retries=0, host_delay=0)
    worker = threading.Thread(target=check.run, args=(store, cfg),
                              kwargs={"everything": True, "lease": 1.0, "settings": fast,
                                      "sync": False})
    worker.start()
    time.sleep(1.8)
    other = check.run(store, cfg, only=["slow"], settings=fast, sync=False, lease=1.0)
    worker.join()
    assert other.sources == [] and other.busy == ["slow"], \
        "the lease outlived its first term: it was renewed while the fetch went on"
    assert sum(r.path == "/slow.html" for r in site.requests) == 1


def test_a_slow_host_holds_up_nothing_else(store: Store, site: SiteServer,
                                           tmp_path: Path) -> None:
    (site.root / "page.html").write_text(PAGE)
    with SiteServer(tmp_path / "site", host="127.0.0.2") as slow_host:
        (slow_host.root / "slow.html").write_text(PAGE)
        slow_host.delay = 3.0
        cfg = synced(store, desk({"fast": site.url("page.html"),
                                  "slow": slow_host.url("slow.html")}, every="1s"))
        done: list[tuple[float, SourceReport]] = []
        stop = threading.Event()
        worker = threading.Thread(target=check.run, args=(store, cfg), kwargs={
            "config_source": lambda: cfg, "should_stop": stop.is_set, "tick": 0.2,
            "on_progress": lambda r, _n: done.append((time.monotonic(), r)),
            "settings": FetchSettings(user_agent="t", timeout=10, retries=0, host_delay=0)})
        started = time.monotonic()
        worker.start()
        time.sleep(4.0)
        stop.set()
        worker.join(timeout=10)
    slow_done = [t for t, r in done if r.source == "slow"]
    fast_before = [t for t, r in done if r.source == "fast"
                   and t < (slow_done[0] if slow_done else started + 99)]
    assert slow_done and slow_done[0] - started >= 2.9, "the slow host really was slow"
    assert len(fast_before) >= 2, \
        f"the 1s source went on while the slow one was in flight: {len(fast_before)} checks"


def test_an_edited_every_takes_effect_at_the_next_sync(store: Store, site: SiteServer) -> None:
    (site.root / "page.html").write_text(PAGE)
    fast = FetchSettings(user_agent="t", timeout=5, retries=0, host_delay=0)
    api.check(store, desk({"s": site.url("page.html")}, every="6h"), settings=fast)
    assert api.check(store, desk({"s": site.url("page.html")}, every="6h"),
                     settings=fast).sources == [], "nothing is due for six hours"
    shorter = desk({"s": site.url("page.html")}, every="1s")
    with store.session() as session:
        sync_config(session, shorter)
        row = session.scalars(select(SourceRow)).one()
        assert row.last_checked_at is not None and row.next_check_at is not None
        assert row.next_check_at - row.last_checked_at == dt.timedelta(seconds=1), \
            "the next check is recomputed from the last one and the new interval"
    time.sleep(1.1)
    again = api.check(store, shorter, settings=fast)
    assert [s.source for s in again.sources] == ["s"], "checked now, not in six hours"
    state = api.status(store, shorter)
    [listed] = state["sources"]["schedule"]
    assert listed["source"] == "s" and listed["every"] == "1s" and listed["next_check_at"]


def test_first_syncs_at_once_create_everything_once(db_url: str, tmp_path: Path) -> None:
    cfg = desk({f"s{i}": f"http://agency.example/{i}" for i in range(50)})
    open_store(db_url).close()
    stores = [open_store(db_url) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def sync(store: Store) -> None:
        barrier.wait()
        try:
            synced(store, cfg)
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with stores[0].session() as session:
            assert session.scalar(select(func.count()).select_from(SourceRow)) == 50
            assert session.scalar(select(func.count()).select_from(FetchRow)) == 0
        assert api.audit_verify(stores[0]).ok
    finally:
        for store in stores:
            store.close()


def test_a_cron_check_waits_for_a_hosts_turns_rather_than_leaving_its_sources(
        store: Store, site: SiteServer, monkeypatch) -> None:
    # a worker claims one horizon of a host's turns at a time (HORIZON / host_delay sources):
    # a cron `check` claims the rest as the turns come, rather than ending with them unchecked
    monkeypatch.setattr(check, "HORIZON", 1.0)  # 5 sources a claim at 0.2 s apart
    urls = {}
    for n in range(8):
        (site.root / f"p{n}.html").write_text(PAGE)
        urls[f"p{n}"] = site.url(f"p{n}.html")
    cfg = synced(store, desk(urls, host_delay="0.2s"))
    report = check.run(store, cfg, settings=FetchSettings(user_agent="t", timeout=10, retries=0,
                                                          host_delay=0.2), sync=False)
    assert sorted(r.source for r in report.sources) == sorted(urls), "one run checks them all"
    starts = sorted(r.at for r in site.requests if r.path != "/robots.txt")
    assert len(starts) == 8 and min(b - a for a, b in zip(starts, starts[1:], strict=False)) \
        >= 0.2 * 0.95, "the host's spacing held"


class Starved:
    """`Fetcher._space`'s clock and sleep, by hand: each sleep wakes when the script says, as a
    worker starved of CPU wakes late; every turn asked for and every sleep is written down."""

    def __init__(self, late: list[float], turn_in: float = 0.5) -> None:
        self.now, self.late, self.turn_in = 1000.0, list(late), turn_in
        self.steps: list[tuple[str, float]] = []  # ("turn" | "sleep" | "woke", at)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.steps.append(("sleep", seconds))
        self.now += seconds + (self.late.pop(0) if self.late else 0.0)
        self.steps.append(("woke", self.now))

    async def turns(self, key: str) -> float:
        assert key == "agency.example:80"
        self.steps.append(("turn", self.now))
        return self.turn_in  # the shared turn: half a second from now


def space(clock: Starved, monkeypatch, *, shared: bool = True, requests: int = 1) -> float:
    """The spacing of `requests` requests in a row on a host (`host_delay` 1 s) under `clock`;
    when the last was let go."""
    import asyncio
    from types import SimpleNamespace

    from pipeline import fetch
    fetcher = fetch.Fetcher(FetchSettings(user_agent="t", host_delay=1.0),
                            turns=clock.turns if shared else None)
    monkeypatch.setattr(fetch, "time", clock)
    monkeypatch.setattr(fetch, "asyncio", SimpleNamespace(Lock=asyncio.Lock, sleep=clock.sleep))
    async def requested() -> None:
        for _ in range(requests):
            await fetcher._space("agency.example:80")

    asyncio.run(requested())
    monkeypatch.undo()
    return clock.now


def test_a_worker_that_wakes_past_its_shared_turn_takes_another(monkeypatch) -> None:
    """With host turns shared by workers (the check run's, in the database), a worker that
    wakes more than half a `host_delay` past its turn would send into the next worker's turn:
    it takes another turn and waits for that one, at most twice more; one that wakes in time,
    or late by less, sends at once. Spacing kept by one process alone has no one to collide
    with, and is not re-taken."""
    on_time = Starved(late=[0.0])
    assert space(on_time, monkeypatch) == 1000.5
    assert [step for step, _at in on_time.steps] == ["turn", "sleep", "woke"]
    a_little_late = Starved(late=[0.25])  # within half the delay: still its turn
    space(a_little_late, monkeypatch)
    assert [step for step, _at in a_little_late.steps] == ["turn", "sleep", "woke"]

    starved_once = Starved(late=[0.75, 0.0])
    assert space(starved_once, monkeypatch) == 1001.75
    assert starved_once.steps == [("turn", 1000.0), ("sleep", 0.5), ("woke", 1001.25),
                                  ("turn", 1001.25), ("sleep", 0.5), ("woke", 1001.75)], \
        "a new turn, asked for on waking, and waited for"
    starved_always = Starved(late=[0.75, 0.75, 0.75, 0.75])
    space(starved_always, monkeypatch)
    assert [step for step, _at in starved_always.steps].count("turn") == 3, \
        "at most twice more: then it sends"
    alone = Starved(late=[0.75])
    assert space(alone, monkeypatch, shared=False, requests=2) == 1001.75
    assert alone.steps == [("sleep", 1.0), ("woke", 1001.75)], "the second request's wait, once"
