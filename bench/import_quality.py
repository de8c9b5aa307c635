"""How good are `claimwatch import`'s drafts? On the three test layouts of tests/fixtures/import/
(the seed fact-check with ClaimReview and numbered citations, an article whose JSON-LD @graph
holds three ClaimReviews, an article with no markup and inline links), served on loopback with
the pages they cite, it imports each page as `claimwatch import URL` does and compares the
draft with what a person finds there (tests/fixtures/import/expected.yaml, written beforehand):

  claims       found in the draft / present on the page (and how many drafted claims match none)
  citations    cited URLs in the draft / present (and URLs drafted that are not citations)
  quotes       proposed; holding when the draft's own sources are probed again; accepted, i.e.
               holding one of the passages a person named for that claim and page
  tables, new_items   proposed / accepted

    python bench/import_quality.py            # the table
    python bench/import_quality.py --show seed   # and one draft as it came out
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import api, config  # noqa: E402
from pipeline.demo.server import SiteServer  # noqa: E402
from pipeline.textnorm import key  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "import"
DEMO = ROOT / "pipeline" / "demo" / "fixtures" / "v1"
LAYOUTS = ("seed", "graph", "plain")
DESK = "version: 1\ndefaults: {host_delay: 0s}\n"  # one loopback host: no need to space requests


@dataclass
class Figures:
    layout: str
    claims_present: int = 0
    claims_found: int = 0  # present claims the draft has
    claims_extra: int = 0  # drafted claims matching none present
    citations_present: int = 0
    citations_found: int = 0
    citations_extra: int = 0
    footnotes_present: int = 0
    footnotes_found: int = 0  # notes all of whose URLs the draft has
    quotes: int = 0
    quotes_holding: int = 0
    quotes_accepted: int = 0
    tables: int = 0
    tables_accepted: int = 0
    new_items: int = 0
    new_items_accepted: int = 0
    changes_any: int = 0
    html_citations: int = 0
    html_with_quote: int = 0  # HTML citations with at least one holding quote
    draft: str = ""
    rejected: list[str] = field(default_factory=list)  # proposals a person would not accept


@contextlib.contextmanager
def sites() -> Iterator[dict[str, str]]:
    """The cited pages (the demo's and tests' own) and the fact-check pages, on three loopback
    origins: the pages link the first two as a publisher links other sites."""
    with SiteServer(DEMO) as demo, SiteServer(FIXTURES / "cited") as cited, \
            tempfile.TemporaryDirectory() as tmp:
        pages = Path(tmp)
        marks = {"{{SOURCES}}": demo.base_url.rstrip("/"), "{{CITED}}": cited.base_url.rstrip("/")}
        for layout in LAYOUTS:
            html = (FIXTURES / f"{layout}.html").read_text(encoding="utf-8")
            for mark, url in marks.items():
                html = html.replace(mark, url)
            (pages / f"{layout}.html").write_text(html, encoding="utf-8")
        with SiteServer(pages) as served:
            yield {**marks, "pages": served.base_url.rstrip("/")}


def measure(layout: str, where: dict[str, str], workdir: Path) -> Figures:
    """Import `layout`'s page into a sources directory and score the draft."""
    expected = yaml.safe_load((FIXTURES / "expected.yaml").read_text())[layout]
    directory = workdir / layout
    directory.mkdir()
    (directory / "desk.yaml").write_text(DESK)
    out = directory / "draft.yaml"
    draft = api.import_factcheck(f"{where['pages']}/{expected['page']}", sources=directory,
                                 output=out)
    loaded = config.load(directory)  # the draft validates with the desk's file
    f = Figures(layout, draft=draft.text)

    def url(written: str) -> str:
        for mark in ("{{SOURCES}}", "{{CITED}}"):
            written = written.replace(mark, where[mark])
        return written

    names = {n: [key(p) for p in phrases] for n, phrases in expected["claims"].items()}
    matched: dict[str, Any] = {}
    for claim in draft.claims:
        name = next((n for n, phrases in names.items() if any(p in key(claim.text)
                                                               for p in phrases)), None)
        if name is None or name in matched:
            f.claims_extra += 1
        else:
            matched[name] = claim
    f.claims_present, f.claims_found = len(names), len(matched)

    present = {url(u) for per in expected["evidence"].values() for u in per}
    drafted = {s.url for s in draft.sources}
    f.citations_present, f.citations_found = len(present), len(present & drafted)
    f.citations_extra = len(drafted - present)
    if expected.get("footnotes"):
        notes: dict[str, set[str]] = {}
        for claim in draft.claims:
            for item in claim.items:
                if item.marker:
                    notes.setdefault(item.marker, set()).add(item.url)
        f.footnotes_present = expected["footnotes"]
        f.footnotes_found = sum(1 for n in range(1, f.footnotes_present + 1) if notes.get(str(n)))

    holding = _holding(loaded, draft)
    html = {s.url for s in draft.sources if s.kind == "html" and s.error is None}
    with_quote: set[str] = set()
    for name, per in expected["evidence"].items():
        claim = matched.get(name)
        for written, want in per.items():
            items = [i for i in (claim.items if claim else ()) if i.url == url(written)
                     and i.active and i.expectation]
            for item in items:
                kind = next(iter(item.expectation))
                if kind == "quote":
                    f.quotes += 1
                    holds = (item.source, item.expectation["quote"]) in holding
                    f.quotes_holding += holds
                    if holds and item.url in html:
                        with_quote.add(item.url)
                    if holds and _accepted(item.expectation["quote"], want.get("quote") or []):
                        f.quotes_accepted += 1
                    else:
                        f.rejected.append(f"{name} / {written}: quote "
                                          f"\u201c{item.expectation['quote']}\u201d")
                elif kind == "table":
                    f.tables += 1
                    ok = _same_table(item.expectation["table"], want.get("table"))
                    f.tables_accepted += ok
                    if not ok:
                        f.rejected.append(f"{name} / {written}: table {item.expectation}")
                elif kind == "new_items":
                    f.new_items += 1
                    ok = bool(want.get("new_items")) and re.search(
                        item.expectation["new_items"], want["new_items"]) is not None
                    f.new_items_accepted += ok
                    if not ok:
                        f.rejected.append(f"{name} / {written}: {item.expectation}")
                else:
                    f.changes_any += 1
    f.html_citations, f.html_with_quote = len(html & present), len(with_quote & present)
    return f


def _holding(loaded: config.Config, draft: Any) -> set[tuple[str, str]]:
    """(source, quote) of every quote that holds when the draft's sources are probed again
    (a fresh fetch, as `claimwatch probe SOURCE` does)."""
    found = set()
    for source in {i.source for c in draft.claims for i in c.items if i.active}:
        result = api.probe(loaded, source_id=source)
        for ev, outcome in result.outcomes:
            if ev.quote and outcome.status == "holds":
                found.add((source, ev.quote))
    return found


def _accepted(quote: str, phrases: list[str]) -> bool:
    """A person accepts a quote that holds one of the passages they named, or lies inside one
    (three words or more)."""
    mine = key(quote)
    return any(key(p) in mine or (mine in key(p) and len(mine.split()) >= 3) for p in phrases)


def _same_table(got: dict[str, Any], want: dict[str, Any] | None) -> bool:
    if not want:
        return False
    norm = config.TableSpec.model_validate
    a, b = norm(got), norm(want)
    return ({key(k): key(v) for k, v in a.where.items()} ==
            {key(k): key(v) for k, v in b.where.items()} and a.count == b.count
            and key(a.distinct or "") == key(b.distinct or ""))


def table(rows: list[Figures]) -> str:
    lines = [f"{'layout':<7} {'claims':>13} {'citations':>15} {'notes':>6} {'quotes: hold/ok':>16} "
             f"{'tables':>7} {'new_items':>9} {'changes':>7} {'HTML w/ quote':>13}"]
    for f in rows:
        notes = f"{f.footnotes_found}/{f.footnotes_present}" if f.footnotes_present else "-"
        lines.append(
            f"{f.layout:<7} {f'{f.claims_found}/{f.claims_present} +{f.claims_extra}':>13} "
            f"{f'{f.citations_found}/{f.citations_present} +{f.citations_extra}':>15} "
            f"{notes:>6} {f'{f.quotes}: {f.quotes_holding}/{f.quotes_accepted}':>16} "
            f"{f'{f.tables_accepted}/{f.tables}':>7} {f'{f.new_items_accepted}/{f.new_items}':>9} "
            f"{f.changes_any:>7} {f'{f.html_with_quote}/{f.html_citations}':>13}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", choices=LAYOUTS, help="also print this layout's draft")
    args = parser.parse_args()
    started = dt.datetime.now()
    with sites() as where, tempfile.TemporaryDirectory() as tmp:
        rows = [measure(layout, where, Path(tmp)) for layout in LAYOUTS]
    print(table(rows))
    print("\nclaims and citations: found/present +drafted but not present; quotes: proposed: "
          "holding when probed again / accepted by the expected passages; tables, new_items: "
          "accepted/proposed; changes: `changes: any` items for citations nothing matched; "
          "HTML w/ quote: HTML citations with a holding quote / HTML citations")
    for f in rows:
        for line in f.rejected:
            print(f"  not accepted ({f.layout}): {line}")
    print(f"\n({(dt.datetime.now() - started).total_seconds():.1f} s)")
    if args.show:
        print("\n" + next(f.draft for f in rows if f.layout == args.show))


if __name__ == "__main__":
    main()
