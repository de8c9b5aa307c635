"""Hostile documents end as recorded errors within bounded time and memory (issue 3): each one is
read in a child process that reports how long it took and its peak memory."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from db import Store
from pipeline import api, config
from pipeline.demo.server import SiteServer
from pipeline.fetch import FetchSettings

# Generous bounds: they catch a hang or an unbounded allocation, not a slow machine.
MAX_SECONDS = 30
MAX_PEAK_MB = 600

READER = """
import json, sys, time
from pipeline.errors import ExtractError
from pipeline.extract import Options, extract
body = open(sys.argv[2], "rb").read()
started = time.monotonic()
try:
    doc = extract(sys.argv[1], body, Options())
    outcome = f"read: {len(doc.blocks)} blocks"
except ExtractError as exc:
    outcome = f"error: {exc}"
# VmHWM is this process image's own peak (ru_maxrss would include the parent's, kept over exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - started,
                  "peak_mb": peak_kb / 1024}))
"""


def read_in_child(kind: str, body: bytes, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / f"hostile.{kind}"
    path.write_bytes(body)
    done = subprocess.run([sys.executable, "-c", READER, kind, str(path)], capture_output=True,
                          text=True, timeout=MAX_SECONDS * 2)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def pdf_with_stream(stream: bytes) -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
               + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO(b"%PDF-1.4\n")
    out.seek(0, 2)
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def stream_bomb() -> bytes:
    compressor = zlib.compressobj(9)
    line = b"BT /F1 12 Tf 72 712 Td (A) Tj ET\n" * 30_000
    packed = b"".join(compressor.compress(line) for _ in range(200)) + compressor.flush()
    return pdf_with_stream(packed)  # ~200 MB of drawing operators in ~1 MB


def zip_bomb_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            chunk = b"<row><c><v>0</v></c></row>" * 40_000
            for _ in range(400):  # ~400 MB uncompressed
                sheet.write(chunk)
    return out.getvalue()


def big_json() -> bytes:
    return json.dumps({"entries": [{"n": i, "text": "x" * 40} for i in range(800_000)]}).encode()


def huge_feed() -> bytes:
    items = b"".join(b"<item><title>Release %d</title><guid>g%d</guid></item>" % (i, i)
                     for i in range(100_000))
    return b'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>' + items + \
        b"</channel></rss>"


def huge_prefixed_feed() -> bytes:
    entries = b"".join(b"<a-b:entry><a-b:id>e%d</a-b:id><a-b:title>Release %d</a-b:title>"
                       b"</a-b:entry>" % (i, i) for i in range(100_000))
    return b'<?xml version="1.0"?><a-b:feed xmlns:a-b="http://www.w3.org/2005/Atom">' \
        b"<a-b:title>News</a-b:title>" + entries + b"</a-b:feed>"


def deep_html() -> bytes:
    return b"<html><body>" + b"<div>" * 10_000 + b"deep text" + b"</div>" * 10_000 + \
        b"</body></html>"


@pytest.mark.parametrize(("kind", "make", "expect"), [
    ("pdf", stream_bomb, "error: not a readable PDF: Limit reached while decompressing"),
    ("xlsx", zip_bomb_workbook, "error: workbook expands to"),
    ("json", big_json, "error: JSON document of"),
    ("feed", huge_feed, "error: feed has 100,000 entries (limit 5,000): refused"),
    ("feed", huge_prefixed_feed, "error: feed has 100,000 entries (limit 5,000): refused"),
    ("html", deep_html, "error: the page cannot be read whole: its elements nest deeper"),
])
def test_hostile_document_is_bounded(kind: str, make: object, expect: str,
                                     tmp_path: Path) -> None:
    body = make()  # type: ignore[operator]
    report = read_in_child(kind, body, tmp_path)
    assert str(report["outcome"]).startswith(expect), report
    assert float(report["seconds"]) < MAX_SECONDS, report  # type: ignore[arg-type]
    assert float(report["peak_mb"]) < MAX_PEAK_MB, report  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["html", "csv", "json", "feed", "pdf", "xlsx"])
def test_garbage_bytes_never_crash_a_reader(kind: str, tmp_path: Path) -> None:
    garbage = bytes(range(256)) * 64 + "é€“".encode("utf-16") + b"\xff\xfe\x00<\x00"
    report = read_in_child(kind, garbage, tmp_path)
    assert str(report["outcome"]).startswith(("read:", "error:")), report


LINEAR = """
from pipeline.config import Evidence
from pipeline.evaluate import evaluate
from pipeline.extract import Document, Item, Options, extract
page = b"<html><body><p>" + b"a" * 40 + b"</p><p>Next paragraph.</p></body></html>"
doc = extract("html", page, Options(), ignore=["(a+)+$"])
feed = Document("feed", items=(Item(key="k", title="a" * 40 + "!"),))
print(len(doc.blocks), evaluate(Evidence(source="s", new_items="(a+)+$"), feed,
                               Document("feed")).status)
"""


def test_a_backtracking_regex_cannot_hang_a_check() -> None:
    """`(a+)+$` tries 2^40 ways under Python's `re` on 40 "a"s that do not end the text."""
    done = subprocess.run([sys.executable, "-c", LINEAR], capture_output=True, text=True,
                          timeout=MAX_SECONDS)
    assert done.stdout.split() == ["2", "holds"], done.stderr[-2000:]


def test_hostile_documents_are_recorded_as_errors_by_check(store: Store,
                                                            site: SiteServer) -> None:
    (site.root / "feed.xml").write_bytes(huge_feed())
    (site.root / "data.json").write_bytes(gzip.decompress(gzip.compress(big_json())))
    cfg = config.parse(f"""\
version: 1
defaults: {{max_bytes: 100MB}}
sources:
  feed: {{url: "{site.url('feed.xml')}"}}
  data: {{url: "{site.url('data.json')}"}}
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
          - {{source: feed, new_items: "(?i)emergency"}}
          - {{source: data, json: {{path: status, equals: pending}}}}
""")
    report = api.check(store, cfg, everything=True,
                       settings=FetchSettings(user_agent="t", retries=0))
    errors = {s.source: s.error for s in report.sources}
    assert "refused" in (errors["feed"] or "") and "refused" in (errors["data"] or "")
    assert sorted((f.source, f.outcome) for f in report.flags) == [
        ("data", "error"), ("feed", "error")]
