"""The change of one evidence item from its baseline Document to a current one, as an editor
reviews it: the expectation in words, a one-line summary, what the item reads on each side (the
quoted passage, the matching rows, the value, the new items) and the region's line diff.

Pure, and read the way `evaluate` reads (its matchers, its table and item selection), so what is
shown is what was judged. Page text stays data, unescaped (renderers escape), but everything
returned is free of control characters.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jmespath

from pipeline.config import Evidence
from pipeline.describe import in_words, value_in_words
from pipeline.diff import diff_rows
from pipeline.evaluate import CLOSEST_WORTH_SHOWING, TableMatch, new_items, table_matches
from pipeline.extract import Document, Row
from pipeline.textnorm import Match, key, printable
from pipeline.worddiff import RegionDiff, Segment, lines, words

CONTEXT_CHARS = 300  # at most this much of a passage's sentence on each side
JSON_CHARS = 4_000  # a value's JSON beyond this is cut (a path naming the whole document)
_LOOSE = " ,;:"  # what a fuzzy match's ends may pick up beyond the words
SHOWN = 2  # rows, values or items a summary names before "and N more"
# a full stop, then space and a capital (or an opening quote): "on Jan. 14" goes on
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z])")


@dataclass(frozen=True)
class Passage:
    """Where the item's text is (or comes closest) in a version: the passage as the page shows
    it, its similarity to the item's text, whether that is enough to count as found, and the
    rest of its sentence(s) on each side."""

    text: str
    similarity: float
    matches: bool
    before: str
    after: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QuoteChange:
    """`quote`: the passage on the baseline and now (the match, else the closest passage worth
    showing, else None), and the words that differ between the two."""

    quote: str
    before: Passage | None
    now: Passage | None
    segments: tuple[Segment, ...]

    def to_json(self) -> dict[str, Any]:
        return {"quote": self.quote, "before": _json(self.before), "now": _json(self.now),
                "segments": [s.to_json() for s in self.segments]}


@dataclass(frozen=True)
class AbsentChange:
    """`absent`: where the text appears now, and where it already did on the baseline."""

    text: str
    before: Passage | None
    now: Passage | None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "before": _json(self.before), "now": _json(self.now)}


@dataclass(frozen=True)
class RowChange:
    """A matching row edited in place: both versions and the indexes of the cells that differ."""

    before: Row
    after: Row
    cells: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"before": list(self.before), "after": list(self.after), "cells": list(self.cells)}


@dataclass(frozen=True)
class TableChange:
    """`table`: the header and the rows matching `where`, added, removed and changed; the count
    on each side as the expectation counts it (`counts` says what: rows, or distinct values, then
    `values_added` and `values_removed` too). A side without a table with the named columns has
    no count and says why in `problem_before` / `problem_now`."""

    header: Row
    counts: str
    count_before: int | None
    count_now: int | None
    added: tuple[Row, ...]
    removed: tuple[Row, ...]
    changed: tuple[RowChange, ...]
    values_added: tuple[str, ...]
    values_removed: tuple[str, ...]
    problem_before: str | None
    problem_now: str | None

    def to_json(self) -> dict[str, Any]:
        return {"header": list(self.header), "counts": self.counts,
                "count_before": self.count_before, "count_now": self.count_now,
                "added": [list(r) for r in self.added], "removed": [list(r) for r in self.removed],
                "changed": [c.to_json() for c in self.changed],
                "values_added": list(self.values_added),
                "values_removed": list(self.values_removed),
                "problem_before": self.problem_before, "problem_now": self.problem_now}


@dataclass(frozen=True)
class JsonChange:
    """`json`: the value at the path, expected, on the baseline and now, each also as short JSON
    text, with the words that differ between the two texts."""

    path: str
    expected: Any
    before: Any
    now: Any
    before_text: str
    now_text: str
    segments: tuple[Segment, ...]
    problem: str | None  # the source is not JSON

    def to_json(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                "segments": [s.to_json() for s in self.segments]}


@dataclass(frozen=True)
class NewItem:
    key: str
    title: str
    link: str | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class NewItemsChange:
    """`new_items`: the entries or links first seen after the baseline that match, and how many
    other ones are new."""

    pattern: str
    matching: tuple[NewItem, ...]
    other_new: int

    def to_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "matching": [i.to_json() for i in self.matching],
                "other_new": self.other_new}


Detail = QuoteChange | AbsentChange | TableChange | JsonChange | NewItemsChange


@dataclass(frozen=True)
class EvidenceChange:
    """One evidence item, baseline → now. `detail` is the part of its kind (None for `changes:
    any`, whose evidence is the whole `region`)."""

    kind: str
    expectation_words: str
    summary: str
    detail: Detail | None
    region: RegionDiff

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "expectation_words": self.expectation_words,
                "summary": self.summary, "detail": _json(self.detail),
                "region": self.region.to_json()}


def change(ev: Evidence, baseline: Document, current: Document) -> EvidenceChange:
    """What changed for `ev` from `baseline` to `current`."""
    summary, detail = _DETAILS[ev.kind](ev, baseline, current)
    region = lines(_printable_lines(baseline.blocks), _printable_lines(current.blocks))
    if ev.kind == "changes":
        summary = ("the selected text is unchanged (case, spacing and quote marks aside)"
                   if current.text.folded == baseline.text.folded
                   else f"the selected text changed: {region.summary()}")
    return EvidenceChange(ev.kind, in_words(ev), printable(summary), _printable(detail), region)


def _quote(ev: Evidence, baseline: Document, current: Document) -> tuple[str, QuoteChange]:
    assert ev.quote is not None
    before, now = _passage(ev, ev.quote, baseline), _passage(ev, ev.quote, current)
    segments = tuple(words(before.text, now.text)) if before and now else ()
    found_before, found_now = bool(before and before.matches), bool(now and now.matches)
    if found_before and found_now:
        assert before is not None and now is not None
        if key(before.text) == key(now.text):
            summary = "the quoted passage is unchanged"
        else:
            summary = f"the quoted passage was edited: {_edits(segments)}"
    elif found_now:
        summary = "the quote appears now; it did not on the baseline"
    elif not found_before:
        summary = "the quote appears neither on the baseline nor now"
    elif now is not None:
        summary = (f"the quote is gone; the closest passage now is {now.similarity:.0%} "
                   f"similar: {_short(now.text)}")
    else:
        summary = "the quote is gone; nothing like it remains in the region"
    return summary, QuoteChange(ev.quote, before, now, segments)


def _absent(ev: Evidence, baseline: Document, current: Document) -> tuple[str, AbsentChange]:
    assert ev.absent is not None
    before, now = _passage(ev, ev.absent, baseline), _passage(ev, ev.absent, current)
    before = before if before and before.matches else None
    now = now if now and now.matches else None
    what = f"\u201c{ev.absent}\u201d"
    if now is None:
        summary = f"{what} does not appear"
    elif before is not None:
        summary = f"{what} appears, as it did on the baseline: {_short(now.text)}"
    else:
        summary = f"{what} now appears: {_short(now.before + now.text + now.after)}"
    return summary, AbsentChange(ev.absent, before, now)


def _passage(ev: Evidence, text: str, doc: Document) -> Passage | None:
    """The match of `text` in `doc`, else the closest passage worth showing."""
    match, closest = doc.text.find(text, ev.similarity)
    found = match or closest
    if found is None or (match is None and found.similarity < CLOSEST_WORTH_SHOWING):
        return None
    start, end = _trimmed(doc.text.display, found, text)
    before, after = _sentence(doc.text.display, start, end)
    return Passage(doc.text.display[start:end], found.similarity, match is not None, before,
                   after)


def _trimmed(display: str, match: Match, text: str) -> tuple[int, int]:
    """A fuzzy passage's span without the spaces and separators it picked up at its ends
    ("… arrests, " for "… arrests"), unless the item's text has them too."""
    start, end = match.start, match.start + len(match.display)
    want = key(text)
    while end > start and display[end - 1] in _LOOSE and not want.endswith(display[end - 1]):
        end -= 1
    while start < end and display[start] in _LOOSE and not want.startswith(display[start]):
        start += 1
    return start, end


def _sentence(display: str, start: int, end: int) -> tuple[str, str]:
    """The rest of the sentence(s) a passage stands in, before and after it (at most
    CONTEXT_CHARS on each side, cut at a word with "…")."""
    lo = max(0, start - CONTEXT_CHARS)
    window = display[lo:start]
    # the match's first characters tell whether a sentence ends just before it
    ends = [m for m in _SENTENCE_END.finditer(display[lo:start + 2]) if m.end() <= len(window)]
    if ends:
        before = window[ends[-1].end():]
    elif lo > 0:
        before = "…" + window[window.find(" ") + 1:]
    else:
        before = window
    window = display[end:end + CONTEXT_CHARS]
    if end and display[end - 1] in ".!?\u2026":
        after = ""
    elif m := _SENTENCE_END.search(window + " A"):  # the region's end ends a sentence too
        after = window[:m.end()].rstrip()
    elif end + CONTEXT_CHARS < len(display):
        after = window[:window.rfind(" ")] + "…"
    else:
        after = window
    return before, after


def _table(ev: Evidence, baseline: Document, current: Document) -> tuple[str, TableChange]:
    spec = ev.table
    assert spec is not None
    then, now = table_matches(ev, baseline), table_matches(ev, current)
    counts = f"distinct {spec.distinct} values" if spec.distinct else "rows"
    rows_then = then.rows if isinstance(then, TableMatch) else []
    rows_now = now.rows if isinstance(now, TableMatch) else []
    header = (now.header if isinstance(now, TableMatch)
              else then.header if isinstance(then, TableMatch) else ())
    delta = diff_rows(header, rows_then, rows_now)
    changed = tuple(RowChange(old, new, tuple(i for i in range(max(len(old), len(new)))
                                              if _cell(old, i) != _cell(new, i)))
                    for old, new in delta.changed)
    values_then = then.values if isinstance(then, TableMatch) else set()
    values_now = now.values if isinstance(now, TableMatch) else set()
    detail = TableChange(
        header=header, counts=counts,
        count_before=_count(then, spec.distinct), count_now=_count(now, spec.distinct),
        added=tuple(delta.added), removed=tuple(delta.removed), changed=changed,
        values_added=tuple(sorted(values_now - values_then)),
        values_removed=tuple(sorted(values_then - values_now)),
        problem_before=then if isinstance(then, str) else None,
        problem_now=now if isinstance(now, str) else None)
    return _table_summary(ev, detail), detail


def _count(found: TableMatch | str, distinct: str | None) -> int | None:
    if isinstance(found, str):
        return None
    return len(found.values) if distinct else len(found.rows)


def _table_summary(ev: Evidence, t: TableChange) -> str:
    if t.problem_now:
        return t.problem_now
    spec = ev.table
    assert spec is not None
    what = "the count" if spec.count is not None else "the number of matching rows"
    if t.count_before is None:
        head = f"{what} is {t.count_now} (no such table on the baseline)"
    elif t.count_before != t.count_now:
        head = f"{what} went from {t.count_before} to {t.count_now}"
    else:
        head = f"{what} is still {t.count_now}"
    if spec.distinct and (t.values_added or t.values_removed):
        parts = [_names("added", t.values_added), _names("removed", t.values_removed)]
    else:
        label = _labeller(ev, t.header)
        parts = [_names("added", [label(r) for r in t.added]),
                 _names("removed", [label(r) for r in t.removed])]
        if t.changed:
            first = t.changed[0]
            edits = "; ".join(f"{_column(t.header, i)} {_cell(first.before, i)} → "
                              f"{_cell(first.after, i)}" for i in first.cells[:SHOWN])
            more = f" and {len(t.changed) - 1} more" if len(t.changed) > 1 else ""
            parts.append(f"edited {label(first.after)} ({edits}){more}")
    told = "; ".join(p for p in parts if p)
    if not told:
        return f"{head}; the matching rows are unchanged"
    return f"{head}: {told}" if t.count_before != t.count_now else f"{head}, but {told}"


def _labeller(ev: Evidence, header: Row) -> Callable[[Row], str]:
    """A row's name in a summary: its `distinct` cell, else its first filled cell outside the
    `where` columns (those are the same in every matching row)."""
    spec = ev.table
    assert spec is not None
    columns = [key(c) for c in header]
    if spec.distinct:
        at = columns.index(key(spec.distinct))
        return lambda row: _cell(row, at) or " | ".join(row)
    skip = {key(c) for c in spec.where}
    keep = [i for i, c in enumerate(columns) if c not in skip]
    return lambda row: next((row[i] for i in keep if _cell(row, i)), " | ".join(row))


def _names(verb: str, names: Sequence[str]) -> str:
    return f"{verb} {_listing(names)}" if names else ""


def _listing(names: Sequence[str]) -> str:
    """"A, B and 3 more": the first SHOWN names."""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _column(header: Row, i: int) -> str:
    return _cell(header, i) or f"column {i + 1}"


def _cell(row: Row, i: int) -> str:
    return row[i] if i < len(row) else ""


def _json_value(ev: Evidence, baseline: Document,
                current: Document) -> tuple[str, JsonChange]:
    spec = ev.json_
    assert spec is not None
    wrong = next((d.kind for d in (current, baseline) if d.kind != "json"), None)
    if wrong:
        problem = f"a json expectation needs a JSON source, got {wrong}"
        return problem, JsonChange(spec.path, spec.equals, None, None, "", "", (), problem)
    before = jmespath.search(spec.path, baseline.data)
    now = jmespath.search(spec.path, current.data)
    before_text, now_text = _json_text(before), _json_text(now)
    segments = tuple(words(before_text, now_text))
    if before == now:
        summary = f"the value at {spec.path} is still {value_in_words(now)}"
    else:
        summary = (f"the value at {spec.path} went from {value_in_words(before)} to "
                   f"{value_in_words(now)}")
    return summary, JsonChange(spec.path, spec.equals, before, now, before_text, now_text,
                               segments, None)


def _json_text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= JSON_CHARS else text[:JSON_CHARS - 1] + "…"


def _new_items(ev: Evidence, baseline: Document,
               current: Document) -> tuple[str, NewItemsChange]:
    matching, others = new_items(ev, current, baseline)
    shown = tuple(NewItem(i.key, i.title, i.link) for i in matching)
    one, many = ("feed entry", "feed entries") if current.kind == "feed" else ("link", "links")
    other = f" ({others} other new {one if others == 1 else many})" if others else ""
    if not shown:
        summary = f"no new {one} matches{other}"
    else:
        titles = [_short(i.title or i.key) for i in shown]
        count = f"{len(shown)} new {one if len(shown) == 1 else many}"
        summary = f"{count} match{'es' * (len(shown) == 1)}: {_listing(titles)}{other}"
    return summary, NewItemsChange(str(ev.new_items), shown, others)


def _no_detail(ev: Evidence, baseline: Document, current: Document) -> tuple[str, None]:
    return "", None  # `changes: any`: the region is the evidence (its summary is made there)


Describer = Callable[[Evidence, Document, Document], tuple[str, Detail | None]]
_DETAILS: dict[str, Describer] = {"quote": _quote, "absent": _absent, "table": _table,
                                  "json": _json_value, "new_items": _new_items,
                                  "changes": _no_detail}


# --- helpers -------------------------------------------------------------------------------


def _edits(segments: tuple[Segment, ...]) -> str:
    """The first edits of a passage, as "“escort” → “escorts”"."""
    edits, deleted = [], ""
    for s in segments:
        if s.op == "del":
            deleted = s.text
        elif s.op == "ins" or deleted:
            inserted = s.text if s.op == "ins" else ""
            edits.append(f"\u201c{deleted.strip()}\u201d → \u201c{inserted.strip()}\u201d")
            deleted = ""
    if deleted:
        edits.append(f"\u201c{deleted.strip()}\u201d → \u201c\u201d")
    return _listing(edits)


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return f"\u201c{text}\u201d" if len(text) <= limit else f"\u201c{text[:limit - 1]}…\u201d"


def _json(value: Any) -> Any:
    return value.to_json() if value is not None else None


def _printable_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The region's lines without control characters (one scan when there are none)."""
    joined = "\n".join(lines)
    return lines if printable(joined) == joined else tuple(printable(line) for line in lines)


def _printable(value: Any) -> Any:
    """`value` (a detail: a few passages, rows, items or values) with control characters taken
    out of every string in it, rebuilt only where one was found."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, tuple | list):
        items = [_printable(v) for v in value]
        same = all(a is b for a, b in zip(items, value, strict=True))
        return value if same else type(value)(items)
    if isinstance(value, dict):
        pairs = [(_printable(k), _printable(v)) for k, v in value.items()]
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))
        return value if same else dict(pairs)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        clean = {name: _printable(v) for name, v in fields.items()}
        if all(clean[name] is v for name, v in fields.items()):
            return value
        return dataclasses.replace(value, **clean)
    return value
