"""Outcomes per SPEC §1: each expectation on a current Document against its baseline Document,
with `changed` scoped to the evidence's own passage, rows or value."""

from __future__ import annotations

import json
from typing import Any

from pipeline.config import Evidence
from pipeline.evaluate import evaluate
from pipeline.extract import Document, Item


def item(**expectation: Any) -> Evidence:
    return Evidence.model_validate({"source": "s", **expectation})


def text(*blocks: str) -> Document:
    return Document("html", blocks=blocks)


QUOTE = "officers will not serve as an escort for immigration arrests"
BASE = text("Intro paragraph.", f"The chief said {QUOTE} in the city.", "Other paragraph.")


def test_quote_holds_while_other_paragraphs_change() -> None:
    now = text("Intro paragraph, rewritten.", f"The chief said {QUOTE} in the city.")
    result = evaluate(item(quote=QUOTE), now, BASE)
    assert result.status == "holds" and not result.differs


def test_quote_removed_is_broken_and_no_longer_found() -> None:
    now = text("Intro paragraph.", "Other paragraph.")
    result = evaluate(item(quote=QUOTE), now, BASE)
    assert result.status == "broken" and result.differs
    assert result.reason.startswith("quote no longer found")


def test_edit_inside_the_quote_is_changed_not_broken() -> None:
    now = text("Intro paragraph.", f"The chief said {QUOTE.replace('escort', 'escorts')} here.")
    result = evaluate(item(quote=QUOTE), now, BASE)
    assert result.status == "changed"
    assert "escorts" in result.reason
    exact = evaluate(item(quote=QUOTE, min_similarity=1.0), now, BASE)
    assert exact.status == "broken", "min_similarity 1.0 requires an exact match"


def test_first_evaluation_compares_with_itself() -> None:
    assert evaluate(item(quote=QUOTE), BASE, None).status == "holds"
    misquote = evaluate(item(quote="the chief promised to never help federal agents"), BASE, None)
    assert misquote.status == "broken" and not misquote.differs


def test_evidence_that_comes_back_after_being_missing_is_changed() -> None:
    missing = text("Intro paragraph.")
    assert evaluate(item(quote=QUOTE), BASE, missing).status == "changed"


def test_absent_never_comes_out_changed() -> None:
    with_notice = text("Body.", "Correction: the hotline figure was 221, not 212.")
    broken = evaluate(item(absent="correction"), with_notice, text("Body."))
    assert broken.status == "broken" and "Correction: the hotline figure" in broken.reason
    edited = text("Body.", "Correction: the hotline figure was 222, not 212.")
    assert evaluate(item(absent="correction"), edited, with_notice).status == "broken"
    assert evaluate(item(absent="correction"), text("Body 2."), text("Body.")).status == "holds"


HEADER = ("STATE", "LAW ENFORCEMENT AGENCY", "SUPPORT TYPE")


def sheet(*rows: tuple[str, ...]) -> Document:
    return Document("xlsx", tables=((("287(g) agencies as of today",), HEADER, *rows),))


MN = [("MINNESOTA", "Cass County SO", "Task Force Model"),
      ("MINNESOTA", "Crow Wing County SO", "Task Force Model"),
      ("MINNESOTA", "Crow Wing County SO", "Warrant Service Officer")]
COUNT2 = item(table={"where": {"STATE": "Minnesota"}, "count": 2,
                     "distinct": "LAW ENFORCEMENT AGENCY"})


def test_table_count_distinct_and_the_header_below_a_title_row() -> None:
    assert evaluate(COUNT2, sheet(*MN), None).status == "holds"
    grown = sheet(*MN, ("MINNESOTA", "Sherburne County SO", "Jail Enforcement Model"))
    result = evaluate(COUNT2, grown, sheet(*MN))
    assert result.status == "broken"
    assert result.reason == ("rows with STATE=Minnesota: expected 2 distinct LAW ENFORCEMENT "
                             "AGENCY, found 3 (added: Sherburne County SO)")


def test_table_rows_swapped_with_count_holding_is_changed() -> None:
    swapped = sheet(MN[0], ("MINNESOTA", "Pine County SO", "Task Force Model"))
    result = evaluate(item(table={"where": {"STATE": "Minnesota"}, "count": 2}), swapped,
                      sheet(MN[0], MN[1]))
    assert result.status == "changed" and "Pine County SO" in result.reason


def test_table_rows_elsewhere_and_row_order_do_not_count() -> None:
    reordered = sheet(("IOWA", "Polk County SO", "Task Force Model"), *reversed(MN))
    assert evaluate(COUNT2, reordered, sheet(*MN)).status == "holds"


def test_table_present_and_missing_columns() -> None:
    listed = item(table={"where": {"LAW ENFORCEMENT AGENCY": "cass county so"}, "present": True})
    assert evaluate(listed, sheet(*MN), None).status == "holds"
    assert evaluate(listed, sheet(*MN[1:]), sheet(*MN)).status == "broken"
    no_column = item(table={"where": {"COUNTY": "Cass"}, "count": 1})
    result = evaluate(no_column, sheet(*MN), None)
    assert result.status == "error" and "no table with columns COUNTY" in result.reason


def test_json_value_and_never_changed() -> None:
    ev = item(json={"path": "case.status", "equals": "pending"})
    doc = Document("json", data={"case": {"status": "pending", "entries": 3}})
    later = Document("json", data={"case": {"status": "pending", "entries": 5}})
    assert evaluate(ev, later, doc).status == "holds"
    dismissed = Document("json", data={"case": {"status": "dismissed"}})
    result = evaluate(ev, dismissed, doc)
    assert result.status == "broken" and result.reason == \
        'case.status is "dismissed", expected "pending"'
    assert evaluate(ev, text("x"), None).status == "error"


def feed(*titles: str) -> Document:
    return Document("feed", items=tuple(Item(key=t, title=t) for t in titles))


def test_new_items_only_count_items_first_seen_after_the_baseline() -> None:
    ev = item(new_items="(?i)emergency order")
    base = feed("Old emergency order news", "Budget")
    assert evaluate(ev, base, None).status == "holds", "an item in the baseline never counts"
    now = feed("Court grants emergency order", "Old emergency order news")
    result = evaluate(ev, now, base)
    assert result.status == "broken" and "Court grants emergency order" in result.reason
    assert evaluate(item(new_items="(?i)budget"), now, base).status == "holds"


def test_changes_any_is_whitespace_and_quote_form_insensitive() -> None:
    ev = item(changes="any")
    before = text("The “policy” — as adopted.", "Second block.")
    same = text('The "policy" - as', "adopted. Second block.")
    assert evaluate(ev, same, before).status == "holds"
    edited = text("The policy as amended.", "Second block.")
    result = evaluate(ev, edited, before)
    assert result.status == "broken" and "changed" in result.reason


def test_changes_any_observes_a_digest_not_the_regions_text() -> None:
    """An outcome row keeps what was observed: for a whole region, its digest and length (the
    text itself is in the snapshot the row names)."""
    ev = item(changes="any")
    before = text("The policy as adopted.", "Second block. " * 500)
    edited = text("The policy as amended.", "Second block. " * 500)
    result = evaluate(ev, edited, before)
    assert result.status == "broken" and result.differs
    assert set(result.observed) == {"sha256", "chars"} and result.observed["chars"] > 7000
    assert len(json.dumps(result.observed)) < 100
    assert evaluate(ev, before, before).observed == result.baseline_observed
