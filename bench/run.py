"""claimwatch's benchmark (issue 7): how fast, how big, side by side with urlwatch.

    python bench/run.py --sources 1000 [--skip-urlwatch] [--keep] [--no-profile]

Generates a loopback "web" of N synthetic sources, serves it with nginx on 127.0.0.1-127.0.0.9,
then checks it three times with claimwatch (each check a fresh process on the same fresh SQLite
database) and with urlwatch (its own virtualenv, 10 threads, its own cache): (a) first check,
(b) unchanged re-check (304s), (c) re-check after 10% of the sources changed. Prints speed, peak
RSS, storage, where claimwatch's time goes (a separate pyinstrument run of each phase on a copy
of the database) and the issue's targets with PASS/MISS. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import server
import web
import yaml

BENCH = Path(__file__).resolve().parent
URLWATCH_VENV = BENCH / ".venv-urlwatch"
PROFILER_DIR = BENCH / ".venv-profile" / "site-packages"  # pyinstrument (pip --target)
URLWATCH_REQ = "urlwatch==2.29"
PYINSTRUMENT_REQ = "pyinstrument>=4.6,<6"
MIX = {"html": 0.85, "xlsx": 0.05, "json": 0.05, "feed": 0.05}
PHASES = {"first": "(a) first check", "unchanged": "(b) unchanged re-check",
          "changed": "(c) 10% changed re-check"}
MB = 1024 * 1024
STARTS = 10  # start-up figures are the median of this many fresh processes
CATEGORY_NAMES = {  # cw_phase.py's categories as the report prints them
    "fetch": "fetch (pipeline/fetch.py, httpx, httpcore, anyio)",
    "extraction": "extraction (extract/*, lxml, calamine, ...)",
    "evaluation": "evaluation (evaluate.py, textnorm, rapidfuzz)",
    "database": "database (db/*, sqlalchemy, sqlite3, zstd)",
    "config": "reading sources.yaml (config.py, yaml, pydantic)",
}


def main() -> int:
    args = parse_args()
    if args.sources < 10:
        sys.exit("run.py: --sources must be at least 10")
    nginx = server.find_nginx()
    if nginx is None:
        sys.exit("run.py: nginx not found; install Debian's package first:\n"
                 "  apt-get update && apt-get install -y nginx-light wrk")
    profile = not args.no_profile and ensure_profiler()
    urlwatch_python = None if args.skip_urlwatch else ensure_urlwatch()

    if args.workdir is not None:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=f"claimwatch-bench-{args.sources}-", dir=args.workdir))
    base.chmod(0o755)  # nginx's workers read the web root
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    bench = Bench(args, base, say, profile, urlwatch_python)
    status = 1
    try:
        bench.run(nginx)
        status = 0
    finally:
        bench.stop()
        results = Path(args.results_dir)
        results.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        stem = results / f"run-{args.sources}-{stamp}"
        stem.with_suffix(".txt").write_text("\n".join(out) + "\n")
        stem.with_suffix(".json").write_text(json.dumps(bench.data, indent=1, default=str))
        for name in bench.profiles:
            shutil.copy(base / name, results / f"run-{args.sources}-{stamp}-{name}")
        print(f"\nreport saved to {stem.with_suffix('.txt')} (and .json"
              f"{', profiles' if bench.profiles else ''})")
        if args.keep:
            print(f"kept the web, the databases and the logs in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return status


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", type=int, default=1000, help="how many sources (default 1000)")
    p.add_argument("--skip-urlwatch", action="store_true", help="measure claimwatch only")
    p.add_argument("--keep", action="store_true",
                   help="keep the run's directory (web, databases, logs, profiles)")
    p.add_argument("--no-profile", action="store_true",
                   help="skip the profiled runs (no time shares, no hot spots)")
    p.add_argument("--profile-phases", default="auto",
                   help="which phases to profile: comma-separated of first,unchanged,changed "
                        "(default auto: all three up to 2,000 sources, only 'unchanged' above, "
                        "as a profiled first check of 10,000 takes long)")
    p.add_argument("--changed", type=float, default=0.10,
                   help="share of sources changed for phase (c) (default 0.10)")
    p.add_argument("--hosts", type=int, default=9,
                   help="how many loopback addresses (127.0.0.1, 127.0.0.2, …) to spread the "
                        "sources on (default 9)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--host-delay", type=float, default=0.0,
                   help="claimwatch's FetchSettings.host_delay, seconds between two requests to "
                        "one host (default 0 here: with claimwatch's 1 s and 9 hosts a check "
                        "cannot beat 9 sources/s, which measures the delay, not claimwatch)")
    p.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                   help="another claimwatch FetchSettings field, e.g. per_host_limit=4 (repeat)")
    p.add_argument("--code-ref", metavar="GIT_REF",
                   help="measure this commit of claimwatch (git archive) instead of the working "
                        "tree; either way the code is copied at the start, so edits made "
                        "during the run do not change what is measured")
    p.add_argument("--workdir", help="where to make the run's temporary directory")
    p.add_argument("--results-dir", default=str(BENCH / "results"),
                   help="where to save the report (default bench/results/)")
    return p.parse_args()


# --- tools in the benchmark's own environments -------------------------------------------------


def ensure_urlwatch() -> str:
    """bench/.venv-urlwatch with urlwatch from PyPI (never a claimwatch dependency)."""
    python = URLWATCH_VENV / "bin" / "python"
    if python.exists() and _runs([str(python), "-c", "import urlwatch, lxml, cssselect"]):
        return str(python)
    print(f"creating {URLWATCH_VENV} with {URLWATCH_REQ} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(URLWATCH_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    URLWATCH_REQ], check=True)
    return str(python)


def ensure_profiler() -> bool:
    """pyinstrument in bench/.venv-profile (pip --target), put on the profiled runs' path only."""
    if _runs([sys.executable, "-c", "import pyinstrument"],
             env={**os.environ, "PYTHONPATH": str(PROFILER_DIR)}):
        return True
    print(f"installing {PYINSTRUMENT_REQ} into {PROFILER_DIR} (once) ...", flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", "--upgrade", "--target",
                           str(PROFILER_DIR), PYINSTRUMENT_REQ])
    if done.returncode != 0:
        print("run.py: could not install pyinstrument: no time shares this run", file=sys.stderr)
        return False
    return True


def _runs(cmd: list[str], env: dict[str, str] | None = None) -> bool:
    return subprocess.run(cmd, capture_output=True, env=env).returncode == 0


# --- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, base: Path, say: Any, profile: bool,
                 urlwatch_python: str | None) -> None:
        self.args, self.base, self.say = args, base, say
        wanted = args.profile_phases
        if wanted == "auto":
            wanted = "first,unchanged,changed" if args.sources <= 2000 else "unchanged"
        self.profile_phases = set(wanted.split(",")) if profile else set()
        unknown = self.profile_phases - set(PHASES)
        if unknown:
            sys.exit(f"run.py: --profile-phases: no phase {sorted(unknown)[0]!r}")
        self.urlwatch_python = urlwatch_python
        self.root = base / "web"
        self.hosts = [f"127.0.{i // 254}.{i % 254 + 1}" for i in range(max(2, args.hosts))]
        self.nginx: server.Nginx | None = None
        self.db = base / "claimwatch.db"
        self.data: dict[str, Any] = {"args": vars(args), "claimwatch": {}, "urlwatch": {},
                                     "db": {}, "profile": {}}
        self.code = base / "code"  # the claimwatch code measured, copied at the start
        self.profiles: list[str] = []

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None

    def run(self, nginx_binary: str) -> None:
        args, say = self.args, self.say
        n = args.sources
        started = time.monotonic()
        say(f"claimwatch benchmark: {n:,} sources, seed {args.seed}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{dt.datetime.now():%Y-%m-%d %H:%M}")
        self.data["code"] = snapshot_code(self.code, args.code_ref)
        # as they are now, for the whole run
        for helper in ("cw_phase.py", "rss_wrap.py", "cw_cli.py"):
            shutil.copy(BENCH / helper, self.code / helper)
        say(f"claimwatch code: {self.data['code']}")
        port = server.free_port(self.hosts)
        sources = self.generate(port)
        self.nginx = server.Nginx(nginx_binary, self.base / "nginx", self.root, self.hosts, port)
        self.nginx.start()
        self.server_rate(sources, port)
        self.write_configs(sources, port)
        say("")
        steps = ["claimwatch (a fresh process, timed)"]
        if self.profile_phases:
            steps.append("claimwatch again under the profiler, on a copy of the database")
        if self.urlwatch_python:
            steps.append("urlwatch")
        say("each phase runs " + ", then ".join(steps))
        self.phase("first", n)
        self.phase("unchanged", n)
        changed = self.mutate(sources)
        self.phase("changed", n, changed=changed)
        self.startup()
        self.data["elapsed_s"] = round(time.monotonic() - started, 1)
        self.report(sources, changed)

    # --- the web ---

    def generate(self, port: int) -> list[web.Source]:
        n, seed = self.args.sources, self.args.seed
        sources = web.plan(n, self.hosts, MIX)
        t = time.monotonic()
        jobs = [(seed, s, str(self.root)) for s in sources]
        if n >= 400:
            with ProcessPoolExecutor(max_workers=2) as pool:
                done = list(pool.map(_generate_one, jobs, chunksize=64))
        else:
            done = [_generate_one(job) for job in jobs]
        (self.root / "robots.txt").write_text(  # as news sites have: crawlers welcome, not admin
            "User-agent: *\nDisallow: /admin/\nDisallow: /search\n\n"
            "User-agent: GPTBot\nDisallow: /\n")
        for src, (evidence, title, size, packed) in zip(sources, done, strict=True):
            src.evidence, src.title = evidence, title
            src.size, src.packed = size, packed
        kinds = Counter(s.kind for s in sources)
        html_sizes = [s.size for s in sources if s.kind == "html"]
        total = sum(s.size for s in sources)
        html_packed = sum(s.packed for s in sources if s.kind == "html")
        self.data["web"] = {"kinds": dict(kinds), "bytes": total,
                            "html_mean": statistics.mean(html_sizes) if html_sizes else 0,
                            "html_zstd9_ratio": html_packed / max(1, sum(html_sizes)),
                            "seconds": round(time.monotonic() - t, 1)}
        self.say(f"web: {', '.join(f'{kinds[k]:,} {k}' for k in MIX if kinds[k])} on "
                 f"{len(self.hosts)} loopback hosts ({self.hosts[0]} … {self.hosts[-1]}), "
                 f"{total / MB:.1f} MB, generated in {time.monotonic() - t:.1f} s")
        if html_sizes:
            lo, hi = min(html_sizes) / 1000, max(html_sizes) / 1000
            self.say(f"     html pages {lo:.0f}–{hi:.0f} KB,"
                     f" mean {statistics.mean(html_sizes) / 1000:.1f} KB; alone, zstd -9 packs "
                     f"them to {100 * self.data['web']['html_zstd9_ratio']:.1f}% of raw")
        return sources

    def server_rate(self, sources: list[web.Source], port: int) -> None:
        assert self.nginx is not None
        html = [s for s in sources if s.kind == "html"] or sources
        typical = min(html, key=lambda s: abs(s.size - 82_000))
        url = f"http://127.0.0.1:{port}{typical.path}"
        rate = server.measure(url, typical.size)
        version = subprocess.run([self.nginx.binary, "-v"], capture_output=True,
                                 text=True).stderr.strip().split("/")[-1]
        self.data["nginx"] = vars(rate) | {"version": version}
        self.say(f"nginx {version} (1 worker, {len(self.hosts)} addresses, port {port}): "
                 f"{rate.requests_per_s:,.0f} req/s of a {rate.page_bytes / 1000:.0f} KB page "
                 f"({rate.mb_per_s:,.0f} MB/s), {rate.not_modified_per_s:,.0f} req/s of 304s "
                 f"[{rate.tool}]")

    def write_configs(self, sources: list[web.Source], port: int) -> None:
        config = web.sources_yaml(sources, port)
        (self.base / "sources.yaml").write_text(
            yaml.safe_dump(config, sort_keys=False, width=1000, allow_unicode=True))
        items = sum(len(s.evidence) for s in sources)
        self.data["evidence_items"] = items
        self.say(f"sources.yaml: {len(sources):,} sources, {len(config['factchecks']):,} "
                 f"fact-checks, {items:,} evidence items (quotes in the article, table counts, "
                 f"JSON paths, feed new_items)")
        if self.urlwatch_python:
            uw = self.base / "urlwatch"
            uw.mkdir()
            jobs = web.urlwatch_jobs(sources, port)
            (uw / "urls.yaml").write_text(yaml.safe_dump_all(jobs, sort_keys=False))
            (uw / "urlwatch.yaml").write_text(yaml.safe_dump({
                "display": {"new": True, "error": True, "unchanged": False},
                "report": {"text": {"details": True, "footer": True, "line_length": 75,
                                    "minimal": False},
                           "stdout": {"enabled": True, "color": False}}}))
            (uw / "home").mkdir()

    def mutate(self, sources: list[web.Source]) -> list[web.Source]:
        """Rewrite the changed share of the files in place, as version 2, with a new mtime."""
        n = len(sources)
        k = max(1, round(n * self.args.changed))
        picked = sorted(random.Random(f"{self.args.seed}:changed").sample(range(n), k))
        # urlwatch sends its own last run time as If-Modified-Since, with second precision:
        # the edit must be at least a second later to be seen
        time.sleep(1.2)
        mtime = time.time()
        changed = []
        raw = 0
        for i in picked:
            src = sources[i]
            body = web.render(self.args.seed, src, 2)
            raw += web.write(self.root, src, body, mtime)
            changed.append(src)
        self.data["changed"] = {"count": k, "raw_bytes": raw,
                                "kinds": dict(Counter(s.kind for s in changed))}
        self.say(f"edited {k:,} sources in place ({raw / MB:.1f} MB): one article paragraph, "
                 f"the 'Updated' time and every sidebar of the pages; a row, a record or a new "
                 f"item in the others")
        return changed

    # --- the phases ---

    def phase(self, name: str, n: int, changed: list[web.Source] | None = None) -> None:
        before = db_stats(self.db)
        profile_db = self.base / f"profile-{name}.db"
        if self.profile_phases & {name} and self.db.exists():
            shutil.copy(self.db, profile_db)
        traffic = self.traffic()
        result = self.claimwatch(name, self.db)
        result["nginx"] = self.traffic(traffic)
        after = db_stats(self.db)
        self.data["claimwatch"][name] = result
        self.data["db"][name] = {"before": before, "after": after}
        self.sanity(name, result, n, len(changed or []))
        if name == "first":
            shown = ", ".join(f"{k} {v:g}" for k, v in result["settings"].items()
                              if k in ("global_limit", "per_host_limit", "host_delay"))
            self.say(f"  claimwatch FetchSettings: {shown}")
        t = result["times"]
        self.say(f"  {PHASES[name]:<26} claimwatch {result['wall']:6.2f} s "
                 f"({n / result['wall']:,.0f} sources/s; check {t['check']:.2f} s), "
                 f"peak RSS {result['peak_rss_kib'] / 1024:.0f} MB; {result['nginx']}")
        if name in self.profile_phases:
            profiled = self.claimwatch(name, profile_db, profile=True)
            self.data["profile"][name] = profiled.get("profile", {})
            self.profiles.append(f"profile-{name}.txt")
            profile_db.unlink(missing_ok=True)
            Path(f"{profile_db}-wal").unlink(missing_ok=True)
            Path(f"{profile_db}-shm").unlink(missing_ok=True)
            self.say(f"  {'':<26} profiled run {profiled['wall']:6.2f} s")
        if self.urlwatch_python:
            traffic = self.traffic()
            uw = self.urlwatch(name)
            uw["nginx"] = self.traffic(traffic)
            self.data["urlwatch"][name] = uw
            self.say(f"  {'':<26} urlwatch   {uw['wall']:6.2f} s "
                     f"({n / uw['wall']:,.0f} sources/s), peak RSS "
                     f"{uw['peak_rss_kib'] / 1024:.0f} MB; {uw['nginx']}; {uw['summary']}")

    def traffic(self, before: tuple[int, int] | None = None) -> Any:
        """nginx's counters now; with `before`, what happened since, in words."""
        assert self.nginx is not None
        now = server.counters(self.nginx.port)
        if before is None:
            return now
        connections, requests = now[0] - before[0] - 1, now[1] - before[1] - 1
        return f"nginx served {requests:,} requests on {connections:,} new connections"

    def claimwatch(self, name: str, db: Path, profile: bool = False) -> dict[str, Any]:
        tag = f"{'profile' if profile else 'cw'}-{name}"
        out = self.base / f"{tag}.json"
        cmd = [sys.executable, str(self.code / "cw_phase.py"), "--sources-yaml",
               str(self.base / "sources.yaml"), "--db", f"sqlite:///{db}", "--out", str(out)]
        for setting in [f"host_delay={self.args.host_delay}", *self.args.setting]:
            cmd += ["--setting", setting]
        path = [str(self.code)]  # ahead of the installed (editable) claimwatch
        if profile:
            cmd += ["--profile", str(self.base / f"profile-{name}")]
            path.append(str(PROFILER_DIR))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [*path, *filter(None, [os.environ.get("PYTHONPATH")])])}
        with open(self.base / f"{tag}.log", "wb") as log:
            t, c = time.perf_counter(), children_cpu()
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  cwd=self.base)
            wall, cpu = time.perf_counter() - t, children_cpu() - c
        if done.returncode != 0:
            tail = (self.base / f"{tag}.log").read_text(errors="replace").strip()[-2000:]
            raise RuntimeError(f"claimwatch ({tag}) failed with exit {done.returncode}:\n{tail}")
        result = json.loads(out.read_text())
        if Path(result["code"]) != self.code.resolve():
            raise RuntimeError(f"the claimwatch child imported {result['code']}, not the copy in "
                               f"{self.code}: is PYTHONPATH overridden?")
        result["wall"], result["cpu"] = wall, cpu
        return result

    def urlwatch(self, name: str) -> dict[str, Any]:
        assert self.urlwatch_python is not None
        uw = self.base / "urlwatch"
        out = uw / f"rss-{name}.json"
        home = uw / "home"
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_CACHE_HOME": str(home / ".cache"), "PYTHONPATH": ""}
        cmd = [self.urlwatch_python, str(self.code / "rss_wrap.py"), str(out), "--",
               "--urls", str(uw / "urls.yaml"), "--config", str(uw / "urlwatch.yaml"),
               "--cache", str(uw / "cache.db"), "--hooks", str(uw / "hooks.py")]
        before = file_bytes(uw / "cache.db")
        with open(uw / f"report-{name}.txt", "wb") as log:
            t, c = time.perf_counter(), children_cpu()
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=uw)
            wall, cpu = time.perf_counter() - t, children_cpu() - c
        report = (uw / f"report-{name}.txt").read_text(errors="replace")
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"urlwatch failed with exit {done.returncode}:\n{report[-2000:]}")
        counts = Counter(m.group(1) for m in
                         re.finditer(r"^\d+\. (NEW|CHANGED|ERROR|UNCHANGED)", report, re.M))
        summary = ", ".join(f"{v:,} {k.lower()}" for k, v in sorted(counts.items())) \
            or "nothing reported (all unchanged)"
        return {**json.loads(out.read_text()), "wall": wall, "cpu": cpu,
                "reported": dict(counts),
                "summary": summary, "cache_before": before, "cache_after":
                file_bytes(uw / "cache.db")}

    def sanity(self, name: str, result: dict[str, Any], n: int, changed: int) -> None:
        """Warn when a phase did not do what it is meant to measure."""
        statuses, http = result["statuses"], result["http_status"]
        want = {"first": {"new": n}, "unchanged": {"unchanged": n},
                "changed": {"changed": changed, "unchanged": n - changed}}[name]
        problems = []
        if {k: v for k, v in statuses.items() if v} != want:
            problems.append(f"statuses {statuses}, expected {want}")
        if name == "unchanged" and http.get("304", 0) != n:
            problems.append(f"HTTP statuses {http}: expected {n:,} 304s")
        if result["flags"]:
            problems.append(f"{result['flags']} flags opened, e.g. {result['flag_reasons'][:2]}")
        if result["errors"]:
            problems.append(f"errors, e.g. {result['errors'][:2]}")
        for p in problems:
            self.say(f"  WARNING {PHASES[name]}: {p}")

    # --- start-up ---

    def startup(self) -> None:
        """`--version` and a `check` with nothing due (every source was just checked, `every:
        1h`), each a fresh process, median of STARTS after one warm-up; urlwatch's `--version`
        and a run of an empty job list beside them."""
        cw_env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(self.code), *filter(None, [os.environ.get("PYTHONPATH")])])}
        cli = [sys.executable, str(self.code / "cw_cli.py")]
        where = ["--sources", str(self.base / "sources.yaml"), "--db", f"sqlite:///{self.db}"]
        runs = {"version": [*cli, "--version"], "nothing_due": [*cli, *where, "check"]}
        done = subprocess.run([*cli, *where, "check", "--json"], capture_output=True, text=True,
                              env=cw_env, cwd=self.base)
        checked = json.loads(done.stdout or "{}").get("checked") if done.returncode == 0 else None
        if checked != 0:
            self.say(f"  WARNING start-up: 'check' with nothing due checked {checked} sources "
                     f"(exit {done.returncode}: {done.stderr.strip()[-300:]})")
        cw = {name: timed(cmd, cw_env, self.base) for name, cmd in runs.items()}
        for name, cmd in runs.items():  # once more, for the peak RSS (cw_cli.py records it)
            out = self.base / f"startup-{name}.json"
            subprocess.run(cmd, capture_output=True, cwd=self.base,
                           env={**cw_env, "CW_RSS_OUT": str(out)})
            cw[name]["peak_rss_kib"] = json.loads(out.read_text())["peak_rss_kib"]
        self.data["startup"] = {"claimwatch": cw}
        line = (f"start-up (median of {STARTS}, fresh processes): claimwatch --version "
                f"{cw['version']['median']:.3f} s ({cw['version']['peak_rss_kib'] / 1024:.0f} MB), "
                f"check with nothing due {cw['nothing_due']['median']:.3f} s "
                f"({cw['nothing_due']['peak_rss_kib'] / 1024:.0f} MB)")
        if self.urlwatch_python:
            uw_dir = self.base / "urlwatch"
            (uw_dir / "empty.yaml").write_text("")
            home = uw_dir / "home"
            env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                   "XDG_CACHE_HOME": str(home / ".cache"), "PYTHONPATH": ""}
            wrap = [self.urlwatch_python, str(self.code / "rss_wrap.py")]
            files = ["--config", str(uw_dir / "urlwatch.yaml"), "--cache",
                     str(uw_dir / "cache-empty.db"), "--hooks", str(uw_dir / "hooks.py")]
            uw_runs = {"version": ["--version"],
                       "nothing_due": ["--urls", str(uw_dir / "empty.yaml"), *files]}
            uw = {}
            for name, args in uw_runs.items():
                out = uw_dir / f"startup-{name}.json"
                uw[name] = timed([*wrap, str(out), "--", *args], env, uw_dir)
                uw[name]["peak_rss_kib"] = json.loads(out.read_text())["peak_rss_kib"]
            self.data["startup"]["urlwatch"] = uw
            line += (f"; urlwatch --version {uw['version']['median']:.3f} s, an empty job list "
                     f"{uw['nothing_due']['median']:.3f} s")
        self.say(line)

    # --- the report ---

    def report(self, sources: list[web.Source], changed: list[web.Source]) -> None:
        say, d, n = self.say, self.data, self.args.sources
        cw, uw = d["claimwatch"], d["urlwatch"]
        say("")
        say("=" * 100)
        kinds = ", ".join(f"{v:,} {k}" for k, v in d["web"]["kinds"].items())
        say(f"RESULTS: {n:,} sources ({kinds}), {len(changed):,} changed in (c); "
            f"wall = whole process, start to exit")
        say("=" * 100)
        head = f"{'':<26}{'claimwatch':>34}"
        if uw:
            head += f"   {'urlwatch 2.29, 10 threads':>30}   {'speed-up':>9}"
        say(head)
        say(f"{'phase':<26}{'wall':>9}{'sources/s':>11}{'peak RSS':>14}"
            + (f"   {'wall':>9}{'sources/s':>11}{'peak RSS':>10}   {'uw / cw':>9}" if uw else ""))
        for name, label in PHASES.items():
            c = cw[name]
            line = (f"{label:<26}{c['wall']:>7.2f} s{n / c['wall']:>11,.0f}"
                    f"{c['peak_rss_kib'] / 1024:>11.0f} MB")
            if uw:
                u = uw[name]
                line += (f"   {u['wall']:>7.2f} s{n / u['wall']:>11,.0f}"
                         f"{u['peak_rss_kib'] / 1024:>7.0f} MB   {u['wall'] / c['wall']:>8.2f}x")
            say(line)
        say("claimwatch inside its process: " + "; ".join(
            f"{PHASES[p][:3]} import {cw[p]['times']['import']:.2f} s, sources.yaml "
            f"{cw[p]['times']['load_config']:.2f} s, api.check {cw[p]['times']['check']:.2f} s "
            f"({1000 * cw[p]['times']['check'] / n:.1f} ms/source)" for p in PHASES))
        ref = 500 / n
        if uw:
            say("urlwatch reference on this machine class (500 pages of ~82 KB): 5.3 / 1.3 / "
                "2.0 s; scaled to 500 here: "
                + " / ".join(f"{uw[p]['wall'] * ref:.1f}" for p in PHASES) + " s")

        # storage
        db = d["db"]
        size = {p: db[p]["after"]["bytes"] for p in PHASES}
        k = len(changed)
        per_unchanged = (size["unchanged"] - size["first"]) / n
        per_changed = (size["changed"] - size["unchanged"] - per_unchanged * (n - k)) / k
        blob_added = db["changed"]["after"]["blob_bytes"] - db["changed"]["before"]["blob_bytes"]
        blobs_new = db["changed"]["after"]["blobs"] - db["changed"]["before"]["blobs"]
        raw_changed = d["changed"]["raw_bytes"]
        blob_first = db["first"]["after"]["blob_bytes"]
        raw_first = db["first"]["after"]["blob_raw"]
        d["storage"] = {"per_unchanged": per_unchanged, "per_changed": per_changed,
                        "blob_per_changed": blob_added / k, "raw_per_changed": raw_changed / k,
                        "first_db": size["first"], "first_blob": blob_first,
                        "first_raw": raw_first}
        say("")
        say("storage (SQLite file after PRAGMA wal_checkpoint(TRUNCATE); urlwatch: its cache.db)")
        say(f"  claimwatch after (a): {size['first'] / MB:.1f} MB for {raw_first / MB:.1f} MB of "
            f"bodies (blobs {blob_first / MB:.1f} MB = {100 * blob_first / raw_first:.1f}% of raw)"
            f"; rows: {fmt_rows(db['first']['after']['rows'])}")
        say(f"  claimwatch per unchanged check: {per_unchanged:,.0f} bytes "
            f"(rows added by (b): {fmt_rows(diff_rows(db['unchanged']))})")
        say(f"  claimwatch per changed check:   {per_changed:,.0f} bytes = "
            f"{100 * per_changed / (raw_changed / k):.1f}% of the page's raw "
            f"{raw_changed / k / 1000:.1f} KB (blob alone {blob_added / max(1, blobs_new):,.0f} "
            f"bytes = {100 * blob_added / raw_changed:.1f}%); rows added by (c): "
            f"{fmt_rows(diff_rows(db['changed']))}")
        if uw:
            us = {p: uw[p]["cache_after"] for p in PHASES}
            u_unch = (us["unchanged"] - us["first"]) / n
            u_ch = (us["changed"] - us["unchanged"] - u_unch * (n - k)) / k
            d["storage"] |= {"uw_first": us["first"], "uw_per_unchanged": u_unch,
                             "uw_per_changed": u_ch}
            say(f"  urlwatch after (a): {us['first'] / MB:.1f} MB (it keeps the filtered text, "
                f"not the page); per unchanged check {u_unch:,.0f} bytes; per changed check "
                f"{u_ch:,.0f} bytes")
            say(f"  ratios claimwatch / urlwatch: after (a) {size['first'] / us['first']:.2f}x, "
                f"per unchanged check "
                f"{ratio(per_unchanged, u_unch)}, per changed check {ratio(per_changed, u_ch)}")

        self.report_summary(n)
        self.report_profiles()
        self.report_targets(n)
        say(f"\n(total benchmark time {d['elapsed_s']:.0f} s)")

    def report_summary(self, n: int) -> None:
        """Every headline figure in one table, with urlwatch's and the ratio."""
        d, say = self.data, self.say
        cw, uw, st, up = d["claimwatch"], d["urlwatch"], d["storage"], d["startup"]
        rows: list[tuple[str, str, str, str]] = []

        def secs(x: float) -> str:
            return f"{x:.3f} s" if x < 1 else f"{x:.2f} s"

        def seconds(label: str, mine: float, theirs: float | None) -> None:
            rows.append((label, secs(mine), "" if theirs is None else secs(theirs),
                         "" if theirs is None else f"{theirs / mine:.2f}x"))

        for p in PHASES:
            seconds(PHASES[p], cw[p]["wall"], uw[p]["wall"] if uw else None)
        for p in PHASES:
            seconds(f"{PHASES[p]}, CPU (user+sys)", cw[p]["cpu"], uw[p]["cpu"] if uw else None)
        size = d["db"]["changed"]["after"]["bytes"]
        uw_size = uw["changed"]["cache_after"] if uw else None
        rows.append(("database on disk after (c)", f"{size / MB:.1f} MB",
                     "" if uw_size is None else f"{uw_size / MB:.1f} MB",
                     "" if not uw_size else f"{uw_size / size:.2f}x"))
        share = st["per_changed"] / st["raw_per_changed"]
        rows.append(("stored per changed page", f"{100 * share:.1f}% of raw", "", ""))
        uws = up.get("urlwatch")
        seconds(f"start-up: --version (median of {STARTS})", up["claimwatch"]["version"]["median"],
                uws["version"]["median"] if uws else None)
        seconds(f"start-up: check, nothing due (median of {STARTS})",
                up["claimwatch"]["nothing_due"]["median"],
                uws["nothing_due"]["median"] if uws else None)
        seconds("start-up: --version, CPU", up["claimwatch"]["version"]["cpu"],
                uws["version"]["cpu"] if uws else None)
        seconds("start-up: check, nothing due, CPU", up["claimwatch"]["nothing_due"]["cpu"],
                uws["nothing_due"]["cpu"] if uws else None)
        peak = max(cw[p]["peak_rss_kib"] for p in PHASES)
        uw_peak = max(uw[p]["peak_rss_kib"] for p in PHASES) if uw else None
        rows.append(("peak RSS, max over the phases", f"{peak / 1024:.0f} MB",
                     "" if uw_peak is None else f"{uw_peak / 1024:.0f} MB",
                     "" if not uw_peak else f"{uw_peak / peak:.2f}x"))
        rows.append(("peak RSS, --version / check nothing due",
                     f"{up['claimwatch']['version']['peak_rss_kib'] / 1024:.0f} / "
                     f"{up['claimwatch']['nothing_due']['peak_rss_kib'] / 1024:.0f} MB",
                     "" if not uws else f"{uws['version']['peak_rss_kib'] / 1024:.0f} / "
                     f"{uws['nothing_due']['peak_rss_kib'] / 1024:.0f} MB", ""))
        d["summary"] = [dict(zip(("figure", "claimwatch", "urlwatch", "uw / cw"), r, strict=True))
                        for r in rows]
        say("")
        load = os.getloadavg()[0]
        say(f"summary at {n:,} sources (uw / cw above 1: claimwatch is faster or smaller; "
            "urlwatch's 'nothing due' is a run of an empty job list; load average now "
            f"{load:.1f} on {os.cpu_count()} cores: on a busy machine compare the CPU rows)")
        say(f"  {'':<46}{'claimwatch':>16}{'urlwatch':>16}{'uw / cw':>10}")
        for label, mine, theirs, r in rows:
            say(f"  {label:<46}{mine:>16}{theirs:>16}{r:>10}")

    def report_profiles(self) -> None:
        prof = self.data["profile"]
        if not prof:
            return
        say = self.say
        phases = [p for p in PHASES if p in prof]
        say("")
        say("where claimwatch's time goes (pyinstrument, 1 ms samples, a separate run of each "
            "phase on a copy of the database;")
        say("each sample charged to the nearest frame from the leaf up that belongs to a "
            "category; % of that run's total)")
        say(f"  {'category':<52}" + "".join(f"{PHASES[p][:3] + ' ' + p:>18}" for p in phases))
        categories = list(prof[phases[0]]["categories"])
        for c in categories:
            cells = []
            for p in phases:
                total = prof[p]["total_s"] or 1
                t = prof[p]["categories"].get(c, 0)
                cells.append(f"{100 * t / total:>9.1f}% {t:>6.2f}s")
            say(f"  {CATEGORY_NAMES.get(c, c):<52}" + "".join(f"{x:>18}" for x in cells))
        say(f"  {'total (profiled, with overhead)':<52}"
            + "".join(f"{prof[p]['total_s']:>17.2f}s" for p in phases))
        for p in phases:
            hot = prof[p]
            say("")
            say(f"hot spots, {PHASES[p]}: self time (where the CPU is)")
            for h in hot["hot_self"][:15]:
                say(f"  {h['self_s']:>7.2f}s {100 * h['self_s'] / hot['total_s']:>5.1f}%  "
                    f"{h['function'][:92]}  [{h['category']}]")
            say("  claimwatch functions, inclusive time:")
            for h in hot["hot_own_inclusive"][:16]:
                say(f"  {h['inclusive_s']:>7.2f}s {100 * h['inclusive_s'] / hot['total_s']:>5.1f}%"
                    f"  {h['function'][:110]}")
            say("  calls into libraries (inclusive time, with the caller):")
            for h in hot["hot_lib_calls"][:12]:
                say(f"  {h['inclusive_s']:>7.2f}s {100 * h['inclusive_s'] / hot['total_s']:>5.1f}%"
                    f"  {h['function'][:100]}")

    def report_targets(self, n: int) -> None:
        d, say = self.data, self.say
        cw, uw, st = d["claimwatch"], d["urlwatch"], d["storage"]
        at_10k = n >= 10_000
        note = "" if at_10k else f"  (measured at {n:,}; the target is set at 10,000)"
        rows: list[tuple[str, str, str, bool | None, str]] = []
        if uw:
            for p, want in (("first", 2), ("unchanged", 5), ("changed", 2)):
                got = uw[p]["wall"] / cw[p]["wall"]
                rows.append((f"speed vs urlwatch, {PHASES[p]}", f"{got:.2f}x", f">= {want}x",
                             got >= want, ""))
        if uw:
            size, uw_size = d["db"]["changed"]["after"]["bytes"], uw["changed"]["cache_after"]
            rows.append(("database on disk after (c), vs urlwatch",
                         f"{size / uw_size:.2f}x", "<= 1x", size <= uw_size, ""))
        up = d["startup"]["claimwatch"]
        for name, label, want in (("version", "start-up, --version", 0.15),
                                  ("nothing_due", "start-up, check with nothing due", 0.35)):
            got = up[name]["median"]
            rows.append((label, f"{got:.3f} s", f"<= {want} s", got <= want,
                         f"  (median of {STARTS})"))
        rate = n / cw["unchanged"]["wall"]
        rows.append(("unchanged re-check rate", f"{rate:,.0f} sources/s", ">= 1,500/s",
                     rate >= 1500, note))
        peak = max(cw[p]["peak_rss_kib"] for p in PHASES) / 1024
        rows.append(("peak RSS (max over phases)", f"{peak:.0f} MB", "<= 200 MB", peak <= 200,
                     note))
        rows.append(("database per unchanged check", f"{st['per_unchanged']:,.0f} bytes",
                     "<= 300 bytes", st["per_unchanged"] <= 300, ""))
        share = st["per_changed"] / st["raw_per_changed"]
        rows.append(("stored per changed page (DB growth)", f"{100 * share:.1f}% of raw",
                     "<= 30%", share <= 0.30,
                     f"  (blob alone {100 * st['blob_per_changed'] / st['raw_per_changed']:.1f}%)"))
        d["targets"] = [{"target": r[0], "got": r[1], "want": r[2], "pass": r[3]} for r in rows]
        say("")
        say("targets (issues 7 and 15)")
        for label, got, want, ok, extra in rows:
            verdict = "PASS" if ok else "MISS"
            say(f"  {verdict}  {label:<45}{got:>16}   target {want:<12}{extra}")


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """`cmd` run STARTS times after one warm-up, each a fresh process: wall times in seconds."""
    walls, cpus = [], []
    for i in range(STARTS + 1):
        t, c = time.perf_counter(), children_cpu()
        done = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd)
        if i:
            walls.append(time.perf_counter() - t)
            cpus.append(children_cpu() - c)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed with exit {done.returncode}:\n"
                               f"{done.stderr.decode(errors='replace')[-2000:]}")
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "cpu": statistics.median(cpus)}


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far: a figure the
    other jobs of a busy machine move much less than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _generate_one(job: tuple[int, web.Source, str]) -> tuple[list[dict[str, Any]], str, int, int]:
    import zstandard

    seed, src, root = job
    body = web.render(seed, src, 1)
    size = web.write(Path(root), src, body)
    packed = len(zstandard.ZstdCompressor(level=9).compress(body)) if src.kind == "html" else 0
    return src.evidence, src.title, size, packed


def snapshot_code(dest: Path, ref: str | None) -> str:
    """Copy claimwatch's packages (the working tree, or `ref` from git) to `dest`; describe it."""
    repo = BENCH.parent
    packages = ("pipeline", "db", "alerts")
    dest.mkdir(parents=True)
    if ref:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", ref],
                             capture_output=True, text=True, check=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha,
                                  *packages], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        return f"commit {sha} ({ref}), copied to the run's directory"
    for package in packages:
        shutil.copytree(repo / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return f"working tree at {code_state()}, copied at the start"


def code_state() -> str:
    """The commit claimwatch was measured at, and whether its code had uncommitted edits."""
    repo = BENCH.parent
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--",
                                "pipeline", "db", "alerts", "pyproject.toml"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {sha}" + (f" + uncommitted changes in {len(dirty)} files of pipeline/, db/, "
                              f"alerts/" if dirty else "")


# --- measuring storage -------------------------------------------------------------------------


def file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
               if p.exists())


def db_stats(path: Path) -> dict[str, Any]:
    """The database file's size after a WAL checkpoint, its rows per table and blob bytes."""
    empty = {"bytes": 0, "rows": {}, "blobs": 0, "blob_bytes": 0, "blob_raw": 0}
    if not path.exists():
        return empty
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        blobs, packed, raw = con.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(sum(size), 0) FROM blob"
        ).fetchone() if "blob" in tables else (0, 0, 0)
    finally:
        con.close()
    return {"bytes": file_bytes(path), "rows": rows, "blobs": blobs, "blob_bytes": packed,
            "blob_raw": raw}


def diff_rows(phase: dict[str, Any]) -> dict[str, int]:
    before, after = phase["before"]["rows"], phase["after"]["rows"]
    return {t: after[t] - before.get(t, 0) for t in after if after[t] - before.get(t, 0)}


def fmt_rows(rows: dict[str, int]) -> str:
    return ", ".join(f"{t} {v:,}" for t, v in rows.items() if v) or "none"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else f"{a:,.0f} vs {b:,.0f} bytes"


if __name__ == "__main__":
    sys.exit(main())
