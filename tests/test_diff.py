"""What `claimwatch diff` reports between two Documents."""

from __future__ import annotations

from pipeline.diff import diff
from pipeline.extract import Document, Item


def test_text_diff_shows_removed_and_added_blocks() -> None:
    d = diff(Document("html", blocks=("a", "b", "c")), Document("html", blocks=("a", "B", "c")))
    assert "-b" in d.text and "+B" in d.text


def test_table_diff_pairs_an_edited_row_and_skips_the_title_row() -> None:
    before = (("Title as of Jan 9",), ("STATE", "AGENCY", "TYPE"),
              ("MN", "Cass", "Task Force"), ("MN", "Pine", "WSO"))
    after = (("Title as of Jan 16",), ("STATE", "AGENCY", "TYPE"),
             ("MN", "Cass", "Jail Enforcement"), ("MN", "Sherburne", "JEM"), ("MN", "Pine", "WSO"))
    [table] = diff(Document("xlsx", tables=(before,)), Document("xlsx", tables=(after,))).tables
    assert table.header == ("STATE", "AGENCY", "TYPE")
    assert table.changed == [(("MN", "Cass", "Task Force"), ("MN", "Cass", "Jail Enforcement"))]
    assert table.added == [("MN", "Sherburne", "JEM")] and table.removed == []


def test_items_added_and_removed() -> None:
    d = diff(Document("feed", items=(Item("1", "One"), Item("2", "Two"))),
             Document("feed", items=(Item("2", "Two"), Item("3", "Three"))))
    assert [i.key for i in d.items_added] == ["3"] and [i.key for i in d.items_removed] == ["1"]


def test_identical_documents_have_no_diff() -> None:
    doc = Document("html", blocks=("same",), tables=((("h1", "h2"), ("a", "b")),))
    assert not diff(doc, doc)
