"""Alert payloads → messages people read: a title naming the severity and the claim, and a body
as plain text and as HTML (SPEC §3 lists what it carries). Both bodies are rendered from one list
of parts, and every value in the HTML is escaped: a page cannot put markup or links in the desk's
inbox (only the fact-check's and source's URLs from sources.yaml become links).
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pipeline.textnorm import printable
from pipeline.vocab import Severity, rank

TITLE_CLAIM = 70  # characters of the claim's text in a title


@dataclass(frozen=True)
class Message:
    """One message to one channel: a single alert, or a digest of several."""

    alert_id: str  # the alert's id, or the digest's
    title: str
    text: str
    html: str
    severity: str  # the highest among its alerts
    payloads: tuple[dict[str, Any], ...]  # the alerts it carries (what `file:` writes)


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    href: str | None = None  # only URLs from sources.yaml


@dataclass(frozen=True)
class Excerpt:
    heading: str
    lines: list[str]  # each starts with its mark: -, +, ~ or …


@dataclass(frozen=True)
class Heading:
    text: str


Part = Field | Excerpt | Heading


def alert_message(payload: dict[str, Any]) -> Message:
    flag = payload["flag"]
    parts: list[Part] = [*_summary(payload)]
    lines = change_lines(payload.get("change"))
    if lines:
        parts.append(Excerpt("What changed", lines))
    parts += [_review(payload), Field("alert_id", payload["alert_id"])]
    return _message(payload["alert_id"], title(payload), flag["severity"], parts, (payload,))


def digest_message(digest_id: str, payloads: list[dict[str, Any]]) -> Message:
    """Many alerts for one channel in one round, as one message (no floods)."""
    counts = Counter(p["flag"]["severity"] for p in payloads)
    top = max(counts, key=rank)
    summary = ", ".join(f"{counts[s]} {s}" for s in reversed(Severity) if counts[s])
    parts: list[Part] = []
    for payload in payloads:
        parts += [Heading(title(payload)), *_summary(payload), _review(payload),
                  Field("alert_id", payload["alert_id"])]
    parts.append(Field("digest_id", digest_id))
    return _message(digest_id, f"[{top.upper()}] {len(payloads)} claims flagged: {summary}",
                    top, parts, tuple(payloads))


def title(payload: dict[str, Any]) -> str:
    flag, claim = payload["flag"], payload["claim"]
    text = " ".join(claim["text"].split())
    if len(text) > TITLE_CLAIM:
        text = text[:TITLE_CLAIM - 1].rstrip() + "…"
    return f"[{flag['severity'].upper()}] {flag['outcome']}: {text} ({claim['id']})"


def change_lines(change: dict[str, Any] | None) -> list[str]:
    """The payload's change excerpt as marked lines (`-` removed, `+` added, `~` changed)."""
    if not change:
        return []
    lines = list(change.get("text", []))
    lines += [f"+ row: {' | '.join(row)}" for row in change.get("rows_added", [])]
    lines += [f"- row: {' | '.join(row)}" for row in change.get("rows_removed", [])]
    lines += [f"~ row: {' | '.join(old)} → {' | '.join(new)}"
              for old, new in change.get("rows_changed", [])]
    lines += [f"+ item: {i['title']}" + (f" ({i['link']})" if i.get("link") else "")
              for i in change.get("items_added", [])]
    lines += [f"- item: {i['title']}" for i in change.get("items_removed", [])]
    if change.get("truncated"):
        lines.append("… more: run `claimwatch diff` for the whole change")
    return lines


def _review(payload: dict[str, Any]) -> Field:
    """Where to decide: the flag's page on the desk, or (no desk address configured) the
    command that records a decision."""
    url = payload.get("review_url")
    if url:
        return Field("Review", "open the flag on the desk to see the change and decide", url)
    return Field("Review", f"claimwatch review {payload['flag']['id']} --decision "
                           "upheld|revised|dismissed --by NAME")


def _summary(payload: dict[str, Any]) -> list[Part]:
    """What any alert says: the claim, its verdict, why it is flagged, and where to look."""
    flag, claim, factcheck = payload["flag"], payload["claim"], payload["factcheck"]
    source, base, snap = payload["source"], payload["baseline"], payload["snapshot"]
    return [Field("Claim", claim["text"]),
            Field("Verdict", claim["verdict"]),
            Field("Fact-check", factcheck["title"], factcheck.get("url")),
            Field("Why", flag["reason"] + _since(flag, snap)),
            Field("Flag", f"{flag['id']} ({flag['severity']}, {flag['outcome']}), "
                          f"opened {flag['opened_at']}"),
            Field("Source", source["id"], source["url"]),
            Field("Snapshots", f"{_snapshot(base)} → {_snapshot(snap)}"),
            *_archived("Archived before", base), *_archived("Archived now", snap)]


def _since(flag: dict[str, Any], snapshot: dict[str, Any] | None) -> str:
    """A flag raised on an archived version (`backfill`) is about the past: since when."""
    return f" (since {flag['opened_at'][:10]})" if snapshot and snapshot.get("archive_url") \
        else ""


def _snapshot(info: dict[str, Any] | None) -> str:
    return "none" if not info else f"{info['id']} ({info['fetched_at']})"


def _archived(label: str, info: dict[str, Any] | None) -> list[Field]:
    """A snapshot's public archive link (`pipeline.archive`), or where its capture stands."""
    found = (info or {}).get("archive")
    if not found:
        return []
    if found.get("url"):
        return [Field(label, f"captured {found['captured_at']}", found["url"])]
    why = f": {found['error']}" if found.get("error") else ""
    return [Field(label, f"{found['status']}{why}")]


def _message(alert_id: str, title: str, severity: str, parts: list[Part],
             payloads: tuple[dict[str, Any], ...]) -> Message:
    return Message(alert_id, title, _text(parts), _html(parts), severity, payloads)


def _text(parts: list[Part]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, Heading):
            out += ["", printable(part.text)]
        elif isinstance(part, Field):
            out.append(f"{part.label}: {printable(part.value)}"
                       + (f" <{part.href}>" if part.href else ""))
        else:
            out += ["", f"{part.heading}:", *(f"  {printable(line)}" for line in part.lines), ""]
    return "\n".join(out).strip() + "\n"


def _html(parts: list[Part]) -> str:
    e = _escape
    out: list[str] = []
    for part in parts:
        if isinstance(part, Heading):
            out.append(f"<h3>{e(part.text)}</h3>")
        elif isinstance(part, Field):
            value = e(part.value)
            if part.href and part.href.startswith(("https://", "http://")):
                # the address shows too: Apprise's plain-text part keeps link text, not links
                value += f' &lt;<a href="{e(part.href)}">{e(part.href)}</a>&gt;'
            out.append(f"<p><b>{e(part.label)}:</b> {value}</p>")
        else:
            out.append(f"<p><b>{e(part.heading)}:</b></p>")
            out.append("<pre>" + "\n".join(e(line) for line in part.lines) + "</pre>")
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return html.escape(printable(text), quote=True)
