"""Starting claimwatch costs only what the command needs: `--version`, `--help` and a
command's `--help` answer without loading the database layer, the config models, the parsers,
the alert channels or the desk, and a `check` with nothing due without any of them either
(`pipeline.idle`), while a check with anything to do still does it all (bench/run.py times
them)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.demo.server import SiteServer

HEAVY = ("sqlalchemy", "pydantic", "lxml", "apprise", "httpx", "fastapi", "rich", "db",
         "alerts", "desk", "feedparser", "pypdf", "trafilatura", "python_calamine", "re2")
PROBE = """
import json, sys
sys.argv = ["claimwatch", *json.loads(sys.argv[1])]
from pipeline.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "--help"],
                                  ["users", "--help"], ["review"]])
def test_the_cli_starts_without_loading_the_library(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=60)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


SOURCES = """\
version: 1
defaults:
  every: 1h
sources:
  office:
    url: {url}
    select: main
{more}factchecks:
  - id: fc
    title: T
    claims:
      - id: holds
        text: The office does not hold people on detainers alone.
        verdict: Supported
        evidence:
          - source: office
            quote: does not hold people on detainers alone
{evidence}"""
PAGE = "<html><body><main><p>The office does not hold people on detainers alone.</p></main>"


def _probe(args: list[str], cwd: Path, **env: str) -> tuple[dict[str, Any], set[str]]:
    """Run the CLI with `args` in a fresh process: its JSON report and the top-level modules
    it loaded."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")} | env
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=environ)
    *report, loaded = done.stdout.strip().splitlines()
    assert done.returncode == 0 and report, done.stderr
    return json.loads("\n".join(report)), set(json.loads(loaded))


@pytest.fixture
def desk(tmp_path: Path, site: SiteServer) -> Path:
    (site.root / "index.html").write_text(PAGE)
    (tmp_path / "sources.yaml").write_text(SOURCES.format(url=site.url("index.html"), more="",
                                                          evidence=""))
    first, _ = _probe(["check", "--json"], tmp_path)
    assert first["checked"] == 1 and first["sources"][0]["status"] == "new"
    return tmp_path


def test_a_check_with_nothing_due_loads_no_library(desk: Path) -> None:
    report, loaded = _probe(["check", "--json"], desk)
    assert report == {"checked": 0, "changed": 0, "errors": 0, "sources": [], "flags": [],
                      "alerts": {"sent": 0, "failed": 0, "pending": 0, "errors": []}}
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert "yaml" not in loaded
    # and as cron runs it, without --json: quiet, exit 0
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    plain = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()",
                            "check"], capture_output=True, text=True, timeout=120, cwd=desk,
                           env=environ)
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, "", "")


def test_the_quick_answer_is_the_libraries_answer(desk: Path) -> None:
    from pipeline import api, idle

    quick = idle.check(desk / "sources.yaml", f"sqlite:///{desk / 'claimwatch.db'}")
    assert quick is not None
    with api.opened(f"sqlite:///{desk / 'claimwatch.db'}") as store:
        full = api.check(store, api.load_config(desk / "sources.yaml"))
    assert quick.to_json() == full.to_json()


def test_anything_to_do_takes_the_whole_run(desk: Path, site: SiteServer) -> None:
    sources = desk / "sources.yaml"
    url = site.url("index.html")
    # a source added to sources.yaml: synced and checked
    sources.write_text(SOURCES.format(url=url, more=f"  other:\n    url: {url}\n", evidence=(
        "          - source: other\n            changes: any\n")))
    report, loaded = _probe(["check", "--json"], desk)
    assert [s["source"] for s in report["sources"]] == ["other"] and "sqlalchemy" in loaded
    assert _probe(["check", "--json"], desk)[0]["checked"] == 0
    # a value from the environment that changed: the configuration may have changed
    sources.write_text(sources.read_text().replace("title: T", "title: ${DESK_TITLE}"))
    assert "sqlalchemy" in _probe(["check", "--json"], desk, DESK_TITLE="One")[1]
    assert "sqlalchemy" not in _probe(["check", "--json"], desk, DESK_TITLE="One")[1]
    assert "sqlalchemy" in _probe(["check", "--json"], desk, DESK_TITLE="Two")[1]
    # a source due, or --all
    assert _probe(["check", "--all", "--json"], desk, DESK_TITLE="Two")[0]["checked"] == 2
    db = sqlite3.connect(desk / "claimwatch.db")
    with db:
        db.execute("UPDATE source SET next_check_at = '2000-01-01 00:00:00.000000' "
                   "WHERE slug = 'office'")
    report, loaded = _probe(["check", "--json"], desk, DESK_TITLE="Two")
    assert [s["source"] for s in report["sources"]] == ["office"]
    # an alert waiting for delivery
    with db:
        db.execute("INSERT INTO alert (alert_id, flag_id, channel, payload, status, attempts, "
                   "next_attempt_at, created_at) SELECT 'x', 999, 'file:a.jsonl', '{}', "
                   "'pending', 0, '2100-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'")
    report, loaded = _probe(["check", "--json"], desk, DESK_TITLE="Two")
    assert report["alerts"]["pending"] == 1 and "sqlalchemy" in loaded


def test_a_desk_that_archives_or_backfills_always_takes_the_whole_run(desk: Path) -> None:
    sources = desk / "sources.yaml"
    text = sources.read_text()
    # a round of public-archive submissions follows every check: never an idle answer
    sources.write_text(text.replace("factchecks:", "archive:\n  endpoint: http://127.0.0.1:9\n"
                                    "  access: ${IA_ACCESS}\n  secret: ${IA_SECRET}\n"
                                    "factchecks:"))
    keys = {"IA_ACCESS": "a", "IA_SECRET": "s"}
    for _ in range(2):
        report, loaded = _probe(["check", "--json"], desk, **keys)
        assert report["checked"] == 0 and "archive" in report and "sqlalchemy" in loaded
    # nor with backfill_from (a new dated fact-check is backfilled before its first check)
    sources.write_text(text.replace("  every: 1h\n", f"  every: 1h\n  backfill_from: {desk}\n"))
    for _ in range(2):
        assert "sqlalchemy" in _probe(["check", "--json"], desk)[1]
    # back to a plain desk: idle again after one sync
    sources.write_text(text)
    _probe(["check", "--json"], desk)
    assert "sqlalchemy" not in _probe(["check", "--json"], desk)[1]
