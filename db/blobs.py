"""Content-addressed bodies: sha256 names the bytes, zstd stores them, each body once."""

from __future__ import annotations

import hashlib

import zstandard
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import BlobRow

LEVEL = 9


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(session: Session, data: bytes) -> str:
    """Store `data` unless a blob with its digest exists; return the digest."""
    sha = digest(data)
    if session.get(BlobRow, sha) is None:
        packed = zstandard.ZstdCompressor(level=LEVEL).compress(data)
        try:
            with session.begin_nested():  # another worker may store the same bytes at once
                session.add(BlobRow(sha256=sha, size=len(data), data=packed))
        except IntegrityError:
            pass
    return sha


def get(session: Session, sha: str) -> bytes:
    row = session.get(BlobRow, sha)
    if row is None:
        raise KeyError(f"blob {sha} is missing")
    return zstandard.ZstdDecompressor().decompress(row.data, max_output_size=row.size)
