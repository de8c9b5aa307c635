"""`claimwatch history`: the audit log read as a story, oldest first.

Each event becomes one line a reader can follow ("ice-287g changed (+1 row) → flag 7 (high) on
six-287g-agencies → alert delivered → reviewed by J. Doe: revised …"). A claim's history also
takes in what happened to the sources its evidence reads.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db import utcnow
from db.models import AuditEventRow, ClaimRow, EvidenceRow, SourceRow
from pipeline.config import parse_duration
from pipeline.describe import expectation_in_words
from pipeline.errors import NotFound, UsageError
from pipeline.vocab import iso

# events about a source that belong to the story of every claim reading it
SOURCE_EVENTS = ("snapshot", "failure", "archive", "fetch-mode")


@dataclass(frozen=True)
class Event:
    seq: int
    at: dt.datetime
    kind: str
    source: str | None
    claim: str | None
    data: dict[str, Any]

    @property
    def text(self) -> str:
        return describe(self)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": iso(self.at),
                "kind": self.kind, "source": self.source, "claim": self.claim,
                "text": self.text, "data": self.data}


def events(session: Session, *, claim: str | None = None, source: str | None = None,
           since: dt.datetime | None = None, until: dt.datetime | None = None,
           kinds: list[str] | None = None, newest_first: bool = False,
           before: int | None = None, limit: int | None = None) -> list[Event]:
    """The events matching the filters, oldest first (or `newest_first`, `limit` at a time,
    those before the event numbered `before`)."""
    query = select(AuditEventRow).order_by(
        AuditEventRow.seq.desc() if newest_first else AuditEventRow.seq)
    if claim is not None:
        row = session.scalars(select(ClaimRow).where(ClaimRow.slug == claim)).first()
        if row is None:
            raise NotFound(f"unknown claim {claim!r}", field="claim")
        sources = session.scalars(select(SourceRow.slug).join(
            EvidenceRow, EvidenceRow.source_id == SourceRow.id).where(
            EvidenceRow.claim_id == row.id)).all()
        query = query.where(or_(AuditEventRow.claim == claim,
                                AuditEventRow.source.in_(sources)
                                & AuditEventRow.kind.in_(SOURCE_EVENTS)))
    if source is not None:
        query = query.where(AuditEventRow.source == source)
    if since is not None:
        query = query.where(AuditEventRow.at >= since)
    if until is not None:
        query = query.where(AuditEventRow.at <= until)
    if kinds:
        query = query.where(AuditEventRow.kind.in_(kinds))
    if before is not None:
        query = query.where(AuditEventRow.seq < before)
    if limit is not None:
        query = query.limit(limit)
    return [Event(e.seq, e.at, e.kind, e.source, e.claim, e.data) for e in session.scalars(query)]


def parse_moment(text: str, *, end: bool = False) -> dt.datetime:
    """'2026-11-20', '2026-11-20T08:00' or a duration ago ('7d', '12h'), as naive UTC."""
    text = text.strip()
    if re.fullmatch(r"\d+\s*[smhdw]", text):
        try:
            return utcnow() - dt.timedelta(seconds=parse_duration(text))
        except ValueError as exc:  # 0d, or longer than parse_duration allows
            raise UsageError(str(exc)) from None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is not a date (2026-11-20, 2026-11-20T08:00) or a "
                         "duration ago (7d)") from None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable moment
            return dt.datetime.min if moment.year == 1 else dt.datetime.max
    if end and len(text) == 10:  # a whole day: until its end (no day after 9999-12-31)
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


def describe(event: Event) -> str:
    """One line of the story."""
    d = event.data
    when = f"{event.at:%Y-%m-%d %H:%M}"
    match event.kind:
        case "snapshot":
            change = f" ({d['change']})" if d.get("change") else ""
            what = "first snapshot" if d.get("status") == "new" else f"changed{change}"
            rendered = " (rendered in a browser)" if d.get("fetch_mode") == "browser" else ""
            return f"{when} {event.source} {what} → snapshot {d.get('snapshot')}{rendered}"
        case "archive":
            if d.get("status") == "archived":
                return (f"{when} {event.source} snapshot {d.get('snapshot')} archived: "
                        f"{d.get('archived_url')}")
            return (f"{when} {event.source} snapshot {d.get('snapshot')} not archived: "
                    f"{d.get('error')}")
        case "fetch-mode":
            return (f"{when} {event.source} read with fetch: {d.get('to')} (was "
                    f"{d.get('from')}) from snapshot {d.get('snapshot')}: a new baseline for "
                    f"{d.get('new_baselines')} item(s), never compared with snapshots read "
                    "the other way")
        case "failure":
            return (f"{when} {event.source} failed: {d.get('error')} "
                    f"({d.get('in_a_row')} in a row)")
        case "flag":
            return (f"{when} flag {d.get('id')} ({d.get('severity')}) on {event.claim}: "
                    f"{d.get('outcome')} on {event.source} — {d.get('reason')}")
        case "flag-resolved":
            return (f"{when} flag {d.get('id')} on {event.claim} resolved by the source "
                    "(the evidence holds again)")
        case "flag-reopened":
            return f"{when} flag {d.get('id')} on {event.claim} re-opened: {d.get('reason')}"
        case "review":
            verdict = (f", '{d.get('verdict_before')}' → '{d.get('verdict_after')}'"
                       if d.get("decision") == "revised" else "")
            note = f" — \"{d['note']}\"" if d.get("note") else ""
            return (f"{when} flag {d.get('flag')} on {event.claim} reviewed by {d.get('by')}: "
                    f"{d.get('decision')}{verdict}{note}")
        case "alert":
            how = "delivered to" if d.get("status") == "sent" else f"{d.get('status')} for"
            error = f": {d['error']}" if d.get("error") else ""
            return f"{when} alert for flag {d.get('flag')} {how} {d.get('channel')}{error}"
        case "run":
            return (f"{when} check run: {d.get('checked')} source(s), {d.get('changed', 0)} "
                    f"changed, {d.get('new', 0)} new, {d.get('error', 0)} failed, "
                    f"{len(d.get('flags', []))} new flag(s)")
        case "config":
            return _describe_config(when, d)
        case "checkpoint":
            return f"{when} checkpoint: seq {d.get('seq')} signed by {d.get('key')}"
        case "sources-file":
            imported = f", imported from {d['from']}" if d.get("from") else ""
            return f"{when} {d.get('by')} added the fact-check file {d.get('file')}{imported}"
        case "flag-retired":
            return f"{when} flag {d.get('id')} on {event.claim} closed: its source was retired"
        case "comment":
            return f"{when} {d.get('by')} commented on flag {d.get('flag')}: \"{d.get('text')}\""
        case "sources-edit":
            done = "edited" if d.get("applied") else f"to edit by hand ({d.get('reason')})"
            return (f"{when} review of flag {d.get('flag')}: {d.get('what')} in "
                    f"{Path(str(d.get('file'))).name} {done}")
        case "source-retired":
            note = f" — \"{d['note']}\"" if d.get("note") else ""
            return f"{when} {event.source} retired by {d.get('by')}{note}"
        case "source-restored":
            return f"{when} {event.source} watched again ({d.get('by')})"
        case "check-requested":
            return f"{when} {d.get('by')} asked to check {event.source} now"
        case "account":
            extra = {k: v for k, v in d.items() if k not in ("account", "change", "by")}
            detail = ", ".join(f"{k} {v}" for k, v in extra.items())
            return (f"{when} account {d.get('account')} {d.get('change')} by {d.get('by')}"
                    + (f" ({detail})" if detail else ""))
        case "prune":
            return (f"{when} pruned {d.get('snapshots')} snapshot(s), {d.get('fetches')} fetch "
                    f"row(s) and {d.get('blobs')} blob(s) older than {d.get('older_than')}")
        case _:
            return f"{when} {event.kind}: {d}"


def _describe_config(when: str, d: dict[str, Any]) -> str:
    what, ident, change = d.get("what"), d.get("id"), d.get("change")
    if what == "evidence":
        expectation = expectation_in_words(d.get("expectation") or {})
        return f"{when} sources.yaml: evidence {change} on {ident} ({d.get('source')}: " \
               f"{expectation})"
    detail = ""
    if change == "altered" and d.get("changed"):
        detail = " (" + "; ".join(f"{k}: {v['from']!r} → {v['to']!r}"
                                  for k, v in d["changed"].items()) + ")"
    elif change == "added" and what == "claim":
        detail = f" (verdict '{d.get('verdict')}')"
    return f"{when} sources.yaml: {what} {ident} {change}{detail}"
