"""`claimwatch probe`: what claimwatch sees on a source right now, with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.demo.server import SiteServer

PAGE = """<html><head><title>Release</title></head><body><nav>Menu</nav>
<main><p>The BCA has reluctantly withdrawn from the investigation.</p>
<table><tr><th>Agency</th><th>Role</th></tr><tr><td>BCA</td><td>withdrawn</td></tr></table>
<a href="/news/2">Follow-up release</a></main><aside>Most read</aside></body></html>"""


def run(*args: str, cwd: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--sources", str(cwd / "sources.yaml"),
                                      "--db", f"sqlite:///{cwd / 'probe.db'}", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        return 2 if getattr(result.exception, "exit_code", 1) == 2 else 1, str(result.exception)
    return result.exit_code, result.output


def test_probe_a_source_shows_text_table_items_and_outcomes(tmp_path: Path,
                                                            site: SiteServer) -> None:
    (site.root / "index.html").write_text(PAGE)
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
sources:
  bca:
    url: {site.url("index.html")}
    select: main
factchecks:
  - id: fc
    title: T
    claims:
      - id: bca-withdrew
        text: The BCA withdrew.
        verdict: Supported
        evidence:
          - {{source: bca, quote: reluctantly withdrawn from the investigation}}
          - {{source: bca, absent: correction}}
""")
    code, out = run("probe", "bca", "--expect", "quote: the BCA will lead the inquiry",
                    cwd=tmp_path)
    assert code == 0, out
    assert "The BCA has reluctantly withdrawn from the investigation." in out
    assert "Menu" not in out and "Most read" not in out, "only the selected region"
    assert "BCA | withdrawn" in out and "Follow-up release" in out
    assert out.count("holds") == 2 and "broken" in out and "quote not found" in out
    assert not (tmp_path / "probe.db").exists(), "probe stores nothing"


def test_probe_a_url_as_json(tmp_path: Path, site: SiteServer) -> None:
    (site.root / "list.csv").write_text("STATE,AGENCY\nMINNESOTA,Cass\nMINNESOTA,Pine\n")
    code, out = run("probe", "--url", site.url("list.csv"), "--json", "--expect",
                    "table: {where: {STATE: Minnesota}, count: 3}", cwd=tmp_path)
    assert code == 0, out
    data = json.loads(out)
    assert data["kind"] == "csv" and data["tables"][0][1] == ["MINNESOTA", "Cass"]
    [expectation] = data["expectations"]
    assert expectation["outcome"] == "broken"
    assert expectation["reason"] == "rows with STATE=Minnesota: expected 3 rows, found 2"


def test_probe_reports_pages_that_are_not_the_evidence(tmp_path: Path, site: SiteServer) -> None:
    (site.root / "gone.html").write_text("<html><head><title>Page not found</title></head>"
                                         "<body>Sorry.</body></html>")
    code, out = run("probe", "--url", site.url("gone.html"), "--expect", "quote: anything at all",
                    cwd=tmp_path)
    assert code == 0 and "not evaluated: missing: a \"page not found\" page" in out


def test_probe_bad_input(tmp_path: Path) -> None:
    assert run("probe", "--url", "http://127.0.0.1:9/", "--expect", "quote", cwd=tmp_path)[0] == 2
    assert run("probe", "--url", "http://127.0.0.1:9/", "--expect", "table: {count: 1}",
               cwd=tmp_path)[0] == 2
    assert run("probe", cwd=tmp_path)[0] == 2


def test_probe_shows_a_blocked_follow_link_as_one_line(tmp_path: Path, site: SiteServer) -> None:
    (site.root / "index.html").write_text('<a class="doc" href="http://10.255.0.1/secret">List</a>')
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
sources:
  list:
    url: {site.url("index.html")}
    follow: a.doc
""")
    code, out = run("probe", "list", cwd=tmp_path)
    assert code == 0, out
    assert "request to http://10.255.0.1/secret blocked: 10.255.0.1 is a private address (allow " \
           "it with defaults.allow_networks)" in " ".join(out.split())
    assert "Traceback" not in out
