"""The extractor registry: `kind` in sources.yaml → the module that reads that kind.

Adding a kind is one module, one line in EXTRACTORS and its tests. `extract()` also applies the
source's `ignore` regexes, the same way for every kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipeline import userregex
from pipeline.errors import ExtractError
from pipeline.extract import feed, html, jsondoc, pdf, tables
from pipeline.extract.base import Document, Extractor, Item, Options, Row, Table

EXTRACTORS: dict[str, Extractor] = {
    "html": html.extract,
    "xlsx": tables.extract_xlsx,
    "csv": tables.extract_csv,
    "pdf": pdf.extract,
    "json": jsondoc.extract,
    "feed": feed.extract,
}

_BY_TYPE = {
    "text/html": "html", "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/csv": "csv", "application/csv": "csv",
    "application/json": "json",
    "application/rss+xml": "feed", "application/atom+xml": "feed", "application/feed+json": "json",
}
_BY_SUFFIX = {".html": "html", ".htm": "html", ".pdf": "pdf", ".xlsx": "xlsx", ".csv": "csv",
              ".json": "json", ".rss": "feed", ".atom": "feed", ".xml": "feed"}

__all__ = ["EXTRACTORS", "Document", "Item", "Options", "Row", "Table", "detect_kind", "extract",
           "read", "resolve_kind"]


def detect_kind(content_type: str, url: str, body: bytes) -> str:
    """`kind: auto`: the Content-Type, else the URL's suffix, else the first bytes."""
    if content_type in _BY_TYPE:
        return _BY_TYPE[content_type]
    if content_type.endswith("+json"):
        return "json"
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    for suffix, kind in _BY_SUFFIX.items():
        if path.endswith(suffix):
            return kind
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return "pdf"
    if head.startswith(b"pk\x03\x04"):
        return "xlsx"
    if head[:1] in (b"{", b"["):
        return "json"
    if head.startswith(b"<?xml") and (b"<rss" in head or b"<feed" in head) or head.startswith(
            (b"<rss", b"<feed")):
        return "feed"
    if content_type in ("application/xml", "text/xml"):
        return "feed"
    return "html"


def extract(kind: str, body: bytes, options: Options, ignore: Sequence[str] = ()) -> Document:
    """Read `body` as `kind` and drop the `ignore` matches from its text. Raises ExtractError."""
    try:
        doc = EXTRACTORS[kind](body, options)
    except (ExtractError, MemoryError):  # out of memory: the caller's limit, said by the caller
        raise
    except Exception as exc:  # a parser's own failure on hostile input is a recorded error
        detail = (str(exc).splitlines() or [""])[0][:200]
        raise ExtractError(f"cannot read the document as {kind}: {type(exc).__name__}"
                           f"{': ' + detail if detail else ''}") from None
    if ignore and doc.blocks:
        text = "\n".join(doc.blocks)
        for pattern in ignore:
            # no trailing newline, before which Python's `$` matched and RE2's does not
            text = userregex.remove(pattern, text).rstrip("\n")
        doc = replace(doc, blocks=tuple(b.strip() for b in text.split("\n") if b.strip()))
    return doc


def resolve_kind(kind: str, content_type: str, url: str, body: bytes) -> str:
    """The source's `kind`, or for `auto` what the response turns out to be."""
    return kind if kind != "auto" else detect_kind(content_type, url, body)


def read(body: bytes, *, kind: str, content_type: str, url: str, charset: str | None,
         select: str | None, ignore: Sequence[str], main_content: bool = False) -> Document:
    """A fetched or stored body as a Document under a source's options. Raises ExtractError."""
    resolved = resolve_kind(kind, content_type, url, body)
    options = Options(select=select, charset=charset, url=url, main_content=main_content)
    return extract(resolved, body, options, ignore)
