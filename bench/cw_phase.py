"""One claimwatch check in a fresh process, as `claimwatch check --all` does it, measured.

    python bench/cw_phase.py --sources-yaml S --db D --out RESULT.json [--profile OUT_STEM]

Runs `api.load_config` + `api.open_db` + `api.check(store, config, everything=True,
settings=FetchSettings(...))` and writes a JSON result: the time of each step, what the sources
came out as, and this process's peak RSS (VmHWM from /proc/self/status: its own high-water mark,
unlike a parent's ru_maxrss of a child, which on Linux carries the parent's peak across exec).

With --profile, the whole thing runs under pyinstrument (a sampling profiler; the run's times are
then not the benchmark's figures) and the result also holds the time per category (fetch,
extraction, evaluation, database, ...) and the hottest functions; the profile's text rendering is
written to OUT_STEM.txt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sysconfig
import time
from collections import Counter
from pathlib import Path
from typing import Any

T0 = time.perf_counter()

# --- categories -------------------------------------------------------------------------------
# A sample is charged to the nearest frame, from the leaf up, that belongs to a category: a
# library call counts where the library belongs (sqlalchemy under sync is database time), and
# claimwatch's own frames where their module belongs. textnorm is evaluation unless it runs
# inside extraction (extractors clean their text with it); anything under an import statement
# is module loading, wherever it happens.
LIBRARIES = {
    "fetch": ("httpx", "httpcore", "anyio", "h11", "h2", "sniffio", "certifi", "idna", "brotli",
              "ssl.py", "socket.py"),
    "extraction": ("bs4", "lxml", "python_calamine", "openpyxl", "pypdf", "feedparser",
                   "soupsieve", "trafilatura", "et_xmlfile", "html5lib", "justext", "courlan",
                   "htmldate", "sgmllib"),
    "evaluation": ("rapidfuzz", "jmespath"),
    "database": ("sqlalchemy", "sqlite3", "zstandard", "psycopg"),
    "config": ("yaml", "pydantic", "pydantic_core"),
}
OWN = {  # claimwatch's modules, relative to the checkout
    "pipeline/fetch.py": "fetch",
    "pipeline/extract/": "extraction",
    "pipeline/evaluate.py": "evaluation",
    "pipeline/textnorm.py": "evaluation",
    "db/": "database",
    "pipeline/config.py": "config",
    "pipeline/sync.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/check.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/screen.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/api.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/diff.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/recorder.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/flags.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/plan.py": "check.py, sync, screen, alerts (own code)",
    "pipeline/source_fetch.py": "fetch",
    "pipeline/snapshots.py": "extraction",
    "alerts/": "check.py, sync, screen, alerts (own code)",
}
IDLE = "network wait (event loop idle)"
LOOP = "asyncio event loop"
IMPORTS = "imports (module loading)"
OTHER = "other"
ORDER = ["fetch", IDLE, "extraction", "evaluation", "database", "config",
         "check.py, sync, screen, alerts (own code)", LOOP, IMPORTS, OTHER]
STDLIB = sysconfig.get_paths()["stdlib"] + "/"


def _where(path: str, own_root: str) -> tuple[str | None, str, str | None]:
    """(category or None, a short module name, the third-party package or None) of a file."""
    if path.startswith(own_root):
        rel = path[len(own_root):]
        for prefix, category in OWN.items():
            if rel.startswith(prefix):
                return category, rel, None
        return None, rel, None
    parts = path.split("/")
    if "site-packages" in parts:
        short = "/".join(parts[parts.index("site-packages") + 1:])
        package = short.split("/")[0].removesuffix(".py")
    else:
        short = path[len(STDLIB):] if path.startswith(STDLIB) else parts[-1]
        package = None
    top = short.split("/")[0].removesuffix(".py")
    for category, libs in LIBRARIES.items():
        if top in libs or short in libs:
            return category, short, package
    if top == "asyncio" or short == "selectors.py":
        return LOOP, short, package
    return None, short, package


def analyse(session: Any, own_root: str) -> dict[str, Any]:
    """Charge each sample's time to a category and to functions: self time, claimwatch
    functions' inclusive time, and calls into third-party packages (inclusive, with caller)."""
    root = session.root_frame()
    by_category: Counter[str] = Counter()
    self_time: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    total = root.time if root is not None else 0.0
    # (frame, python-frame labels root→here, categories root→here, inside an import,
    #  the parent's package, the parent's key)
    stack: list[tuple[Any, tuple[str, ...], tuple[str | None, ...], bool, str | None, str]] = \
        [(root, (), (), False, None, "?")] if root is not None else []
    while stack:
        frame, labels, cats, importing, parent_package, parent_key = stack.pop()
        path = frame.file_path or ""
        category: str | None = None
        package = parent_package
        name = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
        caller = labels[-1] if labels else "?"
        if frame.is_synthetic:  # "[self]" leaves hold their parent's own time
            key = parent_key
        elif path.startswith("<frozen importlib"):
            importing = True
            key = f"{path.strip('<>')}:{name}"
        elif path.startswith("<"):
            key = f"<built-in> {name}  ← {caller}"
        else:
            category, short, package = _where(path, own_root)
            if category == LOOP and short == "selectors.py" and frame.function == "select":
                category = IDLE
            key = f"{short}:{name}"
            if key not in labels:  # recursive functions count once per stack
                inclusive[key] += frame.time
                if package and package != parent_package and not importing:
                    entries[f"{key}  ← {caller}"] += frame.time
            labels = (*labels, key)
        chain = (*cats, category)
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            charged = IMPORTS if importing else _charge(chain)
            by_category[charged] += own
            self_time[(key, charged)] += own
        for child in frame.children:
            stack.append((child, labels, chain, importing, package, key))
    own_code = ("pipeline/", "db/", "alerts/")
    return {
        "total_s": round(total, 3),
        "categories": {c: round(by_category.get(c, 0.0), 3) for c in ORDER},
        "hot_self": [{"function": f, "self_s": round(t, 3), "category": c}
                     for (f, c), t in self_time.most_common(30)],
        "hot_own_inclusive": [{"function": f, "inclusive_s": round(t, 3)}
                              for f, t in inclusive.most_common()
                              if f.startswith(own_code)][:30],
        "hot_lib_calls": [{"function": f, "inclusive_s": round(t, 3)}
                          for f, t in entries.most_common(30)],
    }


def _charge(chain: tuple[str | None, ...]) -> str:
    """The category of a sample whose frames (root → leaf) have these categories."""
    if "config" in chain:  # reading sources.yaml, whatever it calls (selector checks too)
        return "config"
    for category in reversed(chain):
        if category is None:
            continue
        if category == "evaluation" and "extraction" in chain:
            return "extraction"
        return category
    return OTHER


def fetch_settings(cls: Any, agent: str, pairs: list[str]) -> Any:
    """FetchSettings with the benchmark's overrides, each converted to its field's type."""
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name in known:
            overrides[name] = type(getattr(defaults, name))(value)
    return cls(user_agent=agent, **overrides)


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources-yaml", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", help="profile with pyinstrument; write OUT_STEM.txt")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a FetchSettings field (ignored when this claimwatch has no such "
                             "field)")
    args = parser.parse_args()

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()

    t_start = time.perf_counter()
    from pipeline import api
    try:
        from pipeline.source_fetch import user_agent
    except ImportError:  # a commit from before check.py was split (--code-ref)
        from pipeline.check import user_agent  # type: ignore[attr-defined,no-redef]
    from pipeline.fetch import FetchSettings

    try:  # what `claimwatch check` does once the configuration is loaded, and at its exit
        from pipeline.cli import settle
    except ImportError:  # a commit from before it (--code-ref)
        def settle() -> None:
            pass

    t_import = time.perf_counter()
    config = api.load_config(args.sources_yaml)
    settle()
    t_config = time.perf_counter()
    store = api.open_db(args.db)
    t_open = time.perf_counter()
    settings = fetch_settings(FetchSettings, user_agent(config), args.setting)
    try:
        report = api.check(store, config, everything=True, settings=settings)
    finally:
        t_check = time.perf_counter()
        store.close()
    t_end = time.perf_counter()
    if profiler is not None:
        profiler.stop()

    statuses = Counter(s.status for s in report.sources)
    http = Counter(str(s.http_status) for s in report.sources)
    errors = [f"{s.source}: {s.error}" for s in report.sources if s.error][:5]
    result: dict[str, Any] = {
        "checked": len(report.sources),
        "statuses": dict(statuses),
        "http_status": dict(http),
        "flags": len(report.flags),
        "flag_reasons": [f["reason"] for f in report.flags[:5]],
        "errors": errors,
        "times": {"interpreter_start": round(t_start - T0, 3),
                  "import": round(t_import - t_start, 3),
                  "load_config": round(t_config - t_import, 3),
                  "open_db": round(t_open - t_config, 3),
                  "check": round(t_check - t_open, 3),
                  "close": round(t_end - t_check, 3),
                  "in_process": round(t_end - T0, 3)},
        "peak_rss_kib": peak_rss_kib(),
        "code": str(Path(api.__file__).resolve().parent.parent),
        "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "user_agent"},
    }
    if profiler is not None:
        import pipeline

        own_root = str(Path(pipeline.__file__).resolve().parent.parent) + "/"
        session = profiler.last_session
        result["profile"] = analyse(session, own_root)
        Path(f"{args.profile}.txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False))
    Path(args.out).write_text(json.dumps(result, indent=1))
    settle()


if __name__ == "__main__":
    main()
