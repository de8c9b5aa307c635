"""What counts as "the same text" (SPEC §1 matching): case, whitespace, curly vs straight quotes
and dashes, entities' compatibility forms; fuzzy only for sentence-length quotes."""

from __future__ import annotations

from pipeline.textnorm import Searchable, clean, key, printable


def test_quotes_dashes_spaces_and_case_are_ignored() -> None:
    assert key("“We will not be an arm” — of  ICE\u00a0enforcement") == \
        key('"we will NOT be an arm" - of ice enforcement')
    assert clean("co\u00adoperate\u200b with ﬁles") == "cooperate with files"


def test_exact_match_reports_the_quote_as_the_passage() -> None:
    text = Searchable.of("The Sheriff’s Office does not work with any agency on civil "
                         "immigration enforcement.")
    match, _ = text.find("the sheriff's office does not work with any agency", 0.9)
    assert match is not None and match.similarity == 1.0
    assert match.display == "The Sheriff's Office does not work with any agency"
    assert match.passage == "the sheriff's office does not work with any agency"


def test_near_match_above_threshold_and_its_passage() -> None:
    text = Searchable.of("Deputies say the Sheriff's Office is not working with federal agencies "
                         "on the immigration enforcement operations now under way.")
    quote = "is not working with federal agencies on the immigration enforcment operations"
    match, _ = text.find(quote, 0.9)
    assert match is not None and 0.9 <= match.similarity < 1.0
    assert match.display == ("is not working with federal agencies on the immigration "
                             "enforcement operations"), "a near match's passage is whole words"
    exact_only, closest = text.find(quote, 1.0)
    assert exact_only is None and closest is not None and closest.similarity > 0.9


def test_short_texts_match_whole_words_only() -> None:
    text = Searchable.of("Saint Paul police officers patrol downtown.")
    assert text.find("ICE", 0.9)[0] is None, "ICE is not in 'police'"
    assert text.find("police", 0.9)[0] is not None
    corrections = Searchable.of("Corrections: an earlier version misstated a date.")
    assert corrections.find("correction", 0.9)[0] is not None, "a word's start is enough"


def test_unrelated_text_has_no_match() -> None:
    text = Searchable.of("The county board met on Tuesday to discuss road repairs.")
    match, closest = text.find("more clearly prohibit assisting ICE with civil enforcement", 0.9)
    assert match is None
    assert closest is None or closest.similarity < 0.9


def test_context_shows_text_around_a_match() -> None:
    text = Searchable.of("A" * 100 + " Correction: the figure was 212. " + "B" * 100)
    match, _ = text.find("Correction", 0.9)
    assert match is not None
    around = text.context(match, width=10)
    assert around.startswith("…") and around.endswith("…") and "Correction" in around


def test_printable_drops_control_characters_but_tabs_and_newlines() -> None:
    hostile = "a\x00b\x1b[31mc\r\nd\te\x7ff\x9b2Jg\x85h é日"
    assert printable(hostile) == "ab[31mc\nd\tef2Jgh é日"
