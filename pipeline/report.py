"""The evidence report of a fact-check, as a desk publishes it next to a correction: a summary
paragraph in words, then each claim (its text, verdict and verdict history) and each evidence
item's standing, with what changed at every flag it had (the text before and after, read from
the stored snapshots) and links to those snapshots.

`build` gathers frozen data; `to_html` (a Jinja2 template, autoescaped: a whole document or the
fragment the desk embeds) and `to_markdown` (every value from a page or sources.yaml escaped
onto one inert line) render it. The CLI, the desk's page and downloads, and the REST API all
give this one document.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ClaimRow, EvidenceRow, FactCheckRow, FlagRow, SnapshotRow
from pipeline import archive, backfill, timeline
from pipeline.backfill import BackfillState
from pipeline.claim_detail import Item, VerdictChange, items, verdicts
from pipeline.config import Config, Evidence
from pipeline.describe import expectation_in_words
from pipeline.errors import NotFound, UsageError
from pipeline.evidence_change import (
    AbsentChange,
    EvidenceChange,
    JsonChange,
    NewItemsChange,
    Passage,
    QuoteChange,
    TableChange,
)
from pipeline.flag_detail import flag_change
from pipeline.records import FlagRecord
from pipeline.snapshots import DocumentCache
from pipeline.textnorm import printable
from pipeline.timeline import Moment
from pipeline.vocab import Decision, FlagStatus, Outcome, iso

FORMATS = ("md", "html")
SHOWN = 3  # changes the summary paragraph names before "and N more"
LISTED = 20  # rows, lines or items a flag's change lists before "and N more"
NO_CONFIG = ("the before/after text is not shown: it is read from the stored snapshots under "
             "the source's settings in sources.yaml, which were not available")


class Standing(StrEnum):
    """Where an evidence item stands now."""

    HOLDS = "holds"
    UNDER_REVIEW = "under review"  # a flag is open
    RESOLVED = "resolved"  # every flag closed: reviewed, resolved by the source, source retired
    UNCHECKED = "not checked yet"
    NOT_HOLDING = "does not hold"  # no flag, open or closed (a state that should not last)

    @property
    def css(self) -> str:
        return self.value.replace(" ", "-")


@dataclass(frozen=True)
class SnapshotLink:
    """A stored snapshot and, when the desk's address is known, its page on the desk."""

    id: int
    fetched_at: dt.datetime
    href: str | None
    archived_url: str | None = None  # its capture in the public archive (`pipeline.archive`)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "fetched_at": iso(self.fetched_at), "href": self.href,
                "archived_url": self.archived_url}


@dataclass(frozen=True)
class FlagStory:
    """One flag an item had: the flag (with its review), the two snapshots it compared, and
    what changed between them, or the one line saying why that cannot be shown."""

    flag: FlagRecord
    href: str | None  # the flag's page on the desk
    baseline: SnapshotLink | None
    flagged: SnapshotLink | None
    change: EvidenceChange | None
    change_problem: str | None

    @property
    def summary(self) -> str:
        return self.change.summary if self.change else printable(self.flag.reason)

    @property
    def headline(self) -> str:
        """The change as one short clause: its summary up to the excerpt of page text that
        follows, which the report shows in full (the passage, the new items) anyway."""
        if self.change is None:
            return self.summary
        text = self.change.summary
        for cut in ("; ", ": \u201c"):
            text = text.split(cut, 1)[0]
        return text

    @property
    def closing(self) -> str:
        """What became of the flag, as a sentence (without its note)."""
        flag, review = self.flag, self.flag.review
        if review is not None:
            tail = {Decision.UPHELD: ": the verdict stands",
                    Decision.DISMISSED: ": a false alarm",
                    Decision.REVISED: f": the verdict went from \u201c{review.verdict_before}"
                                      f"\u201d to \u201c{review.verdict_after}\u201d"}
            return (f"{upper_first(review.decision)} by {review.by} on "
                    f"{when(review.reviewed_at)}{tail.get(review.decision, '')}")
        if flag.status == FlagStatus.OPEN:
            return "No decision yet"
        if flag.status == FlagStatus.RESOLVED:
            return f"Resolved by the source: the evidence held again on {when(flag.closed_at)}"
        if flag.status == FlagStatus.RETIRED:
            return f"Closed when the source was retired, on {when(flag.closed_at)}"
        return f"Closed ({flag.status}) on {when(flag.closed_at)}"

    @property
    def note(self) -> str | None:
        return self.flag.review.note if self.flag.review else None

    def to_json(self) -> dict[str, Any]:
        return {"flag": self.flag.to_json(), "href": self.href,
                "baseline": self.baseline.to_json() if self.baseline else None,
                "snapshot": self.flagged.to_json() if self.flagged else None,
                "summary": self.summary, "headline": self.headline, "closing": self.closing,
                "note": self.note,
                "change": _change_json(self.change), "change_problem": self.change_problem}


def _change_json(change: EvidenceChange | None) -> dict[str, Any] | None:
    """The change as the report shows it: the region's whole diff only where it is the
    evidence (`changes: any`); the desk's flag page has it for the others."""
    if change is None:
        return None
    data = change.to_json()
    if change.kind != "changes":
        del data["region"]
    return data


@dataclass(frozen=True)
class EvidenceItem:
    source: str
    source_url: str
    expectation: dict[str, Any]
    expectation_words: str
    standing: Standing
    outcome: str | None
    reason: str | None
    last_check_at: dt.datetime | None  # the source's last successful check
    flags: tuple[FlagStory, ...]  # oldest first
    # its first evaluation (`timeline`): as published when it was on a version of the
    # publication's days (with `backfill`, the one nearest it), else its first check; and its
    # latest change, each with its day
    as_published: Moment | None = None
    first_check: Moment | None = None
    now: Moment | None = None

    @property
    def then(self) -> tuple[str, Moment] | None:
        """How the item stood first, named: as published, or at its first check."""
        if self.as_published is not None:
            return "As published", self.as_published
        return ("First checked", self.first_check) if self.first_check is not None else None

    @property
    def closed_by(self) -> FlagStory | None:
        """The flag whose closing resolved the item (its latest), when it is resolved."""
        return self.flags[-1] if self.standing == Standing.RESOLVED else None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "source_url": self.source_url,
                "expectation": self.expectation, "expectation_words": self.expectation_words,
                "standing": str(self.standing), "outcome": self.outcome, "reason": self.reason,
                "last_check_at": iso(self.last_check_at),
                "as_published": self.as_published.to_json() if self.as_published else None,
                "first_check": self.first_check.to_json() if self.first_check else None,
                "now": self.now.to_json() if self.now else None,
                "flags": [f.to_json() for f in self.flags]}


@dataclass(frozen=True)
class ClaimReport:
    id: str
    text: str
    verdict: str
    verdicts: tuple[VerdictChange, ...]  # oldest first
    evidence: tuple[EvidenceItem, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "verdict": self.verdict,
                "verdicts": [{"verdict": v.verdict, "origin": v.origin, "at": iso(v.at),
                              "by": v.by} for v in self.verdicts],
                "evidence": [e.to_json() for e in self.evidence]}


@dataclass(frozen=True)
class Report:
    factcheck: str
    title: str
    url: str | None
    generated_at: dt.datetime
    summary: str  # one paragraph: how the claims stand, in words
    last_checked_at: dt.datetime | None  # the latest successful check of any of its sources
    claims: tuple[ClaimReport, ...]
    # where loading its history since publication stands (the desk's page says it), if it has one
    backfill: BackfillState | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.factcheck, "title": self.title, "url": self.url,
                "generated_at": iso(self.generated_at), "summary": self.summary,
                "last_checked_at": iso(self.last_checked_at),
                "backfill": self.backfill.to_json() if self.backfill else None,
                "claims": [c.to_json() for c in self.claims]}


def build(session: Session, factcheck: str, now: dt.datetime, *, config: Config | None = None,
          desk_url: str | None = None) -> Report:
    """The report of `factcheck`. `config` gives the sources' settings to read the snapshots
    with (without it the before/after text is left out, saying why); `desk_url` makes links
    to the desk's pages of snapshots and flags ("" for links relative to the desk itself)."""
    fc = session.scalars(select(FactCheckRow).where(FactCheckRow.slug == factcheck)).first()
    if fc is None:
        raise NotFound(f"unknown fact-check {factcheck!r} (is it in sources.yaml, and checked?)",
                       field="factcheck")
    claims = session.scalars(select(ClaimRow).where(
        ClaimRow.factcheck_id == fc.id, ClaimRow.active.is_(True)).order_by(ClaimRow.id)).all()
    rows = session.scalars(select(EvidenceRow).where(
        EvidenceRow.claim_id.in_([c.id for c in claims]), EvidenceRow.active.is_(True))
        .order_by(EvidenceRow.claim_id, EvidenceRow.position)).all()
    found = items(session, list(rows))
    stories = _stories(session, config, None if desk_url is None else desk_url.rstrip("/"),
                       found)
    history = verdicts(session, [c.id for c in claims])
    moments = _moments(session, claims, config)
    by_claim: dict[int, list[EvidenceItem]] = {}
    for row, item, told in zip(rows, found, stories, strict=True):
        listed = by_claim.setdefault(row.claim_id, [])
        moved = moments.get(row.claim_id, [])
        at = moved[len(listed)] if len(listed) < len(moved) else ()
        listed.append(EvidenceItem(
            item.source, item.source_url, item.expectation,
            expectation_in_words(item.expectation), _standing(item), item.outcome,
            printable(item.reason) if item.reason else None, item.last_check_at, told,
            *_then(at[0] if at else None, fc.published), at[-1] if len(at) > 1 else None))
    reports = tuple(ClaimReport(c.slug, c.text, c.verdict, tuple(history.get(c.id, [])),
                                tuple(by_claim.get(c.id, []))) for c in claims)
    checked = [i.last_check_at for i in found if i.last_check_at is not None]
    last = max(checked) if checked else None
    backfilled = backfill.states(session, config, now, only=fc.slug)
    return Report(fc.slug, fc.title, fc.url, now, summary(fc.title, reports, last), last,
                  reports, backfilled[0] if backfilled else None)


NEAR_PUBLICATION = dt.timedelta(days=31)  # as `backfill` looks for a baseline


def _then(first: Moment | None, published: dt.date | None
          ) -> tuple[Moment | None, Moment | None]:
    """(as published, first check): a first evaluation on a version of the publication's days
    is how the item stood as published; a later one is only its first check."""
    if first is None:
        return None, None
    near = published is not None and abs(first.at - dt.datetime.combine(
        published, dt.time(12))) <= NEAR_PUBLICATION
    return (first, None) if near else (None, first)


def _moments(session: Session, claims: Sequence[ClaimRow], config: Config | None
             ) -> dict[int, list[tuple[Moment, ...]]]:
    """Each claim's items' timelines, in the items' order (`timeline.build`)."""
    return {c.id: [i.moments for i in timeline.build(session, c.slug, config).items]
            for c in claims}


def _standing(item: Item) -> Standing:
    if any(f.status == FlagStatus.OPEN for f in item.flags):
        return Standing.UNDER_REVIEW
    if item.outcome is None:
        return Standing.UNCHECKED
    if item.flags:
        return Standing.RESOLVED
    return Standing.HOLDS if item.outcome == Outcome.HOLDS else Standing.NOT_HOLDING


def _stories(session: Session, config: Config | None, desk_url: str | None,
             found: list[Item]) -> list[tuple[FlagStory, ...]]:
    """Each item's flags, oldest first, with what changed at each: two queries for every
    flag's snapshots, each snapshot read once."""
    ids = [f.id for item in found for f in item.flags]
    compared = {fid: (base, snap) for fid, base, snap in session.execute(
        select(FlagRow.id, FlagRow.baseline_snapshot_id, FlagRow.snapshot_id)
        .where(FlagRow.id.in_(ids)))} if ids else {}
    wanted = {i for pair in compared.values() for i in pair if i is not None}
    snapshots = {s.id: s for s in session.scalars(
        select(SnapshotRow).where(SnapshotRow.id.in_(wanted)))} if wanted else {}
    archived = archive.links(session, list(wanted))

    def link(snapshot_id: int | None) -> SnapshotLink | None:
        row = snapshots.get(snapshot_id or -1)
        if row is None:
            return None
        href = None if desk_url is None else f"{desk_url}/snapshots/{row.id}"
        found = archived.get(row.id)
        return SnapshotLink(row.id, row.fetched_at, href, found.archived_url if found else None)

    cache: DocumentCache = {}
    told = []
    for item in found:
        try:
            evidence = Evidence.model_validate({"source": item.source, **item.expectation})
        except (ValidationError, TypeError):
            evidence = None
        stories = []
        for flag in reversed(item.flags):  # items() lists them newest first
            base, snap = compared[flag.id]
            if config is None:
                change, problem = None, NO_CONFIG
            elif evidence is None:
                change, problem = None, "this expectation was written in a form no longer read"
            else:
                change, problem = flag_change(session, config.sources.get(item.source),
                                              evidence, snapshots.get(base or -1),
                                              snapshots.get(snap or -1), cache)
            href = None if desk_url is None else f"{desk_url}/flags/{flag.id}"
            stories.append(FlagStory(flag, href, link(base), link(snap), change, problem))
        told.append(tuple(stories))
    return told


# --- the summary paragraph -------------------------------------------------------------------


def summary(title: str, claims: Sequence[ClaimReport], last_checked: dt.datetime | None) -> str:
    """How the claims stand, in a paragraph of facts: how many hold as published, which changes
    are under review, which verdicts were revised, and so on (groups of none are not named)."""
    groups: dict[str, list[ClaimReport]] = {}
    for claim in claims:
        groups.setdefault(_group(claim), []).append(claim)
    parts = [(len(groups[g]), _told(g, groups[g])) for g in _PHRASES if g in groups]
    checked = (f"Sources last checked {when(last_checked)}." if last_checked
               else "No source has been checked yet.")
    if not parts:
        return f"\u201c{title}\u201d has no claims to watch. {checked}"
    (count, told), rest = parts[0], parts[1:]
    one, many = told
    if len(claims) == 1:
        first = f"The one claim in \u201c{title}\u201d {one}"
    elif count == len(claims):
        first = f"All {count} claims in \u201c{title}\u201d {many}"
    else:
        first = f"Of the {len(claims)} claims in \u201c{title}\u201d, {count} " \
                f"{one if count == 1 else many}"
    sentences = [first] + [f"{n} {one if n == 1 else many}" for n, (one, many) in rest]
    return " ".join(f"{s}." for s in sentences) + f" {checked}"


# a claim's group → (singular, plural), in the order the paragraph tells them
_PHRASES = {
    "holds": ("rests on evidence that holds as published",
              "rest on evidence that holds as published"),
    "under review": ("has evidence under review", "have evidence under review"),
    "revised": ("had its verdict revised on review", "had their verdicts revised on review"),
    "reviewed": ("was reviewed after its evidence changed, and its verdict stands",
                 "were reviewed after their evidence changed, and their verdicts stand"),
    "retired": ("cites a source that was retired", "cite sources that were retired"),
    "unchecked": ("has evidence not checked yet", "have evidence not checked yet"),
    "not holding": ("has evidence that does not hold, with no flag open",
                    "have evidence that does not hold, with no flag open"),
    "no evidence": ("cites no evidence that claimwatch watches",
                    "cite no evidence that claimwatch watches"),
}


def _group(claim: ClaimReport) -> str:
    """The one group a claim is told in: the first of _PHRASES' order of concern that fits."""
    standings = {e.standing for e in claim.evidence}
    closings = {e.flags[-1].flag.status for e in claim.evidence if e.closed_by}
    if not claim.evidence:
        return "no evidence"
    if Standing.UNDER_REVIEW in standings:
        return "under review"
    if any(v.origin == "review" for v in claim.verdicts):
        return "revised"
    if FlagStatus.RETIRED in closings:
        return "retired"
    if FlagStatus.REVIEWED in closings:
        return "reviewed"
    if Standing.UNCHECKED in standings:
        return "unchecked"
    if Standing.NOT_HOLDING in standings:
        return "not holding"
    return "holds"


def _told(group: str, claims: list[ClaimReport]) -> tuple[str, str]:
    """The group's phrase, with what the reader needs to know of it."""
    one, many = _PHRASES[group]
    if group == "under review":
        detail = ": " + _under_review(claims)
    elif group == "revised":
        detail = " (" + "; ".join(_revision(c) for c in claims) + ")"
    elif group == "retired":
        names = sorted({e.source for c in claims for e in c.evidence
                        if e.closed_by and e.closed_by.flag.status == FlagStatus.RETIRED})
        detail = f" ({', '.join(names)})"
    else:
        detail = ""
    return one + detail, many + detail


def _under_review(claims: list[ClaimReport]) -> str:
    """The open flags' changes, each once (two claims citing one change share it)."""
    changes: dict[tuple[str, str], dt.date] = {}
    for claim in claims:
        for item in claim.evidence:
            for story in item.flags:
                if story.flag.status == FlagStatus.OPEN:
                    told = (item.source, story.headline)
                    opened = story.flag.opened_at.date()
                    changes[told] = min(changes.get(told, opened), opened)
    dates = set(changes.values())
    shown = [f"on {source}, {text}" + ("" if len(dates) == 1 else f" (since {opened})")
             for (source, text), opened in list(changes.items())[:SHOWN]]
    if len(changes) > SHOWN:
        shown.append(f"and {len(changes) - SHOWN} more")
    if len(dates) == 1:
        flags = "flag" if sum(1 for c in claims for e in c.evidence for f in e.flags
                              if f.flag.status == FlagStatus.OPEN) == 1 else "flags"
        return "; ".join(shown) + f" ({flags} opened {dates.pop()})"
    return "; ".join(shown)


def _revision(claim: ClaimReport) -> str:
    """The claim's latest revision: "2026-11-27, J. Doe: “Supported” → “Mostly accurate”"."""
    at = max(i for i, v in enumerate(claim.verdicts) if v.origin == "review")
    latest, before = claim.verdicts[at], claim.verdicts[at - 1].verdict if at else "?"
    by = f", {latest.by}" if latest.by else ""
    return f"{latest.at:%Y-%m-%d}{by}: \u201c{before}\u201d \u2192 \u201c{latest.verdict}\u201d"


def when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def upper_first(text: str) -> str:
    """`text` with its first letter upper case (str.capitalize lowers the rest: LAW → Law)."""
    return text[:1].upper() + text[1:]


# --- HTML ------------------------------------------------------------------------------------

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    # control characters out of every text shown (not out of markup already made: it is ours)
    finalize=lambda value: printable(value) if type(value) is str else value)
_templates.filters.update(when=when)


def to_html(report: Report, standalone: bool = True) -> str:
    """The report as HTML: a whole document (`standalone`, styled inline) or the fragment the
    desk embeds in its page (no <html>, no styles: the desk's stylesheet applies)."""
    return _templates.get_template("report.html").render(
        r=report, standalone=standalone, Standing=Standing, FlagStatus=FlagStatus,
        listed=LISTED, trusted=trusted, upper_first=upper_first)


def trusted(url: str | None) -> bool:
    """A URL the report may link to: an http(s) one (they come from sources.yaml and the desk;
    a page's links are shown as text)."""
    text = str(url or "")
    return text.startswith(("http://", "https://")) or (text[:1] == "/" and text[1:2] != "/")


# --- Markdown --------------------------------------------------------------------------------

# ASCII punctuation that can start Markdown (CommonMark and its common extensions) in a line
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~])")


def md(text: Any) -> str:
    """Text from a page or sources.yaml as inert Markdown: control characters out, on one line
    (so it cannot start a heading, quote, list, fence or HTML block), and every character that
    could start markup backslash-escaped."""
    return _MARKUP.sub(r"\\\1", " ".join(printable(str(text)).split()))


def _link(text: str, url: str | None) -> str:
    """A Markdown link to a trusted URL, else the text alone (both escaped)."""
    if not trusted(url):
        return md(text)
    assert url is not None
    destination = re.sub(r"[\s<>\\]", lambda m: f"%{ord(m.group()):02X}", url)
    return f"[{md(text)}](<{destination}>)"


def to_markdown(report: Report) -> str:
    out = [f"# Evidence report: {md(report.title)}", ""]
    if report.url:
        out += [f"Fact-check: {_link(report.url, report.url)}", ""]
    out += [f"Generated {when(report.generated_at)} by claimwatch.", "", md(report.summary), ""]
    for claim in report.claims:
        out += _md_claim(claim)
    return "\n".join(out).rstrip("\n") + "\n"


def _md_claim(claim: ClaimReport) -> list[str]:
    out = [f"## {md(claim.text)}", "",
           f"Claim `{claim.id}` · verdict: **{md(claim.verdict)}**"
           + (" (as published)" if len(claim.verdicts) == 1 else ""), ""]
    if len(claim.verdicts) > 1:
        out += ["Verdict history:", ""]
        out += [f"- {when(v.at)}: **{md(v.verdict)}**, {_origin(v)}"
                for v in claim.verdicts]
        out.append("")
    for item in claim.evidence:
        out += _md_item(item)
    return out


def _origin(v: VerdictChange) -> str:
    if v.origin != "review":
        return "as published"
    return f"revised on review by {md(v.by)}" if v.by else "revised on review"


def _md_item(item: EvidenceItem) -> list[str]:
    checked = f"last checked {when(item.last_check_at)}" if item.last_check_at \
        else "not checked yet"
    out = [f"### {md(upper_first(item.expectation_words))}", "",
           f"**{upper_first(item.standing)}** · source {_link(item.source, item.source_url)}"
           f" · {checked}", ""]
    if item.then is not None:
        label, then = item.then
        out += [f"{label} ({then.at:%Y-%m-%d}): {md(then.text)}  ", "Now: " + (
                    f"{md(item.now.text)} (since {item.now.at:%Y-%m-%d})" if item.now
                    else "the same"), ""]
    elif item.standing == Standing.NOT_HOLDING and item.reason:
        out += [f"Now: {md(item.reason)}", ""]
    for story in item.flags:
        out += _md_flag(story)
    return out


def _md_flag(story: FlagStory) -> list[str]:
    flag = story.flag
    out = [f"#### {_link(f'Flag {flag.id}', story.href)}, opened {when(flag.opened_at)}", "",
           f"{md(upper_first(story.headline))}.", ""]
    if story.baseline or story.flagged:
        out += [f"From {_md_snapshot(story.baseline)} to {_md_snapshot(story.flagged)}.", ""]
    if story.change is None:
        out += [md(story.change_problem or "there is nothing to compare"), ""]
    else:
        out += _md_detail(story.change) + [""]
    note = f" Note: \u201c{md(story.note)}\u201d" if story.note else ""
    return out + [f"**{md(story.closing)}.**{note}", ""]


def _md_snapshot(link: SnapshotLink | None) -> str:
    if link is None:
        return "no snapshot"
    public = f", {_link('archived', link.archived_url)}" if link.archived_url else ""
    return f"{_link(f'snapshot {link.id}', link.href)} ({when(link.fetched_at)}{public})"


def _md_detail(change: EvidenceChange) -> list[str]:
    d = change.detail
    if isinstance(d, QuoteChange | AbsentChange):
        what = "quote" if isinstance(d, QuoteChange) else "text"
        gone = "Not there, and nothing close to it." if what == "quote" else "Not there."
        out = ["Before:", "", *_md_passage(d.before), "", "After:", "",
               *_md_passage(d.now, gone)]
        if d.now is not None and not d.now.matches:
            out += ["", f"The closest passage is {d.now.similarity:.0%} like the {what}: not "
                        "enough to count as found."]
        return out
    if isinstance(d, TableChange):
        out = [f"{upper_first(md(d.counts))}: {_count(d.count_before)} before, "
               f"{_count(d.count_now)} after.", ""]
        out += [md(p) for p in (d.problem_before, d.problem_now) if p]
        rows = ([f"- added: {_md_row(r)}" for r in d.added]
                + [f"- removed: {_md_row(r)}" for r in d.removed]
                + [f"- changed: {_md_row(c.before)} → {_md_row(c.after)}" for c in d.changed])
        return out + _capped(rows, "rows")
    if isinstance(d, JsonChange):
        if d.problem:
            return [md(d.problem)]
        return [f"- before: {md(d.before_text)}", f"- after: {md(d.now_text)}",
                f"- expected: {md(json.dumps(d.expected, ensure_ascii=False))}"]
    if isinstance(d, NewItemsChange):
        new = [f"- new: {md(i.title or i.key)}" + (f" ({md(i.link)})" if i.link else "")
               for i in d.matching]
        other = [f"and {d.other_new} other new item{'s' * (d.other_new != 1)} that do not "
                 "match."] if d.other_new else []
        return _capped(new, "items") + other
    lines = [f"- {'removed' if e.kind == 'del' else 'added'}: {md(e.text)}"
             for e in change.region.inline if e.kind in ("del", "ins")]
    return _capped(lines, "lines") or ["No line of the region changed."]


def _md_passage(p: Passage | None, missing: str = "Not there.") -> list[str]:
    """The passage in bold within its sentence, spaced as the page spaces it."""
    if p is None:
        return [missing]
    before = md(p.before) + (" " if p.before[-1:].isspace() else "")
    after = (" " if p.after[:1].isspace() else "") + md(p.after)
    return [f"> {before}**{md(p.text)}**{after}"]


def _md_row(row: Sequence[str]) -> str:
    return " · ".join(md(cell) for cell in row)


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)


def _capped(lines: list[str], what: str) -> list[str]:
    more = [f"- … and {len(lines) - LISTED} more {what}"] if len(lines) > LISTED else []
    return lines[:LISTED] + more


def render(report: Report, fmt: str, *, standalone: bool = True) -> str:
    """The report in `fmt` (md or html)."""
    if fmt not in FORMATS:
        raise UsageError(f"{fmt!r} is not a report format: md or html", field="format")
    return to_html(report, standalone) if fmt == "html" else to_markdown(report)
