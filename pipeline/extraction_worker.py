"""Reading what a check fetched, bounded: the CPU-bound part of recording a source (extract its
new body and the baselines its items compare with, evaluate the items, sum up the change) runs
in a worker process, one source at a time per process, killed when it passes the source's
`extract_timeout` and refused memory past `extract_memory` (RLIMIT_AS, where the platform has
it). A page that makes a parser or a diff spin costs its own source a recorded error, never the
run: the other sources of the batch are read by the other workers (or the next one started) and
recorded as usual.

Inputs and outputs are plain picklable data (`Job` in: bytes and options; `Reading` out:
Documents and outcomes), so `read_job` is a pure function the tests and an in-process caller
can run directly. The database stays in the parent: `recorder` gathers the jobs in a read-only
session, runs them here, and writes what came back (it is still the only writer).

The workers are forked (where the platform can fork) once per run and reused batch after
batch, so a small `claimwatch check` pays one fork (milliseconds), not an interpreter start;
a batch of many sources is read by up to one worker per core.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from pipeline import evaluate
from pipeline.config import Evidence, Source
from pipeline.diff import diff
from pipeline.errors import ExtractError
from pipeline.extract import Document
from pipeline.extract import read as read_body

PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent thread ends

try:
    import resource
except ImportError:  # not on this platform: no memory limit, the time limit still holds
    resource = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Body:
    """A fetched or stored body and what its reading depends on besides the source's options."""

    data: bytes
    content_type: str
    url: str
    charset: str | None


@dataclass(frozen=True)
class Job:
    """One source's reading: its current body, the stored bodies its due items compare with
    (snapshot id → body), and the due items as (evidence row id, item, baseline snapshot id or
    None on an item's first evaluation). `current_id` is the current snapshot's id when it is a
    stored one (an unchanged body, re-read under new options), None for new bytes; `previous`
    the snapshot the source had before, summed up against the current one when it was read."""

    source: Source
    current: Body
    current_id: int | None
    baselines: dict[int, Body | None]  # None: the snapshot is gone
    items: tuple[tuple[int, Evidence, int | None], ...]
    previous: int | None = None


@dataclass(frozen=True)
class Reading:
    """What a Job found: the Documents read (or why each could not be), each item's outcome and
    whether it starts from this snapshot (its first evaluation, or a baseline now unreadable),
    and the change in a few words when the previous snapshot was read."""

    current: Document | str
    baselines: dict[int, Document | str] = field(default_factory=dict)
    outcomes: dict[int, tuple[evaluate.Result, bool]] = field(default_factory=dict)
    change: str | None = None


class ReadingFailed(Exception):
    """A bug while reading a source (not the page's doing): its check is not recorded."""


def read_safely(job: Job) -> Reading | str | ReadingFailed:
    """`read_job`, with a page that needs more memory than allowed as the one line saying so
    and a bug in claimwatch as the ReadingFailed to raise where the check is recorded."""
    try:
        return read_job(job)
    except MemoryError:
        return OUT_OF_MEMORY
    except Exception as exc:
        return ReadingFailed(f"{type(exc).__name__}: {exc}")


def read_job(job: Job) -> Reading:
    """Read and evaluate one source (pure: the same Job gives the same Reading)."""
    current = _read(job.current, job.source)
    if isinstance(current, str):
        return Reading(current, outcomes={row_id: (evaluate.error(current), False)
                                          for row_id, _ev, _base in job.items})
    baselines: dict[int, Document | str] = {}
    outcomes = {}
    for row_id, ev, base_id in job.items:
        first = base_id is None
        baseline: Document | None = current
        if base_id is not None and base_id != job.current_id:
            if base_id not in baselines:
                stored = job.baselines.get(base_id)
                baselines[base_id] = "missing" if stored is None else _read(stored, job.source)
            read_base = baselines[base_id]
            # a baseline the current reading cannot read: start again from this snapshot
            baseline = read_base if isinstance(read_base, Document) else None
            first = baseline is None
        outcomes[row_id] = (evaluate.evaluate(ev, current, None if first else baseline), first)
    before = baselines.get(job.previous) if job.previous is not None else None
    change = diff(before, current).summary() if isinstance(before, Document) else None
    return Reading(current, baselines, outcomes, change)


def _read(body: Body, source: Source) -> Document | str:
    try:
        return read_body(body.data, kind=source.kind, content_type=body.content_type,
                         url=body.url, charset=body.charset, select=source.select,
                         ignore=source.ignore, main_content=source.main_content)
    except ExtractError as exc:
        return str(exc)


JOBS_PER_PROCESS = 500  # then a fresh process: no slow growth over a daemon's weeks
OUT_OF_MEMORY = "extraction needed more memory than extract_memory allows"


def took_too_long(seconds: float) -> str:
    """The recorded error of a source whose reading passed its time limit."""
    return f"extraction took over {seconds:g} s"


class Workers:
    """Up to `size` worker processes, started as needed and kept for the next batch.

    `run` reads a batch of Jobs, each under its own time limit; a Job's result is its Reading,
    the one line saying why there is none (it took too long or too much memory, its worker
    died), or the ReadingFailed of a bug."""

    def __init__(self, size: int | None = None, *, memory: int | None = None) -> None:
        self.size = max(1, size or _cores())
        self.memory = memory
        # fork where it is safe with threads in the parent (Linux); spawn elsewhere
        self.context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self.idle: list[_Process] = []
        self.started = False  # a process was started for this run (by `start` or `run`)
        self._lock = threading.Lock()  # `start` may be called from another thread than `run`

    def run(self, jobs: Sequence[Job], limits: Sequence[float],
            heartbeat: Callable[[], None] | None = None, every: float = 20.0
            ) -> list[Reading | str | ReadingFailed]:
        """Read `jobs`, the nth under `limits[n]` seconds; `heartbeat` is called every `every`
        seconds meanwhile (the caller's leases are renewed)."""
        results: list[Reading | str | ReadingFailed | None] = [None] * len(jobs)
        waiting = deque(range(len(jobs)))
        busy: dict[Connection, tuple[_Process, int, float]] = {}
        beat = time.monotonic() + every
        while waiting or busy:
            if heartbeat is not None and time.monotonic() >= beat:
                heartbeat()
                beat = time.monotonic() + every
            while waiting and len(busy) < self.size:
                n = waiting.popleft()
                process = self._take()
                try:
                    process.conn.send(jobs[n])
                except (OSError, ValueError):  # it died while idle: a fresh one takes the job
                    process.kill()
                    waiting.appendleft(n)
                    continue
                busy[process.conn] = (process, n, time.monotonic() + limits[n])
            timeout = max(0.0, min([beat] + [deadline for _p, _n, deadline in busy.values()])
                          - time.monotonic())
            for conn in wait(list(busy), timeout):
                process, n, _deadline = busy.pop(conn)  # type: ignore[call-overload]
                try:
                    results[n] = conn.recv()
                    process.jobs += 1
                    if process.jobs < JOBS_PER_PROCESS:
                        self._give(process)
                    else:  # what a long run's parsers leave behind goes with the process
                        process.kill(wait=False)
                except (EOFError, OSError):
                    results[n] = f"the extraction process ended unexpectedly ({process.kill()})"
            now = time.monotonic()
            for conn, (process, n, deadline) in list(busy.items()):
                if now >= deadline:
                    del busy[conn]
                    process.kill()
                    results[n] = took_too_long(limits[n])
        return [r if r is not None else ReadingFailed("no reading came back") for r in results]

    def start(self) -> None:
        """Start the first process now, unless one was: a check run calls this while it fetches
        sources it will have to read, so that the fork and the process's warming up are off the
        path of the first batch."""
        with self._lock:
            if self.started:
                return
            self.started = True
        self._give(_Process(self.context, self.memory))

    def close(self) -> None:
        """End the idle processes (they hold nothing: killing them is the quick way)."""
        with self._lock:
            idle, self.idle = self.idle, []
        for process in idle:
            process.kill(wait=False)

    def _take(self) -> _Process:
        with self._lock:
            self.started = True
            if self.idle:
                return self.idle.pop()
        return _Process(self.context, self.memory)

    def _give(self, process: _Process) -> None:
        with self._lock:
            self.idle.append(process)


class _Process:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any, memory: int | None) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, memory), daemon=True,
                                       name="claimwatch-extraction")
        self.process.start()
        child.close()
        self.jobs = 0

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(1)
        if self.process.is_alive():
            self.kill()
        self.conn.close()

    def kill(self, *, wait: bool = True) -> str:
        """Kill it and return how it ended (`wait=False`: not waiting to hear it)."""
        self.process.kill()
        self.conn.close()
        if not wait:
            return "killed"
        self.process.join()
        code = self.process.exitcode
        return f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"


def _serve(conn: Connection, memory: int | None) -> None:
    """The worker's loop: a Job in, its Reading (or the one line saying why not) out."""
    gc.freeze()  # what the parent left here is never collected here (nor its connections shut)
    _die_with_parent()
    size = _address_space()
    if memory is not None and size and resource is not None and hasattr(resource, "RLIMIT_AS"):
        limit = size + memory
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(
                resource.RLIMIT_AS)[1]))
    with contextlib.suppress(Exception):  # the parsers' pages, copied now and not on a job's time
        read_job(_WARM_UP)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result = read_safely(job)
        try:
            conn.send(result)
        except MemoryError:
            conn.send(OUT_OF_MEMORY)


_WARM_UP = Job(Source(url="https://example.org/"),
               Body(b"<html><body><p>A page.</p><table><tr><td>1</td></tr></table></body></html>",
                    "text/html", "https://example.org/", "utf-8"), None, {},
               ((0, Evidence(source="s", quote="A page."), None),))


def _die_with_parent() -> None:
    """On Linux, be killed when the parent goes (a daemon abandoning its checks at shutdown
    exits without stopping us): no spinning orphan."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _address_space() -> int:
    """This process's virtual memory size in bytes (what RLIMIT_AS counts), 0 if unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
