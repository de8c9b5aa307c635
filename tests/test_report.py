"""The evidence report as a desk publishes it, on the demo's real database: the summary
paragraph's facts, claims headed by their text, expectations in words, each flag's text before
and after with links to the snapshots, a reviewed item resolved with its decision; Markdown
(rendered by a CommonMark renderer) and HTML tell the same. Page text stays inert in both; the
CLI's report with and without a readable sources.yaml."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import pytest
import yaml
from click.testing import CliRunner
from markdown_it import MarkdownIt

from db import Store, open_store
from db.models import FlagRow
from pipeline import api, config, report
from pipeline.cli import cli
from pipeline.demo.server import SiteServer
from tests.desk_support import demo_copy
from tests.test_review import FAST

FACTCHECK = "mn-police-ice"
ICE_ROW = ("MINNESOTA · Sherburne County Sheriff's Office · County · Sherburne · "
           "Jail Enforcement Model · 2025-10-17 · link")
MPD_SENTENCE = ("The department's revised immigration policies, posted to its online policy hub "
                "late Monday, more clearly prohibit assisting ICE with civil enforcement, "
                "according to a summary released by the chief's office.")
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


@dataclass
class Demo:
    store: Store
    config: config.Config
    directory: Path

    def flag(self, claim: str, source: str) -> FlagRow:
        [found] = [f for f in api.flags(self.store, include_closed=True)
                   if (f.claim, f.source) == (claim, source)]
        with self.store.session() as session:
            row = session.get(FlagRow, found.id)
            assert row is not None
            return row


@pytest.fixture
def demo(demo_cache: Path, tmp_path: Path) -> Iterator[Demo]:
    directory = demo_copy(demo_cache, tmp_path / "demo")
    store = open_store(f"sqlite:///{directory / 'claimwatch.db'}")
    try:
        yield Demo(store, api.load_config(directory / "sources.yaml"), directory)
    finally:
        store.close()


def rendered(text: str, fmt: str) -> lxml.html.HtmlElement:
    """The report as a reader sees it: Markdown through a CommonMark renderer, HTML parsed."""
    if fmt == "md":
        return lxml.html.fragment_fromstring(MarkdownIt("commonmark").render(text),
                                             create_parent="div")
    return lxml.html.document_fromstring(text).body


def words(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def texts(tree: lxml.html.HtmlElement, xpath: str) -> list[str]:
    return [words(e) for e in tree.xpath(xpath)]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_the_report_tells_how_each_claim_stands(demo: Demo, fmt: str) -> None:
    ice = demo.flag("six-287g-agencies", "ice-287g")
    api.review(demo.store, ice.id, decision="revised", reviewer="Editor Person",
               verdict="Mostly accurate", note="ICE added Sherburne County")
    tree = rendered(api.report(demo.store, FACTCHECK, fmt, config=demo.config,
                               desk_url="https://desk.example/"), fmt)

    opened = f"{ice.opened_at:%Y-%m-%d}"
    [summary] = [p for p in texts(tree, "//p") if p.startswith("Of the 8 claims")]
    assert re.fullmatch(re.escape(
        "Of the 8 claims in “Did Minnesota police join ICE”, 4 rest on evidence that holds as "
        "published. 3 have evidence under review: on reformer-mpd-policy, the quote is gone; on "
        "bca-statement, “correction” now appears; on ice-287g, the count went from 6 to 7: "
        f"added Sherburne County Sheriff's Office (flags opened {opened}). 1 had its verdict "
        f"revised on review ({opened}, Editor Person: “Supported” → “Mostly accurate”). Sources "
        "last checked ") + WHEN + r"\.", summary), summary

    claims = [c for _fc, c in demo.config.claims()]
    headings = [(h.text or "").strip() for h in tree.xpath("//h2")]
    assert headings == [c.text for c in claims], "each claim headed by its text"
    assert "Exactly 6 distinct LAW ENFORCEMENT AGENCY values among the rows where STATE is " \
           "Minnesota" in texts(tree, "//h3"), "the expectation in words"

    text = words(tree)
    assert "the count went from 6 to 7: added Sherburne County Sheriff's Office" in text
    assert "Distinct LAW ENFORCEMENT AGENCY values: 6 before, 7 after." in text
    if fmt == "html":
        rows = [" · ".join(texts(tr, "td")) for tr in tree.xpath("//tr[@class='added']")]
        assert rows.count("added · " + ICE_ROW + " · ") == 2, rows  # ADDENDUM: empty
    else:
        assert texts(tree, "//li").count("added: " + ICE_ROW) == 2
    mpd = [q for q in tree.xpath("//blockquote") if "more clearly" in words(q)]
    assert [words(q) for q in mpd] == [MPD_SENTENCE] * 2, "the quote's sentence as published"
    assert texts(mpd[0], ".//mark" if fmt == "html" else ".//strong") == [
        "more clearly prohibit assisting ICE"]
    assert re.search("After:? Not there, and nothing close to it.", text)

    assert re.search(r"resolved (· )?source ice-287g", text, re.IGNORECASE)
    assert re.search(rf"Revised by Editor Person on {WHEN}: the verdict went from “Supported” to "
                     r"“Mostly accurate”\. Note: “ICE added Sherburne County”", text), text
    assert re.search(rf"{WHEN}: Supported, as published {WHEN}: Mostly accurate, revised on "
                     "review by Editor Person", text), "the verdict's history"
    hrefs = tree.xpath("//a/@href")
    for snapshot in (ice.baseline_snapshot_id, ice.snapshot_id):
        assert f"https://desk.example/snapshots/{snapshot}" in hrefs
    assert f"https://desk.example/flags/{ice.id}" in hrefs
    if fmt == "html":  # a reviewed item is calm, an open one marked
        [resolved] = tree.xpath("//div[contains(@class, 'standing-resolved')]")
        assert "Sherburne" in words(resolved)
        assert not resolved.xpath(".//*[contains(@class, 'under-review')]")
        assert len(tree.xpath("//div[contains(@class, 'standing-under-review')]")) == 4


def test_without_the_desk_address_snapshots_are_named_not_linked(demo: Demo) -> None:
    ice = demo.flag("six-287g-agencies", "ice-287g")
    built = api.report_document(demo.store, FACTCHECK, config=demo.config)
    text = report.to_markdown(built)
    assert f"From snapshot {ice.baseline_snapshot_id} ({ice.opened_at:%Y-%m-%d}" in text
    assert "/snapshots/" not in text and "/flags/" not in text
    as_json = built.to_json()
    assert as_json["summary"] == built.summary
    [item] = [e for c in as_json["claims"] if c["id"] == "six-287g-agencies"
              for e in c["evidence"] if e["source"] == "ice-287g"]
    assert item["standing"] == "under review" and item["expectation_words"].startswith(
        "exactly 6 distinct")
    [flag] = item["flags"]
    assert flag["change"]["detail"]["count_before"] == 6
    assert flag["change"]["detail"]["count_now"] == 7
    assert flag["baseline"]["href"] is None and flag["snapshot"]["id"] == ice.snapshot_id


def test_the_cli_reads_sources_yaml_for_the_text_and_links(demo: Demo) -> None:
    db = f"sqlite:///{demo.directory / 'claimwatch.db'}"
    sources = demo.directory / "sources.yaml"
    data = yaml.safe_load(sources.read_text())
    data["desk"]["url"] = "https://desk.example"
    sources.write_text(yaml.safe_dump(data, sort_keys=False))
    done = CliRunner().invoke(cli, ["--sources", str(sources), "--db", db, "report", FACTCHECK])
    assert done.exit_code == 0, done.output
    assert "Distinct LAW ENFORCEMENT AGENCY values: 6 before, 7 after." in done.stdout
    assert "(<https://desk.example/snapshots/" in done.stdout
    blind = CliRunner().invoke(cli, ["--sources", str(demo.directory / "missing.yaml"),
                                     "--db", db, "report", FACTCHECK, "--format", "html"])
    assert blind.exit_code == 0, blind.output
    assert blind.stderr.startswith("claimwatch: the report leaves out the before/after text")
    assert "missing.yaml: file not found" in blind.stderr
    assert "6 before" not in blind.stdout and "Sherburne" in blind.stdout, "the summary says"
    assert "The before/after text is not shown" in blind.stdout
    assert "/snapshots/" not in blind.stdout


# --- hostile page text ------------------------------------------------------------------------

HOSTILE = ('<script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1)) '
           '<a href="http://evil">evil</a>')
LINES = ["# Heading from the page", "``` fenced", "`tick` ``two``", "[x]: http://evil",
         "> quoted", "- listed", "1. numbered", "<div>block</div>", "&amp; &#x3C;b&#x3E;"]


def hostile_sources(site: SiteServer) -> config.Config:
    return config.parse(f"""\
version: 1
sources:
  page: {{url: "{site.url('page.html')}", select: main}}
  list: {{url: "{site.url('list.csv')}"}}
factchecks:
  - id: fc
    title: '<script>alert(1)</script> ## Title'
    claims:
      - id: hostile
        text: |-
          <img src=x onerror=alert(1)> claim
          # not a heading
          [click](javascript:alert(1))
        verdict: '<a href="http://evil">Supported</a>'
        evidence:
          - {{source: page, quote: the council approved the budget on Monday}}
          - {{source: page, absent: evil}}
          - {{source: page, new_items: "(?i)news"}}
          - source: list
            table: {{where: {{STATE: Minnesota}}, count: 1, distinct: NAME}}
""")


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_page_text_stays_inert_in_markdown_and_html(store: Store, site: SiteServer) -> None:
    (site.root / "page.html").write_text(
        "<html><body><main><p>The council approved the budget on Monday.</p>"
        '<a href="/old">old news</a></main></body></html>')
    (site.root / "list.csv").write_text("STATE,NAME\nMinnesota,Alpha\n")
    cfg = hostile_sources(site)
    api.check(store, cfg, everything=True, settings=FAST)
    lines = "<br>".join(esc(line) for line in LINES)
    (site.root / "page.html").write_text(
        f"<html><body><main><p>The council {esc(HOSTILE)} approved the budgets<br>{lines}</p>"
        f'<a href="http://evil.example/news">breaking news {esc(HOSTILE)}</a></main></body></html>')
    (site.root / "list.csv").write_text(
        'STATE,NAME\nMinnesota,Alpha\nMinnesota,"<img src=x onerror=alert(1)> [c](javascript:x)'
        ' `tick` ``two``\n# row"\n')
    flags = api.check(store, cfg, everything=True, settings=FAST).flags
    assert len(flags) == 4, "\n".join(f"{f.source} {f.outcome} {f.reason}" for f in flags)
    api.review(store, flags[-1].id, decision="revised", reviewer="<b>Ed</b>\n# Ed",
               verdict="]: http://evil\n> *new*", note="`x` <script>alert(2)</script>\n- item")

    trusted = {site.url("page.html"), site.url("list.csv")} | {
        f"/snapshots/{i}" for i in range(1, 20)} | {f"/flags/{f.id}" for f in flags}
    markdown = api.report(store, "fc", config=cfg, desk_url="")
    for fmt, text in (("md", MarkdownIt("commonmark").render(markdown)),
                      ("html", api.report(store, "fc", "html", config=cfg, desk_url="")),
                      ("html", api.report(store, "fc", "html", standalone=False, config=cfg,
                                          desk_url=""))):
        assert "<script" not in text and "<img" not in text and "<div>block" not in text
        tree = lxml.html.fragment_fromstring(text, create_parent="div") \
            if not text.startswith("<!doctype") else lxml.html.document_fromstring(text)
        for element in tree.iter():
            assert not [a for a in element.attrib if a.startswith("on")], element.attrib
        assert set(tree.xpath("//a/@href")) - {"#claim-hostile"} <= trusted
        assert len(tree.xpath("//h1")) == 1 and not tree.xpath("//pre|//img|//script")
        assert [words(h) for h in tree.xpath("//h2")][0].startswith(
            "<img src=x onerror=alert(1)> claim # not a heading [click](javascript:alert(1))")
        shown = words(tree)
        for line in ["The council", "<script>alert(1)</script>",
                     "[click](javascript:alert(1))", '<a href="http://evil">evil</a>',
                     "# Heading from the page", "[x]: http://evil", "`tick` ``two``",
                     "breaking news", "http://evil.example/news", "<b>Ed</b> # Ed",
                     "[c](javascript:x) `tick` ``two`` # row",
                     "`x` <script>alert(2)</script> - item", "&amp; &#x3C;b&#x3E;"]:
            assert line in shown, (fmt, line)
        if fmt == "md":
            assert [words(c) for c in tree.xpath("//code")] == ["hostile"], "only the claim id"
            assert len(tree.xpath("//blockquote")) == len(re.findall(r"^> ", markdown, re.M))
    for line in markdown.splitlines():  # each value on its line, after claimwatch's own words
        assert not line.startswith(("# Heading", "```", "[x]", "<", "- listed", "1. ")), line
    for multiline in (r"revised on review by \<b\>Ed\</b\> \# Ed",
                      r"Note: “\`x\` \<script\>alert\(2\)\</script\> \- item”",
                      r"\`tick\` \`\`two\`\` \# row"):
        assert multiline in markdown, multiline


def test_md_escapes_every_character_that_could_start_markup() -> None:
    assert report.md("a\n# b\x1b[31m\r\n<i>") == r"a \# b\[31m \<i\>"
    assert report.md(r"1. *x* _y_ `z` ~~s~~ | ! & \ {}") == \
        r"1\. \*x\* \_y\_ \`z\` \~\~s\~\~ \| \! \& \\ \{\}"
    rendered_back = MarkdownIt("commonmark").render(report.md("1. [a](b) <b>&amp;</b> ## c"))
    assert rendered_back == "<p>1. [a](b) &lt;b&gt;&amp;amp;&lt;/b&gt; ## c</p>\n"
