"""Text normalization and quote matching: the one place that decides when two texts are "the same".

SPEC §1 matching ignores case, whitespace runs, and curly-vs-straight quotes and dashes. The same
normalization serves `quote`/`absent` matching, `changes: any` and the passage a quote observed,
so a CMS that re-wraps markup or straightens quotes changes none of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

_CHARMAP = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
        **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
    }
)
_SPACES = re.compile(r"\s+")
# C0 controls but tab and newline, DEL, and C1: terminal escapes, NUL, CR (\x9b alone is a CSI)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Below this length a text (a word, a name) must match exactly, at the start of a word: fuzzy
# matching a short needle finds it inside unrelated words ("ICE" in "police").
FUZZY_MIN_CHARS = 20


def clean(text: str) -> str:
    """Display form: compatibility forms folded, quotes and dashes straight, spaces collapsed."""
    if not text.isascii():  # NFKC and the quote/dash map only ever touch non-ASCII text
        text = unicodedata.normalize("NFKC", text).translate(_CHARMAP)
    return _SPACES.sub(" ", text).strip()


def printable(text: str) -> str:
    """Page text fit for any output (a console, a message, the desk): C0 and C1 control
    characters removed, except tab and newline."""
    return _CONTROLS.sub("", text)


def fold(text: str) -> str:
    """Comparison form of already-`clean` text: lower case, same length as its input."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def key(text: str) -> str:
    """What two texts are compared by: `fold(clean(text))`."""
    return fold(clean(text))


@dataclass(frozen=True)
class Match:
    """Where a needle was found in a text: the passage (comparison form) and its similarity."""

    passage: str
    display: str
    similarity: float  # 0.0-1.0
    start: int  # where the passage starts in the searched text


@dataclass(frozen=True)
class Searchable:
    """A text prepared once for many searches (display and comparison forms, equal lengths)."""

    display: str
    folded: str

    @classmethod
    def of(cls, text: str) -> Searchable:
        display = clean(text)
        return cls(display, fold(display))

    def find(self, needle: str, min_similarity: float) -> tuple[Match | None, Match | None]:
        """(match, closest): the match at or above `min_similarity`, else None and the best try."""
        want = key(needle)
        if not want:
            return None, None
        start = _find_word_start(self.folded, want)
        if start >= 0:
            end = start + len(want)
            exact = Match(want, self.display[start:end], 1.0, start)
            return exact, exact
        if len(want) < FUZZY_MIN_CHARS or not self.folded:
            return None, None
        hit = fuzz.partial_ratio_alignment(want, self.folded)
        if hit is None:
            return None, None
        lo, hi = _whole_words(self.folded, hit.dest_start, hit.dest_end)
        near = Match(self.folded[lo:hi], self.display[lo:hi], hit.score / 100.0, lo)
        if near.similarity >= min_similarity and near.similarity > 0:
            return near, near
        return None, near

    def context(self, match: Match, width: int = 60) -> str:
        """The match with up to `width` characters of text on each side, for reasons and alerts."""
        lo = max(0, match.start - width)
        hi = min(len(self.display), match.start + len(match.passage) + width)
        return (("…" if lo else "") + self.display[lo:hi].strip()
                + ("…" if hi < len(self.display) else ""))


def _find_word_start(haystack: str, needle: str) -> int:
    """First occurrence of `needle` that does not start inside a word (when it starts with one)."""
    needs_boundary = needle[0].isalnum()
    start = haystack.find(needle)
    while start >= 0:
        if not needs_boundary or start == 0 or not haystack[start - 1].isalnum():
            return start
        start = haystack.find(needle, start + 1)
    return -1


def _whole_words(text: str, lo: int, hi: int) -> tuple[int, int]:
    """Widen [lo, hi) so that it neither starts nor ends inside a word."""
    while lo > 0 and text[lo - 1].isalnum() and text[lo].isalnum():
        lo -= 1
    while hi < len(text) and text[hi - 1].isalnum() and text[hi].isalnum():
        hi += 1
    return lo, hi
