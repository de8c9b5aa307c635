"""Extractors, one kind at a time: what claimwatch reads out of a body (SPEC §1 and the corpus
README's "Text" and "Tables" rules)."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from pipeline.errors import ExtractError
from pipeline.extract import Options, detect_kind, extract
from pipeline.extract.html import find_link


def html(body: str, head: str = "") -> bytes:
    return f"<!doctype html><html><head><title>T</title>{head}</head><body>{body}</body></html>" \
        .encode()


def test_html_visible_text_of_the_selected_region() -> None:
    page = html("""<nav>Home | News</nav><div class="story"><h1>Title</h1>
        <p>First&nbsp;para <b>bold</b><!-- a comment --></p><p>Second<br>line</p>
        <script>var x = "not text";</script><style>p{}</style>
        <div hidden>hidden text</div><span style="display: none">also hidden</span>
        <form><input value="search"><button>Go</button></form></div>
        <aside>Most read</aside>""", head='<script>var y=1</script>')
    doc = extract("html", page, Options(select="div.story"))
    assert doc.blocks == ("Title", "First para bold", "Second", "line")
    assert doc.meta["title"] == "T"


def test_html_without_select_reads_the_whole_body_and_blocks_separate_words() -> None:
    doc = extract("html", html("<p>one</p><p>two</p><li>three</li>four<br>five"), Options())
    assert doc.text.folded == "one two three four five"


def test_html_select_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(ExtractError, match="matched nothing"):
        extract("html", html("<p>x</p>"), Options(select="#missing"))


def test_html_tables_and_links_in_the_region() -> None:
    page = html("""<main><table><thead><tr><th>Program</th><th>Partner</th></tr></thead>
        <tbody><tr><td>Task force</td><td> FBI </td></tr></tbody></table>
        <a href="/news/1">First release</a> <a href="https://other.example/x#frag">Other</a>
        <a href="mailto:a@b">mail</a></main><footer><a href="/outside">Out</a></footer>""")
    doc = extract("html", page, Options(select="main", url="https://city.example/page"))
    assert doc.tables == ((("Program", "Partner"), ("Task force", "FBI")),)
    assert [(i.key, i.title) for i in doc.items] == [
        ("https://city.example/news/1", "First release"), ("https://other.example/x", "Other")]


def test_charset_from_the_header_or_from_the_page() -> None:
    text = "<p>Café “quoted”</p>"
    assert extract("html", html(text).decode().encode("utf-8"),
                   Options(charset="utf-8")).blocks == ('Café "quoted"',)
    cp1252 = html(text, head='<meta charset="windows-1252">').decode().encode("cp1252")
    assert extract("html", cp1252, Options(charset="utf-8")).blocks == ('Café "quoted"',), \
        "bytes that are not valid in the header's charset are read by the page's own <meta>"


def test_ignore_regexes_apply_to_the_extracted_text() -> None:
    page = html("<main><p>Body text.</p><p>Page last updated Jan 5 at 3:15 PM</p></main>")
    doc = extract("html", page, Options(select="main"), ignore=["Page last updated .*"])
    assert doc.blocks == ("Body text.",)


def xlsx_bytes(*rows: tuple[object, ...]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_rows_with_title_and_blank_rows_and_normalized_cells() -> None:
    import datetime as dt

    body = xlsx_bytes(("287(g) list as of today",), (), ("STATE", "AGENCY", "SIGNED", "N"),
                      ("MINNESOTA", " Cass  County ", dt.datetime(2025, 2, 28), 3.0))
    doc = extract("xlsx", body, Options())
    assert doc.tables == ((("287(g) list as of today",), ("STATE", "AGENCY", "SIGNED", "N"),
                           ("MINNESOTA", "Cass County", "2025-02-28", "3")),)


def test_xlsx_that_is_not_a_workbook_or_is_empty() -> None:
    with pytest.raises(ExtractError, match="not a zip"):
        extract("xlsx", b"<html>not a workbook</html>", Options())
    with pytest.raises(ExtractError, match="no rows"):
        extract("xlsx", xlsx_bytes(), Options())


def test_xlsx_zip_bomb_is_refused_before_parsing() -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))
    with pytest.raises(ExtractError, match="zip bomb"):
        extract("xlsx", out.getvalue(), Options())


def test_csv_encodings_and_quoting_read_the_same() -> None:
    plain = b"State,Facility\nMN,Carver County Jail\n"
    exported = b'\xef\xbb\xbf"State","Facility"\r\n"MN","Carver County Jail"\r\n'
    semicolons = b"State;Facility\nMN;Carver County Jail\n"
    tables = {extract("csv", body, Options()).tables for body in (plain, exported, semicolons)}
    assert tables == {((("State", "Facility"), ("MN", "Carver County Jail")),)}


def test_json_is_data_and_select_is_a_jmespath() -> None:
    a = extract("json", b'{"b": 1, "a": {"x": [1, 2]}}', Options())
    b = extract("json", json.dumps({"a": {"x": [1, 2]}, "b": 1}, indent=4).encode(), Options())
    assert a.blocks == b.blocks and a.data == {"a": {"x": [1, 2]}, "b": 1}
    assert extract("json", b'{"a": {"x": [1, 2]}}', Options(select="a.x")).data == [1, 2]
    with pytest.raises(ExtractError, match="not valid JSON"):
        extract("json", b"{nope", Options())


def test_feed_items_have_stable_identities_and_no_channel_metadata() -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
      <lastBuildDate>Mon, 12 Jan 2026 10:00:00 GMT</lastBuildDate>
      <item><title>First</title><guid>g1</guid><link>https://x.example/1</link>
        <description><![CDATA[<p>Body <b>one</b></p>]]></description></item>
      <item><title>Second</title><link>https://x.example/2</link></item>
    </channel></rss>"""
    doc = extract("feed", rss, Options())
    assert [(i.key, i.title, i.text) for i in doc.items] == [
        ("g1", "First", "Body one"), ("https://x.example/2", "Second", "")]
    assert "2026" not in doc.text.folded
    with pytest.raises(ExtractError, match="feed"):
        extract("feed", b"just text", Options())


def test_pdf_without_text_layer_is_an_error() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ExtractError, match="no text layer"):
        extract("pdf", out.getvalue(), Options())
    with pytest.raises(ExtractError):
        extract("pdf", b"%PDF-1.4 broken", Options())


def test_html_nested_past_the_parsers_limit_is_an_error_not_a_shorter_page() -> None:
    deep = b"<div>" * 10_000 + b"deep text" + b"</div>" * 10_000 + b"<p>After.</p>"
    with pytest.raises(ExtractError, match="nest deeper than 2,048 levels"):
        extract("html", html(deep.decode()), Options())
    deep_but_read = b"<div>" * 2_000 + b"deep text" + b"</div>" * 2_000 + b"<p>After.</p>"
    assert extract("html", html(deep_but_read.decode()), Options()).blocks == ("deep text",
                                                                                 "After.")


@pytest.mark.parametrize(("content_type", "url", "body", "kind"), [
    ("text/html", "http://x/a", b"", "html"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "http://x/a", b"",
     "xlsx"),
    ("application/octet-stream", "http://x/list.xlsx", b"", "xlsx"),
    ("application/octet-stream", "http://x/download?id=3", b"PK\x03\x04...", "xlsx"),
    ("text/plain", "http://x/data.csv", b"", "csv"),
    ("application/rss+xml", "http://x/feed", b"", "feed"),
    ("text/xml", "http://x/feed", b"<?xml version='1.0'?><rss>", "feed"),
    ("", "http://x/doc", b"%PDF-1.7", "pdf"),
    ("application/problem+json", "http://x/api", b"", "json"),
])
def test_detect_kind(content_type: str, url: str, body: bytes, kind: str) -> None:
    assert detect_kind(content_type, url, body) == kind


def test_follow_resolves_the_linked_document() -> None:
    page = html('<a href="/doclib/participatingAgencies01092026.xlsx">Current list</a>')
    assert find_link(page, "a[href$='.xlsx']", "https://www.ice.gov/287g") == \
        "https://www.ice.gov/doclib/participatingAgencies01092026.xlsx"
    with pytest.raises(ExtractError, match="matched no link"):
        find_link(page, "a[href$='.pdf']", "https://www.ice.gov/287g")


def test_main_content_keeps_the_article_and_drops_the_chrome() -> None:
    article = "".join(f"<p>Paragraph {i} of the report on the revised immigration policy, "
                      f"which the department adopted after weeks of public comment.</p>"
                      for i in range(8))
    page = html(f"""<header><a href="/">Site</a> Breaking: storm warning</header>
        <div class="rail">Most read: <a href="/a">Ten best lakes</a></div>
        <article><h1>Policy revised</h1>{article}</article>
        <footer>Copyright 2026 | Privacy | Terms</footer>""")
    doc = extract("html", page, Options(main_content=True))
    text = doc.text.folded
    assert "paragraph 7 of the report" in text
    assert "ten best lakes" not in text and "storm warning" not in text and "privacy" not in text


def test_xlsx_columns_count_from_a_whatever_cell_comes_first() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C2"], sheet["B4"], sheet["D4"] = "title", "STATE", 7
    out = io.BytesIO()
    workbook.save(out)
    doc = extract("xlsx", out.getvalue(), Options())
    assert doc.tables == ((("", "", "title"), ("", "STATE", "", "7")),)
