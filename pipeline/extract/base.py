"""What every extractor returns (`Document`) and takes (`Options`): the contract between the
extractors and the stages after them (evaluate, diff). Plain frozen data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from pipeline.textnorm import Searchable

Row = tuple[str, ...]
Table = tuple[Row, ...]


@dataclass(frozen=True)
class Item:
    """A feed entry or a link: `key` is its stable identity (guid, else link, else title)."""

    key: str
    title: str
    text: str = ""
    link: str | None = None


@dataclass(frozen=True)
class Document:
    """A snapshot as claimwatch reads it: the selected region's text blocks (after `ignore`), its
    tables (rows of cleaned cell strings), its items, and for JSON the data itself."""

    kind: str
    blocks: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    items: tuple[Item, ...] = ()
    data: Any = None
    meta: dict[str, str] = field(default_factory=dict)

    @cached_property
    def text(self) -> Searchable:
        """The region's text as one searchable string: blocks separate words like a space."""
        return Searchable.of(" ".join(self.blocks))


@dataclass(frozen=True)
class Options:
    """How to read a body: the source's `select` (CSS, or JMESPath for JSON) or `main_content`,
    the charset the server declared, and the final URL (to resolve links)."""

    select: str | None = None
    charset: str | None = None
    url: str = ""
    main_content: bool = False  # html: keep the article, drop the page's chrome (trafilatura)


def decode(body: bytes, *encodings: str | None) -> str:
    """Bytes as text: a UTF-8 byte-order mark wins, then the first of `encodings` (the server's
    charset, the document's own declaration) the bytes are valid in, then UTF-8, and at last
    windows-1252, which reads anything."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace")
    for encoding in (*encodings, "utf-8"):
        if encoding:
            try:
                return body.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                continue
    return body.decode("cp1252", errors="replace")


class Extractor(Protocol):
    def __call__(self, body: bytes, options: Options) -> Document: ...
