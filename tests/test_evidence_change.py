"""What an editor sees of one evidence item's change, from Documents read by the extractors: the
passage before and now with its changed words, the matching rows added, removed and edited, the
value, the new items, and the region's diff; plain data, JSON as it is, no control characters."""

from __future__ import annotations

import json
from typing import Any

from pipeline.config import Evidence
from pipeline.evidence_change import (
    AbsentChange,
    EvidenceChange,
    JsonChange,
    NewItemsChange,
    QuoteChange,
    TableChange,
    change,
)
from pipeline.extract import Document, Options, extract


def item(**expectation: Any) -> Evidence:
    return Evidence.model_validate({"source": "s", **expectation})


def page(*paragraphs: str) -> Document:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    html = f"<html><body><nav>Home</nav><article>{body}</article></body></html>"
    return extract("html", html.encode(), Options(select="article"))


def ops(segments: tuple[Any, ...]) -> list[tuple[str, str]]:
    return [(s.op, s.text) for s in segments]


def roundtrip(result: EvidenceChange) -> dict[str, Any]:
    return json.loads(json.dumps(result.to_json()))


QUOTE = "officers will not serve as an escort for immigration arrests"
INTRO = "The chief spoke on Monday."
BEFORE = f"Under the new policy, {QUOTE}, the chief said. It takes effect in March."


def test_a_reworded_quote_shows_the_changed_words_in_their_sentence() -> None:
    now = BEFORE.replace("an escort", "escorts")
    result = change(item(quote=QUOTE), page(INTRO, BEFORE), page(INTRO, now))
    detail = result.detail
    assert isinstance(detail, QuoteChange) and detail.before and detail.now
    assert (detail.before.text, detail.before.matches, detail.before.similarity) == \
        (QUOTE, True, 1.0)
    assert detail.now.text == QUOTE.replace("an escort", "escorts")
    assert detail.now.matches and 0.9 <= detail.now.similarity < 1.0
    assert ops(detail.segments) == [("same", "officers will not serve as "),
                                    ("del", "an escort"), ("ins", "escorts"),
                                    ("same", " for immigration arrests")]
    assert (detail.now.before, detail.now.after) == ("Under the new policy, ", ", the chief said.")
    assert result.summary == "the quoted passage was edited: “an escort” → “escorts”"
    assert result.expectation_words == f"the quote “{QUOTE}” must appear"
    assert roundtrip(result)["detail"]["segments"][1] == {"op": "del", "text": "an escort"}


def test_a_quote_gone_shows_the_closest_passage_now() -> None:
    rewritten = ("Under the new policy, officers may at times serve as an escort for "
                 "immigration arrests, the chief said.")
    result = change(item(quote=QUOTE), page(INTRO, BEFORE), page(INTRO, rewritten))
    detail = result.detail
    assert isinstance(detail, QuoteChange) and detail.now is not None
    assert not detail.now.matches and 0.6 <= detail.now.similarity < 0.9
    assert "serve as an escort for immigration arrests" in detail.now.text
    assert result.summary.startswith(
        f"the quote is gone; the closest passage now is {detail.now.similarity:.0%} similar: “")
    assert ("del", "will not") in ops(detail.segments)
    gone = change(item(quote=QUOTE), page(INTRO, BEFORE), page(INTRO, "Nothing alike."))
    assert isinstance(gone.detail, QuoteChange) and gone.detail.now is None
    assert gone.summary == "the quote is gone; nothing like it remains in the region"
    assert gone.detail.segments == ()


def test_a_quote_unchanged_while_the_page_around_it_changes() -> None:
    result = change(item(quote=QUOTE), page(INTRO, BEFORE),
                    page("The chief spoke on Tuesday.", BEFORE))
    assert result.summary == "the quoted passage is unchanged"
    assert result.region.summary() == "1 changed"


def test_absent_text_that_appears_is_shown_with_its_sentence() -> None:
    notice = "Correction: An earlier version gave the wrong time on Jan. 8, not Jan. 9."
    result = change(item(absent="correction"), page(INTRO, BEFORE), page(INTRO, BEFORE, notice))
    detail = result.detail
    assert isinstance(detail, AbsentChange) and detail.before is None and detail.now
    assert (detail.now.before, detail.now.text, detail.now.after) == (
        "", "Correction", ": An earlier version gave the wrong time on Jan. 8, not Jan. 9.")
    assert result.summary == f"“correction” now appears: “{notice}”"
    assert result.expectation_words == "“correction” must not appear"
    quiet = change(item(absent="correction"), page(INTRO), page(INTRO, BEFORE))
    assert quiet.summary == "“correction” does not appear" and quiet.detail == \
        AbsentChange("correction", None, None)


HEADER = "STATE,LAW ENFORCEMENT AGENCY,COUNTY,SUPPORT TYPE\n"
AGENCIES = ["Minnesota,Cass County Sheriff's Office,Cass,Task Force Model",
            "Minnesota,Crow Wing County Sheriff's Office,Crow Wing,Task Force Model",
            "Minnesota,Crow Wing County Sheriff's Office,Crow Wing,Warrant Service Officer",
            "Iowa,Polk County Sheriff's Office,Polk,Task Force Model",
            "Minnesota,Freeborn County Sheriff's Office,Freeborn,Jail Enforcement Model",
            "Minnesota,Pine County Sheriff's Office,Pine,Task Force Model",
            "Minnesota,Carver County Sheriff's Office,Carver,Warrant Service Officer",
            "Minnesota,Wright County Sheriff's Office,Wright,Task Force Model"]
SIX = item(table={"where": {"STATE": "Minnesota"}, "count": 6,
                  "distinct": "LAW ENFORCEMENT AGENCY"})


def sheet(*rows: str) -> Document:
    return extract("csv", (HEADER + "\n".join(rows) + "\n").encode(), Options())


def test_ice_287g_count_six_to_seven_names_the_added_agency() -> None:
    mille_lacs = "Minnesota,Mille Lacs County Sheriff's Office,Mille Lacs,Task Force Model"
    result = change(SIX, sheet(*AGENCIES), sheet(*AGENCIES[:5], mille_lacs, *AGENCIES[5:]))
    assert result.summary == "the count went from 6 to 7: added Mille Lacs County Sheriff's Office"
    detail = result.detail
    assert isinstance(detail, TableChange)
    assert (detail.count_before, detail.count_now) == (6, 7)
    assert detail.counts == "distinct LAW ENFORCEMENT AGENCY values"
    assert detail.header == ("STATE", "LAW ENFORCEMENT AGENCY", "COUNTY", "SUPPORT TYPE")
    assert detail.added == (tuple(mille_lacs.split(",")),)
    assert detail.values_added == ("Mille Lacs County Sheriff's Office",)
    assert detail.removed == () and detail.changed == () and detail.values_removed == ()
    assert result.region.summary() == "+1 / -0 lines", "a sheet's region is its rows as lines"
    [added] = [e for e in result.region.inline if e.kind == "ins"]
    assert added.text == " | ".join(mille_lacs.split(",")) and added.after == 7
    assert roundtrip(result)["detail"]["added"] == [mille_lacs.split(",")]


def test_the_same_count_with_one_agency_swapped_for_another() -> None:
    anoka = "Minnesota,Anoka County Sheriff's Office,Anoka,Jail Enforcement Model"
    swapped = [a for a in AGENCIES if not a.startswith("Minnesota,Pine")] + [anoka]
    result = change(SIX, sheet(*AGENCIES), sheet(*swapped))
    assert result.summary == ("the count is still 6, but added Anoka County Sheriff's Office; "
                              "removed Pine County Sheriff's Office")
    detail = result.detail
    assert isinstance(detail, TableChange)
    assert detail.added == (tuple(anoka.split(",")),)
    assert detail.removed == (tuple(AGENCIES[5].split(",")),)
    assert detail.changed == ()


def test_a_cell_edited_in_a_matching_row_is_a_changed_row() -> None:
    edited = list(AGENCIES)
    edited[0] = edited[0].replace("Task Force Model", "Jail Enforcement Model")
    result = change(SIX, sheet(*AGENCIES), sheet(*edited))
    detail = result.detail
    assert isinstance(detail, TableChange) and detail.added == () and detail.removed == ()
    [row] = detail.changed
    assert row.cells == (3,)
    assert (row.before[3], row.after[3]) == ("Task Force Model", "Jail Enforcement Model")
    assert result.summary == ("the count is still 6, but edited Cass County Sheriff's Office "
                              "(SUPPORT TYPE Task Force Model → Jail Enforcement Model)")
    assert roundtrip(result)["detail"]["changed"][0]["cells"] == [3]
    iowa = list(AGENCIES)
    iowa[3] = iowa[3].replace("Polk,", "Story,")
    elsewhere = change(SIX, sheet(*AGENCIES), sheet(*iowa))
    assert elsewhere.summary == "the count is still 6; the matching rows are unchanged"
    assert elsewhere.region.changed == 1, "the region still shows the other state's edit"


def test_a_table_without_the_named_columns_says_so() -> None:
    result = change(item(table={"where": {"COUNTY": "Cass"}, "count": 1, "distinct": "AGENCY"}),
                    sheet(*AGENCIES), sheet(*AGENCIES))
    detail = result.detail
    assert isinstance(detail, TableChange) and detail.count_now is None
    assert detail.problem_now == detail.problem_before == result.summary
    assert result.summary.startswith("no table with columns COUNTY, AGENCY")


def feed(*entries: tuple[str, str]) -> Document:
    items = "".join(f"<item><title>{title}</title><guid>{guid}</guid>"
                    f"<link>https://news.example/{guid}</link></item>" for guid, title in entries)
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}' \
          "</channel></rss>"
    return extract("feed", rss.encode(), Options())


def test_new_feed_entries_that_match_and_how_many_others_are_new() -> None:
    before = feed(("g1", "ICE operation in Minneapolis"), ("g2", "Budget hearing"))
    now = feed(("g3", "Minneapolis follow-up: arrests"), ("g4", "Weather"),
               ("g5", "St. Paul update on the operation"), ("g1", "ICE operation in Minneapolis"))
    ev = item(new_items=r"(?i)\b(minneapolis|st\.? paul)\b")
    result = change(ev, before, now)
    detail = result.detail
    assert isinstance(detail, NewItemsChange) and detail.other_new == 1
    assert [(i.key, i.title, i.link) for i in detail.matching] == [
        ("g3", "Minneapolis follow-up: arrests", "https://news.example/g3"),
        ("g5", "St. Paul update on the operation", "https://news.example/g5")]
    assert result.summary == ("2 new feed entries match: “Minneapolis follow-up: arrests”, "
                              "“St. Paul update on the operation” (1 other new feed entry)")
    assert result.expectation_words.startswith("no new feed entry or link matching /")
    quiet = change(ev, before, feed(("g4", "Weather"), ("g1", "ICE operation in Minneapolis")))
    assert quiet.summary == "no new feed entry matches (1 other new feed entry)"


def test_a_json_value_before_and_now() -> None:
    ev = item(json={"path": "case.status", "equals": "pending"})
    before = extract("json", b'{"case": {"status": "pending", "entries": 3}}', Options())
    now = extract("json", b'{"case": {"status": "dismissed", "entries": 3}}', Options())
    result = change(ev, before, now)
    detail = result.detail
    assert isinstance(detail, JsonChange)
    assert (detail.expected, detail.before, detail.now) == ("pending", "pending", "dismissed")
    assert ops(detail.segments) == [("same", '"'), ("del", "pending"), ("ins", "dismissed"),
                                    ("same", '"')]
    assert result.summary == 'the value at case.status went from "pending" to "dismissed"'
    assert roundtrip(result)["detail"]["now"] == "dismissed"
    html = change(ev, before, page("not json"))
    assert html.summary == "a json expectation needs a JSON source, got html"


def test_a_long_page_with_one_paragraph_changed_collapses_the_rest() -> None:
    paragraphs = [f"Paragraph {n}: the council discussed item {n} at length." for n in range(200)]
    edited = list(paragraphs)
    edited[120] = "Paragraph 120: the council postponed item 120."
    result = change(item(changes="any"), page(*paragraphs), page(*edited))
    region = result.region
    assert [(r.kind, r.hidden) for r in region.side_by_side if r.kind == "gap"] == \
        [("gap", 117), ("gap", 76)]
    assert len(region.side_by_side) == 2 + 3 + 1 + 3
    [changed] = [r for r in region.side_by_side if r.kind == "change"]
    assert changed.left and changed.left.number == 121
    assert result.summary == "the selected text changed: 1 changed"
    assert result.detail is None
    assert result.expectation_words == "the selected text must not change at all"
    same = change(item(changes="any"), page("The “policy” as  adopted."),
                  page('The "policy" as adopted.'))
    assert same.summary.startswith("the selected text is unchanged")


def test_everything_returned_is_free_of_control_characters() -> None:
    hostile = f"Under the new policy, {QUOTE}\x1b[2J, the chief\x07 said."
    result = change(item(quote=QUOTE), page(INTRO, BEFORE), page(INTRO, hostile))
    text = json.dumps(result.to_json(), ensure_ascii=False)
    assert "\\u001b" not in text and "\\u0007" not in text and "[2J" in text
    assert all(r.right is None or "\x1b" not in r.right.text for r in result.region.side_by_side)
    rows = change(SIX, sheet(*AGENCIES), sheet(*AGENCIES, "Minnesota,Evil\x9b County,X,Y"))
    assert isinstance(rows.detail, TableChange) and rows.detail.added[0][1] == "Evil County"
    assert "Evil County" in rows.summary
