"""`claimwatch export-warc`: stored snapshots as WARC response records (warcio), with their
original headers, target URI and capture date, so other tools (warcio check, pywb,
ReplayWeb.page) can open the evidence.

Bodies are stored decoded, so the transfer headers that described the wire form
(Content-Encoding, Transfer-Encoding, Content-Length) are replaced by the stored body's length.

A page read with `fetch: browser` is written as what the server sent (the response record,
which replays) followed by the DOM claimwatch read after the page's scripts ran, as a
`conversion` record referring to it (WARC 1.1 §6.8).
"""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from db import blobs
from db.models import FetchRow, SnapshotRow, SourceRow
from pipeline import __version__
from pipeline.vocab import iso

_WIRE_HEADERS = {"content-encoding", "transfer-encoding", "content-length", "connection",
                 "keep-alive"}
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
            206: "Partial Content"}


def export(session: Session, snapshots: list[SnapshotRow], out: Path) -> int:
    """Write `snapshots` (oldest first) to `out` as a gzipped WARC; return the record count."""
    with open(out, "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        writer.write_record(writer.create_warcinfo_record(out.name, {
            "software": f"claimwatch/{__version__}", "format": "WARC File Format 1.1",
            "description": "Snapshots of the sources a fact-check cites"}))
        slugs = dict(session.execute(select(SourceRow.id, SourceRow.slug).where(
            SourceRow.id.in_({s.source_id for s in snapshots}))).all())
        written = 1
        for snapshot in sorted(snapshots, key=lambda s: (s.fetched_at, s.id)):
            rendered = snapshot.raw_sha256 is not None
            body = blobs.get(session, snapshot.raw_sha256 if rendered else snapshot.blob_sha256)
            status = session.scalars(select(FetchRow.status).where(
                FetchRow.snapshot_id == snapshot.id).order_by(FetchRow.id)).first() or 200
            headers = [(name, value) for name, value in snapshot.headers.items()
                       if name.lower() not in _WIRE_HEADERS]
            headers.append(("Content-Length", str(len(body))))
            http = StatusAndHeaders(f"{status} {_REASONS.get(status, 'OK')}", headers,
                                    protocol="HTTP/1.1")
            record = writer.create_warc_record(
                snapshot.url, "response", payload=io.BytesIO(body), length=len(body),
                http_headers=http, warc_headers_dict={
                    "WARC-Date": iso(snapshot.fetched_at),
                    "WARC-Identified-Payload-Type": snapshot.content_type or "",
                    "Claimwatch-Snapshot": str(snapshot.id),
                    # which source it is a version of (`backfill --from` reads it back)
                    "Claimwatch-Source": slugs.get(snapshot.source_id, "")})
            writer.write_record(record)
            written += 1
            if rendered:
                dom = blobs.get(session, snapshot.blob_sha256)
                writer.write_record(writer.create_warc_record(
                    snapshot.url, "conversion", payload=io.BytesIO(dom), length=len(dom),
                    warc_content_type="text/html; charset=utf-8", warc_headers_dict={
                        "WARC-Date": iso(snapshot.fetched_at),
                        "WARC-Refers-To": record.rec_headers.get_header("WARC-Record-ID"),
                        "Claimwatch-Snapshot": str(snapshot.id),
                        "Claimwatch-Fetch-Mode": snapshot.fetch_mode}))
                written += 1
    return written
