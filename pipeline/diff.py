"""Two Documents → what changed between them: a unified text diff, table rows added / removed /
changed, feed items or links added / removed. Plain data in and out; the CLI renders it.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.extract import Document, Item, Row, Table


@dataclass(frozen=True)
class TableDiff:
    header: Row
    added: list[Row]
    removed: list[Row]
    changed: list[tuple[Row, Row]]  # (before, after)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class Diff:
    text: list[str] = field(default_factory=list)  # unified diff lines, without the file header
    tables: list[TableDiff] = field(default_factory=list)
    items_added: list[Item] = field(default_factory=list)
    items_removed: list[Item] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.text or self.tables or self.items_added or self.items_removed)

    def summary(self) -> str:
        """A few words for the audit log: "+1 row, 1 row changed", "+2 / -1 lines", …"""
        parts = []
        for table in self.tables:
            parts += [f"{sign}{len(rows)} row{'s' * (len(rows) != 1)}"
                      for sign, rows in (("+", table.added), ("-", table.removed)) if rows]
            if table.changed:
                parts.append(f"{len(table.changed)} row(s) changed")
        if self.items_added or self.items_removed:
            parts.append(f"+{len(self.items_added)} / -{len(self.items_removed)} items")
        if self.text and not self.tables:
            added = sum(1 for line in self.text if line.startswith("+"))
            removed = sum(1 for line in self.text if line.startswith("-"))
            parts.append(f"+{added} / -{removed} lines")
        return ", ".join(parts) or "no change in what claimwatch reads"


def diff(before: Document, after: Document, context: int = 2) -> Diff:
    text = list(difflib.unified_diff(list(before.blocks), list(after.blocks), lineterm="",
                                     n=context))[2:]
    tables = [d for d in (diff_tables(a, b) for a, b in zip(before.tables, after.tables,
                                                              strict=False)) if d]
    keys_before = {i.key for i in before.items}
    keys_after = {i.key for i in after.items}
    return Diff(text=text, tables=tables,
                items_added=[i for i in after.items if i.key not in keys_before],
                items_removed=[i for i in before.items if i.key not in keys_after])


def header_index(table: Table) -> int:
    """Where the header is when no expectation names the columns: the first row with at least two
    filled cells (title rows above a spreadsheet's header have one)."""
    for i, row in enumerate(table):
        if sum(1 for cell in row if cell) >= 2:
            return i
    return 0


def diff_tables(before: Table, after: Table) -> TableDiff:
    hb, ha = header_index(before), header_index(after)
    return diff_rows(after[ha] if after else (), before[hb + 1:], after[ha + 1:])


def diff_rows(header: Row, before: Sequence[Row], after: Sequence[Row]) -> TableDiff:
    """Rows as multisets (order does not count): a removed row and an added one that share at
    least half their cells are one row changed."""
    rows_before = Counter(before)
    rows_after = Counter(after)
    removed = list((rows_before - rows_after).elements())
    added = list((rows_after - rows_before).elements())
    changed = []
    for old in list(removed):
        best = max(added, key=lambda new: _same_cells(old, new), default=None)
        if best is not None and _same_cells(old, best) * 2 >= max(len(old), len(best)):
            changed.append((old, best))
            removed.remove(old)
            added.remove(best)
    return TableDiff(header=header, added=added, removed=removed, changed=changed)


def _same_cells(a: Row, b: Row) -> int:
    return sum(1 for x, y in zip(a, b, strict=False) if x == y and x)
