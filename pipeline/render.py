"""Rendering for people: flag lines and diffs on a rich Console (colour on a terminal, plain
text otherwise). Page content is always escaped: a page cannot inject console markup.
"""

from __future__ import annotations

import io
import re
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from alerts.deliver import DeliveryReport
from pipeline.api import AuditReport, SourceDiff
from pipeline.archive import ArchiveReport
from pipeline.backfill import STATES as BACKFILL_STATES
from pipeline.config import describe_expectation
from pipeline.probe import ProbeResult
from pipeline.records import AlertRecord, ArchiveRecord, FlagRecord
from pipeline.textnorm import printable
from pipeline.vocab import AlertStatus, iso

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def console(*, stderr: bool = False) -> Console:
    """A console that colours on a terminal and never wraps lines (cron mail, pipes, logs), and
    lets no control sequence from a page through (`Sanitized`)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=Sanitized(stream), soft_wrap=True)


class Sanitized(io.TextIOBase):
    """A text stream that drops control characters (C0 but tab and newline, DEL, C1) on their
    way out: page text cannot clear the screen, retitle the window, plant an OSC 8 link or reset
    the terminal (ESC c). On a terminal the console's own colours (CSI … m) pass."""

    _COLOURS = re.compile(r"(\x1b\[[0-9;]*m)")

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if self.isatty():
            parts = self._COLOURS.split(text)  # odd parts are colour sequences: kept
            text = "".join(p if i % 2 else printable(p) for i, p in enumerate(parts))
        else:
            text = printable(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"


def flag_line(flag: FlagRecord, *, with_status: bool = False) -> str:
    style = SEVERITY_STYLE.get(flag.severity, "")
    status = f" [{flag.status}]" if with_status else ""
    return (f"[{style}]flag {flag.id} {flag.severity:<6}[/] {flag.claim} "
            f"({flag.source}, {flag.outcome}){status}: {escape(flag.reason)}")


def print_diff(console: Console, result: SourceDiff) -> None:
    console.print(f"[bold]{result.source}[/]: snapshot {result.before.id} "
                  f"({iso(result.before.fetched_at)}) → snapshot {result.after.id} "
                  f"({iso(result.after.fetched_at)})")
    if result.error:
        console.print(f"[yellow]cannot read a snapshot:[/] {escape(result.error)}")
        return
    d = result.diff
    if not d:
        console.print("no difference in the text, tables or items claimwatch reads")
        return
    for table in d.tables:
        console.print(f"table: +{len(table.added)} row(s), -{len(table.removed)} row(s), "
                      f"{len(table.changed)} changed  (header: {escape(' | '.join(table.header))})")
        for row in table.added:
            console.print(f"[green]+ {escape(' | '.join(row))}[/]")
        for row in table.removed:
            console.print(f"[red]- {escape(' | '.join(row))}[/]")
        for old, new in table.changed:
            console.print(f"[red]~ {escape(' | '.join(old))}[/]")
            console.print(f"[green]→ {escape(' | '.join(new))}[/]")
    for item in d.items_added:
        console.print(f"[green]+ item: {escape(item.title or item.key)}[/]"
                      + (f" ({escape(item.link)})" if item.link else ""))
    for item in d.items_removed:
        console.print(f"[red]- item: {escape(item.title or item.key)}[/]")
    if d.text and not d.tables:
        for line in d.text:
            style = {"+": "green", "-": "red", "@": "magenta"}.get(line[:1], "")
            text = escape(line)
            console.print(f"[{style}]{text}[/]" if style else text)




OUTCOME_STYLE = {"holds": "green", "changed": "cyan", "broken": "bold red", "error": "yellow"}


def print_probe(out: Console, result: ProbeResult, *, lines: int = 40) -> None:
    moved = f" → {result.final_url}" if result.final_url != result.url else ""
    out.print(f"[bold]{escape(result.url)}[/]{escape(moved)} (HTTP {result.http_status}"
              f"{', ' + result.kind if result.kind else ''})")
    if result.error:
        out.print(f"[yellow]not evaluated:[/] {escape(result.error)}")
        return
    doc = result.document
    assert doc is not None
    if doc.kind not in ("xlsx", "csv"):  # a sheet's text is its rows, shown as the table
        out.print(f"\n[bold]text[/] ({len(doc.blocks)} lines after select and ignore)")
        for block in doc.blocks[:lines]:
            out.print(f"  {escape(block)}")
        if len(doc.blocks) > lines:
            out.print(f"  … {len(doc.blocks) - lines} more (--lines N)")
    for n, table in enumerate(doc.tables, 1):
        out.print(f"\n[bold]table {n}[/] ({len(table)} rows)")
        for row in table[:lines]:
            out.print(f"  {escape(' | '.join(row))}")
        if len(table) > lines:
            out.print(f"  … {len(table) - lines} more (--lines N)")
    if doc.items:
        out.print(f"\n[bold]items[/] ({len(doc.items)})")
        for item in doc.items[:lines]:
            link = f" ({escape(item.link)})" if item.link and item.link != item.key else ""
            out.print(f"  {escape(item.title or item.key)}{link}")
    out.print("\n[bold]expectations[/]" if result.outcomes else "\nno expectations "
              "(add --expect 'quote: some words')")
    for ev, outcome in result.outcomes:
        style = OUTCOME_STYLE.get(outcome.status, "")
        what = escape(describe_expectation(ev.expectation()))
        out.print(f"  [{style}]{outcome.status:<8}[/] {what}\n           {escape(outcome.reason)}")


def probe_json(result: ProbeResult) -> dict[str, Any]:
    doc = result.document
    return {
        "url": result.url, "final_url": result.final_url, "http_status": result.http_status,
        "kind": result.kind, "error": result.error,
        "text": list(doc.blocks) if doc else [],
        "tables": [[list(r) for r in t] for t in doc.tables] if doc else [],
        "items": [{"key": i.key, "title": i.title, "link": i.link} for i in doc.items]
        if doc else [],
        "expectations": [{**ev.expectation(), "outcome": r.status, "reason": r.reason}
                         for ev, r in result.outcomes],
    }


SCHEDULE_LINES = 50  # sources whose next check `status` prints (--json has them all)
STATUS_STYLE = {"sent": "green", "pending": "yellow", "failed": "bold red"}


def alert_line(alert: AlertRecord) -> str:
    """One alert delivery: its id, state, flag and channel (a key: no secrets), and why it
    failed when it did."""
    style = STATUS_STYLE.get(alert.status, "")
    tries = f"{alert.attempts} attempt{'s' if alert.attempts != 1 else ''}"
    when = (f"sent {iso(alert.sent_at)}" if alert.status == AlertStatus.SENT else
            f"next try {iso(alert.next_attempt_at)}" if alert.status == AlertStatus.PENDING
            else "given up")
    digest = f", in {alert.digest_id}" if alert.digest_id else ""
    line = (f"{alert.alert_id} [{style}]{alert.status:<7}[/] flag {alert.flag} "
            f"{alert.severity} {alert.claim} → {escape(alert.channel)} "
            f"({tries}, {when}{digest})")
    return line + (f"\n    {escape(alert.last_error)}" if alert.last_error else "")


def delivery_lines(report: DeliveryReport) -> list[str]:
    """What the alert delivery after a check did, when it did anything."""
    if not (report.sent or report.retrying or report.failed):
        return []
    lines = [f"alerts: {report.sent} sent in {report.messages} message(s), "
             f"{report.retrying} to retry, {report.failed} given up, {report.pending} pending"]
    return lines + [f"[yellow]alert error[/] {escape(error)}" for error in report.errors]


def archive_line(record: ArchiveRecord) -> str:
    """One version's submission to the public archive: where it stands, and its link or why
    not (the archive's words pass through `printable`)."""
    head = f"{record.source} snapshot {record.snapshot} {record.status}"
    if record.archived_url:
        return f"{head} {escape(record.archived_url)} (captured {iso(record.captured_at)})"
    tries = f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}"
    detail = f" {escape(printable(record.error))}" if record.error else ""
    when = f", next try {iso(record.next_attempt_at)}" if record.next_attempt_at else ""
    job = f" job {escape(record.job_id)}" if record.job_id else ""
    return f"{head}{job}{detail} ({tries}{when})"


def archive_report_lines(report: ArchiveReport) -> list[str]:
    """What a round of archive submissions did."""
    lines = [f"archive: {report.submitted} submitted, {report.archived} archived, "
             f"{report.retrying} to retry, {report.failed} given up, {report.pending} waiting"]
    if report.held:
        lines.append(f"archive: held back: {report.held}")
    return lines + [f"[yellow]archive error[/] {escape(printable(error))}"
                    for error in report.errors]


def audit_lines(result: AuditReport) -> list[str]:
    """What a passing `audit verify` checked (plain text)."""
    head = result.head
    lines = [f"audit chain intact: {result.events:,} event(s), head seq {head.seq}"
             + (f" ({head.at})" if head.at else "")]
    check = result.anchors
    if check.anchors:
        latest = check.latest
        lines.append(f"anchors: {check.anchors} match the chain"
                     + (f", the latest seq {latest.seq} ({latest.where})" if latest else "")
                     + (f"; {check.signatures} checkpoint signature(s) verified"
                        if check.signatures else ""))
    if check.unverified:
        lines.append(f"{check.unverified} signed checkpoint(s) not verified: no public key "
                     "given (--key)")
    deep = result.deep
    if deep is not None:
        older = f" ({deep.older} row(s) older than the audit log: not checked)" if deep.older \
            else ""
        lines.append(f"deep: {deep.blobs:,} blob(s) re-hashed; {deep.snapshots:,} snapshot(s), "
                     f"{deep.flags:,} flag(s) and {deep.reviews:,} review(s) match their audit "
                     f"events{older}")
    return lines


def print_backfills(out: Console, backfills: list[dict[str, Any]]) -> None:
    """`status`'s lines on the dated fact-checks' backfills: the unfinished and failed ones
    first."""
    if not backfills:
        return
    counts = {state: sum(1 for b in backfills if b["state"] == state) for state in BACKFILL_STATES}
    out.print("backfills: " + ", ".join(f"{n} {state.replace('-', ' ')}"
                                        for state, n in counts.items() if n))
    ordered = sorted(backfills, key=lambda b: (b["state"] == "finished", b["factcheck"]))
    for b in ordered[:SCHEDULE_LINES]:
        started = f"backfill started {b['started_at']}"
        said = {"awaiting": "awaiting its backfill",
                "in-progress": f"{started}, in progress",
                "interrupted": f"{started}, interrupted (the next check or daemon resumes it)",
                "failed": f"backfill failed {b['finished_at']}: {b['error']} (its sources are "
                          f"checked live; 'claimwatch backfill {b['factcheck']}' completes it)",
                "finished": f"backfilled {b['finished_at']}"}[b["state"]]
        out.print(f"  {escape(b['factcheck'])}: {escape(said)}")
    if len(ordered) > SCHEDULE_LINES:
        out.print(f"  … {len(ordered) - SCHEDULE_LINES} more backfilled (--json lists every one)")


def print_status(out: Console, state: dict[str, Any]) -> None:
    src, flags, alerts = state["sources"], state["flags"], state["alerts"]
    out.print(f"[bold]claimwatch status[/] (schema {state['schema'] or 'unknown'})")
    run = state["last_run"]
    out.print(f"last check: {state['last_check_at'] or 'never'}"
              + (f"; last run with news: {run['at']} ({run.get('checked')} checked, "
                 f"{run.get('changed', 0)} changed, {run.get('error', 0)} failed)" if run
                 else ""))
    backed_off = sum(1 for f in src["failing"] if f["backed_off"])
    out.print(f"sources: {src['active']} active, {src['due']} due, "
              f"{len(src['being_checked'])} being checked, {len(src['failing'])} failing "
              f"({backed_off} backed off)")
    for f in src["failing"]:
        out.print(f"  failing: {f['source']}: {f['in_a_row']} in a row, next try "
                  f"{f['next_check_at']}: {escape(f['error'] or '')}")
    shown = src["schedule"][:SCHEDULE_LINES]
    if shown:
        out.print("next checks:")
    for s in shown:
        out.print(f"  {s['source']}: every {s['every']}, last {s['last_check_at'] or 'never'}, "
                  f"next {s['next_check_at']}")
    if len(src["schedule"]) > len(shown):
        out.print(f"  … {len(src['schedule']) - len(shown)} more (--json lists every source)")
    by = ", ".join(f"{n} {sev}" for sev, n in sorted(flags["by_severity"].items()))
    out.print(f"flags: {flags['open']} open" + (f" ({by})" if by else ""))
    out.print(f"alerts: {alerts['pending']} pending, {alerts['failed']} given up, "
              f"{alerts['sent']} sent")
    kept = state["archive"]
    if any(kept.values()):
        out.print(f"public archive: {kept['archived']} archived, "
                  f"{kept['pending'] + kept['submitted']} waiting, {kept['failed']} not archived "
                  "('claimwatch archive' lists them)")
    print_backfills(out, state["backfills"])
    for line in state["attention"]:
        out.print(f"[bold yellow]needs attention:[/] {escape(line)}")
    if not state["attention"]:
        out.print("[green]nothing needs attention[/]")
