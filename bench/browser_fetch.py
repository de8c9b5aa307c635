"""The cost of `fetch: browser` (issue 16): a check of one source, rendered vs plain.

Each run is a fresh process doing what `claimwatch check` does for one source on a new database
(so a rendered run includes launching Chromium, as a cron check does), on a loopback page of
~80 KB whose quoted sentence its script inserts from a JSON file. Reported: the median wall
time of the check and the peak resident memory of the whole process tree (claimwatch, and for
`browser` Playwright's driver and Chromium's processes), sampled every 20 ms from /proc, as
resident sizes summed (RSS: shared pages counted in every process) and as proportional set sizes
(PSS: what `defaults.browser_memory` is compared with). Then,
in one process, renderings after the first (a daemon's browser is already running).

    python bench/browser_fetch.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The Sheriff's Office does not work with any agency on civil immigration enforcement."
FILLER = "<p>" + "Local news paragraph with ordinary words about the county board. " * 12 + "</p>"
PAGE = ("<!doctype html><html><head><title>Statement</title></head><body><main>"
        "<h1>Sheriff's statement</h1><p id='statement'>Loading…</p>" + FILLER * 100 +
        "</main><script>fetch('statement.json').then(r => r.json()).then(d => {"
        "document.getElementById('statement').textContent = d.text; });</script></body></html>")


def tree_memory(root: int) -> tuple[int, int]:
    """RSS and PSS bytes of `root` and every process below it."""
    parent, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        parent[int(name)], rss[int(name)] = int(fields[1]), int(fields[21]) * page
    total, pss, queue = 0, 0, [root]
    while queue:
        pid = queue.pop()
        total += rss.get(pid, 0)
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss += next(int(x.split()[1]) * 1024 for x in rollup.splitlines()
                        if x.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
        queue += [child for child, up in parent.items() if up == pid]
    return total, pss


CHILD = """
import sys, time
from pipeline import api, config
mode, url, db = sys.argv[1:4]
cfg = config.parse(f'''version: 1
sources:
  s: {{url: "{url}", select: main, fetch: {mode}}}
factchecks:
  - id: fc
    title: t
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
          - {{source: s, quote: "does not work with any agency on civil immigration"}}
''')
store = api.open_db(db)
started = time.monotonic()
report = api.check(store, cfg, everything=True)
spent = time.monotonic() - started
print(spent, report.sources[0].status, len(report.flags), report.sources[0].error, flush=True)
"""

WARM = """
import asyncio, sys, time
from pipeline.browser_fetch import Browser
from pipeline.fetch import Fetcher, FetchSettings
url, n = sys.argv[1], int(sys.argv[2])
async def main():
    async with Fetcher(FetchSettings(host_delay=0)) as fetcher, Browser(fetcher) as browser:
        times = []
        for _ in range(n):
            t = time.monotonic()
            served = await fetcher.fetch(url, obey_robots=False)
            got = await browser.render(served, source_url=url, timeout=30, max_bytes=20 << 20)
            assert got.ok, got.error
            times.append(time.monotonic() - t)
        print(" ".join(f"{x:.3f}" for x in times))
asyncio.run(main())
"""


def measure(args: list[str]) -> tuple[str, int, int]:
    """Run a child process; return its output and its tree's peak RSS and PSS."""
    proc = subprocess.Popen([sys.executable, "-c", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    peak = peak_pss = 0
    while proc.poll() is None:
        rss, pss = tree_memory(proc.pid)
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        time.sleep(0.02)
    out = proc.stdout.read() if proc.stdout else ""
    return out.strip(), peak, peak_pss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "index.html").write_text(PAGE)
        (root / "statement.json").write_text(json.dumps({"text": SENTENCE}))
        server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind",
                                   "127.0.0.1", "--directory", str(root)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline() if server.stdout else ""
            port = int(line.split("port ")[1].split()[0])
            url = f"http://127.0.0.1:{port}/index.html"
            print(f"page: {len(PAGE.encode()) // 1024} KB; {runs} runs each, alternated")
            results: dict[str, list[tuple[float, int, int, str]]] = {"http": [], "browser": []}
            for n in range(runs):
                for mode in ("http", "browser"):
                    out, rss, pss = measure([CHILD, mode, url, f"sqlite:///{root}/{mode}{n}.db"])
                    spent, status, flags, *_error = out.split(" ", 3)
                    results[mode].append((float(spent), rss, pss, f"{status} flags={flags}"))
            for mode, got in results.items():
                times = sorted(t for t, *_x in got)
                rss = sorted(r for _t, r, _p, _s in got)
                pss = sorted(p for _t, _r, p, _s in got)
                print(f"{mode:8} check: median {statistics.median(times):.2f} s "
                      f"(min {times[0]:.2f}, max {times[-1]:.2f}); peak of the process tree: "
                      f"RSS median {statistics.median(rss) / 2**20:.0f} MB (max "
                      f"{rss[-1] / 2**20:.0f}), PSS median {statistics.median(pss) / 2**20:.0f}"
                      f" MB (max {pss[-1] / 2**20:.0f}); {got[0][3]}")
            out, rss_peak, pss_peak = measure([WARM, url, "10"])
            warm = [float(x) for x in out.split()]
            print(f"browser, one process, 10 pages: first {warm[0]:.2f} s (launch included), "
                  f"then median {statistics.median(warm[1:]):.2f} s a page; peak RSS "
                  f"{rss_peak / 2**20:.0f} MB, PSS {pss_peak / 2**20:.0f} MB")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
