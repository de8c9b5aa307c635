"""A check run (docs/architecture.md): claim sources → fetch → record, concurrently.

The run is all this module does. Fetching a source's target is `source_fetch`, writing what it
found is `recorder` (flags move in `flags`), claims on sources are `db.leases`.

A worker holds at most `CLAIM_AHEAD` times its concurrency (a cron run at least ONCE_HOLD
sources): it claims due sources in chunks as its slots free up, renews the leases of what it
still holds, and lets each go as it records it. So one slow source (a host timing out, with
retries) occupies its own slot only; the others go on, and in the daemon a source falling due
meanwhile is claimed at the next tick. Database work
(claims, renewals, recording, host turns) runs in threads while fetches go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy import ColumnElement, select

from db import Store, audit, leases, utcnow
from db.models import SourceRow
from pipeline import plan as planning
from pipeline.browser_fetch import Browser, browser_settings
from pipeline.config import Config
from pipeline.errors import NotFound
from pipeline.extraction_worker import Workers
from pipeline.fetch import Fetcher, FetchResult, FetchSettings
from pipeline.plan import Plan
from pipeline.recorder import Checked, QuietRows, record_batch, record_quiet
from pipeline.records import CheckReport, SourceReport
from pipeline.siblings import Siblings
from pipeline.source_fetch import Fetched, browser_for, fetch_settings, fetch_source
from pipeline.sync import sync_config
from pipeline.vocab import CheckResult

LEASE = 60.0  # seconds a claim lasts unless renewed: a dead worker's sources wait this long
HORIZON = 10.0  # seconds of one host's turns a worker reserves at a time
CLAIM_AHEAD = 4  # a worker holds up to this many times its concurrency
# a cron run holds at least this many, and claims when half of them are free: each claim ranks
# every free source (hosts take turns), so at 10,000 sources claims of ~32 (312 of them) took
# 5.3 of an unchanged re-check's 7.8 s
ONCE_HOLD = 512
TICK = 1.0  # the daemon looks for due sources this often
ROUND = 300.0  # the daemon's audit "run" summary covers at most this many seconds
SETTLE_TURNS = 20  # event-loop turns given to fetches under way before a batch is recorded
# fetched bodies in memory at once, in `global_limit`s: those being fetched, and as many again
# waiting to be recorded, so fetching goes on while a batch is read and written
BODIES = 2


def run(store: Store, config: Config, *, everything: bool = False,
        only: Iterable[str] = (), transport: httpx.AsyncBaseTransport | None = None,
        settings: FetchSettings | None = None,
        on_progress: Callable[[SourceReport, int], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False, sync: bool = True,
        config_source: Callable[[], Config] | None = None, lease: float = LEASE,
        tick: float = TICK, on_round: Callable[[CheckReport], None] | None = None,
        hold_back: Callable[[Config], ColumnElement[bool] | None] | None = None
        ) -> CheckReport:
    """Check the due sources (or `only` these, or `everything`) once; return what happened.

    With `config_source` the run goes on until `should_stop()` (the daemon): sources are
    claimed as they fall due, the configuration is re-read from `config_source()` and synced
    when it is a new one, and each round's report goes to `on_round`. Once `should_stop()` is
    true no further source is started. `hold_back(config)`: the sources not to claim now
    (those of a fact-check awaiting its backfill, `backfill.held_back`).
    """
    only = list(only)
    unknown = [s for s in only if s not in config.sources]
    if unknown:
        raise NotFound(f"unknown source {unknown[0]!r}: it is not in sources.yaml",
                       field="source")
    if sync and config_source is None:
        with store.session() as session:
            sync_config(session, config)
    worker = _Worker(store, config, settings or fetch_settings(config),
                     _Selection(everything, only, started=utcnow()), lease=lease, tick=tick,
                     on_progress=on_progress, should_stop=should_stop,
                     config_source=config_source, on_round=on_round, hold_back=hold_back)
    return asyncio.run(worker.go(transport))


@dataclass
class _Selection:
    """Which sources a run claims: due ones, `only` these, or `everything` (once each)."""

    everything: bool
    only: list[str]
    started: dt.datetime
    unrecorded: set[int] = field(default_factory=set)  # recording failed: not again this run

    def wanted(self, now: dt.datetime, *, once: bool) -> ColumnElement[bool]:
        cond = SourceRow.active.is_(True) & SourceRow.retired_at.is_(None)
        if self.only:
            cond &= SourceRow.slug.in_(self.only)
        elif not self.everything:
            cond &= SourceRow.next_check_at.is_(None) | (SourceRow.next_check_at <= now)
        if once:  # each source once per run, however long the run takes
            cond &= SourceRow.last_checked_at.is_(None) | (SourceRow.last_checked_at
                                                          < self.started)
        if self.unrecorded:
            cond &= SourceRow.id.not_in(self.unrecorded)
        return cond


class _Worker:
    def __init__(self, store: Store, config: Config, settings: FetchSettings,
                 selection: _Selection, *, lease: float, tick: float,
                 on_progress: Callable[[SourceReport, int], None] | None,
                 should_stop: Callable[[], bool], config_source: Callable[[], Config] | None,
                 on_round: Callable[[CheckReport], None] | None,
                 hold_back: Callable[[Config], ColumnElement[bool] | None] | None = None
                 ) -> None:
        self.store, self.config, self.settings = store, config, settings
        self.selection, self.lease, self.tick = selection, lease, tick
        self.on_progress, self.should_stop = on_progress, should_stop
        self.config_source, self.on_round = config_source, on_round
        self.hold_back = hold_back
        self.owner = leases.new_owner()
        self.hold = CLAIM_AHEAD * settings.global_limit
        if config_source is None:  # a cron run: fewer, bigger claims
            self.hold = max(self.hold, ONCE_HOLD)
        self.report = CheckReport()
        self.claimed = 0  # sources claimed this round: the progress total
        self.synced: Config | None = None

    async def go(self, transport: httpx.AsyncBaseTransport | None) -> CheckReport:
        # a source holds a fetch slot while it is fetched (`global_limit` at once) and a place
        # for its body from fetch to record: at most BODIES × `global_limit` bodies are in
        # memory, however many thousand sources a run has
        self.fetching = asyncio.Semaphore(self.settings.global_limit)
        self.bodies = asyncio.Semaphore(BODIES * self.settings.global_limit)
        self.finished: asyncio.Queue[Checked | None] = asyncio.Queue()
        self.quiet = QuietRows()
        self.siblings = Siblings()  # the bases of the run's first snapshots
        self.held = 0
        self.held_back = False  # the last claim left sources a host's turns hold back
        # the processes that read what was fetched, started when a batch first needs one
        self.workers = Workers(memory=self.config.defaults.extract_memory)
        self.starting: asyncio.Future[None] | None = None
        try:
            turns = self._turn if self.settings.host_delay > 0 else None
            async with Fetcher(self.settings, transport=transport, turns=turns) as self.fetcher,\
                    Browser(self.fetcher, browser_settings(self.config, self.settings.user_agent)
                            ) as self.browser:  # launched by the first `fetch: browser` source
                await self._loop()
        finally:  # whatever was not recorded (skipped on stop, failed) is free for others again
            if self.starting is not None:
                with contextlib.suppress(Exception):  # no fork: `record_batch` says so
                    await self.starting
            self.workers.close()
            await self._db(self._end)
        return self.report

    async def _loop(self) -> None:
        once = self.config_source is None
        clock = time.monotonic
        next_claim = next_renewal = round_started = clock()
        exhausted = False  # once: nothing more to claim this run
        chunk = self.hold // 2 if once else min(self.settings.global_limit, self.hold)
        while True:
            stopping = self.should_stop()
            room = self.hold - self.held
            if not (stopping or exhausted) and clock() >= next_claim and room >= chunk:
                # a cron run takes all it can hold; daemons take a chunk at a time, at jittered
                # times, so no worker's polling phase lets it win every source falling due
                limit = room if once else chunk
                got = await self._claim(limit)
                self.held += got
                if got < limit:  # that was every source claimable now: a cron run is done
                    exhausted = once and not self.held_back  # unless a host's turns held some
                    next_claim = clock() + self.tick * random.uniform(0.5, 1.5)
                elif not once:  # more are due: after the other workers had a chance
                    next_claim = clock() + self.tick * random.uniform(0.0, 0.3)
            if not self.held:
                if stopping or exhausted:
                    break
                if not once and self.report.sources:  # (a cron run has one round)
                    await self._close_round()
                    round_started = clock()
                await self._pause(next_claim - clock())
                continue
            if clock() >= next_renewal:
                await self._db(self._renew)
                next_renewal = clock() + self.lease / 3
            wake = next_renewal
            if not (stopping or exhausted) and self.hold - self.held >= chunk:
                wake = min(wake, next_claim)
            try:
                first = await asyncio.wait_for(self.finished.get(), max(wake - clock(), 0.01))
            except TimeoutError:
                continue
            await self._record([first])
            if not once and clock() - round_started >= ROUND:
                await self._close_round()
                round_started = clock()
        if once or self.report.sources:
            await self._close_round(final=once)

    async def _claim(self, limit: int) -> int:
        """Claim up to `limit` sources and start their checks; return how many."""
        if self.config_source is not None:
            self.config = self.config_source()
        if self.synced is not self.config and self.config_source is not None:
            await self._db(self._sync)
        plans = await self._db(self._take, limit)
        if self.starting is None and not all(plan.quiet for plan in plans):
            # a source that is not on the quiet path will be read: its reading process starts
            # (in a thread: the fork blocks no fetch) while the fetches go on
            self.starting = asyncio.ensure_future(asyncio.to_thread(self.workers.start))
        self.claimed += len(plans)
        for plan in plans:
            asyncio.create_task(self._one(plan))
        return len(plans)

    def _sync(self) -> None:
        with self.store.session() as session:
            sync_config(session, self.config)
        self.synced = self.config

    def _take(self, limit: int) -> list[Plan]:
        """The claiming transaction: lease, reserve host turns, read the plans."""
        now = utcnow()
        delay = self.settings.host_delay
        once = self.config_source is None
        wanted = self.selection.wanted(now, once=once)
        with self.store.session() as session:
            if once and not self.claimed and not self.report.busy:  # held back or not
                self.report.busy = leases.held_by_others(session, self.owner, wanted, now)
            held = self.hold_back(self.config) if self.hold_back is not None else None
            if held is not None:  # evaluated in the claiming statement, under the claim lock
                wanted &= ~held
            taken = leases.claim_sources(
                session, self.owner, wanted, now=now, lease=dt.timedelta(seconds=self.lease),
                limit=limit, per_host=leases.per_host(HORIZON, delay),
                reserved_until=now + dt.timedelta(seconds=HORIZON) if delay > 0 else None)
            # a host's turns hold sources back for now, not for the run: its later turns come
            self.held_back = once and len(taken) < limit and delay > 0 and leases.any_free(
                session, wanted, now)
            if not taken:
                return []
            order = {source_id: n for n, (source_id, _host) in enumerate(taken)}
            rows = sorted(session.scalars(select(SourceRow).where(SourceRow.id.in_(order))),
                          key=lambda row: order[row.id])
            plans = planning.plans(session, self.config, rows, self.owner)
            gone = [row.id for row in rows if row.slug not in self.config.sources]
            if gone:  # dropped from sources.yaml since the last sync: not ours to check
                leases.release(session, self.owner, gone)
        return plans

    async def _one(self, plan: Plan) -> None:
        """One source check, until it waits to be recorded."""
        await self.bodies.acquire()
        await self.fetching.acquire()
        if self.should_stop():
            self.fetching.release()
            self.bodies.release()
            self.finished.put_nowait(None)
            return
        try:
            fetched = await fetch_source(self.fetcher, plan.source, url=plan.url,
                                         timeout=plan.timeout, max_bytes=plan.max_bytes,
                                         validators=plan.validators,
                                         browser=browser_for(plan.fetch_mode, self.browser))
        except Exception as exc:  # a bug must not end the run: this source's check fails
            error = f"internal error while fetching: {type(exc).__name__}: {exc}"
            fetched = Fetched(FetchResult(plan.url, plan.url, None, {}, None, error, ()), [], {})
        finally:
            self.fetching.release()
        self.finished.put_nowait(Checked(plan, fetched))

    async def _record(self, arrived: list[Checked | None]) -> None:
        """Record every check that has finished by now, together (≤ global_limit)."""
        for _ in range(SETTLE_TURNS):  # let fetches under way finish: fewer, bigger
            await asyncio.sleep(0)     # transactions
        while not self.finished.empty():
            arrived.append(self.finished.get_nowait())
        self.held -= len(arrived)
        batch = [c for c in arrived if c is not None]  # None: not started (stopping)
        # reading the batch may take up to a source's extract_timeout: the leases are renewed
        # meanwhile (between reads, never during a write), so no other worker takes them
        try:
            reports = await self._db(record_batch, self.store, self.config, batch, self.quiet,
                                     self.workers, self._renew_quietly, self.lease / 3,
                                     self.siblings)
        finally:
            for checked in batch:
                checked.fetched.result = replace(checked.fetched.result, body=None)
                checked.fetched.raw = None
                self.bodies.release()
        recorded = {r.source for r in reports if not r.error or "while recording" not in r.error}
        self.selection.unrecorded |= {c.plan.source_id for c in batch
                                      if c.plan.slug not in recorded}
        for source_report in reports:
            self.report.sources.append(source_report)
            if self.on_progress:
                self.on_progress(source_report, self.claimed)

    async def _close_round(self, *, final: bool = False) -> None:
        """Write what waits, audit the round when it had news, hand it to `on_round`."""
        await self._db(record_quiet, self.store, self.quiet)
        report = self.report
        if any(r.status != CheckResult.UNCHANGED or r.error for r in report.sources):
            # a round where every source was unchanged is kept by its fetch rows alone: a
            # daemon ticking every second must not grow the audit chain with nothing to tell
            await self._db(self._audit_round, report)
        if self.on_round and report.sources:
            self.on_round(report)
        if not final:
            self.report, self.claimed = CheckReport(), 0

    def _audit_round(self, report: CheckReport) -> None:
        with self.store.session() as session:
            audit.record(session, "run", report.summary())

    async def _turn(self, host: str) -> float:
        """Seconds until this worker's next request to `host` may start: its turn on the host,
        shared with every other worker."""
        at = await self._db(self._take_turn, host)
        return (at - utcnow()).total_seconds()

    def _take_turn(self, host: str) -> dt.datetime:
        with self.store.session() as session:
            return leases.take_turn(session, host, now=utcnow(), delay=self.settings.host_delay)

    def _renew_quietly(self) -> None:
        """Renew while a batch is read; a failure waits for the loop's next renewal."""
        try:
            self._renew()
        except Exception as exc:
            print(f"claimwatch: could not renew leases: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    def _renew(self) -> None:
        with self.store.session() as session:
            leases.renew(session, self.owner, utcnow() + dt.timedelta(seconds=self.lease))

    def _end(self) -> None:
        record_quiet(self.store, self.quiet)
        with self.store.session() as session:
            leases.release(session, self.owner)

    async def _pause(self, seconds: float) -> None:
        """Wait up to `seconds`, waking early when asked to stop."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.should_stop():
            await asyncio.sleep(min(0.1, deadline - time.monotonic()))

    async def _db(self, work: Callable[..., Any], *args: Any) -> Any:
        """Database work off the event loop (fetches go on meanwhile), one piece at a time."""
        return await asyncio.to_thread(work, *args)
