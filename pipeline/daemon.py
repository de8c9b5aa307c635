"""`claimwatch run`: the long-running service (issue 6). An APScheduler 3.x scheduler runs four
jobs: check the due sources, deliver alerts from the outbox, send new versions to the public
archive (with `archive:`; pipeline/archive.py), and reload sources.yaml when it (or any file of
its directory) changes (a broken edit is reported and the last good config keeps running); with
a signing key, a fifth signs a checkpoint of the audit chain now and then (db/anchor.py); with
`defaults.backfill_from`, another backfills each new dated fact-check before its first check.

Backfill before the first check, as `claimwatch check` does, and taken the same way: while a
dated fact-check awaits its backfill, the check loop leaves its sources alone
(`backfill.held_back`, in the claiming statement), and the backfill job leases all of them at
once and marks it started (`backfill.claim_waiting`, the sources' leases), so one worker
(a daemon or a `check`) backfills it and no live check becomes its baseline first. The leases
are renewed while it runs and let go at its end (`backfill.holding`). A backfill that ends,
even one that loaded nothing or failed (an unreadable `backfill_from`: it is kept as failed,
with its reason), is marked finished, and the check loop takes its sources as they fall
due; one stopped between two versions (SIGTERM), or whose daemon died (its leases run out), is
still started and not finished: the next daemon (or `check`) to claim it resumes it, skipping
the versions already loaded.

Due times live in the database (`source.next_check_at`), so a restart resumes the schedule
instead of re-checking everything, and several daemons on one PostgreSQL database share the work
through the sources' leases (`check.run` claims sources in chunks as they fall due and its slots
free up, so one slow host never holds up the others). On SIGTERM/SIGINT no new check starts;
checks in flight get `grace` seconds to finish, and are then abandoned, which leaves no partial
rows (one transaction per source check); the daemon exits 0.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from alerts.deliver import deliver
from db import Store, anchor, leases, open_store
from pipeline import api, archive
from pipeline import backfill as backfill_stage
from pipeline import check as check_stage
from pipeline import config as config_stage
from pipeline.errors import ConfigError, first_line
from pipeline.recorder import Archived
from pipeline.records import CheckReport, SourceReport
from pipeline.textnorm import printable
from pipeline.vocab import iso


@dataclass(frozen=True)
class Settings:
    tick: float = 1.0  # how often due sources are looked for, seconds
    lease: float = 60.0  # how long a claim on a source lasts unless renewed, seconds
    deliver_every: float = 10.0  # how often the outbox is delivered
    archive_every: float = 30.0  # how often new versions go to the public archive (`archive:`)
    reload_every: float = 2.0  # how often sources.yaml is looked at
    grace: float = 30.0  # how long in-flight checks may finish after SIGTERM
    log_format: str = "text"  # text | json
    audit_key: Path | None = None  # with a signing key: a signed checkpoint of the audit chain
    checkpoint_every: float = 3600.0  # … this often
    checkpoint_file: Path | None = None  # … appended to this anchor file too


class Log:
    """One line per event on a stream: `2026-11-25T08:00:00Z check source=… status=…`, or JSON
    objects with --log-format json for log shippers."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        self.stream, self.fmt = stream, fmt
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        now = iso(dt.datetime.now(dt.UTC))
        if self.fmt == "json":
            line = json.dumps({"ts": now, "event": event, **fields}, ensure_ascii=False,
                              default=str)
        else:
            parts = [f"{k}={_text(v)}" for k, v in fields.items() if v is not None]
            line = " ".join([now, event, *parts])
        with self._lock:
            print(line, file=self.stream, flush=True)


def _text(value: Any) -> str:
    text = printable(value) if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or not text) else text


class Daemon:
    def __init__(self, sources: Path, db_url: str, settings: Settings, log: Log) -> None:
        self.sources, self.settings, self.log = sources, settings, log
        self.config = config_stage.load(sources)  # a broken file at start is a startup error
        self._config_stamp = config_stage.stamp(sources)
        if settings.audit_key is not None:
            anchor.load_private_key(settings.audit_key)  # an unusable key is a startup error
        self.store: Store = open_store(db_url)
        self._stopping = threading.Event()
        self._checking = threading.Lock()
        self._backfilling = threading.Lock()
        self.owner = leases.new_owner("backfill")
        # APScheduler would warn on stderr whenever a tick finds the last check still running;
        # that is expected here, and job failures are logged by `_guarded`
        quiet = logging.getLogger("apscheduler")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(5)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=dt.UTC)

    # --- jobs ------------------------------------------------------------------------------

    def check_loop(self) -> None:
        """Check sources as they fall due until stopped (`check.run` keeps claiming; it syncs
        each configuration `reload` installs). A failure of the loop itself is logged and the
        loop starts again a tick later."""
        with self._checking:
            while not self._stopping.is_set():
                try:
                    check_stage.run(self.store, self.config, config_source=lambda: self.config,
                                    should_stop=self._stopping.is_set, on_progress=self._checked,
                                    on_round=self._round, tick=self.settings.tick,
                                    lease=self.settings.lease, hold_back=backfill_stage.held_back)
                except Exception as exc:  # one bad round must not stop the service
                    self.log("job-failed", job="check_loop", error=first_line(exc))
                    self._stopping.wait(self.settings.tick)

    def backfill_new(self) -> None:
        """With `defaults.backfill_from`: backfill each dated fact-check none of whose items
        was evaluated yet, or whose backfill a daemon left unfinished, holding all its sources
        meanwhile (one worker per fact-check)."""
        with self._backfilling:
            while not self._stopping.is_set():
                config = self.config
                if not config.defaults.backfill_from:
                    return
                claimed = backfill_stage.claim_waiting(
                    self.store, config, self.owner,
                    lease=dt.timedelta(seconds=self.settings.lease))
                if claimed is None:
                    return
                self._backfill(config, claimed)

    def _backfill(self, config: config_stage.Config, claimed: backfill_stage.Claimed) -> None:
        """Backfill one claimed fact-check, its sources leased to this daemon meanwhile and let
        go at the end (`backfill.backfill_claimed`, as `check` does): finished (one that failed
        for anything but the database too, logged), or stopped, to be resumed by the next
        worker that claims it."""
        def version(_source: str, _done: Archived) -> None:
            if self._stopping.is_set():  # between versions: each is a transaction of its own
                raise backfill_stage.Stopped

        try:  # a database error is raised: the backfill stays started, resumed later
            report = backfill_stage.backfill_claimed(
                self.store, config, claimed, dt.timedelta(seconds=self.settings.lease),
                api.backfill_from_defaults(self.store, config, on_version=version))
        except backfill_stage.Stopped:
            self.log("backfill-stopped", factcheck=claimed.factcheck)
            return
        if report.error is not None:  # `backfill_from` names no directory, a bug reading, or
            # an archive that could not list a source's captures (then the others are logged)
            self.log("backfill-failed", factcheck=claimed.factcheck, error=report.error)
        for done in report.sources:
            self.log("backfill", factcheck=report.factcheck, source=done.source,
                     captures=done.captures, loaded=done.loaded, already=done.already,
                     errors=len(done.errors), flags=len(done.flags))
        for flag_id in report.alerted:
            self.log("backfill-alert", factcheck=report.factcheck, flag=flag_id)

    def _round(self, report: CheckReport) -> None:
        data = report.summary()
        self.log("run", checked=data["checked"], changed=data["changed"], new=data["new"],
                 errors=data["error"], flags=len(data["flags"]))

    def _checked(self, source: SourceReport, _total: int) -> None:
        self.log("check", source=source.source, status=source.status,
                 http_status=source.http_status, snapshot=source.snapshot, error=source.error)
        for flag in source.flags:
            self.log("flag", id=flag.id, claim=flag.claim, source=flag.source,
                     outcome=flag.outcome, severity=flag.severity, reason=flag.reason)

    def deliver_alerts(self) -> None:
        report = deliver(self.store, self.config)
        if report.sent or report.failed or report.errors:
            self.log("alerts", sent=report.sent, failed=report.failed, pending=report.pending,
                     errors=report.errors or None)

    def send_archive(self) -> None:
        """A round of public-archive submissions, when sources.yaml has an `archive:` block:
        its own job, so a slow archive never holds up checks or alerts."""
        if self.config.archive is None:
            return
        report = archive.send(self.store, self.config)
        if report.submitted or report.archived or report.failed or report.errors:
            self.log("archive", submitted=report.submitted, archived=report.archived,
                     failed=report.failed, pending=report.pending, held=report.held,
                     errors=report.errors or None)

    def checkpoint(self) -> None:
        assert self.settings.audit_key is not None
        made = api.audit_checkpoint(self.store, self.settings.audit_key,
                                    append=self.settings.checkpoint_file)
        if made is not None:
            self.log("checkpoint", seq=made.seq, hash=made.hash)

    def reload(self) -> None:
        stamp = config_stage.stamp(self.sources)
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            config = config_stage.load(self.sources)
        except ConfigError as exc:
            for problem in exc.problems:
                self.log("config-invalid", problem=problem, keeping="the last good config")
            return
        self.config = config
        self.log("config-reloaded", sources=len(config.sources),
                 claims=sum(1 for _ in config.claims()))

    # --- running ---------------------------------------------------------------------------

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stopping.set())
        now = dt.datetime.now(dt.UTC)
        for job, every in self.jobs():
            self.scheduler.add_job(self._guarded(job), "interval", seconds=every,
                                   next_run_time=now, id=job.__name__)
        self.scheduler.add_job(self.check_loop, next_run_time=now, id="check_loop")
        self.log("started", sources=len(self.config.sources), pid=os.getpid(),
                 db=self.store.engine.url.render_as_string(hide_password=True))
        self.scheduler.start()
        while not self._stopping.wait(0.2):
            pass
        return self._stop()

    def jobs(self) -> list[tuple[Callable[[], None], float]]:
        """The periodic jobs beside the check loop, each with its interval (seconds)."""
        s = self.settings
        found = [(self.deliver_alerts, s.deliver_every), (self.reload, s.reload_every),
                 (self.send_archive, s.archive_every), (self.backfill_new, s.tick)]
        if s.audit_key is not None:
            found.append((self.checkpoint, s.checkpoint_every))
        return found

    def _stop(self) -> int:
        self.log("stopping", grace=self.settings.grace)
        self.scheduler.shutdown(wait=False)
        until = time.monotonic() + self.settings.grace
        for lock in (self._checking, self._backfilling):
            if not lock.acquire(timeout=max(until - time.monotonic(), 0)):
                self.log("stopped", abandoned="checks still running after the grace period")
                sys.stdout.flush()
                os._exit(0)  # the running transactions roll back; their leases expire
            lock.release()
        self.store.close()
        self.log("stopped")
        return 0

    def _guarded(self, job: Callable[[], None]) -> Callable[[], None]:
        """A job's failure is logged as one line; the daemon keeps going."""
        def run() -> None:
            try:
                job()
            except Exception as exc:  # one bad round must not stop the service
                self.log("job-failed", job=job.__name__, error=first_line(exc))
        return run



def run(sources: str, db_url: str, settings: Settings) -> int:
    """Start the daemon (config and database problems at start are ClaimwatchErrors)."""
    return Daemon(Path(sources), db_url, settings, Log(sys.stderr, settings.log_format)).serve()
