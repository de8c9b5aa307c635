"""JSON → Document: the data (narrowed by a JMESPath `select`) and its canonical text.

Compared as data: key order and whitespace never count as a change.
"""

from __future__ import annotations

import json

import jmespath

from pipeline.errors import ExtractError
from pipeline.extract.base import Document, Options

MAX_BYTES = 16 * 1024**2  # parsed JSON costs ~10x its size in memory


def extract(body: bytes, options: Options) -> Document:
    if len(body) > MAX_BYTES:
        raise ExtractError(f"JSON document of {len(body) / 1024**2:.0f} MB is over the "
                           f"{MAX_BYTES // 1024**2} MB limit for JSON: refused")
    try:
        data = json.loads(body.decode(options.charset or "utf-8-sig", errors="replace"))
    except (json.JSONDecodeError, LookupError, RecursionError) as exc:
        raise ExtractError(f"not valid JSON: {str(exc).splitlines()[0]}") from None
    if options.select:
        data = jmespath.search(options.select, data)
    canonical = json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False)
    return Document("json", blocks=tuple(canonical.splitlines()), data=data)
