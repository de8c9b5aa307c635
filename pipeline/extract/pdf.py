"""PDF → Document: the text layer, page by page, as lines (pypdf).

Line-end hyphenation is undone and lines are just blocks, so a re-flowed export reads the same;
a PDF with no text layer (a scan) is an ExtractError, never "the quote was removed".
"""

from __future__ import annotations

import io
import re
import time
from typing import TYPE_CHECKING

from pipeline.errors import ExtractError
from pipeline.extract.base import Document, Options
from pipeline.textnorm import clean

if TYPE_CHECKING:
    from pypdf import PdfReader

MAX_PAGES = 2000
MAX_TEXT_CHARS = 20_000_000
MAX_SECONDS = 60.0  # a hostile PDF must end as a recorded error, not a check that never ends
EDGE_LINES = 3  # how many lines at the top and bottom of a page may be a running head or foot
_DIGITS = re.compile(r"\d+")
_HYPHENATED = re.compile(r"(\w)-\s*\n\s*([a-z])")


def extract(body: bytes, options: Options) -> Document:
    from pypdf import PdfReader  # deferred: only PDF sources pay for the import
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(body))
        if len(reader.pages) > MAX_PAGES:
            raise ExtractError(f"PDF has {len(reader.pages)} pages (limit {MAX_PAGES})")
        pages = _page_texts(reader)
    except PyPdfError as exc:
        raise ExtractError(f"not a readable PDF: {exc}") from None
    text = _HYPHENATED.sub(r"\1\2", "\n".join(_without_running_heads(pages)))
    blocks = tuple(b for b in (clean(line) for line in text.splitlines()) if b)
    if not blocks:
        raise ExtractError("the PDF has no text layer (a scan?): cannot evaluate")
    return Document("pdf", blocks=blocks)


def _page_texts(reader: PdfReader) -> list[str]:
    """Each page's text, within a total size and time budget (pypdf itself caps each stream)."""
    started, total, pages = time.monotonic(), 0, []
    for page in reader.pages:
        text = page.extract_text() or ""
        total += len(text)
        pages.append(text)
        if total > MAX_TEXT_CHARS:
            raise ExtractError(f"PDF text is over {MAX_TEXT_CHARS:,} characters: refused")
        if time.monotonic() - started > MAX_SECONDS:
            raise ExtractError(f"reading the PDF took over {MAX_SECONDS:.0f}s: refused")
    return pages


def _without_running_heads(pages: list[str]) -> list[str]:
    """Drop the lines repeated at the top or bottom of most pages ("Policy Manual", "Page 3 of
    9"), so a sentence that runs across a page break reads as one."""
    if len(pages) < 2:
        return pages
    split = [page.splitlines() for page in pages]
    seen: dict[str, int] = {}
    for lines in split:
        edge = {_DIGITS.sub("#", clean(x)) for x in lines[:EDGE_LINES] + lines[-EDGE_LINES:]}
        for line in edge - {""}:
            seen[line] = seen.get(line, 0) + 1
    running = {line for line, n in seen.items() if n * 2 > len(pages)}
    out = []
    for lines in split:
        keep = [x for i, x in enumerate(lines)
                if not ((i < EDGE_LINES or i >= len(lines) - EDGE_LINES)
                        and _DIGITS.sub("#", clean(x)) in running)]
        out.append("\n".join(keep))
    return out
