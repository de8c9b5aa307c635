"""Content-addressed bodies: sha256 names the bytes, zstd stores them, each body once."""

from __future__ import annotations

import hashlib
import importlib

import zstandard
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import BlobRow

# zstd's default: on news pages 23.6% of raw at 0.4 ms a page, where level 9 reaches 21.5% at
# 1.6 ms (bench/README.md); a first check of thousands of pages spent a tenth of its time here
LEVEL = 3


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(session: Session, data: bytes) -> str:
    """Store `data` unless a blob with its digest exists; return the digest."""
    sha = digest(data)
    with session.no_autoflush:  # the caller's pending rows can wait for its own flush
        stored = session.scalar(select(BlobRow.size).where(BlobRow.sha256 == sha))
    if stored is None:
        packed = pack(data)
        # another worker may store the same bytes at once: the first one's row stands (the
        # engine has imported its dialect already; importing both here cost 20 ms at start)
        dialect = importlib.import_module(f"sqlalchemy.dialects.{session.get_bind().dialect.name}")
        session.execute(dialect.insert(BlobRow).values(sha256=sha, size=len(data), data=packed)
                        .on_conflict_do_nothing(index_elements=["sha256"]))
    return sha


def pack(data: bytes) -> bytes:
    """`data` as a blob row stores it (also how bench/desk.py fills a database in bulk)."""
    return zstandard.ZstdCompressor(level=LEVEL).compress(data)


def get(session: Session, sha: str) -> bytes:
    row = session.get(BlobRow, sha)
    if row is None:
        raise KeyError(f"blob {sha} is missing")
    return unpack(row.data, row.size)


def unpack(packed: bytes, size: int) -> bytes:
    """A blob row's bytes as they were stored (raises zstandard.ZstdError on a broken frame)."""
    return zstandard.ZstdDecompressor().decompress(packed, max_output_size=size)
