"""What `claimwatch import` returns: the draft watch as plain data (its claims, each evidence
item proposed with its score and reason, the cited sources and how each is read) and its YAML
text; `to_json` for the desk and scripts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DraftItem:
    """One citation of a claim: the evidence proposed on it, or (`expectation` None) why there
    is none. `active` items are in the draft; the others are commented out."""

    source: str  # the source's id
    url: str
    marker: str | None  # the citation's note number on the page
    expectation: dict[str, Any] | None
    score: float | None
    why: str
    passage: str | None  # the cited page's words it rests on
    active: bool
    words: str | None = None  # the expectation in plain words


@dataclass(frozen=True)
class DraftClaim:
    id: str
    text: str
    verdict: str | None  # as the page rates it (None: it rates nothing there)
    origin: str  # where on the page it was found
    items: tuple[DraftItem, ...]


@dataclass(frozen=True)
class DraftSource:
    id: str
    url: str
    options: dict[str, Any]  # how the draft declares it (url, kind, follow, select, …)
    how: str  # why it is read that way
    kind: str | None  # what it turned out to be
    error: str | None  # why it could not be read
    declared: bool  # the desk's configuration already declares it


@dataclass(frozen=True)
class Draft:
    factcheck_id: str
    title: str
    url: str  # the fact-check's address as the publisher names it
    read_from: str  # where it was read (a URL or a file)
    structured: str | None  # where its ClaimReviews came from (JSON-LD, microdata, RDFa)
    claims: tuple[DraftClaim, ...]
    sources: tuple[DraftSource, ...]
    text: str = ""  # the draft as YAML
    published: str | None = None  # the day the page says it was published (YYYY-MM-DD)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
