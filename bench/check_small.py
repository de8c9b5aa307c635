"""What `claimwatch check` costs a desk with a few sources, end to end (issue 14: extraction runs
in a worker process under a time limit, and that must not make a small check slower).

    python bench/check_small.py [--sources 3] [--runs 9] [--code-ref REF]

Serves a few HTML pages on loopback (Python's http.server, in a process of its own), then runs
`claimwatch check --all` as a user does, a fresh process each time, `--runs` times with every
page changed before each run (the full path: store, extract, evaluate) and `--runs` times with
nothing changed (the quiet path: no extraction). Prints the median and the spread of each, in
wall-clock time and in CPU time (the process and its children: what a fork and the pickling
add shows there even on a busy machine). Then the same runs once more inside one process
(`api.check` called again and again: the check alone, without the interpreter's start and the
imports, which dominate the command's time). `--code-ref` measures a git commit of claimwatch
instead of the working tree (a temporary worktree, run with this interpreter).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPHS = 200  # a page of about 20 KB


def page(n: int, version: int) -> str:
    body = "".join(f"<p>Paragraph {i} of page {n}: the figures were revised in version "
                   f"{version if i == 7 else 0}.</p>" for i in range(PARAGRAPHS))
    return f"<html><head><title>Page {n}</title></head><body>{body}</body></html>"


def sources_yaml(url: str, count: int) -> str:
    lines = ["version: 1", "defaults: {host_delay: 0s}", "sources:"]
    lines += [f"  p{n}: {{url: '{url}/p{n}.html'}}" for n in range(count)]
    lines += ["factchecks:", "  - id: fc", "    title: T", "    claims:", "      - id: c",
              "        text: t", "        verdict: v", "        evidence:"]
    lines += [f"          - {{source: p{n}, quote: 'Paragraph 3 of page {n}'}}"
              for n in range(count)]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def served(root: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


@contextlib.contextmanager
def code(ref: str | None) -> Iterator[Path]:
    if ref is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "code"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
                       check=True, capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--code-ref")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    parser.add_argument("--web", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.inner, args.sources, args.runs, args.web)
        return
    with tempfile.TemporaryDirectory() as tmp, code(args.code_ref) as tree:
        work = Path(tmp)
        web = work / "web"
        web.mkdir()
        env = dict(os.environ, PYTHONPATH=str(tree))
        command = [sys.executable, "-c", "from pipeline.cli import main; main()",
                   "--sources", str(work / "sources.yaml"), "--db", str(work / "cw.db"),
                   "check", "--all"]

        def check() -> tuple[float, float]:
            started, cpu = time.perf_counter(), _children_cpu()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            took = time.perf_counter() - started, _children_cpu() - cpu
            if done.returncode not in (0, 1):
                sys.exit(f"claimwatch check failed ({done.returncode}): {done.stderr[-2000:]}")
            return took

        def write(version: int) -> None:
            for n in range(args.sources):
                (web / f"p{n}.html").write_text(page(n, version))

        write(0)
        with served(web) as url:
            (work / "sources.yaml").write_text(sources_yaml(url, args.sources))
            check()  # the database, the first snapshots
            changed = []
            for run in range(1, args.runs + 1):
                write(run)
                changed.append(check())
            unchanged = [check() for _ in range(args.runs)]
            alone = subprocess.run(
                [sys.executable, __file__, "--inner", url, "--sources", str(args.sources),
                 "--runs", str(args.runs), "--web", str(web)],
                env=env, capture_output=True, text=True, check=True)
        what = f"({args.runs} runs of {args.sources} sources, code: " \
               f"{args.code_ref or 'working tree'})"
        for name, runs in (("every page changed", changed), ("nothing changed", unchanged)):
            _show(f"command, {name}", [wall for wall, _cpu in runs], "wall", what)
            _show(f"command, {name}", [cpu for _wall, cpu in runs], "cpu", what)
        for name, times in json.loads(alone.stdout).items():
            _show(f"in process, {name}", times, "wall", what)


def _show(name: str, times: list[float], clock: str, what: str) -> None:
    print(f"{name:34} {clock:4} median {statistics.median(times) * 1000:6.0f} ms  "
          f"min {min(times) * 1000:5.0f}  max {max(times) * 1000:5.0f}  {what}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def inner(url: str, count: int, runs: int, web: Path) -> None:
    """The check alone, `runs` times each way, in this process (the code on PYTHONPATH)."""
    from db import open_store
    from pipeline import api, config
    from pipeline.fetch import FetchSettings

    settings = FetchSettings(user_agent="bench", retries=0, host_delay=0)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'cw.db'}")
        cfg = config.parse(sources_yaml(url, count))

        def timed() -> float:
            started = time.perf_counter()
            api.check(store, cfg, everything=True, settings=settings)
            return time.perf_counter() - started

        timed()
        changed = []
        for run in range(1, runs + 1):
            for n in range(count):
                (web / f"p{n}.html").write_text(page(n, 1000 + run))
            changed.append(timed())
        unchanged = [timed() for _ in range(runs)]
        store.close()
    print(json.dumps({"every page changed": changed, "nothing changed": unchanged}))


if __name__ == "__main__":
    main()
