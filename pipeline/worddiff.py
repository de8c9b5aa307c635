"""Word diffs of page text as plain segments, and a region's line diff (inline and side by side)
with unchanged runs collapsed: what the desk, reports and alerts mark up. Pure; no escaping here.

`words` keeps every character: the `same` and `del` segments joined give the old text exactly,
`same` and `ins` the new one, so a renderer never shows text the page did not have.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rapidfuzz import fuzz

Op = Literal["same", "del", "ins"]
Opcode = tuple[str, int, int, int, int]  # difflib's: (tag, i1, i2, j1, j2)

# The cost bound: every alignment here is near-linear. Sequences (lines, sentences, words) are
# matched patience-style: their common start and end, then the items that occur once on each
# side, in order, as anchors; difflib (autojunk off: it is quadratic in repeats) only matches
# the stretches between anchors whose two lengths multiply to at most GAP_CELLS, and a larger
# stretch with no anchor is replaced whole. Past their common start and end, texts longer than
# CHUNK_OVER characters are aligned by line, then by sentence, so only the stretches that differ
# are split into words; one of more than TOKEN_LIMIT tokens a side (~2,000 words) is shown whole,
# deleted then inserted: a rewrite, not an edit.
GAP_CELLS = 10_000
CHUNK_OVER = 2_000
TOKEN_LIMIT = 4_000
_MAX_DEPTH = 24  # nested anchor searches (each narrows the stretch)
CONTEXT = 3  # unchanged lines shown around each change
PAIR_CUTOFF = 50  # lines less similar than this (rapidfuzz ratio, 0-100) are not one edited line
PAIR_LIMIT = 1_600  # a changed stretch of more line pairs than this is paired in order
ROW_LIMIT = 1_000  # rows of a region diff, at most

# words (with inner apostrophes: don't, Sheriff's), runs of white space, runs of punctuation
_TOKEN = re.compile(r"\w+(?:['\u2019]\w+)*|\s+|[^\w\s]+")
_WORD = re.compile(r"\w")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


@dataclass(frozen=True)
class Segment:
    op: Op
    text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def words(before: str, after: str) -> list[Segment]:
    """`before` → `after` as segments of unchanged, deleted and inserted words. Adjacent segments
    never share an op; white space and punctuation alone between two changes join them."""
    out: list[tuple[str, str]] = []
    _diff(before, after, 0, out)
    return _slide(_tidy(out))


def _diff(a: str, b: str, level: int, out: list[tuple[str, str]]) -> None:
    if a == b:
        out.append(("same", a))
        return
    p, s = _affixes(a, b)
    out.append(("same", a[:p]))
    middle_a, middle_b = a[p:len(a) - s], b[p:len(b) - s]
    if not middle_a or not middle_b:
        out += [("del", middle_a), ("ins", middle_b)]
    else:
        _middle(middle_a, middle_b, level, out)
    out.append(("same", a[len(a) - s:]))


def _middle(a: str, b: str, level: int, out: list[tuple[str, str]]) -> None:
    """Two texts that differ at both ends: long ones aligned by line (level 0), then sentence
    (level 1), what differs going down a level; words matched in what is left."""
    split = (_lines, _sentences)[level] if level < 2 else None
    if split and max(len(a), len(b)) > CHUNK_OVER:
        ca, cb = split(a), split(b)
        if len(ca) > 1 or len(cb) > 1:
            _align(ca, cb, lambda x, y: _diff(x, y, level + 1, out), out)
        else:
            _middle(a, b, level + 1, out)
        return
    if max(len(a), len(b)) <= TOKEN_LIMIT * 8:  # (a token is a character or more)
        ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
        if len(ta) <= TOKEN_LIMIT and len(tb) <= TOKEN_LIMIT:
            _align(ta, tb, lambda x, y: out.extend((("del", x), ("ins", y))), out)
            return
    out += [("del", a), ("ins", b)]


def _align(a: list[str], b: list[str], replace: Callable[[str, str], None],
           out: list[tuple[str, str]]) -> None:
    """Match tokens or chunks; `replace` handles each stretch that differs."""
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            out.append(("same", "".join(a[i1:i2])))
        else:
            replace("".join(a[i1:i2]), "".join(b[j1:j2]))


def _opcodes(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """difflib's opcodes for `a` → `b`, at near-linear cost (see GAP_CELLS)."""
    blocks: list[tuple[int, int, int]] = []
    _match(a, b, 0, len(a), 0, len(b), blocks, 0)
    out: list[Opcode] = []
    i = j = 0
    for ai, bj, n in [*blocks, (len(a), len(b), 0)]:
        if i < ai or j < bj:
            tag = "replace" if i < ai and j < bj else "delete" if i < ai else "insert"
            out.append((tag, i, ai, j, bj))
        if n:
            if out and out[-1][0] == "equal":  # adjacent runs: one equal stretch
                out[-1] = ("equal", out[-1][1], ai + n, out[-1][3], bj + n)
            else:
                out.append(("equal", ai, ai + n, bj, bj + n))
        i, j = ai + n, bj + n
    return out


def _match(a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int, bhi: int,
           blocks: list[tuple[int, int, int]], depth: int) -> None:
    """Append the matching runs (i, j, n) of a[alo:ahi] and b[blo:bhi], in order."""
    head = 0
    while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
        head += 1
    if head:
        blocks.append((alo, blo, head))
        alo, blo = alo + head, blo + head
    tail = 0
    while ahi - tail > alo and bhi - tail > blo and a[ahi - tail - 1] == b[bhi - tail - 1]:
        tail += 1
    ahi, bhi = ahi - tail, bhi - tail
    if alo < ahi and blo < bhi:
        if (ahi - alo) * (bhi - blo) <= GAP_CELLS:
            matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            blocks += [(alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n]
        elif depth < _MAX_DEPTH:
            i, j = alo, blo
            for ai, bj, n in _anchors(a, b, alo, ahi, blo, bhi):
                if i < ai and j < bj:
                    _match(a, b, i, ai, j, bj, blocks, depth + 1)
                blocks.append((ai, bj, n))
                i, j = ai + n, bj + n
            if i > alo and i < ahi and j < bhi:
                _match(a, b, i, ahi, j, bhi, blocks, depth + 1)
    if tail:
        blocks.append((ahi, bhi, tail))


def _anchors(a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int,
             bhi: int) -> list[tuple[int, int, int]]:
    """The items found once in a[alo:ahi] and once in b[blo:bhi], the longest chain of them in
    the same order on both sides (patience sorting), as runs (i, j, n) of adjacent ones."""
    once_a, once_b = _once(a, alo, ahi), _once(b, blo, bhi)
    pairs = [(i, j) for item, i in once_a.items() if i >= 0 and (j := once_b.get(item, -1)) >= 0]
    js = [j for _, j in pairs]
    chain = pairs if js == sorted(js) else _longest_chain(pairs)
    runs: list[tuple[int, int, int]] = []
    for i, j in chain:
        if runs and runs[-1][0] + runs[-1][2] == i and runs[-1][1] + runs[-1][2] == j:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((i, j, 1))
    return runs


def _longest_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of `pairs` (in increasing i) with increasing j."""
    tops: list[int] = []  # tops[k]: the smallest b index ending an increasing chain of k + 1
    ends: list[int] = []  # the pair at each top
    before: list[int] = []  # each pair's predecessor in its chain
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tops, j)
        before.append(ends[k - 1] if k else -1)
        if k == len(tops):
            tops.append(j)
            ends.append(n)
        else:
            tops[k], ends[k] = j, n
    chain = []
    n = ends[-1] if ends else -1
    while n >= 0:
        chain.append(pairs[n])
        n = before[n]
    return chain[::-1]


def _once(items: Sequence[str], lo: int, hi: int) -> dict[str, int]:
    """Each item of items[lo:hi] → its index, or -1 when it occurs more than once; in order."""
    where: dict[str, int] = {}
    for k in range(lo, hi):
        where[items[k]] = -1 if items[k] in where else k
    return where


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _sentences(text: str) -> list[str]:
    parts, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        parts.append(text[start:m.end()])
        start = m.end()
    return [*parts, text[start:]] if start < len(text) else parts


def _affixes(a: str, b: str) -> tuple[int, int]:
    """Lengths of the common start and end of `a` and `b`, cut back to token boundaries."""
    p = _common_prefix(a, b)
    while not (_boundary(a, p) and _boundary(b, p)):
        p -= 1
    limit = min(len(a), len(b)) - p
    s = min(_common_prefix(a[::-1], b[::-1]), limit) if limit else 0
    while s and not (_boundary(a, len(a) - s) and _boundary(b, len(b) - s)):
        s -= 1
    return p, s


def _boundary(text: str, i: int) -> bool:
    """Does a token end at `i`? Where word, space and punctuation meet, except at an apostrophe
    inside a word (the pattern keeps "don't" one token)."""
    if i == 0 or i == len(text):
        return True
    left, right = _kind(text[i - 1]), _kind(text[i])
    if left == right:
        return False
    inner = (right == "'" and i + 1 < len(text) and _kind(text[i + 1]) == "w"
             or left == "'" and i > 1 and _kind(text[i - 2]) == "w")
    return not inner


def _kind(char: str) -> str:
    if char in "'\u2019":
        return "'"
    return "w" if _WORD.match(char) else "s" if char.isspace() else "p"


def _common_prefix(a: str, b: str) -> int:
    """Length of the common start, compared in blocks (a 2 MB text in a millisecond)."""
    n, step, i = min(len(a), len(b)), 4096, 0
    while i < n and a[i:i + step] == b[i:i + step]:
        i += step
    end = min(i + step, n)
    while i < end and a[i] == b[i]:
        i += 1
    return i


def _tidy(raw: list[tuple[str, str]]) -> list[Segment]:
    """Raw pieces → segments: a run of changes becomes one deletion and one insertion (an
    unchanged space or comma between two changes joins them), adjacent equal ops merge."""
    pieces: list[tuple[str, str]] = []
    for op, text in raw:
        if text and pieces and op == pieces[-1][0] == "same":
            pieces[-1] = ("same", pieces[-1][1] + text)
        elif text:
            pieces.append((op, text))
    out: list[Segment] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted:
            out.append(Segment("del", "".join(deleted)))
        if inserted:
            out.append(Segment("ins", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for n, (op, text) in enumerate(pieces):
        if op == "del":
            deleted.append(text)
        elif op == "ins":
            inserted.append(text)
        elif ((deleted or inserted) and n + 1 < len(pieces) and pieces[n + 1][0] != "same"
              and not _WORD.search(text)):
            deleted.append(text)
            inserted.append(text)
        else:
            flush()
            out.append(Segment("same", text))
    flush()
    return out


def _slide(segments: list[Segment]) -> list[Segment]:
    """Move each lone insertion or deletion to where it reads best, when the same text could be
    marked at several places ("The [department's … office. The ]changes" → "[The department's …
    office. ]The changes"): starting and ending at a sentence, a line, or at least a word."""
    out = list(segments)
    for n, seg in enumerate(out):
        before = out[n - 1] if n else None
        after = out[n + 1] if n + 1 < len(out) else None
        if seg.op == "same" or (before and before.op != "same") or (after and after.op != "same"):
            continue
        a, d, b = before.text if before else "", seg.text, after.text if after else ""
        whole, at = a + d + b, len(a)
        left = _common_prefix(a[::-1], d[::-1])
        right = _common_prefix(d, b)
        best = max(range(at - left, at + right + 1),
                   key=lambda q: (_fit(whole, q) + _fit(whole, q + len(d)), q == at))
        if best != at:
            if before:
                out[n - 1] = Segment("same", whole[:best])
            out[n] = Segment(seg.op, whole[best:best + len(d)])
            if after:
                out[n + 1] = Segment("same", whole[best + len(d):])
    return [s for s in out if s.text]


def _fit(text: str, i: int) -> int:
    """How well a change starts or ends at `i`: at the text's ends or a line's, a sentence's, a
    word's, next to punctuation, or inside a word (0)."""
    if i in (0, len(text)) or text[i - 1] == "\n":
        return 4
    prev, char = text[i - 1], text[i]
    if prev.isspace() and i > 1 and text[i - 2] in ".!?;:":
        return 3
    if prev.isspace() or char.isspace():
        return 2
    return 1 if not (prev.isalnum() and char.isalnum()) else 0


# --- a region's lines -------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of a version: its number there (from 1), its text, and its words marked (a line
    paired with its edit has `same` and `del` or `ins` segments; any other line one segment)."""

    number: int
    text: str
    segments: tuple[Segment, ...]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "text": self.text,
                "segments": [s.to_json() for s in self.segments]}


Kind = Literal["same", "del", "ins", "change", "gap"]


@dataclass(frozen=True)
class Row:
    """A row of the side-by-side form: `same` (both sides), `del` (left only), `ins` (right only),
    `change` (a line and its edit), or `gap`: `hidden` unchanged lines left out, starting at
    `left` and `right` (then `text` says so: "… 40 unchanged lines …")."""

    kind: Kind
    left: Line | None
    right: Line | None
    hidden: int = 0

    @property
    def text(self) -> str:
        return f"… {self.hidden} unchanged line{'s' * (self.hidden != 1)} …" if self.hidden \
            else ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "left": self.left.to_json() if self.left else None,
                "right": self.right.to_json() if self.right else None, "hidden": self.hidden,
                "text": self.text}


@dataclass(frozen=True)
class Entry:
    """A line of the inline form: `same`, `del` or `ins` (a changed line is a `del` entry followed
    by its `ins` entry), or a `gap` of `hidden` unchanged lines; `before` and `after` are its line
    numbers in each version (a gap's first hidden line), None where it has none."""

    kind: Literal["same", "del", "ins", "gap"]
    text: str
    segments: tuple[Segment, ...]
    before: int | None
    after: int | None
    hidden: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text,
                "segments": [s.to_json() for s in self.segments], "before": self.before,
                "after": self.after, "hidden": self.hidden}


@dataclass(frozen=True)
class RegionDiff:
    """A region's lines before → after: `side_by_side` rows and the same as `inline` entries;
    the lines removed, added and changed (edited in place) among them, and how many changed lines
    were left out past the row limit (a rewritten sheet of 200,000 rows is not one page)."""

    side_by_side: tuple[Row, ...]
    inline: tuple[Entry, ...]
    removed: int
    added: int
    changed: int
    left_out: int = 0

    def __bool__(self) -> bool:
        return bool(self.removed or self.added or self.changed or self.left_out)

    def summary(self) -> str:
        """"+1 / -2 lines, 3 changed", or "no line changed"."""
        if not self:
            return "no line changed"
        moved = f"+{self.added} / -{self.removed} lines" if self.added or self.removed else ""
        edited = f"{self.changed} changed" if self.changed else ""
        more = f"{self.left_out} more changed lines not shown" if self.left_out else ""
        return ", ".join(p for p in (moved, edited, more) if p)

    def to_json(self) -> dict[str, Any]:
        return {"side_by_side": [r.to_json() for r in self.side_by_side],
                "inline": [e.to_json() for e in self.inline], "removed": self.removed,
                "added": self.added, "changed": self.changed, "left_out": self.left_out,
                "summary": self.summary()}


def lines(before: Sequence[str], after: Sequence[str], context: int = CONTEXT,
          limit: int = ROW_LIMIT) -> RegionDiff:
    """The line diff of a region (a Document's blocks, a sheet's rows): changed lines paired
    with their edit and marked word by word, `context` unchanged lines kept around each change,
    longer unchanged runs collapsed into one `gap` row, at most `limit` rows. Rows are made as
    they are taken: a sheet of 200,000 rows with one change costs a handful."""
    ops = _opcodes(before, after)
    rows = list(itertools.islice(_rows(before, after, ops, context), limit))
    removed = sum(1 for r in rows if r.kind == "del")
    added = sum(1 for r in rows if r.kind == "ins")
    changed = sum(1 for r in rows if r.kind == "change")
    changed_lines = sum(i2 - i1 + j2 - j1 for tag, i1, i2, j1, j2 in ops if tag != "equal")
    return RegionDiff(tuple(rows), tuple(_inline(rows)), removed, added, changed,
                      changed_lines - removed - added - 2 * changed)


def _rows(before: Sequence[str], after: Sequence[str], ops: list[Opcode],
          context: int) -> Iterator[Row]:
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag != "equal":
            yield from _replace(before, after, i1, i2, j1, j2)
            continue
        head = context if n > 0 else 0
        tail = context if n < len(ops) - 1 else 0
        hidden = i2 - i1 - head - tail
        if hidden < 2:  # a gap in place of one line saves nothing
            head, tail, hidden = i2 - i1, 0, 0
        for i in range(i1, i1 + head):
            yield _same(before, after, i, j1 + i - i1)
        if hidden:
            yield Row("gap", Line(i1 + head + 1, "", ()), Line(j1 + head + 1, "", ()), hidden)
        for i in range(i2 - tail, i2):
            yield _same(before, after, i, j1 + i - i1)


def _same(a: Sequence[str], b: Sequence[str], i: int, j: int) -> Row:
    return Row("same", _line(i + 1, a[i]), _line(j + 1, b[j]))


def _line(number: int, text: str, op: Op = "same") -> Line:
    return Line(number, text, (Segment(op, text),) if text else ())


def _replace(a: Sequence[str], b: Sequence[str], i1: int, i2: int, j1: int,
             j2: int) -> Iterator[Row]:
    """A stretch of changed lines: each old line paired with its edit where there is one, in
    order, the others deleted or inserted."""
    i, j = i1, j1
    for pi, pj in _pairs(a[i1:i2], b[j1:j2]):
        for n in range(i, i1 + pi):
            yield Row("del", _line(n + 1, a[n], "del"), None)
        for n in range(j, j1 + pj):
            yield Row("ins", None, _line(n + 1, b[n], "ins"))
        i, j = i1 + pi, j1 + pj
        segments = words(a[i], b[j])
        left, right = _side(segments, "ins"), _side(segments, "del")
        yield Row("change", Line(i + 1, a[i], left), Line(j + 1, b[j], right))
        i, j = i + 1, j + 1
    for n in range(i, i2):
        yield Row("del", _line(n + 1, a[n], "del"), None)
    for n in range(j, j2):
        yield Row("ins", None, _line(n + 1, b[n], "ins"))


def _side(segments: list[Segment], other: Op) -> tuple[Segment, ...]:
    """One side of a word diff: without the other side's segments, its own merged."""
    out: list[Segment] = []
    for s in segments:
        if s.op == other:
            continue
        if out and out[-1].op == s.op:
            out[-1] = Segment(s.op, out[-1].text + s.text)
        else:
            out.append(s)
    return tuple(out)


def _pairs(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """Which old line became which new one: the in-order pairing with the greatest total
    similarity, among pairs at least PAIR_CUTOFF alike; beyond PAIR_LIMIT pairs to weigh, line
    by line in order, and in a stretch of more than ROW_LIMIT lines (a rewrite), none."""
    if len(a) * len(b) > PAIR_LIMIT:
        if max(len(a), len(b)) > ROW_LIMIT:
            return []
        return [(k, k) for k in range(min(len(a), len(b)))
                if fuzz.ratio(a[k], b[k]) >= PAIR_CUTOFF]
    score = [[fuzz.ratio(x, y, score_cutoff=PAIR_CUTOFF) for y in b] for x in a]
    # best[i][j]: the greatest total over a[i:], b[j:]
    best = [[0.0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            paired = best[i + 1][j + 1] + score[i][j] if score[i][j] else 0.0
            best[i][j] = max(best[i + 1][j], best[i][j + 1], paired)
    pairs, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if score[i][j] and best[i][j] == best[i + 1][j + 1] + score[i][j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _inline(rows: list[Row]) -> list[Entry]:
    out = []
    for row in rows:
        left, right = row.left, row.right
        if row.kind == "gap":
            assert left is not None and right is not None
            out.append(Entry("gap", row.text, (), left.number, right.number, row.hidden))
            continue
        if left is not None:
            kind: Literal["same", "del"] = "same" if row.kind == "same" else "del"
            out.append(Entry(kind, left.text, left.segments, left.number,
                             right.number if kind == "same" and right else None))
        if right is not None and row.kind != "same":
            out.append(Entry("ins", right.text, right.segments, None, right.number))
    return out
