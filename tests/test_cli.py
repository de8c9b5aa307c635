"""The installed `claimwatch` command as cron and scripts use it (a real subprocess): SPEC §2 exit
codes, JSON on stdout and nothing else, one-line errors on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.demo.server import SiteServer

PAGE = ("<html><body><main><p>The office does not hold people on ICE detainers alone.</p>"
        "<p>{extra}</p></main></body></html>")


def claimwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path, site: SiteServer) -> Path:
    (site.root / "index.html").write_text(PAGE.format(extra="First version."))
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
sources:
  office:
    url: {site.url("index.html")}
    select: main
factchecks:
  - id: fc
    title: T
    claims:
      - id: no-detainer-holds
        text: The office does not hold people on detainers alone.
        verdict: Supported
        evidence:
          - source: office
            quote: does not hold people on ICE detainers alone
          - source: office
            changes: any
""")
    return tmp_path


def test_check_json_flags_and_diff(project: Path, site: SiteServer) -> None:
    first = claimwatch("check", "--json", cwd=project)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)  # stdout is the JSON and nothing else
    assert (report["checked"], report["changed"], report["errors"]) == (1, 0, 0)
    assert report["sources"][0]["status"] == "new" and report["flags"] == []
    assert (project / "claimwatch.db").exists(), "the default database is ./claimwatch.db"

    (site.root / "index.html").write_text(PAGE.format(extra="Second version."))
    second = json.loads(claimwatch("check", "--all", "--json", cwd=project).stdout)
    assert second["changed"] == 1
    [flag] = second["flags"]
    assert set(flag) == {"id", "claim", "factcheck", "source", "outcome", "severity", "reason",
                         "opened_at"}
    assert (flag["outcome"], flag["severity"]) == ("broken", "high")
    assert flag["opened_at"].endswith("Z")

    listed = json.loads(claimwatch("flags", "--json", cwd=project).stdout)
    assert listed == {"flags": [{**flag, "status": "open"}]}

    diff = claimwatch("diff", "office", cwd=project)
    assert diff.returncode == 0
    assert "-First version." in diff.stdout and "+Second version." in diff.stdout
    assert "\x1b[" not in diff.stdout, "no colour codes when stdout is not a terminal"


def test_cron_run_is_silent_when_nothing_happened(project: Path) -> None:
    assert claimwatch("check", cwd=project).stdout == ""
    quiet = claimwatch("check", "--all", cwd=project)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_bad_input_exits_2_with_one_line_per_problem(project: Path) -> None:
    (project / "bad.yaml").write_text("version: 1\nsources:\n  x:\n    url: nope\n")
    bad = claimwatch("--sources", "bad.yaml", "check", cwd=project)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "bad.yaml:4: sources.x.url: 'nope' is not an http(s) URL"
    missing = claimwatch("--sources", "missing.yaml", "validate", cwd=project)
    assert (missing.returncode, missing.stderr.strip()) == (2, "missing.yaml: file not found")
    unknown = claimwatch("check", "--source", "nope", cwd=project)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "claimwatch: unknown source 'nope': it is not in sources.yaml"
    no_snapshot = claimwatch("diff", "office", cwd=project)
    assert no_snapshot.returncode == 2 and "no snapshot yet" in no_snapshot.stderr
    assert claimwatch("check", "--bogus", cwd=project).returncode == 2


def test_an_unusable_database_is_one_line_exit_1(project: Path) -> None:
    (project / "dir.db").mkdir()
    result = claimwatch("--db", "sqlite:///dir.db", "flags", cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("claimwatch: cannot open database")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_regex_the_engine_refuses_is_one_line_on_stderr(project: Path) -> None:
    """RE2 logs a bad pattern on stderr itself; only claimwatch's line may appear."""
    (project / "re.yaml").write_text("version: 1\nsources:\n  x:\n    url: http://127.0.0.1:9/\n"
                                     "    ignore: ['Updated(?=:)']\n")
    bad = claimwatch("--sources", "re.yaml", "validate", cwd=project)
    assert bad.returncode == 2
    [line] = bad.stderr.splitlines()
    assert line.startswith("re.yaml:5: sources.x.ignore.0: regex 'Updated(?=:)' uses a "
                           "lookahead ((?=…)), which claimwatch's linear-time regex engine")


@pytest.mark.parametrize("command", [
    ["flags"], ["history"], ["diff", "office"], ["report", "fc"], ["status"], ["alerts"],
    ["alerts", "retry"], ["audit", "verify"], ["export-warc", "--source", "office", "o.warc.gz"],
    ["export-wacz", "--source", "office", "o.wacz"],
    ["db", "current"], ["db", "copy", "--to", "sqlite:///copy.db"], ["users", "list"],
    ["users", "tokens"], ["users", "disable", "ada"], ["users", "set-role", "ada", "admin"],
    ["users", "token", "ada"], ["users", "revoke-token", "1"], ["prune", "--older-than", "1d"]])
def test_commands_that_only_read_refuse_a_missing_database(project: Path,
                                                           command: list[str]) -> None:
    """`claimwatch flags` in the wrong directory left an empty claimwatch.db there (and `prune`,
    which writes, has nothing to prune in a new one)."""
    refused = claimwatch(*command, cwd=project)
    assert refused.returncode == 2
    assert refused.stderr == ("claimwatch: no database at ./claimwatch.db (run 'claimwatch "
                              "check' first, or pass --db)\n")
    elsewhere = claimwatch("--db", "sqlite:///not/here.db", *command, cwd=project)
    assert elsewhere.stderr.startswith("claimwatch: no database at ./not/here.db ")
    assert not (project / "claimwatch.db").exists() and not (project / "not").exists()
