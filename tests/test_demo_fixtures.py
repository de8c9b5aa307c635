"""The demo fixtures' own invariants, checked with bs4/openpyxl (not the pipeline): every quote
sits in its source's selected region, and v1 -> v2 changes exactly what the demo must show."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest
import yaml
from bs4 import BeautifulSoup, Tag

from pipeline.demo import build_fixtures
from pipeline.demo.server import SiteServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "pipeline" / "demo" / "fixtures"
CONFIG = yaml.safe_load((ROOT / "sources.yaml").read_text(encoding="utf-8"))
SOURCES: dict[str, dict] = CONFIG["sources"]
NOTE = "synthetic fixture for the claimwatch demo, not the publisher's content"
NOISE_ONLY = [
    "hennepin-sheriff-faq",
    "aclu-freeborn-287g",
    "mpls-federal-hub",
    "aclu-ice-lawsuit",
    "fox9-protests",
    "cbs-mn-protests",
]
HTML_SOURCES = [s for s in SOURCES if s != "dhs-news"]
QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)


def evidence(source: str) -> list[dict]:
    return [
        item
        for fc in CONFIG["factchecks"]
        for claim in fc["claims"]
        for item in claim["evidence"]
        if item["source"] == source
    ]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(QUOTES)).strip().lower()


def main_file(version: str, source: str) -> Path:
    files = sorted((FIXTURES / version / source).glob("index.*"))
    assert len(files) == 1, f"{version}/{source}: expected exactly one index.*, got {files}"
    return files[0]


def soup(version: str, source: str) -> BeautifulSoup:
    return BeautifulSoup(main_file(version, source).read_bytes(), "lxml")


def region(version: str, source: str) -> Tag:
    doc = soup(version, source)
    selector = SOURCES[source].get("select")
    if selector is None:
        return doc
    found = doc.select(selector)
    assert len(found) == 1, f"{version}/{source}: {selector!r} matches {len(found)} elements"
    return found[0]


def visible_text(node: Tag) -> str:
    node = BeautifulSoup(str(node), "lxml")
    for tag in node(["script", "style", "noscript", "template"]):
        tag.decompose()
    return node.get_text("\n")


def region_text(version: str, source: str) -> str:
    return norm(visible_text(region(version, source)))


def single_edit(a: str, b: str) -> tuple[str, str]:
    """(removed, added): the one contiguous span where `a` and `b` differ."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return a[start : len(a) - end], b[start : len(b) - end]


# -- layout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_has_one_main_file(source: str, version: str) -> None:
    path = main_file(version, source)
    expected = "index.xml" if SOURCES[source]["kind"] == "feed" else "index.html"
    assert path.name == expected
    assert NOTE in path.read_text(encoding="utf-8")[:400]


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("source", HTML_SOURCES)
def test_html_pages_are_realistic(source: str, version: str) -> None:
    raw = main_file(version, source).read_bytes()
    assert 15_000 <= len(raw) <= 60_000, f"{len(raw)} bytes"
    doc = BeautifulSoup(raw, "lxml")
    assert doc.head.find("meta", attrs={"name": "viewport"})
    assert doc.head.find("style") and doc.head.find("script", type="application/ld+json")
    assert doc.find("nav") and doc.find("footer") and doc.find(id="consent")
    assert len(doc.find_all("main")) <= 1
    assert doc.select(".rail")


def test_no_source_is_missing_from_the_fixtures() -> None:
    for version in ("v1", "v2"):
        assert {p.name for p in (FIXTURES / version).iterdir()} == set(SOURCES)


# -- evidence in v1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", HTML_SOURCES)
def test_v1_quotes_in_region_and_absent_texts_not(source: str) -> None:
    text = region_text("v1", source)
    outside = soup("v1", source).body  # the page's text outside the region (<title> may repeat it)
    if SOURCES[source].get("select"):
        outside.select_one(SOURCES[source]["select"]).decompose()
    outside_text = norm(visible_text(outside))
    for item in evidence(source):
        if "quote" in item:
            assert norm(item["quote"]) in text, item["quote"]
            if SOURCES[source].get("select"):
                assert norm(item["quote"]) not in outside_text, f"{item['quote']!r} outside region"
        if "absent" in item:
            assert norm(item["absent"]) not in text, item["absent"]


# -- what changes v1 -> v2 -----------------------------------------------------------------------


@pytest.mark.parametrize("source", NOISE_ONLY)
def test_noise_only_regions_identical(source: str) -> None:
    assert str(region("v1", source)) == str(region("v2", source))
    assert main_file("v1", source).read_bytes() != main_file("v2", source).read_bytes()
    rail = [norm(visible_text(soup(v, source).select_one(".rail"))) for v in ("v1", "v2")]
    assert rail[0] != rail[1], "the rail should change outside the region"


def test_reformer_v2_drops_only_the_prohibit_sentence() -> None:
    v1, v2 = region_text("v1", "reformer-mpd-policy"), region_text("v2", "reformer-mpd-policy")
    removed, added = single_edit(v1, v2)
    assert added == ""
    assert "more clearly prohibit assisting ice" in removed
    assert len(removed) < 300 and removed.count(". ") <= 1
    assert "more clearly prohibit assisting ice" not in v2
    assert "prohibit assisting" not in v2
    assert "clear and immediate threat" in v2
    rails = [
        norm(visible_text(soup(v, "reformer-mpd-policy").select_one(".most-read")))
        for v in ("v1", "v2")
    ]
    assert rails[0] != rails[1]


def test_bca_v2_appends_a_correction() -> None:
    v1, v2 = region_text("v1", "bca-statement"), region_text("v2", "bca-statement")
    removed, added = single_edit(v1, v2)
    assert removed == ""
    assert added.strip().startswith("correction: an earlier version of this statement")
    assert "correction" not in v1
    assert "reluctantly withdrawn from the investigation" in v2


def test_ag_v2_changes_only_the_ignored_last_line() -> None:
    patterns = SOURCES["mn-ag-surge-suit"]["ignore"]
    texts = {}
    for version in ("v1", "v2"):
        lines = [
            ln.strip() for ln in visible_text(region(version, "mn-ag-surge-suit")).splitlines()
        ]
        lines = [ln for ln in lines if ln]
        assert lines[-1].startswith("Page last updated "), lines[-1]
        raw = "\n".join(lines)
        for pattern in patterns:
            raw = re.sub(pattern, "", raw)
        texts[version] = norm(raw)
        assert "dismissed" not in norm(" ".join(lines))
        assert "clean up the chaos" in texts[version]
    assert texts["v1"] == texts["v2"]
    assert region_text("v1", "mn-ag-surge-suit") != region_text("v2", "mn-ag-surge-suit")
    updated = [soup(v, "mn-ag-surge-suit").select("#content > p")[-1] for v in ("v1", "v2")]
    assert all(p.get_text().startswith("Page last updated") for p in updated)


# -- ICE 287(g) ----------------------------------------------------------------------------------


def xlsx_link(version: str) -> Path:
    links = soup(version, "ice-287g").select(SOURCES["ice-287g"]["follow"])
    assert len(links) == 1
    href = links[0]["href"]
    assert not urlsplit(href).scheme and not href.startswith("/"), "link must be relative"
    path = FIXTURES / version / "ice-287g" / href
    assert path.is_file(), path
    return path


def minnesota_rows(path: Path) -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(path).worksheets[0]
    rows = list(ws.iter_rows())
    header_at = next(i for i, r in enumerate(rows) if sum(c.value is not None for c in r) >= 2)
    assert header_at == 2, "title row and blank row above the header"
    assert "as of" in str(rows[0][0].value)
    header = [c.value for c in rows[header_at]]
    assert header == [
        "STATE",
        "LAW ENFORCEMENT AGENCY",
        "TYPE",
        "COUNTY",
        "SUPPORT TYPE",
        "SIGNED",
        "MOA",
        "ADDENDUM",
    ]
    body = rows[header_at + 1 :]
    assert 40 <= len(body) <= 80
    for r in body:
        assert r[0].value == str(r[0].value).upper()
        assert r[5].is_date
        assert r[6].value == "link" and r[6].hyperlink is not None
    cells = [dict(zip(header, (c.value for c in r), strict=True)) for r in body]
    return [c for c in cells if str(c["STATE"]).strip().lower() == "minnesota"]


def test_ice_links_resolve_and_file_name_changes() -> None:
    v1, v2 = xlsx_link("v1"), xlsx_link("v2")
    assert v1.name != v2.name
    assert not (FIXTURES / "v2" / "ice-287g" / v1.name).exists()
    assert not (FIXTURES / "v1" / "ice-287g" / v2.name).exists()


def test_ice_minnesota_agencies_six_then_seven() -> None:
    v1 = minnesota_rows(xlsx_link("v1"))
    v2 = minnesota_rows(xlsx_link("v2"))
    agencies1 = {r["LAW ENFORCEMENT AGENCY"] for r in v1}
    agencies2 = {r["LAW ENFORCEMENT AGENCY"] for r in v2}
    assert len(v1) == 7 and len(agencies1) == 6
    assert len(v2) == 8 and len(agencies2) == 7
    assert agencies2 - agencies1 == {"Sherburne County Sheriff's Office"}
    added = next(
        r for r in v2 if r["LAW ENFORCEMENT AGENCY"] == "Sherburne County Sheriff's Office"
    )
    assert added["SUPPORT TYPE"] == "Jail Enforcement Model"
    assert added["SIGNED"].date().isoformat() == "2025-10-17"
    key = lambda r: tuple(r.values())  # noqa: E731
    assert {key(r) for r in v1} <= {key(r) for r in v2}, "existing Minnesota rows are unchanged"


def test_ice_spreadsheets_are_up_to_date() -> None:
    assert build_fixtures.main(["--check"]) == 0


# -- DHS feed ------------------------------------------------------------------------------------


def feed_items(version: str) -> list[dict[str, str]]:
    doc = BeautifulSoup(main_file(version, "dhs-news").read_bytes(), "xml")
    items = []
    for it in doc.find_all("item"):
        fields = {
            name: it.find(name).get_text()
            for name in ("title", "link", "description", "pubDate", "guid")
        }
        assert all(fields.values())
        items.append(fields)
    return items


def test_dhs_feed_new_item_does_not_mention_minnesota() -> None:
    pattern = re.compile(next(e["new_items"] for e in evidence("dhs-news")))
    v1, v2 = feed_items("v1"), feed_items("v2")
    assert len(v1) == len(v2) == 10
    assert any(
        t["title"].startswith("ICE Continues to Remove the Worst of the Worst from Minneapolis")
        for t in v1
    )
    old = {i["guid"] for i in v1}
    new = [i for i in v2 if i["guid"] not in old]
    assert len(new) == 1 and v2[0] is new[0]
    for item in new:
        text = item["title"] + " " + BeautifulSoup(item["description"], "lxml").get_text(" ")
        assert not pattern.search(text), text
    assert v1[-1]["guid"] not in {i["guid"] for i in v2}, "the oldest item is dropped"
    builds = [
        BeautifulSoup(main_file(v, "dhs-news").read_bytes(), "xml").find("lastBuildDate")
        for v in ("v1", "v2")
    ]
    assert builds[0].get_text() != builds[1].get_text()


# -- served ------------------------------------------------------------------------------------


def test_fixtures_served_by_site_server() -> None:
    with SiteServer(FIXTURES / "v1") as site:
        feed = httpx.get(site.url("dhs-news/index.xml"))
        assert feed.headers["content-type"] == "application/rss+xml"
        page = httpx.get(site.url("ice-287g/index.html"))
        href = BeautifulSoup(page.content, "lxml").select_one(SOURCES["ice-287g"]["follow"])["href"]
        sheet = httpx.get(str(page.url.join(href)))
        assert sheet.status_code == 200
        assert sheet.headers["content-type"].endswith("spreadsheetml.sheet")
        site.root = FIXTURES / "v2"
        assert httpx.get(str(page.url.join(href))).status_code == 404
