"""RSS/Atom → Document: entries as items with stable identities (guid, else link, else title).

The region is every entry's title and text; channel metadata (lastBuildDate, generator) is not
entry text, so a rebuilt feed with the same items reads the same.
"""

from __future__ import annotations

import feedparser
from bs4 import BeautifulSoup

from pipeline.errors import ExtractError
from pipeline.extract.base import Document, Item, Options
from pipeline.textnorm import clean

MAX_ITEMS = 20_000


def extract(body: bytes, options: Options) -> Document:
    parsed = feedparser.parse(body)
    if not parsed.entries and not parsed.feed.get("title"):
        problem = parsed.get("bozo_exception")
        raise ExtractError(f"not a readable RSS or Atom feed{f': {problem}' if problem else ''}")
    if len(parsed.entries) > MAX_ITEMS:
        raise ExtractError(f"feed has {len(parsed.entries):,} entries (limit {MAX_ITEMS:,})")
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


def _text(entry: feedparser.FeedParserDict) -> str:
    html = entry.get("summary") or ""
    if not html and entry.get("content"):
        html = " ".join(c.get("value", "") for c in entry["content"])
    return clean(BeautifulSoup(html, "lxml").get_text(" ")) if "<" in html else clean(html)
