"""A published fact-check page, read: its title and URL, the schema.org ClaimReviews it carries
(JSON-LD, walking `@graph` and lists; microdata or RDFa when there is no JSON-LD), and the
article's own structure (numbered findings, headed sections, a bottom line) down to paragraphs
with the links and citation markers in them. Which of these are the claims is `claims_of`.
Pure: bytes in, plain data out; page text stays data.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html

from pipeline.extract.html import parse
from pipeline.importer.text import overlap, sentences

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# elements that are page furniture wherever they are, and class/id words that mark furniture
_FURNITURE_TAGS = ("nav", "header", "footer", "aside", "form", "script", "style", "noscript",
                   "template", "iframe", "button", "svg", "figure")
_FURNITURE_WORDS = frozenset(
    [
        "share", "sharing", "social", "related", "newsletter", "byline", "author", "tags",
        "tag", "comment", "comments", "breadcrumb", "breadcrumbs", "promo", "ad", "ads",
        "advert", "advertisement", "sponsored", "subscribe", "donate", "menu", "sidebar",
        "widget", "skip", "meta", "nav", "navigation", "footer", "header", "topbar", "masthead",
        "toolbar", "popular", "trending"
    ])
_NUMBERED = re.compile(r"^\s*(?:finding|claim|point)?\s*(\d{1,2})\s*[.):\u2013\u2014-]\s+", re.I)
_CONCLUDING = (r"bottom line|conclusions?|our ruling|the ruling|verdict|our rating|the rating|"
               r"in sum|the upshot|summing up")
_CONCLUSION = re.compile(rf"\b({_CONCLUDING})\b", re.I)
_LABEL = re.compile(rf"^\s*({_CONCLUDING}|rating)\s*[:\u2014\u2013-]\s*", re.I)
_NOT_CLAIMS = re.compile(
    r"^\s*(sources?|references?|notes?|footnotes?|citations?|bibliography|further reading|"
    r"related|read more|more (from|on|about)|about (us|the author|this|our)|methodology|"
    r"how we\b|corrections?|share|comments?|editor'?s note|what we checked|the claim)\b", re.I)
_SUMMARY = re.compile(r"^\s*(executive summary|summary|at a glance|key (points|findings|"
                      r"takeaways)|tl;?dr|in brief|in short|what we found)\b", re.I)
_VERDICT_IN_TEXT = re.compile(
    r"(?i:we rate (?:this|the|that) (?:claim|statement|post)?\s*(?:as\s+)?|"
    r"\b(?:our )?(?:rating|verdict|ruling)\s*[:\u2014\u2013-]\s*)"
    r"[\"'\u201c\u2018]?([A-Z][\w-]*(?:[ -][\w-]+){0,3}?)[\"'\u201d\u2019]?\s*[.!;]")
_SPACE = re.compile(r"\s+")
# a heading that asks or labels ("What the city says", "How many…") is not the claim's words
_ASKING = re.compile(r"(what|which|who|whom|whose|why|when|where|how|did|does|do|is|are|was|"
                     r"were|can|could|should|will|would|has|have)\b", re.I)
_NOTES_WORDS = re.compile(r"footnote|endnote|reference|citation|sources|notes", re.I)
MAX_DEPTH = 32  # JSON-LD nesting walked


@dataclass(frozen=True)
class Review:
    """One schema.org ClaimReview: the claim reviewed and its rating's words."""

    claim: str
    verdict: str | None
    url: str | None


@dataclass(frozen=True)
class Link:
    href: str  # absolute, as written (a "#fragment" for a marker pointing into the page)
    text: str
    start: int  # where it stands in its paragraph's text
    end: int


@dataclass(frozen=True)
class Paragraph:
    text: str
    links: tuple[Link, ...] = ()


@dataclass
class Section:
    heading: str
    anchor: str | None  # the heading's id: a ClaimReview's url may point at it
    role: str  # lead | summary | finding | conclusion | other
    number: int | None = None
    paragraphs: list[Paragraph] = field(default_factory=list)


@dataclass(frozen=True)
class ClaimFound:
    """A claim of the fact-check: its words, its verdict when the page states one, where it was
    found (for the draft's comments) and the paragraphs whose citations are its evidence."""

    text: str
    verdict: str | None
    origin: str
    paragraphs: tuple[Paragraph, ...]


@dataclass
class Page:
    url: str  # the page's canonical URL (as the publisher names it), else where it was read
    read_from: str
    title: str
    reviews: list[Review]
    sections: list[Section]
    # a note's links by how a citation marker points at it: "#fn-3" (its element's id) or "3"
    notes: dict[str, list[Link]]
    structured: str | None  # "JSON-LD", "microdata" or "RDFa": where the reviews came from
    published: str | None = None  # the day it was published (YYYY-MM-DD), when the page says

    @property
    def origins(self) -> set[str]:
        """The publisher's own site (where it was read and its canonical address)."""
        return {_origin(self.url), _origin(self.read_from)}


def read_page(body: bytes, url: str, charset: str | None = None) -> Page:
    """The fact-check page at `url` (its bytes as served)."""
    root = parse(body, charset)
    data = list(_json_ld(root))
    reviews, structured = _reviews(data), "JSON-LD"
    if not reviews:
        reviews, structured = _scoped_reviews(root)
    canonical = _canonical(root, data, url)
    notes = _notes(root, url)
    main = _main_content(root)
    sections = _sections(main, url) if main is not None else []
    return Page(canonical, url, _title(root, data), reviews, sections, notes,
                structured if reviews else None, _published(root, data))


# --- structured data --------------------------------------------------------------------------


def _json_ld(root: lxml.html.HtmlElement) -> Iterator[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD, nested ones included, in document order."""
    for script in root.iter("script"):
        if "ld+json" not in (script.get("type") or "").lower():
            continue
        text = (script.text or "").strip().removeprefix("<!--").removesuffix("-->")
        try:
            found = json.loads(text, strict=False)
        except ValueError:
            continue  # a publisher's broken JSON-LD: the article is read instead
        yield from _objects(found, 0)


def _objects(node: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _objects(item, depth + 1)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _objects(value, depth + 1)


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type") or node.get("type") or []
    names = value if isinstance(value, list) else [value]
    return {str(n).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for n in names}


def _words(value: Any) -> str | None:
    """A schema.org text value: a string, or the first string in a list or `{"@value": …}`."""
    if isinstance(value, str):
        return _SPACE.sub(" ", value).strip() or None
    if isinstance(value, list):
        return next((w for w in map(_words, value) if w), None)
    if isinstance(value, dict):
        return _words(value.get("@value") or value.get("text") or value.get("name"))
    return None


def _reviews(data: list[dict[str, Any]]) -> list[Review]:
    found: dict[str, Review] = {}
    for node in data:
        if "ClaimReview" not in _types(node):
            continue
        claim = _words(node.get("claimReviewed"))
        rating = node.get("reviewRating")
        ratings = rating if isinstance(rating, list) else [rating]
        verdict = next((w for r in ratings if isinstance(r, dict)
                        for w in [_words(r.get("alternateName"))] if w), None)
        if claim and claim not in found:
            found[claim] = Review(claim, verdict, _words(node.get("url")))
    return list(found.values())


def _scoped_reviews(root: lxml.html.HtmlElement) -> tuple[list[Review], str]:
    """ClaimReviews written as microdata (itemscope/itemprop) or RDFa (typeof/property)."""
    found: list[Review] = []
    kind = "microdata"
    for element in root.iter():
        written = element.get("itemtype") if element.get("itemscope") is not None else None
        if written is None and element.get("typeof"):
            written, kind = element.get("typeof"), "RDFa"
        if not written or not any(t.rsplit("/", 1)[-1].rsplit(":", 1)[-1] == "ClaimReview"
                                  for t in written.split()):
            continue
        props = _props(element)
        rating = props.get("reviewRating")
        claim = _words(props.get("claimReviewed"))
        if claim:
            found.append(Review(claim, _words(rating.get("alternateName"))
                                if isinstance(rating, dict) else None, _words(props.get("url"))))
    return found, kind


def _scope(element: lxml.html.HtmlElement) -> bool:
    return element.get("itemscope") is not None or bool(element.get("typeof"))


def _props(scope: lxml.html.HtmlElement) -> dict[str, Any]:
    """The properties of one microdata item or RDFa resource (nested items as dicts)."""
    props: dict[str, Any] = {}
    for element in scope.iterdescendants():
        names = element.get("itemprop") or element.get("property")
        if not names or _owner(element) is not scope:
            continue
        if _scope(element):
            value: Any = _props(element)
        else:
            value = element.get("content") or element.get("href") or element.get("src") or \
                _SPACE.sub(" ", element.text_content()).strip()
        for name in names.split():
            props.setdefault(name.rsplit("/", 1)[-1].rsplit(":", 1)[-1], value)
    return props


def _owner(element: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    parent = element.getparent()
    while parent is not None and not _scope(parent):
        parent = parent.getparent()
    return parent


def _canonical(root: lxml.html.HtmlElement, data: list[dict[str, Any]], url: str) -> str:
    for link in root.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            return urljoin(url, link.get("href").strip())
    for meta in root.iter("meta"):
        if meta.get("property") == "og:url" and meta.get("content"):
            return urljoin(url, meta.get("content").strip())
    return url


_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")
_ARTICLES = {"NewsArticle", "Article", "AnalysisNewsArticle", "ReportageNewsArticle",
             "BlogPosting"}
_PUBLISHED_META = ("article:published_time", "datePublished", "date", "dc.date",
                   "dcterms.created", "pubdate", "publish-date", "sailthru.date")


def _published(root: lxml.html.HtmlElement, data: list[dict[str, Any]]) -> str | None:
    """The day the fact-check was published: its ClaimReview's `datePublished`, else the
    article's (JSON-LD), else the page's metadata (`article:published_time`, microdata
    `datePublished`, Dublin Core), else a `<time pubdate>`; None when the page does not say."""
    found = [_words(node.get("datePublished")) for node in data if "ClaimReview" in _types(node)]
    found += [_words(node.get("datePublished")) for node in data if _types(node) & _ARTICLES]
    for element in root.iter("meta", "time"):
        names = {(element.get(a) or "").lower() for a in ("property", "name", "itemprop")}
        if names & {n.lower() for n in _PUBLISHED_META} or (
                element.tag == "time" and element.get("pubdate") is not None):
            found.append(element.get("content") or element.get("datetime"))
    for value in found:
        match = _DAY.match(value or "")
        if match:
            return match.group(1)
    return None


def _title(root: lxml.html.HtmlElement, data: list[dict[str, Any]]) -> str:
    for node in data:
        if _types(node) & {"NewsArticle", "Article", "AnalysisNewsArticle", "ReportageNewsArticle",
                           "BlogPosting"} and _words(node.get("headline")):
            return str(_words(node.get("headline")))
    for meta in root.iter("meta"):
        if meta.get("property") == "og:title" and (meta.get("content") or "").strip():
            return _SPACE.sub(" ", meta.get("content")).strip()
    h1 = next(root.iter("h1"), None)
    if h1 is not None and h1.text_content().strip():
        return _SPACE.sub(" ", h1.text_content()).strip()
    title = _SPACE.sub(" ", root.findtext(".//title") or "").strip()
    return re.split(r"\s+[|\u2013\u2014-]\s+(?=[^|\u2013\u2014-]+$)", title)[0] or "Untitled"


# --- the article --------------------------------------------------------------------------------


def _furniture(element: lxml.html.HtmlElement) -> bool:
    if element.tag in _FURNITURE_TAGS or element.get("role") in ("navigation", "complementary",
                                                                  "banner", "contentinfo"):
        return True
    words = re.split(r"[\s_-]+", f"{element.get('class') or ''} {element.get('id') or ''}".lower())
    return any(w in _FURNITURE_WORDS for w in words)


def _main_content(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    """The article's body without the page around it: the schema.org articleBody, the longest
    <article>, <main> or role=main, else the element holding the most paragraph text; then
    its furniture (share buttons, bylines, related links, promos) removed, on a copy."""
    candidates = [e for e in root.iter() if e.get("itemprop") == "articleBody"]
    candidates += sorted(root.iter("article"), key=lambda e: -_prose(e))
    candidates += [e for e in root.iter() if e.tag == "main" or e.get("role") == "main"]
    chosen = next((e for e in candidates if _prose(e) >= 200), None)
    if chosen is None:
        held: dict[Any, int] = {}
        for p in root.iter("p"):
            if p.getparent() is not None:
                held[p.getparent()] = held.get(p.getparent(), 0) + len(p.text_content())
        chosen = max(held, key=lambda e: held[e]) if held else None
    if chosen is None:
        return None
    body = copy.deepcopy(chosen)
    for element in [e for e in body.iterdescendants() if isinstance(e.tag, str)
                    and _furniture(e)]:
        if element.getparent() is not None:
            element.drop_tree()
    return body


def _prose(element: lxml.html.HtmlElement) -> int:
    return sum(len(p.text_content()) for p in element.iter("p"))


def _sections(main: lxml.html.HtmlElement, url: str) -> list[Section]:
    sections = [Section("", None, "lead")]
    for element in main.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in HEADINGS or _bold_heading(element):
            heading = _SPACE.sub(" ", element.text_content()).strip()
            if element.tag == "h1" or not heading:
                continue
            anchor = element.get("id") or next((a.get("id") or a.get("name") for a in
                                                element.iter("a") if a.get("id")
                                                or a.get("name")), None)
            sections.append(_section(heading, anchor))
        elif _paragraph(element):
            paragraph = _read_paragraph(element, url)
            if paragraph.text:
                sections[-1].paragraphs.append(paragraph)
    return [s for s in sections if s.paragraphs or s.role != "lead"]


def _section(heading: str, anchor: str | None) -> Section:
    number = _NUMBERED.match(heading)
    if _NOT_CLAIMS.match(heading):
        role = "other"
    elif _SUMMARY.match(heading):
        role = "summary"
    elif _CONCLUSION.search(heading):
        role = "conclusion"
    else:
        role = "finding"
    return Section(heading, anchor, role, int(number.group(1)) if number else None)


def _bold_heading(element: lxml.html.HtmlElement) -> bool:
    """`<p><strong>2. The state's count</strong></p>`: a heading written as a bold paragraph."""
    if element.tag != "p" or len(element) != 1 or element[0].tag not in ("strong", "b"):
        return False
    text = element.text_content().strip()
    return 0 < len(text) <= 160 and text == element[0].text_content().strip() \
        and not (element.text or "").strip() and not (element[0].tail or "").strip() \
        and next(element.iter("a"), None) is None


def _paragraph(element: lxml.html.HtmlElement) -> bool:
    """A block of prose: a <p>, or a list item, quote or bare <div> holding no such block."""
    if element.tag == "p":
        return not _bold_heading(element)
    if element.tag not in ("li", "blockquote", "div", "dd"):
        return False
    blocks = ("p", "li", "div", "ul", "ol", "table", *HEADINGS)
    if any(isinstance(d.tag, str) and d.tag in blocks for d in element.iterdescendants()):
        return False
    return element.tag != "div" or len(element.text_content().strip()) >= 40


def _read_paragraph(element: lxml.html.HtmlElement, url: str) -> Paragraph:
    """The paragraph's text, whitespace collapsed, and where each link stands in it."""
    parts: list[str] = []
    links: list[Link] = []
    size = 0

    def add(text: str | None) -> None:
        nonlocal size
        if not text:
            return
        text = _SPACE.sub(" ", text)
        if parts and parts[-1].endswith(" ") and text.startswith(" "):
            text = text[1:]
        if not parts and text.startswith(" "):
            text = text[1:]
        parts.append(text)
        size += len(text)

    def walk(node: lxml.html.HtmlElement) -> None:
        start = size
        add(node.text)
        for child in node:
            if isinstance(child.tag, str) and child.tag not in ("script", "style"):
                walk(child)
            add(child.tail)
        href = (node.get("href") or "").strip() if node.tag == "a" else ""
        if href:
            text = "".join(parts)[start:size].strip()
            target = href if href.startswith("#") else urljoin(url, href)
            links.append(Link(target, text, start, size))

    walk(element)
    text = "".join(parts)
    stripped = text.rstrip()
    return Paragraph(stripped, tuple(sorted(links, key=lambda link: link.start)))


def _notes(root: lxml.html.HtmlElement, url: str) -> dict[str, list[Link]]:
    """Where citation markers lead: every element with an id that holds outside links (a
    footnote), by "#id"; and the items of a notes list (under a "Sources" heading, or a list
    whose class or id says footnotes) by their number."""
    notes: dict[str, list[Link]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        ident = element.get("id")
        if ident and element.tag in ("li", "p", "div", "dd", "span", "sup", "a", "cite"):
            note = element.getparent() if element.tag in ("a", "sup", "span") and \
                element.getparent() is not None and element.getparent().tag == "li" else element
            links = _outside_links(note, url)
            if 0 < len(links) <= 5:  # a note cites a few sources; a page-wide wrapper has ids too
                notes[f"#{ident}"] = links
        if element.tag in ("ol", "ul") and _is_notes_list(element):
            for n, item in enumerate((i for i in element if i.tag == "li"), start=1):
                number = item.get("value") or _leading_number(item) or str(n)
                notes.setdefault(number, _outside_links(item, url))
    return notes


def _outside_links(element: lxml.html.HtmlElement, url: str) -> list[Link]:
    found = []
    for a in element.iter("a"):
        href = (a.get("href") or "").strip()
        if href and not href.startswith("#"):
            found.append(Link(urljoin(url, href), _SPACE.sub(" ", a.text_content()).strip(), 0, 0))
    return found


def _is_notes_list(element: lxml.html.HtmlElement) -> bool:
    for node in (element, element.getparent()):
        if node is not None and _NOTES_WORDS.search(f"{node.get('class') or ''} "
                                                    f"{node.get('id') or ''}"):
            return True
    before = element.getprevious()
    while before is not None and not isinstance(before.tag, str):
        before = before.getprevious()
    return before is not None and before.tag in HEADINGS and \
        bool(_NOT_CLAIMS.match(before.text_content())) and \
        bool(re.match(r"\s*(sources?|references?|notes?|footnotes?|citations?)\b",
                      before.text_content(), re.I))


def _leading_number(item: lxml.html.HtmlElement) -> str | None:
    found = re.match(r"\s*\[?(\d{1,3})[\].)]", item.text_content())
    return found.group(1) if found else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


# --- which are the claims -------------------------------------------------------------------------


def claims_of(page: Page, cites: Any) -> list[ClaimFound]:
    """The fact-check's claims. Several ClaimReviews: one claim each, read with the section
    its `url` points at or whose words it shares most. One ClaimReview on an article of
    findings: the findings, the ClaimReview taking the bottom line's place. Otherwise the
    findings (numbered sections when there are two or more, else each section citing
    something), or the ClaimReviews read with the whole article. `cites(paragraph)` tells
    whether a paragraph cites anything (a link out or a marker)."""
    sections = page.sections
    numbered = [s for s in sections if s.number is not None and s.role != "other"]
    if len(numbered) >= 2:
        findings = numbered + [s for s in sections if s.role == "conclusion" and s.number is None]
    else:
        findings = [s for s in sections if s.role in ("finding", "conclusion")
                    and any(cites(p) for p in s.paragraphs)]
    findings.sort(key=sections.index)
    everything = tuple(p for s in sections if s.role != "other" for p in s.paragraphs)
    if len(page.reviews) >= 2:
        return _matched(page.reviews, findings or sections, everything)
    claims = [_finding(s, cites) for s in findings]
    if page.reviews:
        review = page.reviews[0]
        conclusion = next((i for i, s in enumerate(findings) if s.role == "conclusion"), None)
        if conclusion is not None:
            claims[conclusion] = ClaimFound(review.claim, review.verdict,
                                            "ClaimReview, with the bottom line's citations",
                                            tuple(findings[conclusion].paragraphs))
        else:
            claims.append(ClaimFound(review.claim, review.verdict,
                                     "ClaimReview, with the whole article's citations",
                                     everything))
    if not claims and everything:
        claims.append(ClaimFound(page.title, None, "the page's title (no claims marked up or "
                                 "headed)", everything))
    return claims


def _matched(reviews: list[Review], sections: list[Section],
             everything: tuple[Paragraph, ...]) -> list[ClaimFound]:
    free = list(sections)
    claims = []
    for review in reviews:
        fragment = urlsplit(review.url or "").fragment
        section = next((s for s in free if fragment and s.anchor == fragment), None)
        if section is None and free:
            best = max(free, key=lambda s: overlap(review.claim, s.heading + " " + " ".join(
                p.text for p in s.paragraphs)))
            if overlap(review.claim, best.heading + " " + " ".join(
                    p.text for p in best.paragraphs)) >= 0.2:
                section = best
        if section is not None:
            free.remove(section)
            claims.append(ClaimFound(review.claim, review.verdict,
                                     f"ClaimReview, with the section \u201c{section.heading}\u201d",
                                     tuple(section.paragraphs)))
        else:
            claims.append(ClaimFound(review.claim, review.verdict,
                                     "ClaimReview, with the whole article's citations", everything))
    return claims


def _finding(section: Section, cites: Any) -> ClaimFound:
    heading = _LABEL.sub("", _NUMBERED.sub("", section.heading)).strip()
    if len(heading.split()) >= 4 and not heading.endswith("?") and not _ASKING.match(heading):
        text, origin = heading[0].upper() + heading[1:], "its heading"
    else:
        cited = next((p for p in section.paragraphs if cites(p)), section.paragraphs[0])
        text, origin = _first_cited_sentence(cited), "the first sentence citing a source"
    kind = "numbered finding" if section.number is not None else (
        "bottom line" if section.role == "conclusion" else "section")
    verdict = None
    if section.role == "conclusion":
        found = (_VERDICT_IN_TEXT.search(p.text) for p in section.paragraphs)
        verdict = next((m.group(1) for m in found if m), None)
    return ClaimFound(text, verdict, f"{kind} \u201c{section.heading}\u201d ({origin})",
                      tuple(section.paragraphs))


def _first_cited_sentence(paragraph: Paragraph) -> str:
    first = paragraph.links[0].start if paragraph.links else 0
    for start, sentence in sentences(paragraph.text):
        if start + len(sentence) >= first:
            return sentence
    return paragraph.text
