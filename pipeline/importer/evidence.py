"""Evidence proposed for each claim on each page it cites. The cited pages are fetched once each
through the normal fetcher (robots.txt, host spacing, size limits, allowed addresses) and read
as a check would read them (`probe.examine`; a source the desk declares with `fetch: browser`
is rendered, in the import's one Browser, launched only then, and so is a page it does not
declare under `defaults.fetch: browser`, which its draft source inherits); then, per claim: the
sentence(s) of the page that best carry the claim's sentence as `quote:` (the article's own
quotations first, when the page has them word for word), a `table:` count on a spreadsheet or
CSV when the claim names the count and a column holds it, `new_items:` on a feed or newsroom,
else `changes: any`. Every proposal says its score and what it matched, and is evaluated on the page
before it is kept.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any

import httpx
from pydantic import ValidationError

from pipeline.browser_fetch import Browser, browser_settings, is_html
from pipeline.config import Config, Evidence, Source
from pipeline.errors import ExtractError
from pipeline.evaluate import TableMatch, table_matches
from pipeline.extract import Document
from pipeline.extract.html import find_link
from pipeline.extract.html import parse as parse_html
from pipeline.fetch import Fetcher, FetchResult
from pipeline.importer.citations import Citation, guess_kind
from pipeline.importer.text import (
    STOPWORDS,
    Likeness,
    Weights,
    clauses,
    sentences,
    stems,
    words,
)
from pipeline.probe import examine
from pipeline.source_fetch import browser_for, fetch_settings, fetch_source
from pipeline.textnorm import clean, key, printable
from pipeline.vocab import Outcome

QUOTE_MIN = 0.3  # below this score no sentence is proposed (calibrated on the test pages)
QUOTE_CHARS = 280  # a longer sentence is cut to its best clauses
MIN_REGION = 200  # characters a `select` must keep to be proposed
SPREADSHEET_LINKS = ("a[href$='.xlsx']", "a[href$='.csv']")
_QUOTED = re.compile(r"[\u201c\"]([^\u201c\u201d\"]{3,200})[\u201d\"]")
_NUMBER_WORDS = {w: n for n, w in enumerate(
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen", "twenty"
    ])} | {"dozen": 12}
_COUNT = re.compile(r"(?<![\w.,])(\d{1,6}|" + "|".join(_NUMBER_WORDS) + r")(?![\w(%]|[.,]\d)",
                    re.I)
_PROSE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_CLAUSE = re.compile(r"(?<=[,;:\u2014])\s+")


@dataclass(frozen=True)
class Reading:
    """A cited page as claimwatch will read it: the source as the draft declares it (or as the
    desk's configuration already does), and what it read, or why it could not."""

    url: str
    source: Source
    result: FetchResult | None
    document: Document | None
    kind: str | None
    error: str | None
    how: str  # why this reading, for the draft ("the page's one <article>")


@dataclass(frozen=True)
class Proposal:
    """One evidence item proposed for a claim on a source (`expectation` None: nothing can be
    watched there), with its score, what it matched, and whether it holds on the page."""

    expectation: dict[str, Any] | None
    score: float | None
    why: str
    holds: bool = False
    passage: str | None = None  # the page's words it rests on, for the desk


# --- reading the cited pages --------------------------------------------------------------------


def read_cited(wanted: dict[str, tuple[Source | None, bool]], config: Config, *,
               home: str | None, transport: httpx.AsyncBaseTransport | None = None
               ) -> dict[str, list[Reading]]:
    """Fetch each cited URL once and read it: `wanted` maps a URL to the source the desk
    already declares for it (or None) and whether a claim citing it names a count (then a
    spreadsheet the page links is read too, as `follow` would). `home` is the fact-check's
    address: what cited pages may reach is what a source there may. Each URL gets its
    readings, the preferred first."""

    settings = fetch_settings(config)

    async def all_of() -> dict[str, list[Reading]]:
        async with Fetcher(settings, transport=transport) as fetcher, \
                Browser(fetcher, browser_settings(config, settings.user_agent)) as browser:
            found = await asyncio.gather(*(  # the browser launches for a rendered source only
                _read_one(fetcher, url, declared, counts, config, home, browser)
                for url, (declared, counts) in wanted.items()))
        return dict(zip(wanted, found, strict=True))

    return asyncio.run(all_of())


async def _read_one(fetcher: Fetcher, url: str, declared: Source | None, counts: bool,
                    config: Config, home: str | None, browser: Browser) -> list[Reading]:
    timeout, max_bytes = config.defaults.timeout, config.defaults.max_bytes
    if declared is not None:  # read as the desk reads it: rendered, with `fetch: browser`
        mode = declared.fetch or config.defaults.fetch
        fetched = await fetch_source(fetcher, declared, url=declared.url, timeout=timeout,
                                     max_bytes=max_bytes, validators={},
                                     browser=browser_for(mode, browser))
        return [_reading(declared, fetched.result, "as the desk's configuration reads it",
                         fetched.content_error)]
    result = await fetcher.fetch(url, timeout=timeout, max_bytes=max_bytes, source_url=home)
    rendering = browser_for(config.defaults.fetch, browser)
    if rendering is not None and result.ok and is_html(result) and rendering.unable() is None:
        # the draft's source inherits `fetch: browser`: read as its checks will read it
        result = await rendering.render(result, source_url=home or url, timeout=timeout,
                                        max_bytes=max_bytes)
    kind = guess_kind(url)
    plain = Source(url=url, kind=kind or "auto")
    first = _reading(plain, result, "the whole document")
    if first.kind != "html" or first.document is None or result.body is None:
        return [first]
    readings = [_html_reading(url, result)]
    if counts:
        for selector in SPREADSHEET_LINKS:
            try:
                target = find_link(result.body, selector, result.final_url, result.charset)
            except ExtractError:
                continue
            linked = await fetcher.fetch(target, timeout=timeout, max_bytes=max_bytes,
                                         source_url=home or url)
            follow = Source(url=url, follow=selector)
            readings.append(_reading(follow, linked, "the spreadsheet the page links (its "
                                     "file name may change: `follow` finds it each time)"))
            break
    return readings


def _reading(source: Source, result: FetchResult, how: str,
             content_error: str | None = None) -> Reading:
    seen = examine(source, result, [], content_error=content_error)
    return Reading(source.url, source, result, seen.document, seen.kind, seen.error, how)


def _html_reading(url: str, result: FetchResult) -> Reading:
    """The page's article region: its one <article>, its one <main> (or role=main), else
    the article as trafilatura finds it, else the whole page."""
    assert result.body is not None
    try:
        root = parse_html(result.body, result.charset)
    except ExtractError:
        root = None
    options: list[tuple[dict[str, Any], str]] = []
    if root is not None:
        for selector, what in (("article", "the page's one <article>"),
                               ("main", "the page's one <main>"),
                               ("[role=main]", "the page's one role=main element")):
            tag = selector.strip("[]").split("=")[0]
            count = len(root.findall(f".//{tag}")) if tag != "role" else sum(
                1 for e in root.iter() if e.get("role") == "main")
            if count == 1:
                options.append(({"select": selector}, what))
    options.append(({"main_content": True}, "the article as claimwatch finds it "
                                             "(main_content)"))
    for extra, what in options:
        source = Source(url=url, kind="html", **extra)
        reading = _reading(source, result, f"{what}: the rest of the page churns")
        if reading.document is not None and len(" ".join(reading.document.blocks)) >= MIN_REGION:
            return reading
    return _reading(Source(url=url, kind="html"), result, "the whole page (no article region "
                                                          "found)")


# --- proposing ----------------------------------------------------------------------------------


def names_a_count(text: str) -> bool:
    return any(_count(m) is not None for m in _COUNT.finditer(text))


def propose(citation: Citation, reading: Reading, title: str,
            background: Weights | None = None) -> list[Proposal]:
    """The evidence items proposed for the claim citing `citation` on `reading`, each checked
    on the page as fetched (those that do not hold are dropped)."""
    if reading.document is None:
        return [Proposal(None, None, f"could not be read: {reading.error}")]
    doc = reading.document
    if doc.kind == "feed" or _newsroom(doc):
        found = _new_items(citation, doc, title)
    elif doc.tables and doc.kind in ("xlsx", "csv"):
        found = _table(citation, doc, title)
    elif doc.kind in ("html", "pdf"):
        found = _quotes(citation, doc, background)
    else:
        found = []
    if not found or all(p.expectation is None for p in found):
        why = found[0].why if found else f"a {doc.kind} document: no quote or count to propose"
        found = [Proposal({"changes": "any"}, None, why)]
    return checked(reading, found)


def checked(reading: Reading, proposals: list[Proposal]) -> list[Proposal]:
    """The proposals that hold on the page as fetched, evaluated by the probe's machinery."""
    assert reading.result is not None
    items = []
    for p in proposals:
        try:
            items.append(Evidence.model_validate({"source": "draft", **(p.expectation or {})}))
        except ValidationError:
            items.append(None)
    usable = [ev for ev in items if ev is not None]
    seen = examine(reading.source, reading.result, usable)
    outcomes = iter(seen.outcomes)
    kept = []
    for p, ev in zip(proposals, items, strict=True):
        if ev is not None and next(outcomes)[1].status == Outcome.HOLDS:
            kept.append(replace(p, holds=True))
    return kept


def _quotes(citation: Citation, doc: Document, background: Weights | None) -> list[Proposal]:
    """The article's own quotations found word for word on the page; else the page's sentence
    that best carries the citing sentence."""
    page = doc.text
    found = []
    for phrase in dict.fromkeys(m.group(1).strip(" ,.") for m in _QUOTED.finditer(
            citation.context)):
        if len(words(phrase)) < 3 or "${" in phrase:
            continue
        match, _near = page.find(phrase, 1.0)
        if match is not None:
            found.append(Proposal({"quote": printable(match.display)}, 1.0,
                                  "the article's own quotation, word for word on the page",
                                  passage=page.context(match)))
    if found:
        return found[:2]
    # prose: a sentence of six words or more that ends as one (headlines and labels share a
    # claim's words too easily)
    candidates = [s for block in doc.blocks for _start, s in sentences(block)
                  if len(words(s)) >= 6 and _PROSE_END.search(s)]
    weights = Weights(candidates, background)
    parts = clauses(citation.context)
    scored = []
    for sentence in candidates:
        likes = [like for part in parts if _carries(like := weights.score(part, sentence))]
        if likes:
            scored.append((max(likes, key=lambda x: x.score), sentence))
    if not scored:
        return [Proposal(None, 0.0, "no sentence here shares enough of the claim's words")]
    like, sentence = max(scored, key=lambda s: s[0].score)
    cut = _best_clauses(sentence, citation.context, weights)
    matched = ", ".join(f"\u201c{w}\u201d" for w in like.shared[:6])
    if like.score < QUOTE_MIN or "${" in cut:
        return [Proposal(None, like.score, f"no sentence here carries the claim (best "
                                           f"{like.score:.2f}: \u201c{_short(sentence)}\u201d)")]
    return [Proposal({"quote": printable(cut)}, round(like.score, 2), f"matched {matched}",
                     passage=sentence)]


def _carries(like: Likeness) -> bool:
    """Enough shared words to say a sentence is about the claim's matter: four, or three of
    which one is a name or two stand together as in the claim; and two of them not the
    fact-check's topic words (every page it cites says "immigration enforcement")."""
    enough = len(like.shared) >= 4 or (len(like.shared) == 3 and bool(like.names or like.pairs))
    return enough and like.unusual >= 2


def _best_clauses(sentence: str, context: str, weights: Weights) -> str:
    """The sentence, or when it is long its run of clauses that carries the context best."""
    sentence = sentence.strip()
    if len(sentence) <= QUOTE_CHARS:
        return sentence
    pieces = _CLAUSE.split(sentence)
    best, best_score = sentence[:QUOTE_CHARS].rsplit(" ", 1)[0], 0.0
    for i in range(len(pieces)):
        for j in range(i + 1, len(pieces) + 1):
            text = " ".join(pieces[i:j])
            if len(text) > QUOTE_CHARS:
                break
            score = weights.score(context, text).score
            if score > best_score:
                best, best_score = text, score
    return best.strip(" ,;:\u2014")


def _table(citation: Citation, doc: Document, title: str) -> list[Proposal]:
    """A count the citing words name, found in the rows where one column holds a value the
    claim's paragraph (or the fact-check's title) names; among them, when counting rows does
    not give it, the distinct values of the column whose name the counted words share."""
    counts = [(n, m.end()) for m in _COUNT.finditer(citation.context)
              if (n := _count(m)) is not None]
    if not counts:
        return [Proposal(None, None, "the claim names no count to look for in the table")]
    found = _header(doc)
    if found is None:
        return [Proposal(None, None, "no table with a header row")]
    header, rows = found
    display = clean(f"{citation.context} {citation.paragraph} {title}")
    context_key = key(display)
    best: tuple[float, dict[str, Any], str] | None = None
    for c, name in enumerate(header):
        values = {r[c] for r in rows if c < len(r) and r[c] and not _numeric(r[c])}
        for value in values if len(values) <= 500 else ():
            at = _word_at(context_key, key(value))
            if len(key(value)) < 3 or at < 0:
                continue
            span = display[at:at + len(key(value))]
            written = span if key(span) == key(value) else value
            for n, end in counts:
                noun = set(stems(citation.context[end:end + 60]))
                for distinct in [None, *(h for h in header if h and h != name)]:
                    spec = {"where": {name: written}, "count": n}
                    if distinct:
                        spec["distinct"] = distinct
                    match = table_matches(Evidence(source="draft", table=spec), doc)
                    if not isinstance(match, TableMatch):
                        continue
                    got = len(match.values) if distinct else len(match.rows)
                    if got != n:
                        continue
                    named = bool(noun & set(stems(distinct or "")))
                    score = 1.0 if named else (0.9 if distinct is None else 0.8)
                    why = (f"{n} {'distinct ' + distinct if distinct else 'rows'} where "
                           f"{name} is {written}, as the claim says")
                    if best is None or score > best[0]:
                        best = (score, spec, why)
    if best is None:
        return [Proposal(None, None, f"the claim's count ({', '.join(str(n) for n, _ in counts)})"
                                     " is in no column's rows for a value it names")]
    return [Proposal({"table": best[1]}, best[0], best[2])]


def _new_items(citation: Citation, doc: Document, title: str) -> list[Proposal]:
    """A pattern for the feed entries that would concern the claim: its quotations and names
    that some, but not most, of the current entries hold (else its names alone)."""
    terms = [re.sub(r"^(the|a|an)\s+", "", m.group(1).strip(" ,."), flags=re.I)
             for m in _QUOTED.finditer(citation.context) if len(words(m.group(1))) >= 2]
    terms += _names(citation.context) + _names(title)
    terms = list(dict.fromkeys(t for t in terms if t.lower() not in STOPWORDS))
    items = [f"{i.title} {i.text}" for i in doc.items]
    counted = [(t, sum(1 for i in items if _word_at(key(i), key(t)) >= 0)) for t in terms]
    limit = max(1, len(items) // 3)
    some = sorted((c for c in counted if 1 <= c[1] <= limit), key=lambda c: c[1])
    chosen = [t for t, _n in some][:3] or [t for t, _n in counted][:2]
    if not chosen:
        return [Proposal(None, None, "the claim names nothing to look for in new entries")]
    pattern = "(?i)\\b(" + "|".join(_regex_words(t) for t in chosen) + ")\\b"
    hits = [i.title for i in doc.items if re.search(pattern, f"{i.title} {i.text}")]
    why = (f"new entries naming {', '.join(chosen)}; {len(hits)} of the {len(items)} current "
           "entries do" + (f", e.g. \u201c{_short(hits[0])}\u201d" if hits else ""))
    return [Proposal({"new_items": pattern}, round(len(chosen) / 3, 2), why,
                     passage=hits[0] if hits else None)]


def _names(text: str) -> list[str]:
    """Proper names in `text`: capitalized words not opening a sentence, and acronyms."""
    found = []
    for start, sentence in sentences(text):
        del start
        tokens = re.findall(r"[A-Z][\w.\u2019'-]*(?:\s+(?:of\s+)?[A-Z][\w.\u2019'-]*)*", sentence)
        for token in tokens:
            token = re.sub(r"[\u2019']s$", "", token).strip(".")
            if token and not (sentence.startswith(token) and " " not in token
                              and not token.isupper()):
                found.append(token)
    return found


def _regex_words(term: str) -> str:
    """`term` as an RE2 pattern matching it with any spacing."""
    return r"\s+".join(re.escape(w) for w in term.split())


def _newsroom(doc: Document) -> bool:
    """An HTML page that is mostly a list of links (a newsroom, an index of releases)."""
    if doc.kind != "html" or len(doc.items) < 15:
        return False
    titles = {key(i.title) for i in doc.items}
    return sum(1 for b in doc.blocks if key(b) in titles) >= 0.6 * len(doc.blocks)


def _header(doc: Document) -> tuple[list[str], list[tuple[str, ...]]] | None:
    """The first row naming two or more columns, none of them a number, and the rows below."""
    for table in doc.tables:
        for i, row in enumerate(table):
            cells = [c for c in row if c.strip()]
            if len(cells) >= 2 and not any(_numeric(c) for c in cells) and len(table) > i + 1:
                return list(row), list(table[i + 1:])
    return None


def _count(match: re.Match[str]) -> int | None:
    word = match.group(1).lower()
    n = _NUMBER_WORDS.get(word, int(word) if word.isdigit() else None)
    if n is None or (1900 <= n <= 2100 and word.isdigit()):
        return None
    return n


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[\d\s.,:/%$-]+", text))


def _word_at(haystack: str, needle: str) -> int:
    """Where `needle` stands in `haystack` as whole words, or -1."""
    if not needle:
        return -1
    found = re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", haystack)
    return found.start() if found else -1


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(printable(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"
