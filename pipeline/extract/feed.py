"""RSS/Atom → Document: entries as items with stable identities (guid, else link, else title).

The region is every entry's title and text; channel metadata (lastBuildDate, generator) is not
entry text, so a rebuilt feed with the same items reads the same.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.html
from lxml import etree

from pipeline.errors import ExtractError
from pipeline.extract.base import Document, Item, Options
from pipeline.textnorm import clean

MAX_ITEMS = 5_000
# <item>, <entry> and either under any namespace prefix (<atom:entry>, <a-b.c:item>): any run of
# name characters before the colon, since feedparser reads an entry under every prefix
_ENTRY_TAG = re.compile(rb"<(?:[^\s<>:/!?=\"']+:)?(?:item|entry)[\s>/]", re.IGNORECASE)


def extract(body: bytes, options: Options) -> Document:
    # counted before parsing: feedparser needs ~10 s and much memory for 100,000 entries
    entries = len(_ENTRY_TAG.findall(body))
    if entries > MAX_ITEMS:
        raise ExtractError(f"feed has {entries:,} entries (limit {MAX_ITEMS:,}): refused")
    import feedparser  # only for feeds: 0.1 s to import

    parsed = feedparser.parse(body)
    if not parsed.entries and not parsed.feed.get("title"):
        problem = parsed.get("bozo_exception")
        raise ExtractError(f"not a readable RSS or Atom feed{f': {problem}' if problem else ''}")
    items: dict[str, Item] = {}
    for entry in parsed.entries:
        title = clean(entry.get("title", ""))
        text = _text(entry)
        link = entry.get("link")
        key = entry.get("id") or link or title
        if key:
            items.setdefault(key, Item(key=key, title=title, text=text, link=link))
    blocks = tuple(b for item in items.values() for b in (item.title, item.text) if b)
    return Document("feed", blocks=blocks, items=tuple(items.values()))


def _text(entry: Any) -> str:
    html = entry.get("summary") or ""
    if not html and entry.get("content"):
        html = " ".join(c.get("value", "") for c in entry["content"])
    if "<" not in html:
        return clean(html)
    try:
        return clean(" ".join(lxml.html.fragment_fromstring(html, create_parent="div").itertext()))
    except (etree.ParserError, ValueError):
        return clean(html)
