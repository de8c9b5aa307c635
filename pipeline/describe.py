"""Expectations in words: what an evidence item says must be true, as an editor would say it
("exactly 6 distinct LAW ENFORCEMENT AGENCY values among the rows where STATE is Minnesota"),
for the review desk, the evidence report and history. `config.describe_expectation` stays the
literal form, for where the desk checks what it wrote (probe).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from pipeline.config import DEFAULT_SIMILARITY, Evidence, TableSpec, describe_expectation
from pipeline.textnorm import FUZZY_MIN_CHARS, key, printable

VALUE_CHARS = 120  # a JSON value longer than this is cut, with "…"


def in_words(ev: Evidence) -> str:
    """The item's expectation as one plain sentence (no JSON, no YAML)."""
    match ev.kind:
        case "quote":
            return f"the quote {_quoted(ev.quote)} must appear{_similarity(ev, ev.quote)}"
        case "absent":
            return f"{_quoted(ev.absent)} must not appear{_similarity(ev, ev.absent)}"
        case "table":
            assert ev.table is not None
            return table_in_words(ev.table)
        case "json":
            assert ev.json_ is not None
            return f"the value at {ev.json_.path} must be {value_in_words(ev.json_.equals)}"
        case "new_items":
            return f"no new feed entry or link matching {_pattern(str(ev.new_items))}"
        case _:
            return "the selected text must not change at all"


def expectation_in_words(expectation: dict[str, Any]) -> str:
    """`in_words` of a stored expectation (`EvidenceRow.expectation`, an audit event's); one
    this release cannot read (an older one's) in the literal form it was stored in."""
    try:
        ev = Evidence.model_validate({"source": "source", **expectation})
    except (ValidationError, TypeError):
        return printable(describe_expectation(expectation))
    return in_words(ev)


def table_in_words(spec: TableSpec) -> str:
    where = " and ".join(f"{printable(col)} is {printable(val)}"
                         for col, val in spec.where.items())
    if spec.present is not None:
        return f"{'at least one row' if spec.present else 'no row'} where {where}"
    assert spec.count is not None
    if spec.count == 0:
        return f"no row where {where}"
    if spec.distinct:
        values = "value" if spec.count == 1 else "values"
        return (f"exactly {spec.count} distinct {printable(spec.distinct)} {values} among the "
                f"rows where {where}")
    return f"exactly {spec.count} {'row' if spec.count == 1 else 'rows'} where {where}"


def value_in_words(value: Any) -> str:
    """A JSON value as short JSON: `"open"`, `3`, `null`, `{"a": 1}`, cut at VALUE_CHARS."""
    text = printable(json.dumps(value, ensure_ascii=False))
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def _quoted(text: str | None) -> str:
    return f"\u201c{printable(' '.join(str(text).split()))}\u201d"


def _similarity(ev: Evidence, text: str | None) -> str:
    """What `min_similarity` adds, when it is not the default and the text is long enough to be
    matched fuzzily at all (shorter texts always match exactly)."""
    if ev.similarity == DEFAULT_SIMILARITY or len(key(str(text))) < FUZZY_MIN_CHARS:
        return ""
    if ev.similarity >= 1.0:
        return " (word for word)"
    share = f"{ev.similarity:.0%} similar"
    if ev.kind == "quote":
        return f" (small edits allowed: {share})"
    return f" (nor anything {share})"


def _pattern(pattern: str) -> str:
    """A regex as written, with a leading (?i) said in words."""
    if pattern.startswith("(?i)"):
        return f"/{printable(pattern[4:])}/ (any case)"
    return f"/{printable(pattern)}/"
