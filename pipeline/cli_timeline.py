"""Since publication: `claimwatch backfill` (a fact-check's sources loaded from where their
versions are kept) and `claimwatch timeline` (when each item's evidence moved). Thin, like
`pipeline/cli.py`: options in, `pipeline.api` called, records printed.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from pipeline.archive_sources import CDX_URL
from pipeline.textnorm import printable
from pipeline.vocab import iso

if TYPE_CHECKING:
    from pipeline.backfill import BackfillReport


@click.command()
@click.argument("factcheck_id", metavar="FACTCHECK")
@click.option("--from", "where", default="cdx", show_default=True, metavar="cdx|DIR|FILE",
              help="Where the versions are kept: the Internet Archive (cdx), a directory of "
                   "dated copies (or a git repository), or a WARC/WACZ file.")
@click.option("--source", metavar="ID", help="Only this cited source.")
@click.option("--cdx-url", default=CDX_URL, show_default=True, envvar="CLAIMWATCH_CDX_URL",
              help="The CDX server asked with --from cdx.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def backfill(obj: dict[str, str], factcheck_id: str, where: str, source: str | None,
             cdx_url: str, as_json: bool) -> None:
    """Load each cited source's versions from the fact-check's `published:` day until now as
    archived snapshots, evaluated in time order: flags dated when the evidence moved."""
    from pipeline import api
    config = api.load_config(obj["sources"])
    with api.opened(obj["db"], create=True) as store:
        report = api.backfill(store, config, factcheck_id, source=source, where=where,
                              cdx_url=cdx_url)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_backfill(report)
    if report.error is not None:  # failed: the fact-check's backfill is not finished
        sys.exit(1)


def _print_backfill(report: BackfillReport) -> None:
    click.echo(f"{report.factcheck}: published {report.published.isoformat()}")
    for done in report.sources:
        per = done.seconds / max(done.loaded + done.same + done.already, 1)
        base = iso(done.baseline) if done.baseline else "none"
        click.echo(f"  {done.source}: {done.captures} captures, {done.loaded} loaded, "
                   f"{done.already} already, {done.same} unchanged, {len(done.errors)} errors; "
                   f"baseline {base}; {done.seconds:.1f}s ({per:.2f}s a version)")
        for error in done.errors:
            click.echo(f"    error: {printable(error)}")
        for flag in done.flags:
            click.echo(f"    flag {flag.id} since {flag.opened_at:%Y-%m-%d}: {flag.outcome} "
                       f"({flag.claim}): {printable(flag.reason)}")
    if report.alerted:
        click.echo(f"  alerted, still open at the end: flag {', '.join(map(str, report.alerted))}")
    if report.error is not None:
        click.echo(f"  failed: {report.error} (run it again once the archive answers)")


@click.command()
@click.argument("claim_id", metavar="CLAIM")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.pass_obj
def timeline(obj: dict[str, str], claim_id: str, as_json: bool) -> None:
    """Per evidence item of a claim, the days its outcome or what it observed changed."""
    from pipeline import api
    from pipeline.errors import ConfigError
    try:  # to count a table's distinct values on the stored versions
        config = api.load_config(obj["sources"])
    except ConfigError:
        config = None
    with api.opened(obj["db"], create=False) as store:
        found = api.timeline(store, claim_id, config=config)
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    click.echo(f"{found.claim}: {printable(found.text)}")
    for item in found.items:
        click.echo(f"  [{item.position}] {item.source}: {printable(item.expectation)}")
        if not item.moments:
            click.echo("    not evaluated yet")
        for moment in item.moments:
            mark = " (archived)" if moment.archived else ""
            click.echo(f"    {printable(moment.line)}{mark}")
