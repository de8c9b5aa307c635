"""Words, for telling which sentence of a cited page carries a fact-check's sentence: sentence
splitting, content-word stems and a weighted overlap of two texts. Crude on purpose (no
language model, no stemmer library): the proposals are for an editor to read, and each one says
what it matched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.textnorm import key

# a sentence ends at . ! ? (a closing quote or bracket may follow) before a capital, a quote or
# a digit; these words before a period do not end one
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset([
    "mr", "mrs", "ms", "dr", "st", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "no", "gov", "sen", "rep", "inc", "co", "corp", "vs", "u.s",
    "a.m", "p.m", "e.g", "i.e"
])
_JOINS = re.compile(r"\s*(?:[;:\u2014\u2013]|,\s+(?:and|but|while|yet|which|whereas)\b)\s*")
_WORD = re.compile(r"[^\W_]+(?:['\u2019.][^\W_]+)*")
STOPWORDS = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "been", "being", "but", "by", "can", "could",
        "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how",
        "i", "if", "in", "into", "is", "it", "its", "more", "most", "of", "on",
        "or", "our", "out", "over", "she", "so", "than", "that", "the", "their", "them", "then",
        "there", "these", "they", "this", "those", "through", "to", "under", "up", "was", "we",
        "were", "what", "when", "where", "which", "while", "who", "why", "will", "with",
        "would", "you", "your", "also", "about", "after", "against", "all", "any", "because",
        "before", "between", "both", "during", "each", "few", "further", "here", "just", "many",
        "may", "might", "much", "must", "now", "only", "other", "own", "same", "should", "some",
        "such", "too", "very", "said", "says", "say"
    ])
PAIR_BONUS = 0.05
NAME_WEIGHT = 2.0
UNUSUAL = 0.7  # in at most two of ten sentences of the fact-check, one of five
# a name: a capitalized word inside a sentence, or an acronym anywhere
_NAME = re.compile(r"(?<=[\w,;:)\u2019\u201d\"] )[A-Z][\w\u2019'-]*|\b[A-Z]{2,}\b")
STEM = 6
_ENDINGS = (("ations", ""), ("ation", ""), ("ings", ""), ("ing", ""), ("ies", "y"), ("ied", "y"),
            ("ed", ""), ("es", ""), ("s", ""), ("ly", ""), ("ment", ""))


def sentences(text: str) -> list[tuple[int, str]]:
    """The sentences of `text` with where each starts."""
    found = []
    start = 0
    for end in _END.finditer(text):
        before = text[start:end.start()].rsplit(None, 1)
        last = before[-1].lower().rstrip(".") if before else ""
        numbered = last == "no" and text[end.end():end.end() + 1].isdigit()  # "No. 5", not "No."
        if (last in _ABBREVIATIONS and last != "no") or numbered or (
                len(last) == 1 and last.isalpha()):
            continue
        found.append((start, text[start:end.start() + 1].strip()))
        start = end.end()
    if text[start:].strip():
        found.append((start, text[start:].strip()))
    return [(s, t) for s, t in found if t]


def clauses(text: str) -> list[str]:
    """`text` and, when it joins several clauses ("…, and …", "…; …", "… — …"), each of them
    of eight words or more: a fact-check's long sentence often cites two sources for two
    halves of it."""
    parts: list[str] = []
    for piece in _JOINS.split(text):
        if parts and len(piece.split()) < 8:
            parts[-1] += " " + piece
        else:
            parts.append(piece)
    return [text, *parts] if len(parts) > 1 else [text]


def words(text: str) -> list[str]:
    return _WORD.findall(key(text))


def stems(text: str) -> list[str]:
    """The content words of `text`, each cut to its stem, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def stem(word: str) -> str:
    """A word's common endings taken off, then its first six letters: withdrew ~ withdrawn,
    agency ~ agencies, investigating ~ investigation, and Minnesota is not Minneapolis."""
    for ending, instead in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[:-len(ending)] + instead
            break
    return word[:STEM]


def overlap(a: str, b: str) -> float:
    """How much of `a`'s content words `b` holds (0–1), unweighted."""
    mine = set(stems(a))
    return len(mine & set(stems(b))) / len(mine) if mine else 0.0


class Weights:
    """Inverse document frequencies over a page's sentences: a word on every line of the page
    ("ICE" on ICE's site) tells less than one in a single sentence."""

    def __init__(self, texts: Iterable[str], background: Weights | None = None) -> None:
        self.background = background
        counts: dict[str, int] = {}
        size = 0
        for text in texts:
            size += 1
            for stem in set(stems(text)):
                counts[stem] = counts.get(stem, 0) + 1
        self.idf = {s: math.log(1 + size / n) for s, n in counts.items()}
        self.unseen = math.log(1 + size)  # a claim's word the page never uses: the rarest
        self.idf_of_one = math.log(1 + size) if size else 1.0

    def of(self, stem: str) -> float:
        """A word's weight: its rarity here, times (with a background, the fact-check's own
        sentences) how rare it is there, from 0 to 1: the fact-check's topic words ("ICE",
        "immigration") are on every page it cites, and tell little about which sentence."""
        return self.idf.get(stem, self.unseen) * self.unusual(stem)

    def unusual(self, stem: str) -> float:
        """How rare a word is in the background (1: in none or one of its sentences)."""
        if self.background is None or not self.background.unseen:
            return 1.0
        return min(1.0, self.background.of(stem) / self.background.idf_of_one)

    def score(self, claim: str, sentence: str) -> Likeness:
        """How well `sentence` carries `claim`. The claim's words weigh by their rarity on the
        page, twice for names (a capital inside the sentence, an acronym): who and what a
        sentence is about tells most. The score favours holding many of them (recall counts
        four times precision), and adds a little for each pair of them in the same order
        ("dispersal order")."""
        mine = stems(claim)
        named = {stem(key(w)) for w in _NAME.findall(claim)}

        def weight(s: str) -> float:
            return self.of(s) * (NAME_WEIGHT if s in named else 1.0)

        want = set(mine)
        theirs = [w for w in words(sentence) if w not in STOPWORDS]
        own = {stem(w): w for w in theirs}
        shared = want & set(own)
        if len(shared) < 2:
            return Likeness(0.0, [], 0, 0, 0)
        held = sum(map(weight, shared))
        seen = sum(weight(s) for s in want if s in self.idf)
        # the share of the claim's words the page has at all that the sentence holds, and of
        # all of them: a page that shares three words with the claim is not about it
        recall = (held / seen + held / sum(map(weight, want))) / 2
        precision = held / sum(map(weight, own))
        f2 = 5 * precision * recall / (4 * precision + recall)
        pairs = len(set(zip(mine, mine[1:], strict=False)) & set(
            zip(map(stem, theirs), map(stem, theirs[1:]), strict=False)))
        ranked = sorted(shared, key=lambda s: -weight(s))
        unusual = sum(1 for s in shared if self.unusual(s) >= UNUSUAL)
        return Likeness(f2 + PAIR_BONUS * min(pairs, 4), [own[s] for s in ranked], pairs,
                        len(shared & named), unusual)


@dataclass(frozen=True)
class Likeness:
    """How well a sentence carries a claim: the score, the words they share (as the sentence
    writes them, weightiest first), how many pairs of them stand together in both, how many of
    them are names, and how many are unusual in the fact-check."""

    score: float
    shared: list[str]
    pairs: int
    names: int
    unusual: int  # shared words that are not the fact-check's topic words
