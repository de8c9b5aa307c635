"""`claimwatch import`: a published fact-check page becomes a draft watch of its evidence. The
three test layouts (tests/fixtures/import/) imported on loopback and scored against what a
person finds there (bench/import_quality.py prints the same figures); the seed's draft
validated and checked by the real commands; the page reader's structured data and furniture;
what cannot be fetched; hostile page text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.import_quality import LAYOUTS, Figures, measure, sites
from pipeline import api, config
from pipeline.demo.server import SiteServer
from pipeline.errors import UsageError
from pipeline.importer.citations import citations, cites
from pipeline.importer.page import claims_of, read_page

DESK = "version: 1\ndefaults: {host_delay: 0s}\n"


def claimwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def where() -> Iterator[dict[str, str]]:
    with sites() as served:
        yield served


@pytest.fixture(scope="module")
def figures(where: dict[str, str]) -> dict[str, Figures]:
    with tempfile.TemporaryDirectory() as tmp:
        return {layout: measure(layout, where, Path(tmp)) for layout in LAYOUTS}


def test_the_seed_page_gives_every_claim_its_citations_and_holding_quotes(
        figures: dict[str, Figures]) -> None:
    seed = figures["seed"]
    assert (seed.claims_found, seed.claims_present, seed.claims_extra) == (8, 8, 0)
    assert seed.footnotes_present == 10 and seed.footnotes_found >= 9
    assert seed.citations_found == seed.citations_present == 11 and seed.citations_extra == 0
    assert seed.html_citations == 9 and seed.html_with_quote == 9, \
        "a holding quote for every HTML citation"
    assert seed.quotes_holding == seed.quotes, "every quote holds when probed again"
    assert seed.quotes_accepted >= seed.quotes - 1
    assert seed.tables_accepted == seed.tables >= 1, "ICE's list: 6 distinct agencies"
    assert seed.new_items_accepted == seed.new_items >= 1, "the DHS feed"


@pytest.mark.parametrize("layout", ["graph", "plain"])
def test_other_layouts_give_their_claims_and_citations(figures: dict[str, Figures],
                                                       layout: str) -> None:
    f = figures[layout]
    assert (f.claims_found, f.claims_extra) == (f.claims_present, 0)
    assert (f.citations_found, f.citations_extra) == (f.citations_present, 0), \
        "no share button, navigation, sidebar or own-site link taken for a citation"
    assert f.quotes_holding == f.quotes_accepted == f.quotes >= 2
    assert f.tables_accepted == f.tables == 1, "a count in a spreadsheet or CSV"
    assert f.html_with_quote == f.html_citations


def test_the_seed_draft_validates_and_check_runs_on_it(where: dict[str, str],
                                                       tmp_path: Path) -> None:
    """The issue's "done when": import, validate, check, through the installed command."""
    desk = tmp_path / "sources.d"
    desk.mkdir()
    (desk / "desk.yaml").write_text(DESK)
    ran = claimwatch("--sources", "sources.d", "import", f"{where['pages']}/seed.html",
                     "-o", "sources.d/mn-police-ice.yaml", "--id", "mn-police-ice",
                     cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("mn-police-ice: 8 claims, 11 cited sources (0 could not be "
                                 "read)")
    draft = (desk / "mn-police-ice.yaml").read_text()
    assert "quote: more clearly prohibit assisting ICE" in draft
    assert "table: {where: {STATE: Minnesota}, count: 6, distinct: LAW ENFORCEMENT AGENCY}" \
        in draft
    assert "follow: a[href$='.xlsx']" in draft
    assert "    published: 2026-01-21\n" in draft, "the ClaimReview's datePublished"
    valid = claimwatch("--sources", "sources.d", "validate", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "(11 sources, 1 fact-checks, 8 claims)" in valid.stdout
    checked = claimwatch("--sources", "sources.d", "check", "--json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert (report["checked"], report["errors"], report["flags"]) == (11, 0, []), \
        "every proposed expectation holds on the first check"
    again = claimwatch("--sources", "sources.d", "import", f"{where['pages']}/seed.html",
                       "-o", "sources.d/mn-police-ice.yaml", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("claimwatch: -o: ")


def test_a_directory_s_sources_are_used_by_their_ids(where: dict[str, str],
                                                     tmp_path: Path) -> None:
    """A cited page the desk already watches is not declared again: the draft uses its id."""
    desk = tmp_path / "d"
    desk.mkdir()
    (desk / "desk.yaml").write_text(DESK + f"""\
sources:
  bca:
    url: {where['{{SOURCES}}']}/bca-statement/index.html
    select: main
  ice-287g: {{url: https://example.org/elsewhere}}
""")
    draft = api.import_factcheck(f"{where['pages']}/seed.html", sources=desk)
    ids = {s.url.rsplit("/", 2)[-2]: s.id for s in draft.sources}
    assert ids["bca-statement"] == "bca" and ids["ice-287g"] != "ice-287g"
    assert "\n  bca:\n" not in draft.text and "- source: bca\n" in draft.text
    config.parse_files([(str(desk / "desk.yaml"), (desk / "desk.yaml").read_text()),
                        ("new.yaml", draft.text)])
    with pytest.raises(UsageError, match="already has a fact-check"):
        (desk / "one.yaml").write_text(draft.text)
        api.import_factcheck(f"{where['pages']}/seed.html", sources=desk,
                             factcheck_id=draft.factcheck_id)


def test_a_citation_that_cannot_be_fetched_stays_commented_with_its_reason(
        where: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    draft = api.import_factcheck(f"{where['pages']}/plain.html", sources=tmp_path)
    [gone] = [s for s in draft.sources if s.url.endswith("faq-2025.html")]
    assert gone.error is not None and "404" in gone.error
    assert f"  # {gone.id}: could not be read: HTTP 404 Not Found" in draft.text
    assert f"          # - source: {gone.id}\n          #   changes: any" in draft.text
    loaded = config.parse(draft.text)
    assert gone.id not in loaded.sources
    [ruling] = [c for c in draft.claims if "written policy" in c.text]
    assert ruling.verdict == "False", "the verdict the article states, without markup"


def test_structured_data_from_graph_lists_microdata_and_rdfa() -> None:
    graph = read_page(b"""<html><head><script type="application/ld+json">
      [{"@context": "https://schema.org", "@graph": [{"@type": "WebPage"},
        {"@type": ["ClaimReview"], "claimReviewed": "One",
         "reviewRating": {"alternateName": "False"}}]},
       {"@type": "ClaimReview", "claimReviewed": "Two",
        "reviewRating": [{"@type": "Rating", "alternateName": "True"}]}]
      </script><script type="application/ld+json">{not json</script></head>
      <body><article><p>text</p></article></body></html>""", "https://example.org/a")
    assert [(r.claim, r.verdict) for r in graph.reviews] == [("One", "False"), ("Two", "True")]
    assert graph.structured == "JSON-LD"
    microdata = read_page(b"""<html><body>
      <div itemscope itemtype="https://schema.org/ClaimReview">
        <p itemprop="claimReviewed">Three</p>
        <div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">
          <span itemprop="alternateName">Mostly false</span></div></div></body></html>""",
                          "https://example.org/b")
    assert [(r.claim, r.verdict) for r in microdata.reviews] == [("Three", "Mostly false")]
    rdfa = read_page(b"""<html><body vocab="https://schema.org/">
      <div typeof="ClaimReview"><span property="claimReviewed">Four</span>
        <div property="reviewRating" typeof="Rating">
          <meta property="alternateName" content="Half true"></div></div></body></html>""",
                     "https://example.org/c")
    assert [(r.claim, r.verdict, rdfa.structured) for r in rdfa.reviews] == [
        ("Four", "Half true", "RDFa")]


def test_the_publication_day_is_the_claimreview_s_else_the_article_s() -> None:
    """`published:` (where `backfill` starts): the ClaimReview's datePublished, else the
    article's JSON-LD, else the page's metadata; never the reviewed claim's own date."""
    def day(head: str) -> str | None:
        return read_page(f"<html><head>{head}</head><body><p>x</p></body></html>".encode(),
                         "https://example.org/a").published

    review = ('<script type="application/ld+json">{"@type": "ClaimReview", "claimReviewed": '
              '"C", "datePublished": "2025-05-27T08:00:00-05:00", "itemReviewed": {"@type": '
              '"Claim", "datePublished": "2025-05-01"}}</script>')
    article = ('<script type="application/ld+json">{"@type": "NewsArticle", '
               '"datePublished": "2025-06-02"}</script>')
    meta = '<meta property="article:published_time" content="2025-07-03T10:00:00Z">'
    assert day(article + meta + review) == "2025-05-27"
    assert day(meta + article) == "2025-06-02"
    assert day(meta) == "2025-07-03"
    assert day('<meta name="dcterms.created" content="2024-12-31">') == "2024-12-31"
    assert day('<meta property="article:published_time" content="yesterday">') is None
    assert day("") is None


def test_citations_are_the_article_s_not_the_page_s() -> None:
    page = read_page(b"""<html><body>
      <nav><a href="https://other.example/nav">Elsewhere</a></nav>
      <article><h1>Did it happen?</h1>
        <div class="share"><a href="https://twitter.com/intent/tweet?u=x">X</a></div>
        <h2>1. The agency reported twelve cases this year</h2>
        <p>The agency <a href="https://agency.example/report">reported twelve cases</a> in
           its annual summary, as <a href="/earlier">we wrote before</a> and as noted
           elsewhere [2].</p>
        <h2>2. The count was revised upward in March</h2>
        <p>It was revised later <sup><a href="#n1">1</a></sup>.</p>
        <h2>Sources</h2>
        <ol><li id="n1"><a href="https://agency.example/revision#p3">Revision</a>
                <a href="#ref">back</a></li>
            <li><a href="https://desk.example/our-method">Our method</a></li></ol>
      </article>
      <aside><a href="https://ads.example/buy">Buy</a></aside></body></html>""",
                     "https://desk.example/checks/it")
    found = claims_of(page, cites(page))
    assert [c.text for c in found] == ["The agency reported twelve cases this year",
                                       "The count was revised upward in March"]
    first, second = (citations(page, c) for c in found)
    assert [(c.url, c.marker) for c in first] == [("https://agency.example/report", None),
                                                  ("https://desk.example/our-method", "2")]
    assert [(c.url, c.marker) for c in second] == [("https://agency.example/revision", "1")]
    assert second[0].context == "It was revised later."


def test_page_words_stay_data_in_the_draft(site: SiteServer, tmp_path: Path) -> None:
    """Claim texts and quotes from a page: YAML syntax, an ${ENV} reference, control
    characters. The draft loads, holds them as text, and expands nothing."""
    (site.root / "cited.html").write_text(
        "<html><body><main><p>The office said: ${HOME} is not a place #1. The "
        "council's vote: yes, no &amp; maybe was final on Tuesday night.</p>"
        "<p>Other words about other things entirely here.</p>" * 3 + "</main></body></html>")
    (site.root / "check.html").write_text(
        f"""<html><body><article><h1>T</h1>
        <h2>1. Yes: the vote #1 was "final" &amp; ${{HOME}}\x1b[31m stayed</h2>
        <p>The council's vote: yes, no and maybe was final on Tuesday night
        <a href="{site.url('cited.html').replace('127.0.0.1', 'localhost')}">per the office</a>.
        </p><h2>2. Second finding stands as written here</h2><p>See
        <a href="{site.url('missing.html').replace('127.0.0.1', 'localhost')}">this</a>.</p>
        </article></body></html>""")
    (tmp_path / "desk.yaml").write_text(DESK)
    draft = api.import_factcheck(site.url("check.html"), sources=tmp_path)
    loaded = config.parse(draft.text)
    [claim] = [c for _f, c in loaded.claims()]  # the second one's only citation is gone
    assert claim.text.startswith('Yes: the vote #1 was "final" & $ {HOME}')
    assert "\x1b" not in draft.text
    quotes = [e.quote for e in claim.evidence if e.quote]
    assert quotes and all("${" not in q for q in quotes)
    assert yaml.safe_load(draft.text)["factchecks"][0]["claims"][0]["text"] == claim.text


def test_a_page_citing_nothing_readable_is_one_line(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body><article><h1>Is it so?</h1><p>" + "Words without sources. " * 20
                    + "</p></article></body></html>")
    ran = claimwatch("import", str(page), cwd=tmp_path)
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr == (f"claimwatch: URL_OR_FILE: nothing to watch in {page.as_uri()}: 1 "
                          "claim(s) found, but none cites a page that could be read (0 cited)\n")
