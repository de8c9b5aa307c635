"""What the review desk pays to show a flag's evidence change (the desk's budget: 200 ms a page).

    python bench/evidence_change.py [--runs 200]

Prints the median of `evidence_change.change()` on the demo's v1 → v2 fixtures (the flagged
items) and on the benchmark's ~80 KB news pages (bench/web.py: one article paragraph rewritten,
every rail changed), each on fresh Documents (no cached search text, as a desk request has), then
`worddiff.words` on 2 MB texts: one edit, 50 and 500 scattered edits, with and without newlines.
Extraction is not counted: the desk reads both snapshots' Documents once per page either way.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import web  # noqa: E402
from pipeline.config import Evidence  # noqa: E402
from pipeline.evidence_change import change  # noqa: E402
from pipeline.extract import Document, read  # noqa: E402
from pipeline.worddiff import words  # noqa: E402

FIXTURES = ROOT / "pipeline" / "demo" / "fixtures"


def median_ms(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def document(body: bytes, name: str, select: str | None = None) -> Document:
    return read(body, kind="auto", content_type="", url=f"http://bench.invalid/{name}",
                charset=None, select=select, ignore=[])


def fresh(doc: Document) -> Document:
    return Document(doc.kind, doc.blocks, doc.tables, doc.items, doc.data, doc.meta)


def item(**expectation: Any) -> Evidence:
    return Evidence.model_validate({"source": "bench", **expectation})


def demo_cases() -> list[tuple[str, Evidence, bytes, bytes, str, str | None]]:
    def pair(source: str, v1: str, v2: str | None = None) -> tuple[bytes, bytes]:
        return ((FIXTURES / "v1" / source / v1).read_bytes(),
                (FIXTURES / "v2" / source / (v2 or v1)).read_bytes())

    mpd = pair("reformer-mpd-policy", "index.html")
    ice = pair("ice-287g", "participatingAgencies01092026.xlsx",
               "participatingAgencies01232026pm.xlsx")
    return [
        ("reformer-mpd-policy quote (gone)", item(quote="more clearly prohibit assisting ICE"),
         *mpd, "index.html", "article"),
        ("reformer-mpd-policy changes: any, whole page", item(changes="any"), *mpd,
         "index.html", None),
        ("bca-statement absent", item(absent="correction"),
         *pair("bca-statement", "index.html"), "index.html", "main"),
        ("ice-287g table count", item(table={"where": {"STATE": "Minnesota"}, "count": 6,
                                             "distinct": "LAW ENFORCEMENT AGENCY"}),
         *ice, "list.xlsx", None),
        ("dhs-news new_items", item(new_items=r"(?i)\b(minneapolis|minnesota)\b"),
         *pair("dhs-news", "index.xml"), "index.xml", None),
    ]


def news_pages(n: int) -> list[tuple[str, Evidence, bytes, bytes, str, str | None]]:
    cases = []
    for index in range(n):
        src = web.Source(index, f"s{index:05d}", "html", "127.0.0.1", f"/s{index}.html")
        v1, article = web.render_html(1, src, 1)
        v2, _ = web.render_html(1, src, 2)
        quote = item(quote=article.quotes[0])
        cases.append((f"news page {len(v2) // 1024} KB, quote", quote, v1, v2, "p.html",
                      "article"))
        cases.append((f"news page {len(v2) // 1024} KB, changes: any, whole page",
                      item(changes="any"), v1, v2, "p.html", None))
    return cases


def word_cases() -> list[tuple[str, str, str]]:
    rng = random.Random(1)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9)))
                  for _ in range(3000)] + ["the", "a", "of", "and", "to", "in"] * 150

    def text(separator: str) -> str:
        parts, size = [], 0
        while size < 2 * 1024**2:
            part = " ".join(rng.choices(vocabulary, k=rng.randint(40, 120))) + "."
            parts.append(part)
            size += len(part) + 1
        return separator.join(parts)

    def edited(base: str, n: int) -> str:
        tokens = base.split(" ")
        for k in rng.sample(range(len(tokens)), n):
            tokens[k] = rng.choice(vocabulary)
        return " ".join(tokens)

    cases = []
    for separator, shape in (("\n", "paragraph lines"), (" ", "one line")):
        base = text(separator)
        cases += [(f"2 MB, {shape}, {n} edit(s)", base, edited(base, n)) for n in (1, 50, 500)]
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print("change(): median over fresh Documents")
    for label, ev, v1, v2, name, select in [*demo_cases(), *news_pages(3)]:
        before, after = document(v1, name, select), document(v2, name, select)
        ms = median_ms(lambda: change(ev, fresh(before), fresh(after)), args.runs)  # noqa: B023
        print(f"  {label:48s} {ms:6.2f} ms")
    print("worddiff.words(): median of 5")
    for label, before, after in word_cases():
        ms = median_ms(lambda: words(before, after), 5)  # noqa: B023
        print(f"  {label:48s} {ms:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
