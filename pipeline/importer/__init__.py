"""`claimwatch import`: a published fact-check page becomes a draft watch of its evidence, one
fact-check file for a directory of sources, for an editor to read and accept.

`page` reads the fact-check (its ClaimReviews, its findings, their paragraphs), `citations`
the links each claim cites, `evidence` fetches every cited page once and proposes the evidence
on it (each proposal evaluated on the page before it is kept), `draft` writes the YAML.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urldefrag, urlsplit

import httpx

from pipeline.config import Config, Evidence, Source
from pipeline.describe import in_words
from pipeline.errors import UsageError
from pipeline.importer.citations import Citation, citations, cites, slug_of, source_id
from pipeline.importer.draft import write
from pipeline.importer.evidence import Reading, names_a_count, propose, read_cited
from pipeline.importer.page import ClaimFound, Page, claims_of, read_page
from pipeline.importer.records import Draft, DraftClaim, DraftItem, DraftSource
from pipeline.importer.text import Weights, sentences

__all__ = ["Draft", "DraftClaim", "DraftItem", "DraftSource", "draft_watch"]


def draft_watch(body: bytes, read_from: str, config: Config, *, when: str,
                charset: str | None = None, home: str | None = None,
                factcheck_id: str | None = None, reuse: bool = True,
                transport: httpx.AsyncBaseTransport | None = None) -> Draft:
    """The draft watch of the fact-check page `body` (read from `read_from`, a URL or a
    file), next to the desk's `config`: with `reuse`, sources it already declares are used by
    their ids (without, the draft stands alone and declares every source); no id it holds is
    taken again. `home`: the page's URL when it was fetched, which bounds what its cited pages
    may reach (a saved file: each cited page its own)."""
    page = read_page(body, read_from, charset)
    found = [(claim, citations(page, claim)) for claim in claims_of(page, cites(page))]
    if not found:
        raise UsageError(f"no fact-check found in {read_from}: no ClaimReview, no findings "
                         "and no article text", field="page")
    declared = {_bare(s.url): (sid, s) for sid, s in config.sources.items()} if reuse else {}
    wanted: dict[str, tuple[Source | None, bool]] = {}
    for _claim, cited in found:
        for c in cited:
            counts = wanted.get(c.url, (None, False))[1] or names_a_count(c.context)
            wanted[c.url] = (declared.get(_bare(c.url), (None, None))[1], counts)
    readings = read_cited(wanted, config, home=home, transport=transport)
    chosen = {url: _choose(url, options, found, page.title) for url, options in readings.items()}
    taken = set(config.sources)
    ids = {url: declared[_bare(url)][0] if _bare(url) in declared else source_id(url, taken)
           for url in readings}
    claim_ids = {c.id for _f, c in config.claims()}
    background = Weights(s for section in page.sections for p in section.paragraphs
                         for _at, s in sentences(p.text))
    claims = tuple(_draft_claim(claim, cited, chosen, ids, page.title, claim_ids, background)
                   for claim, cited in found)
    if not any(item.active for claim in claims for item in claim.items):
        raise UsageError(f"nothing to watch in {read_from}: {len(claims)} claim(s) found, but "
                         f"none cites a page that could be read ({len(readings)} cited)",
                         field="page")
    sources = tuple(DraftSource(ids[url], url, r.source.model_dump(mode="json",
                                                                    exclude_defaults=True),
                                r.how, r.kind, r.error, _bare(url) in declared)
                    for url, r in chosen.items())
    taken_factchecks = {f.id for f in config.factchecks}
    if factcheck_id is not None and factcheck_id in taken_factchecks:
        raise UsageError(f"the desk already has a fact-check {factcheck_id!r}", field="id")
    draft = Draft(factcheck_id or _factcheck_id(page, taken_factchecks), page.title, page.url,
                  read_from, page.structured, claims, sources, published=page.published)
    return replace(draft, text=write(draft, when=when))


def _choose(url: str, options: list[Reading], found: list[tuple[ClaimFound, list[Citation]]],
            title: str) -> Reading:
    """A page's own reading, or the spreadsheet it links when a count one of its citing claims
    names is found there."""
    if len(options) > 1 and options[1].document is not None:
        for _claim, cited in found:
            for c in cited:
                if c.url == url and names_a_count(c.context) and any(
                        p.expectation and "table" in p.expectation
                        for p in propose(c, options[1], title)):
                    return options[1]
    return options[0]


def _draft_claim(claim: ClaimFound, cited: list[Citation], chosen: dict[str, Reading],
                 ids: dict[str, str], title: str, taken: set[str],
                 background: Weights) -> DraftClaim:
    items: dict[tuple[str, str], DraftItem] = {}
    for c in cited:
        for p in propose(c, chosen[c.url], title, background):
            words = None if p.expectation is None else in_words(
                Evidence.model_validate({"source": ids[c.url], **p.expectation}))
            item = DraftItem(ids[c.url], c.url, c.marker, p.expectation, p.score, p.why,
                             p.passage, p.expectation is not None, words)
            items.setdefault((item.source, str(p.expectation) if p.expectation else p.why), item)
    return DraftClaim(slug_of(claim.text, taken, "claim"), claim.text, claim.verdict,
                      claim.origin, tuple(items.values()))


def _factcheck_id(page: Page, taken: set[str]) -> str:
    """The last words of its address when they name it (`did-minnesota-police-join-ice`),
    else its title's first words."""
    last = [s for s in urlsplit(page.url).path.split("/") if s]
    name = last[-1].rsplit(".", 1)[0] if last else ""
    words = [w for w in name.replace("_", "-").split("-") if w]
    if len(words) >= 3 and all(w.isalnum() for w in words):
        return slug_of(name, taken, "factcheck")
    return slug_of(page.title, taken, "factcheck")


def _bare(url: str) -> str:
    return urldefrag(url)[0].rstrip("/")
