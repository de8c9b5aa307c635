"""Expectations → outcomes (SPEC §1 "Outcomes"): pure functions of an evidence item, the current
Document and the baseline Document.

Each expectation kind has one observer that says whether it holds on a document and what it
*observed* there (the matching passage, the matching rows, the value, the new items, the digest
of the region's text). `evaluate` observes both the current and the baseline document and
compares the two, so `changed` is scoped to the evidence, never to the page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jmespath

from pipeline import userregex
from pipeline.config import Evidence
from pipeline.extract import Document, Item, Row, Table
from pipeline.textnorm import clean, key
from pipeline.vocab import Outcome

# a source is `unreachable` at once on HTTP 404/410, else after this many failed checks in a row
FAILURES_BEFORE_UNREACHABLE = 3
CLOSEST_WORTH_SHOWING = 0.6  # below this the "closest match" is another sentence altogether
# only these kinds look at a passage or rows that can differ while the expectation still holds
_CAN_CHANGE = {"quote", "table"}


@dataclass(frozen=True)
class Observation:
    holds: bool | None  # None: could not evaluate (reason says why)
    observed: Any
    reason: str


@dataclass(frozen=True)
class Result:
    status: Outcome
    observed: Any
    baseline_observed: Any
    reason: str

    @property
    def differs(self) -> bool:
        """Did the item observe something other than on its baseline?"""
        return self.observed != self.baseline_observed


def evaluate(ev: Evidence, doc: Document, baseline: Document | None) -> Result:
    """Outcome of `ev` on `doc` against `baseline` (None on the item's first evaluation)."""
    base_doc = baseline if baseline is not None else doc
    observer = OBSERVERS[ev.kind]
    now = observer(ev, doc, base_doc)
    then = now if baseline is None else observer(ev, base_doc, base_doc)
    if now.holds is None:
        return Result(Outcome.ERROR, {"error": now.reason}, then.observed, now.reason)
    if not now.holds:
        reason = now.reason
        if ev.kind == "quote" and then.observed is not None:
            reason = reason.replace("quote not found", "quote no longer found", 1)
        return Result(Outcome.BROKEN, now.observed, then.observed, reason)
    if ev.kind in _CAN_CHANGE and now.observed != then.observed:
        return Result(Outcome.CHANGED, now.observed, then.observed, _changed_reason(ev, now, then))
    return Result(Outcome.HOLDS, now.observed, then.observed, now.reason)


def error(reason: str) -> Result:
    """The outcome of an item whose source could not be read (the reason says why)."""
    return Result(Outcome.ERROR, {"error": reason}, None, reason)


def unreachable(observed: dict[str, Any], reason: str) -> Result:
    return Result(Outcome.UNREACHABLE, observed, None, reason)


# --- observers: one per expectation kind ------------------------------------------------------


def _quote(ev: Evidence, doc: Document, _base: Document) -> Observation:
    assert ev.quote is not None
    match, closest = doc.text.find(ev.quote, ev.similarity)
    if match is None:
        near = (f" (closest match {closest.similarity:.0%}: \"{_short(closest.display)}\")"
                if closest and closest.similarity >= CLOSEST_WORTH_SHOWING else "")
        return Observation(False, None, f"quote not found{near}")
    how = "" if match.similarity == 1.0 else f" at {match.similarity:.0%}"
    return Observation(True, match.passage, f"quote found{how}: \"{_short(match.display)}\"")


def _absent(ev: Evidence, doc: Document, _base: Document) -> Observation:
    assert ev.absent is not None
    match, _ = doc.text.find(ev.absent, ev.similarity)
    if match is None:
        return Observation(True, None, f"\"{_short(ev.absent)}\" does not appear")
    return Observation(False, match.passage, f"\"{_short(ev.absent)}\" now appears: "
                                             f"\"{_short(doc.text.context(match), 160)}\"")


def _table(ev: Evidence, doc: Document, base: Document) -> Observation:
    spec = ev.table
    assert spec is not None
    where_text = ", ".join(f"{k}={v}" for k, v in spec.where.items())
    now = table_matches(ev, doc)
    if isinstance(now, str):
        return Observation(None, None, now)
    rows, values = now.rows, now.values
    observed = sorted(list(r) for r in rows)
    n, unit = (len(values), f"distinct {spec.distinct}") if spec.distinct else (len(rows), "rows")
    if spec.present is not None:
        holds = (n > 0) == spec.present
        expected = "at least one row" if spec.present else "no row"
        reason = f"rows with {where_text}: expected {expected}, found {len(rows)}"
    else:
        holds = n == spec.count
        reason = f"rows with {where_text}: expected {spec.count} {unit}, found {n}"
    then = table_matches(ev, base) if base is not doc else None
    if not holds and isinstance(then, TableMatch):
        if spec.distinct:
            delta = _values_text(sorted(values - then.values), sorted(then.values - values))
        else:
            delta = _rows_text(*row_delta(sorted(list(r) for r in then.rows), observed))
        reason += f" ({delta})" if delta else ""
    return Observation(holds, observed, reason)


@dataclass(frozen=True)
class TableMatch:
    header: Row
    rows: list[Row]
    values: set[str]  # the `distinct` column's values among `rows` (empty without `distinct`)


def table_matches(ev: Evidence, doc: Document) -> TableMatch | str:
    """The header and rows matching the item's `where`, and the `distinct` values among them,
    or why there are none to read."""
    spec = ev.table
    assert spec is not None
    wanted = [*spec.where, *([spec.distinct] if spec.distinct else [])]
    found = find_header(doc.tables, wanted)
    if found is None:
        return f"no table with columns {', '.join(wanted)} ({len(doc.tables)} table(s) read)"
    header, body = found
    index = {key(name): i for i, name in reversed(list(enumerate(header)))}
    conditions = [(index[key(col)], key(val)) for col, val in spec.where.items()]
    rows = [r for r in body if all(key(_cell(r, i)) == v for i, v in conditions)]
    values = {_cell(r, index[key(spec.distinct)]) for r in rows} if spec.distinct else set()
    return TableMatch(header, rows, values)


def _json(ev: Evidence, doc: Document, _base: Document) -> Observation:
    spec = ev.json_
    assert spec is not None
    if doc.kind != "json":
        return Observation(None, None, f"a json expectation needs a JSON source, got {doc.kind}")
    value = jmespath.search(spec.path, doc.data)
    shown = json.dumps(value, ensure_ascii=False)[:200]
    if value == spec.equals:
        return Observation(True, value, f"{spec.path} is {shown}")
    want = json.dumps(spec.equals, ensure_ascii=False)[:200]
    return Observation(False, value, f"{spec.path} is {shown}, expected {want}")


def _new_items(ev: Evidence, doc: Document, base: Document) -> Observation:
    new, _ = new_items(ev, doc, base)
    if not new:
        return Observation(True, [], f"no new item matches /{ev.new_items}/")
    shown = "; ".join(f"\"{_short(i.title or i.key)}\"" + (f" ({i.link})" if i.link else "")
                      for i in new[:3])
    more = f" (+{len(new) - 3} more)" if len(new) > 3 else ""
    return Observation(False, sorted([i.key, i.title] for i in new),
                       f"{len(new)} new item(s) match /{ev.new_items}/: {shown}{more}")


def new_items(ev: Evidence, doc: Document, base: Document) -> tuple[list[Item], int]:
    """The items of `doc` first seen after `base` that match the item's pattern, and how many
    other items are new."""
    assert ev.new_items is not None
    pattern = ev.new_items
    seen = {item.key for item in base.items}
    new = [i for i in doc.items if i.key not in seen]
    matching = [i for i in new
                if userregex.search(pattern, i.title) or userregex.search(pattern, i.text)]
    return matching, len(new) - len(matching)


def _changes(ev: Evidence, doc: Document, base: Document) -> Observation:
    """Observes the region's text by its digest (and length): an outcome row keeps that, not
    the text, which the snapshot it names gives back (the desk and report re-read it there)."""
    now = doc.text.folded
    observed = {"sha256": hashlib.sha256(now.encode()).hexdigest(), "chars": len(now)}
    if now == base.text.folded:
        return Observation(True, observed, "the region's text is unchanged since the baseline")
    return Observation(False, observed, f"the region's text changed since the baseline "
                                        f"({_line_delta(base.blocks, doc.blocks)})")


OBSERVERS: dict[str, Callable[[Evidence, Document, Document], Observation]] = {
    "quote": _quote, "absent": _absent, "table": _table, "json": _json,
    "new_items": _new_items, "changes": _changes,
}


# --- helpers -------------------------------------------------------------------------------


def find_header(tables: tuple[Table, ...], columns: list[str]) -> tuple[Row, list[Row]] | None:
    """The first table row that names every column in `columns`, and the rows below it."""
    wanted = {key(c) for c in columns}
    for table in tables:
        for i, row in enumerate(table):
            if wanted <= {key(c) for c in row}:
                return row, list(table[i + 1:])
    return None


def _cell(row: Row, i: int) -> str:
    return row[i] if i < len(row) else ""


def _changed_reason(ev: Evidence, now: Observation, then: Observation) -> str:
    if ev.kind == "quote":
        return (f"quoted passage changed: \"{_short(str(then.observed))}\" → "
                f"\"{_short(str(now.observed))}\"")
    delta = _rows_text(*row_delta(then.observed or [], now.observed or []))
    return f"{now.reason}, but the matching rows changed ({delta})"


def row_delta(before: list[list[str]], after: list[list[str]]) -> tuple[list[list[str]],
                                                                        list[list[str]]]:
    """Rows in `after` but not `before` (added) and the reverse (removed), as multisets."""
    remaining = [tuple(r) for r in before]
    added = []
    for row in after:
        if tuple(row) in remaining:
            remaining.remove(tuple(row))
        else:
            added.append(row)
    return added, [list(r) for r in remaining]


def _rows_text(added: list[list[str]], removed: list[list[str]]) -> str:
    parts = [f"added: {' | '.join(r)}" for r in added[:3]]
    parts += [f"removed: {' | '.join(r)}" for r in removed[:3]]
    extra = len(added) + len(removed) - len(parts)
    return "; ".join(parts) + (f"; +{extra} more" if extra > 0 else "")


def _values_text(added: list[str], removed: list[str]) -> str:
    parts = [f"added: {', '.join(added)}"] if added else []
    parts += [f"removed: {', '.join(removed)}"] if removed else []
    return "; ".join(parts)


def _line_delta(before: tuple[str, ...], after: tuple[str, ...]) -> str:
    old, new = set(before), set(after)
    added = [b for b in after if b not in old]
    removed = [b for b in before if b not in new]
    first = added[0] if added else (removed[0] if removed else "")
    return (f"+{len(added)} / -{len(removed)} block(s)"
            + (f"; first: \"{_short(first)}\"" if first else ""))


def _short(text: str, limit: int = 120) -> str:
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
