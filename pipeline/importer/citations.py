"""A claim's citations: the links in its paragraphs, inline or through a citation marker ([1], a
footnote number) to the note it points at; never share buttons, mail links, in-page anchors or
the publisher's own pages linked inline (its own earlier article cited in a footnote stays).
Each citation keeps the sentence that carries it. And for the draft: one source per URL, its
kind guessed from the address, an id made of its words.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urldefrag, urlsplit

from pipeline.importer.page import ClaimFound, Link, Page, Paragraph
from pipeline.importer.text import sentences

_MARKER = re.compile(r"\[(\d{1,3})\]")
_MARKER_TEXT = re.compile(r"^\s*\[?(\d{1,3})\]?\s*$")
_SHARING = {"twitter.com": "/intent", "x.com": "/intent", "facebook.com": "/sharer",
            "linkedin.com": "/shar", "reddit.com": "/submit", "pinterest.com": "/pin/create",
            "tumblr.com": "/share", "t.me": "/share", "telegram.me": "/share"}
_SHARE_HOSTS = {"wa.me", "api.whatsapp.com", "web.whatsapp.com"}
KINDS_BY_SUFFIX = {".xlsx": "xlsx", ".xlsm": "xlsx", ".csv": "csv", ".pdf": "pdf",
                   ".json": "json", ".rss": "feed", ".atom": "feed"}
_GENERIC = {"index", "default", "home", "page", "view", "show", "article", "news", "www", "en"}
MAX_ID = 40


@dataclass(frozen=True)
class Citation:
    url: str  # without its fragment
    marker: str | None  # the note's number, when cited through one
    context: str  # the sentence(s) carrying it, markers taken out
    paragraph: str  # its whole paragraph, markers taken out


def cites(page: Page) -> Callable[[Paragraph], bool]:
    """Whether a paragraph of `page` cites anything."""
    return lambda paragraph: bool(_cited(page, paragraph))


def citations(page: Page, claim: ClaimFound) -> list[Citation]:
    """The claim's citations, one per URL (the first sentence citing it), in reading order."""
    found: dict[str, Citation] = {}
    for paragraph in claim.paragraphs:
        text = paragraph.text  # a marker's own words ("1", "[2]") are no part of what it cites
        for link in paragraph.links:
            if link.href.startswith("#"):
                text = text[:link.start] + " " * (link.end - link.start) + text[link.end:]
        bare = strip_markers(text)
        cited = _cited(page, paragraph)
        marks = sorted({at for _u, marker, at in cited if marker is not None})
        for url, marker, at in cited:
            if url not in found:  # a marker follows the words it cites; a link sits in them
                found[url] = Citation(url, marker, _carrying(
                    text, at, marks if marker is not None else []), bare)
    return list(found.values())


def _cited(page: Page, paragraph: Paragraph) -> list[tuple[str, str | None, int]]:
    """(url, marker, where in the text) of each source the paragraph cites."""
    found: list[tuple[str, str | None, int]] = []
    covered = []
    for link in paragraph.links:
        covered.append((link.start, link.end))
        if link.href.startswith("#"):
            number = _MARKER_TEXT.match(link.text)
            notes = page.notes.get(link.href) or page.notes.get(number.group(1) if number else "")
            found += [(u, number.group(1) if number else link.href[1:], link.start)
                      for u in _usable(notes or [], page, noted=True)]
        else:
            found += [(u, None, link.start) for u in _usable([link], page, noted=False)]
    for marker in _MARKER.finditer(paragraph.text):  # plain "[3]" pointing at a notes list
        if not any(lo <= marker.start() < hi for lo, hi in covered):
            found += [(u, marker.group(1), marker.start())
                      for u in _usable(page.notes.get(marker.group(1), []), page, noted=True)]
    return found


def _usable(links: list[Link], page: Page, *, noted: bool) -> list[str]:
    kept = []
    for link in links:
        url = urldefrag(link.href)[0]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or _sharing(parts):
            continue
        if not noted and f"{parts.scheme}://{parts.netloc}".lower() in page.origins:
            continue  # the publisher's own pages, linked in passing ("our earlier check")
        kept.append(url)
    return kept


def _sharing(parts: object) -> bool:
    host = (getattr(parts, "hostname", "") or "").removeprefix("www.").removeprefix("m.")
    path = getattr(parts, "path", "")
    return host in _SHARE_HOSTS or (host in _SHARING and path.startswith(_SHARING[host]))


def _carrying(text: str, at: int, marks: list[int]) -> str:
    """The words a citation at position `at` of `text` carries: its sentence (a marker at a
    sentence's very start belongs to the sentence before), or when the sentence cites several
    times, the clause between the citations before it and its own (six words or more);
    markers taken out."""
    chosen, begins, previous = text, 0, None
    for start, sentence in sentences(text):
        if start <= at < start + len(sentence) + 1:
            if at - start < 2 and previous and _MARKER.match(text[at:at + 5]):
                chosen, begins = previous
            else:
                chosen, begins = sentence, start
            break
        previous = (sentence, start)
    group = at  # where the run of citations `at` is in starts ("… arrangements [2] [3]")
    while (earlier := [m for m in marks if m < group and not _MARKER.sub(
            "", text[m:group]).strip(" ,;")]):
        group = earlier[-1]
    before = [m for m in marks if begins <= m < group]
    start = begins
    if before:
        last = _MARKER.match(text, before[-1])
        start = last.end() if last else before[-1]
    piece = strip_markers(text[start:group]).strip(" ,;:")
    if marks and (start > begins or group < begins + len(chosen)) and len(piece.split()) >= 6:
        return piece
    return strip_markers(chosen)


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:])", r"\1", " ".join(_MARKER.sub("", text).split()))


def guess_kind(url: str) -> str | None:
    """The source kind its address says, if it says one (the Content-Type decides otherwise)."""
    parts = urlsplit(url)
    suffix = PurePosixPath(parts.path).suffix.lower()
    if suffix in KINDS_BY_SUFFIX:
        return KINDS_BY_SUFFIX[suffix]
    if re.search(r"(^|/)(rss|atom|feed)(\.xml)?/?$", parts.path.lower()):
        return "feed"
    return None


def source_id(url: str, taken: set[str]) -> str:
    """An id for the source at `url` made of its address's words ("ice-287g",
    "reformer-mpd-policy"), not one of `taken`."""
    parts = urlsplit(url)
    segments = [_slug(re.sub(r"\d{5,}$", "", PurePosixPath(s).stem))
                for s in parts.path.split("/") if s]
    segments = [s for s in segments if s and s not in _GENERIC and not s.isdigit()]
    words = segments[-1:] if segments else []
    if segments and len(segments[-1]) < 4 and len(segments) > 1:
        words = segments[-2:]
    host = (parts.hostname or "").lower()
    if host and not _is_address(host) and host != "localhost":
        labels = [label for label in host.split(".")[:-1] if label not in ("www", "m")]
        label = labels[0] if labels and (len(labels) == 1 or len(labels[-1]) <= 3) else (
            labels[-1] if labels else "")
        if label and not any(label in w for w in words):
            words = [_slug(label), *words]
    base = _cut("-".join(w for w in words if w)) or "source"
    chosen, n = base, 2
    while chosen in taken:
        chosen, n = f"{base[:MAX_ID - 3]}-{n}", n + 1
    taken.add(chosen)
    return chosen


def slug_of(text: str, taken: set[str], fallback: str) -> str:
    """An id made of the first words of `text`, not one of `taken`."""
    base = _cut(_slug(text)) or fallback
    chosen, n = base, 2
    while chosen in taken:
        chosen, n = f"{base[:MAX_ID - 3]}-{n}", n + 1
    taken.add(chosen)
    return chosen


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "").replace("\u2019", "")
                  ).strip("-")


def _cut(slug: str) -> str:
    """At most MAX_ID characters, cut between words."""
    if len(slug) <= MAX_ID:
        return slug
    cut = slug[:MAX_ID + 1].rsplit("-", 1)[0]
    return (cut or slug[:MAX_ID]).strip("-")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
