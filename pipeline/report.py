"""`claimwatch report`: the evidence report an editor attaches to a correction note.

For one fact-check: every claim, its verdict and verdict history, and each evidence item with its
source, last successful check, current outcome, baseline and latest snapshot times, open flags and
past decisions. `build` gathers plain data; `markdown` and `html` render it (HTML escapes
everything, since reasons quote the pages).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    ClaimRow,
    EvidenceRow,
    FactCheckRow,
    FetchRow,
    FlagRow,
    OutcomeRow,
    ReviewRow,
    SnapshotRow,
    SourceRow,
    VerdictRow,
)
from pipeline.describe import expectation_in_words
from pipeline.errors import NotFound
from pipeline.vocab import FlagStatus


@dataclass
class EvidenceReport:
    source: str
    url: str
    expectation: dict[str, Any]
    outcome: str | None
    reason: str | None
    last_success: dt.datetime | None
    baseline_at: dt.datetime | None
    latest_at: dt.datetime | None
    open_flags: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)


@dataclass
class ClaimReport:
    id: str
    text: str
    verdict: str
    verdicts: list[tuple[dt.datetime, str, str]]  # (when, verdict, origin)
    evidence: list[EvidenceReport]


@dataclass
class Report:
    factcheck: str
    title: str
    url: str | None
    generated_at: dt.datetime
    claims: list[ClaimReport]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.factcheck, "title": self.title, "url": self.url,
                "generated_at": self.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "claims": [{"id": c.id, "text": c.text, "verdict": c.verdict,
                            "evidence": [{"source": e.source, "expectation": e.expectation,
                                          "outcome": e.outcome, "reason": e.reason}
                                         for e in c.evidence]} for c in self.claims]}


def build(session: Session, factcheck: str, now: dt.datetime) -> Report:
    fc = session.scalars(select(FactCheckRow).where(FactCheckRow.slug == factcheck)).first()
    if fc is None:
        raise NotFound(f"unknown fact-check {factcheck!r} (is it in sources.yaml, and checked?)",
                       field="factcheck")
    claims = []
    for claim in session.scalars(select(ClaimRow).where(
            ClaimRow.factcheck_id == fc.id, ClaimRow.active.is_(True)).order_by(ClaimRow.id)):
        verdicts = [(v.at, v.verdict, v.origin) for v in session.scalars(
            select(VerdictRow).where(VerdictRow.claim_id == claim.id).order_by(VerdictRow.id))]
        items = session.scalars(select(EvidenceRow).where(
            EvidenceRow.claim_id == claim.id, EvidenceRow.active.is_(True))
            .order_by(EvidenceRow.position)).all()
        claims.append(ClaimReport(claim.slug, claim.text, claim.verdict, verdicts,
                                  [_evidence(session, row) for row in items]))
    return Report(fc.slug, fc.title, fc.url, now, claims)


def _evidence(session: Session, row: EvidenceRow) -> EvidenceReport:
    source = session.get(SourceRow, row.source_id)
    assert source is not None
    latest = session.scalars(select(OutcomeRow).where(OutcomeRow.evidence_id == row.id)
                             .order_by(OutcomeRow.id.desc())).first()
    success = session.scalars(select(FetchRow.started_at).where(
        FetchRow.source_id == source.id, FetchRow.result.in_(["new", "unchanged", "changed"]))
        .order_by(FetchRow.id.desc())).first()
    report = EvidenceReport(
        source=source.slug, url=source.url, expectation=row.expectation,
        outcome=latest.status if latest else None, reason=latest.reason if latest else None,
        last_success=success, baseline_at=_snapshot_time(session, row.baseline_snapshot_id),
        latest_at=_snapshot_time(session, source.latest_snapshot_id))
    for flag in session.scalars(select(FlagRow).where(FlagRow.evidence_id == row.id)
                                .order_by(FlagRow.id)):
        review = session.scalars(select(ReviewRow).where(ReviewRow.flag_id == flag.id)).first()
        line = f"flag {flag.id} ({flag.severity}, {flag.outcome}) {flag.opened_at:%Y-%m-%d}: " \
               f"{flag.reason}"
        if flag.status == FlagStatus.OPEN:
            report.open_flags.append(line)
        elif review is not None:
            verdict = (f", verdict '{review.verdict_before}' → '{review.verdict_after}'"
                       if review.decision == "revised" else "")
            note = f" — {review.note}" if review.note else ""
            report.decisions.append(f"{line} → {review.decision} by {review.reviewer} on "
                                    f"{review.reviewed_at:%Y-%m-%d}{verdict}{note}")
        else:
            report.decisions.append(f"{line} → {flag.status}")
    return report


def _snapshot_time(session: Session, snapshot_id: int | None) -> dt.datetime | None:
    snapshot = session.get(SnapshotRow, snapshot_id) if snapshot_id else None
    return snapshot.fetched_at if snapshot else None


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def markdown(report: Report) -> str:
    out = [f"# Evidence report: {report.title}", ""]
    if report.url:
        out += [f"Fact-check: {report.url}", ""]
    out += [f"Generated {_when(report.generated_at)} by claimwatch.", ""]
    for claim in report.claims:
        out += [f"## {claim.id}", "", f"> {claim.text}", "", f"**Verdict:** {claim.verdict}", ""]
        if len(claim.verdicts) > 1:
            out += ["Verdict history:", ""]
            out += [f"- {at:%Y-%m-%d %H:%M} {verdict} ({origin})"
                    for at, verdict, origin in claim.verdicts]
            out.append("")
        for ev in claim.evidence:
            out += [f"### {ev.source}: {expectation_in_words(ev.expectation)}", "",
                    f"- Source: {ev.url}",
                    f"- Current outcome: **{ev.outcome or 'not checked yet'}**"
                    + (f" — {ev.reason}" if ev.reason else ""),
                    f"- Last successful check: {_when(ev.last_success)}",
                    f"- Baseline snapshot: {_when(ev.baseline_at)}; latest snapshot: "
                    f"{_when(ev.latest_at)}"]
            out += [f"- Open: {line}" for line in ev.open_flags]
            out += [f"- Decided: {line}" for line in ev.decisions]
            out.append("")
    return "\n".join(out)


def to_html(report: Report) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Evidence report: "
             f"{e(report.title)}</title><style>body{{font-family:sans-serif;max-width:52rem;"
             f"margin:2rem auto}}.holds{{color:#060}}.broken,.unreachable{{color:#b00}}"
             f".changed{{color:#06a}}.error{{color:#a60}}</style></head><body>",
             f"<h1>Evidence report: {e(report.title)}</h1>"]
    if report.url:
        parts.append(f"<p>Fact-check: <a href='{e(report.url)}'>{e(report.url)}</a></p>")
    parts.append(f"<p>Generated {_when(report.generated_at)} by claimwatch.</p>")
    for claim in report.claims:
        parts += [f"<h2>{e(claim.id)}</h2><blockquote>{e(claim.text)}</blockquote>",
                  f"<p><strong>Verdict:</strong> {e(claim.verdict)}</p>"]
        if len(claim.verdicts) > 1:
            parts.append("<p>Verdict history:</p><ul>" + "".join(
                f"<li>{at:%Y-%m-%d %H:%M} {e(v)} ({e(origin)})</li>"
                for at, v, origin in claim.verdicts) + "</ul>")
        for ev in claim.evidence:
            outcome = ev.outcome or "not checked yet"
            items = [f"Source: <a href='{e(ev.url)}'>{e(ev.url)}</a>",
                     f"Current outcome: <strong class='{e(outcome)}'>{e(outcome)}</strong>"
                     + (f" — {e(ev.reason)}" if ev.reason else ""),
                     f"Last successful check: {_when(ev.last_success)}",
                     f"Baseline snapshot: {_when(ev.baseline_at)}; latest snapshot: "
                     f"{_when(ev.latest_at)}"]
            items += [f"Open: {e(line)}" for line in ev.open_flags]
            items += [f"Decided: {e(line)}" for line in ev.decisions]
            parts.append(f"<h3>{e(ev.source)}: {e(expectation_in_words(ev.expectation))}</h3><ul>"
                         + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
