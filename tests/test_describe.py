"""Expectations in words, as an editor reads them on the desk, in reports and in history: plain
English, never JSON, the same from an item as from its stored expectation."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.config import Evidence
from pipeline.describe import expectation_in_words, in_words


def item(**expectation: Any) -> Evidence:
    return Evidence.model_validate({"source": "s", **expectation})


QUOTE = "more clearly prohibit assisting ICE"
MN = {"STATE": "Minnesota"}


@pytest.mark.parametrize(("expectation", "words"), [
    ({"quote": QUOTE}, f"the quote “{QUOTE}” must appear"),
    ({"quote": QUOTE, "min_similarity": 0.9}, f"the quote “{QUOTE}” must appear"),
    ({"quote": QUOTE, "min_similarity": 0.8},
     f"the quote “{QUOTE}” must appear (small edits allowed: 80% similar)"),
    ({"quote": QUOTE, "min_similarity": 1.0}, f"the quote “{QUOTE}” must appear (word for word)"),
    ({"quote": "ICE", "min_similarity": 0.5}, "the quote “ICE” must appear"),  # always exact
    ({"quote": "two\n  lines"}, "the quote “two lines” must appear"),
    ({"absent": "correction"}, "“correction” must not appear"),
    ({"absent": "an earlier version of this statement", "min_similarity": 0.85},
     "“an earlier version of this statement” must not appear (nor anything 85% similar)"),
    ({"table": {"where": MN, "count": 6, "distinct": "LAW ENFORCEMENT AGENCY"}},
     "exactly 6 distinct LAW ENFORCEMENT AGENCY values among the rows where STATE is Minnesota"),
    ({"table": {"where": MN, "count": 1, "distinct": "AGENCY"}},
     "exactly 1 distinct AGENCY value among the rows where STATE is Minnesota"),
    ({"table": {"where": {**MN, "COUNTY": "Hennepin"}, "count": 3}},
     "exactly 3 rows where STATE is Minnesota and COUNTY is Hennepin"),
    ({"table": {"where": MN, "count": 1}}, "exactly 1 row where STATE is Minnesota"),
    ({"table": {"where": MN, "count": 0}}, "no row where STATE is Minnesota"),
    ({"table": {"where": MN, "present": True}}, "at least one row where STATE is Minnesota"),
    ({"table": {"where": {"SIGNED": "2025-10-17", "ACTIVE": True}, "present": False}},
     "no row where SIGNED is 2025-10-17 and ACTIVE is TRUE"),
    ({"json": {"path": "status", "equals": "open"}}, 'the value at status must be "open"'),
    ({"json": {"path": "case.entries", "equals": 3}}, "the value at case.entries must be 3"),
    ({"json": {"path": "a", "equals": {"b": [1, "é"]}}}, 'the value at a must be {"b": [1, "é"]}'),
    ({"new_items": "follow-up|update"}, "no new feed entry or link matching /follow-up|update/"),
    ({"new_items": r"(?i)\bminneapolis\b"},
     r"no new feed entry or link matching /\bminneapolis\b/ (any case)"),
    ({"changes": "any"}, "the selected text must not change at all"),
])
def test_expectations_in_words(expectation: dict[str, Any], words: str) -> None:
    ev = item(**expectation)
    assert in_words(ev) == words
    assert expectation_in_words(ev.expectation()) == words, "rows keep the expectation as a dict"


def test_long_json_values_are_cut_and_control_characters_dropped() -> None:
    long = in_words(item(json={"path": "x", "equals": "y" * 500}))
    assert long.endswith("…") and len(long) < 160
    assert in_words(item(absent="bell\x07 and \x1b[31mred")) == "“bell and [31mred” must not appear"


def test_a_stored_expectation_this_release_cannot_read_is_shown_as_stored() -> None:
    assert expectation_in_words({"quote": "x", "retired_option": 1}) == \
        "quote: x, retired_option: 1"
    assert expectation_in_words({}) == ""
