"""Rendering for people: flag lines and diffs on a rich Console (colour on a terminal, plain
text otherwise). Page content is always escaped: a page cannot inject console markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from pipeline.api import SourceDiff

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def console(*, stderr: bool = False) -> Console:
    """A console that colours on a terminal and never wraps lines (cron mail, pipes, logs)."""
    return Console(stderr=stderr, soft_wrap=True)


def flag_line(flag: dict[str, Any], *, with_status: bool = False) -> str:
    style = SEVERITY_STYLE.get(flag["severity"], "")
    status = f" [{flag['status']}]" if with_status else ""
    return (f"[{style}]flag {flag['id']} {flag['severity']:<6}[/] {flag['claim']} "
            f"({flag['source']}, {flag['outcome']}){status}: {escape(flag['reason'])}")


def print_diff(console: Console, result: SourceDiff) -> None:
    console.print(f"[bold]{result.source}[/]: snapshot {result.before.id} "
                  f"({result.before.fetched_at}) → snapshot {result.after.id} "
                  f"({result.after.fetched_at})")
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


