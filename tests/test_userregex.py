"""The desk's regexes on RE2 mean what they meant on Python's `re`, and what RE2 cannot run in
linear time is refused with an explanation."""

from __future__ import annotations

import re
import sys

import pytest

from pipeline import userregex

TEXTS = [
    "Mis à jour le 3 février 2026 à 10 h",
    "Обновлено: 12 марта 2026",
    "١٢٣ ٤٥٦ Arabic-Indic digits, and ½ and Ⅻ",
    "x\u3000y\u00a0z\x1cq\u2028end",
    "Updated: Jan 5, 2026 10:00 AM\nBody text\nUpdated: Feb 1",
    "naïve café ß Straße STRASSE",
    "a{,3}b aaa{,3} [x] ]y^",
    "retracted Correction RETRACTÉ under_score é_x",
    "line one\nline two",
]
PATTERNS = [
    r"\w+", r"\W+", r"\d+", r"\D+", r"\s+", r"\S+", r"[\w-]+", r"[^\w\s]", r"[\d.,]+",
    r"(?i)\bretract\w*", r"\w+\Z", r"^\w+", r"\w+$", r"(?m)^\w+$", r"a{,3}", r"[]a]", r"[^]a]+",
    r"\u00e9", r"\U0001F600|\N{LATIN SMALL LETTER E WITH ACUTE}", r"[\s\d]+", r"(?s)Updated.*",
    r"Updated: .*", r"(?i)straße", r"\x41|\t", r"(?P<day>\d+) (?:h|AM)", r".+?:",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_finds_and_removes_what_python_re_did(pattern: str) -> None:
    for text in TEXTS:
        assert userregex.remove(pattern, text) == re.sub(pattern, "", text), (pattern, text)
        assert userregex.search(pattern, text) == bool(re.search(pattern, text)), (pattern, text)


def test_spaces_are_pythons_spaces() -> None:
    """RE2's \\s is six ASCII characters; the desk's \\s keeps Python's, every one of them."""
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    # the few spaces, and the runs between them, rather than a million matches of \S (9-15 s)
    assert userregex.remove(r"\s", everything) == re.sub(r"\s", "", everything)
    assert userregex.remove(r"\S+", everything) == "".join(re.findall(r"\s", everything))


def test_word_boundaries_are_ascii_ones() -> None:
    """The one meaning that differs from Python's (README): \\b is between ASCII letters or
    digits and anything else, so it does not end a word at a non-ASCII letter."""
    assert userregex.remove(r"(?i)\bretract\w*\b", "RETRACTÉ, retracted") == "É, "
    assert userregex.remove(r"(?i)\bretract\w*", "RETRACTÉ, retracted") == ", "


def test_backtracking_patterns_are_linear() -> None:
    text = "a" * 5_000 + "!"
    assert not userregex.search(r"(a+)+$", text)
    assert not userregex.search(r"(a|aa)*b", text)
    assert userregex.remove(r"(a*)*!", text) == ""


@pytest.mark.parametrize(("pattern", "explained"), [
    (r"Updated(?=:)", "uses a lookahead ((?=…)), which claimwatch's linear-time regex engine "
                      "does not support: match the text around it"),
    (r"(?<!not )retracted", "uses a negative lookbehind ((?<!…))"),
    (r"(\w)\1", "uses a backreference (\\1)"),
    (r"(?P<w>x)(?P=w)", "uses a named backreference ((?P=name))"),
    (r"a*+b", "uses a possessive quantifier (*+)"),
    (r"(?>ab|a)c", "uses an atomic group ((?>…))"),
    (r"(?x) a b ", "uses the verbose flag (?x)"),
    (r"x{2000}", "uses a repeat count over 1,000 ({2000})"),
    (r"[\W_]+", "uses \\W inside [...]"),
    (r"\w{500}", "is too large for claimwatch's linear-time regex engine"),
    (r"(unclosed", "bad regex '(unclosed': missing )"),
])
def test_what_re2_cannot_run_is_explained(pattern: str, explained: str) -> None:
    with pytest.raises(ValueError) as caught:
        userregex.compile(pattern)
    assert f"regex '{pattern}'" in str(caught.value) and explained in str(caught.value)


def test_text_with_a_lone_surrogate_is_still_searched() -> None:
    assert userregex.remove("Updated: .*", "Body \ud800\nUpdated: now") == "Body \ufffd\n"
    assert userregex.search("Body", "Body \ud800")
