"""PDF → Document: the text layer, page by page, as lines (pypdf).

Line-end hyphenation is undone and lines are just blocks, so a re-flowed export reads the same;
a PDF with no text layer (a scan) is an ExtractError, never "the quote was removed".
"""

from __future__ import annotations

import io
import re

from pipeline.errors import ExtractError
from pipeline.extract.base import Document, Options
from pipeline.textnorm import clean

MAX_PAGES = 2000
_HYPHENATED = re.compile(r"(\w)-\s*\n\s*([a-z])")


def extract(body: bytes, options: Options) -> Document:
    from pypdf import PdfReader  # deferred: only PDF sources pay for the import
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(body))
        if len(reader.pages) > MAX_PAGES:
            raise ExtractError(f"PDF has {len(reader.pages)} pages (limit {MAX_PAGES})")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PyPdfError as exc:
        raise ExtractError(f"not a readable PDF: {exc}") from None
    text = _HYPHENATED.sub(r"\1\2", "\n".join(pages))
    blocks = tuple(b for b in (clean(line) for line in text.splitlines()) if b)
    if not blocks:
        raise ExtractError("the PDF has no text layer (a scan?): cannot evaluate")
    return Document("pdf", blocks=blocks)
