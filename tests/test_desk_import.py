"""The desk's "Add a fact-check" page over HTTP (uvicorn on loopback): an editor pastes a
fact-check's URL, reads the draft next to the cited pages and what was matched there, edits
it, and saves it into the directory of sources once it validates; others may not."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.import_quality import sites
from pipeline import api, config
from pipeline.history import describe
from tests.desk_support import ServedDesk, csrf_of, serve_desk


@pytest.fixture(scope="module")
def where() -> Iterator[dict[str, str]]:
    with sites() as served:
        yield served


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[ServedDesk]:
    sources = tmp_path / "sources.d"
    sources.mkdir()
    (sources / "desk.yaml").write_text("version: 1\ndefaults: {host_delay: 0s}\n")
    with serve_desk(tmp_path, sources) as served:
        yield served


def textarea(page: str) -> str:
    found = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "the page has the draft to edit"
    return html.unescape(found.group(1))


def test_an_editor_drafts_edits_and_saves_a_fact_check(desk: ServedDesk,
                                                       where: dict[str, str]) -> None:
    editor = desk.client("editor")
    assert "Add a fact-check" in editor.get("/factchecks").text
    form = editor.get("/factchecks/new")
    assert form.status_code == 200
    drafted = editor.post("/factchecks/new", data={"csrf": csrf_of(form.text),
                                                   "url": f"{where['pages']}/graph.html"})
    assert drafted.status_code == 200
    page = drafted.text
    assert "3 claims, 4 cited sources" in page
    assert f'href="{where["{{SOURCES}}"]}/bca-statement/index.html"' in page
    assert "federal partners have not provided the BCA with access" in page, "the match"
    text = textarea(page)
    assert text.startswith("# Draft watch of") and "claims:" in text

    broken = text.replace("    quote:", "    quotes:", 1)
    refused = editor.post("/factchecks/new/save", data={"csrf": csrf_of(page), "text": broken,
                                                        "url": f"{where['pages']}/graph.html"})
    assert refused.status_code == 400
    assert "unknown key &#39;quotes&#39; (did you mean &#39;quote&#39;?)" in refused.text
    assert textarea(refused.text) == broken, "the edit is kept to fix"
    assert [p.name for p in config.yaml_files(desk.sources)] == ["desk.yaml"]

    saved = editor.post("/factchecks/new/save", data={"csrf": csrf_of(page), "text": text,
                                                      "url": f"{where['pages']}/graph.html"})
    assert saved.status_code == 200 and "Saved as" in saved.text
    [added] = [p for p in config.yaml_files(desk.sources) if p.name != "desk.yaml"]
    assert added.name == "three-surge-claims.yaml" and added.read_text() == text
    loaded = config.load(desk.sources)
    assert [c.verdict for _f, c in loaded.claims()] == ["False", "False", "Exaggerated"]
    again = editor.post("/factchecks/new/save", data={"csrf": csrf_of(page), "text": text})
    assert again.status_code == 400 and "exists already" in again.text
    story = [describe(e) for e in api.history(desk.store)]
    assert any("Editor Person added the fact-check file" in line and "graph.html" in line
               for line in story)


def test_only_editors_add_fact_checks_and_forms_need_their_token(
        desk: ServedDesk, where: dict[str, str]) -> None:
    checker = desk.client("checker")
    assert checker.get("/factchecks/new").status_code == 403
    assert "Add a fact-check" not in checker.get("/factchecks").text
    editor = desk.client("editor")
    forged = editor.post("/factchecks/new", data={"url": f"{where['pages']}/graph.html"})
    assert forged.status_code == 403


def test_a_page_that_cannot_be_read_is_one_line_on_the_form(desk: ServedDesk,
                                                            where: dict[str, str]) -> None:
    editor = desk.client("editor")
    form = editor.get("/factchecks/new").text
    missing = editor.post("/factchecks/new", data={"csrf": csrf_of(form),
                                                   "url": f"{where['pages']}/gone.html"})
    assert missing.status_code == 400
    assert "cannot read" in missing.text and "HTTP 404" in missing.text


def test_the_rest_api_drafts_and_saves(desk: ServedDesk, where: dict[str, str]) -> None:
    token, _ = api.issue_token(desk.store, "editor", "test")
    headers = {"authorization": f"Bearer {token}"}
    client = desk.client()
    draft = client.post("/api/v1/factchecks/drafts", headers=headers,
                        json={"url": f"{where['pages']}/plain.html"})
    assert draft.status_code == 200, draft.text
    body = draft.json()
    assert len(body["claims"]) == 5 and body["text"].startswith("# Draft watch")
    bad = client.post("/api/v1/factchecks", headers=headers, json={"text": "factchecks: 3\n"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(
        "application/problem+json")
    saved = client.post("/api/v1/factchecks", headers=headers,
                        json={"text": body["text"], "imported_from": body["read_from"]})
    assert saved.status_code == 201 and saved.json()["file"].endswith(".yaml")


def test_a_desk_on_one_file_drafts_but_says_saving_needs_a_directory(
        tmp_path: Path, where: dict[str, str]) -> None:
    (tmp_path / "sources.yaml").write_text("version: 1\ndefaults: {host_delay: 0s}\n")
    with serve_desk(tmp_path) as served:
        editor = served.client("editor")
        form = editor.get("/factchecks/new").text
        assert "Saving a fact-check needs a directory of sources" in form
        drafted = editor.post("/factchecks/new", data={"csrf": csrf_of(form),
                                                       "url": f"{where['pages']}/graph.html"})
        assert drafted.status_code == 200 and "Validate and save" not in drafted.text
        assert textarea(drafted.text).startswith("# Draft watch of")
