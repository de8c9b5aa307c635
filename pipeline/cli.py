"""The `claimwatch` command (SPEC §2): parses options, calls `pipeline.api`, prints the result.

Exit codes are mapped in one place (`main`): 0 success (flags raised included), 2 bad input
(config, arguments), 1 anything else, each error as one line on stderr, never a traceback.

Each command imports the library when it runs, not when the CLI loads: `--version`, `--help`
and a mistyped option answer without loading SQLAlchemy, pydantic, lxml or the desk
(tests/test_startup.py keeps it so).
"""

from __future__ import annotations

import csv
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline import __version__
from pipeline.cli_desk import serve, users
from pipeline.cli_timeline import backfill, timeline
from pipeline.errors import ClaimwatchError, ConfigError, UsageError

if TYPE_CHECKING:
    from db import Store
    from pipeline.records import CheckReport, SourceReport

# the library's field names (UsageError.field) → the options that set them here
OPTIONS = {"decision": "--decision", "reviewer": "--by", "verdict": "--verdict",
           "note": "--note", "older_than": "--older-than", "expect": "--expect",
           "since": "--since", "until": "--until", "target": "--claim/--factcheck/--source",
           "options": "--kind/--select/--follow/--ignore/--fetch", "url": "--url", "db": "--db",
           "alert_id": "--id", "role": "ROLE", "name": "NAME", "password": "password",
           "page": "URL_OR_FILE", "id": "--id", "output": "-o", "out": "OUT", "from": "--from",
           "cdx_url": "--cdx-url"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="claimwatch")
@click.option("--sources", "sources_path", envvar="CLAIMWATCH_SOURCES",
              default="sources.yaml", show_default=True, help="The sources.yaml to use.")
@click.option("--db", "db_url", envvar="CLAIMWATCH_DB", default="sqlite:///claimwatch.db",
              show_default=True, help="SQLAlchemy database URL (or an SQLite file path).")
@click.pass_context
def cli(ctx: click.Context, sources_path: str, db_url: str) -> None:
    """Watch the sources a fact-check cites and flag the claims whose evidence changed."""
    ctx.obj = {"sources": sources_path, "db": db_url}


@cli.command()
@click.pass_obj
def validate(obj: dict[str, str]) -> None:
    """Check sources.yaml; print FILE:LINE: message per problem (exit 2)."""
    from pipeline import api
    config = api.validate_config(obj["sources"])
    n_claims = sum(1 for _ in config.claims())
    click.echo(f"{obj['sources']}: ok ({len(config.sources)} sources, "
               f"{len(config.factchecks)} fact-checks, {n_claims} claims)")


@cli.command()
@click.option("--all", "everything", is_flag=True, help="Check every source, due or not.")
@click.option("--source", "only", multiple=True, metavar="ID", help="Check this source (repeat).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON report (SPEC §3).")
@click.pass_obj
def check(obj: dict[str, str], everything: bool, only: tuple[str, ...], as_json: bool) -> None:
    """Check due sources once and exit (for cron)."""
    from pipeline import idle
    report = idle.check(obj["sources"], obj["db"], everything=everything, only=only)
    if report is None:  # something to do (or to say): the whole library
        from pipeline import api
        config = api.load_config(obj["sources"])
        settle()
        with _store(obj, create=True) as store, _progress(enabled=not as_json
                                             and sys.stdout.isatty()) as advance:
            report = api.check(store, config, everything=everything, only=only,
                               on_progress=advance)
    for failed in (done for done in report.backfills if done.error is not None):
        click.echo(f"claimwatch: backfill of {failed.factcheck} failed: {failed.error} (ended: "
                   f"its sources are checked live from now on; 'claimwatch backfill "
                   f"{failed.factcheck}' completes it)", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for done in (done for done in report.backfills if done.sources):
            loaded = sum(s.loaded for s in done.sources)
            dated = sum(len(s.flags) for s in done.sources)
            click.echo(f"backfilled {done.factcheck} from {done.published}: {loaded} "
                       f"version(s), {dated} flag(s) dated when the evidence moved")
        _print_report(report)
        if report.alerts.sent or report.alerts.retrying or report.alerts.failed:
            from pipeline.render import console, delivery_lines
            for line in delivery_lines(report.alerts):
                console().print(line)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(obj: dict[str, str], as_json: bool) -> None:
    """Sources due, failing and backed off, open flags, undelivered alerts; exit 1 when
    something needs attention (a health check)."""
    from pipeline import api
    from pipeline.render import console, print_status
    config = api.load_config(obj["sources"])
    with _store(obj) as store:
        state = api.status(store, config)
    if as_json:
        click.echo(json.dumps(state, indent=2))
    else:
        print_status(console(), state)
    if state["attention"]:
        sys.exit(1)


@cli.command("run")
@click.option("--tick", default="1s", show_default=True, metavar="DELAY",
              help="How often to look for due sources.")
@click.option("--deliver-every", default="10s", show_default=True, metavar="DELAY",
              help="How often to deliver pending alerts.")
@click.option("--grace", default="30s", show_default=True, metavar="DELAY",
              help="How long checks in flight may finish after SIGTERM/SIGINT.")
@click.option("--lease", default="60s", show_default=True, metavar="DELAY",
              help="How long a claim on a source lasts unless renewed: a worker that dies "
                   "leaves its sources to the others after this.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per event; json for log shippers.")
@click.option("--audit-key", type=click.Path(dir_okay=False, path_type=Path),
              envvar="CLAIMWATCH_AUDIT_KEY", metavar="KEYFILE",
              help="Sign a checkpoint of the audit chain with this key every --checkpoint-every "
                   "($CLAIMWATCH_AUDIT_KEY).")
@click.option("--checkpoint-every", default="1h", show_default=True, metavar="DURATION",
              help="How often to sign a checkpoint (with --audit-key).")
@click.option("--checkpoint-file", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also append each checkpoint to this anchor file.")
@click.pass_obj
def run_daemon(obj: dict[str, str], tick: str, deliver_every: str, grace: str, lease: str,
               log_format: str, audit_key: Path | None, checkpoint_every: str,
               checkpoint_file: Path | None) -> None:
    """Check each source on its schedule and deliver alerts until SIGTERM/SIGINT."""
    from pipeline import daemon
    from pipeline.config import parse_delay, parse_duration

    try:
        settings = daemon.Settings(tick=parse_delay(tick) or 1.0,
                                   deliver_every=parse_delay(deliver_every) or 10.0,
                                   grace=parse_delay(grace), lease=max(parse_delay(lease), 3.0),
                                   log_format=log_format, audit_key=audit_key,
                                   checkpoint_every=parse_duration(checkpoint_every),
                                   checkpoint_file=checkpoint_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(daemon.run(obj["sources"], obj["db"], settings))


@cli.command()
@click.option("--all", "include_closed", is_flag=True, help="Reviewed and resolved flags too.")
@click.option("--json", "as_json", is_flag=True, help="Print {\"flags\": [...]} (SPEC §3).")
@click.pass_obj
def flags(obj: dict[str, str], include_closed: bool, as_json: bool) -> None:
    """List open flags."""
    from pipeline import api
    from pipeline.render import console, flag_line
    with _store(obj) as store:
        found = api.flags(store, include_closed=include_closed)
    if as_json:
        click.echo(json.dumps({"flags": [flag.to_json() for flag in found]}, indent=2))
        return
    out = console()
    if not found:
        out.print("no open flags" if not include_closed else "no flags")
    for flag in found:
        out.print(flag_line(flag, with_status=include_closed))


@cli.command()
@click.argument("flag_id", type=int)
@click.option("--decision", required=True, type=click.Choice(["upheld", "revised", "dismissed"]),
              help="upheld: the verdict stands; revised: it changes (--verdict); dismissed: a "
                   "false alarm. Each makes the flagged snapshot the evidence's new baseline.")
@click.option("--by", "reviewer", required=True, metavar="NAME", help="Who decided.")
@click.option("--note", help="Why (kept in the audit history).")
@click.option("--verdict", help="The claim's new verdict (with --decision revised).")
@click.option("--update-expectation", is_flag=True,
              help="Also update the evidence's expectation in sources.yaml to what is observed "
                   "now (a table's count, a quote's rewording).")
@click.option("--json", "as_json", is_flag=True, help="Print the reviewed flag as JSON.")
@click.pass_obj
def review(obj: dict[str, str], flag_id: int, decision: str, reviewer: str, note: str | None,
           verdict: str | None, update_expectation: bool, as_json: bool) -> None:
    """Record an editor's decision on a flag; a revised verdict (and with --update-expectation
    the expectation) is written into sources.yaml too, keeping its comments."""
    from rich.markup import escape

    from pipeline import api
    from pipeline.render import console
    sources = Path(obj["sources"])
    with _store(obj, create=True) as store:
        done = api.review(store, flag_id, decision=decision, reviewer=reviewer, note=note,
                          verdict=verdict, update_expectation=update_expectation,
                          sources=sources if sources.exists() else None)
    if as_json:
        click.echo(json.dumps(done.to_json(), indent=2))
        return
    flag, decided = done.flag, done.flag.review
    assert decided is not None
    change = (f": '{decided.verdict_before}' → '{decided.verdict_after}'"
              if decided.decision == "revised" else "")
    out = console()
    out.print(f"flag {flag.id} on {flag.claim} reviewed by {escape(decided.by)}: "
              f"{decided.decision}{escape(change)}; the flagged snapshot is now the baseline")
    for edit in done.edits:
        if edit.applied:
            out.print(f"{escape(edit.path)}: {edit.what} updated")
        else:
            out.print(f"[yellow]{escape(edit.path)} was not changed ({escape(edit.reason or '')})"
                      f"[/]: make this edit by hand:\n{escape(edit.diff)}")


@cli.command()
@click.option("--claim", metavar="ID", help="Only this claim (and the sources it reads).")
@click.option("--source", metavar="ID", help="Only this source.")
@click.option("--since", metavar="WHEN", help="From a date (2026-11-20) or a duration ago (7d).")
@click.option("--until", metavar="WHEN", help="Up to a date or a duration ago.")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the events as CSV.")
@click.pass_obj
def history(obj: dict[str, str], claim: str | None, source: str | None, since: str | None,
            until: str | None, as_json: bool, as_csv: bool) -> None:
    """The audit trail: checks, changes, flags, alerts, reviews, oldest first."""
    from pipeline import api
    from pipeline.textnorm import printable
    with _store(obj) as store:
        found = api.history(store, claim=claim, source=source, since=since, until=until)
    if as_json:
        click.echo(json.dumps({"events": [e.to_json() for e in found]}, indent=2))
    elif as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["seq", "at", "kind", "source", "claim", "text"])
        for e in found:
            row = e.to_json()
            out.writerow([row["seq"], row["at"], e.kind, e.source or "", e.claim or "",
                          printable(e.text)])
    else:
        for e in found:
            click.echo(printable(e.text))


@cli.command()
@click.argument("factcheck_id")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file.")
@click.pass_obj
def report(obj: dict[str, str], factcheck_id: str, fmt: str, output: str | None) -> None:
    """The evidence report of a fact-check: a summary, each claim's verdict and evidence, and
    what changed at every flag, before and after."""
    from pipeline import api

    try:  # for reading the snapshots, and the desk's address to link them
        config = api.load_config(obj["sources"])
    except ConfigError as exc:
        config = None
        click.echo(f"claimwatch: the report leaves out the before/after text, as it needs "
                   f"sources.yaml: {exc.problems[0]}", err=True)
    desk_url = str(config.desk.url) if config and config.desk.url else None
    with _store(obj) as store:
        text = api.report(store, factcheck_id, fmt, config=config, desk_url=desk_url)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text)


def _export_target(command: Callable[..., None]) -> Callable[..., None]:
    """The OUT argument and the one-of target options shared by the export commands."""
    for option in ("--source", "--factcheck", "--claim"):
        command = click.option(option, metavar="ID")(command)
    return click.argument("out", type=click.Path(dir_okay=False))(command)


@cli.command("export-warc")
@_export_target
@click.pass_obj
def export_warc(obj: dict[str, str], out: str, claim: str | None, factcheck: str | None,
                source: str | None) -> None:
    """Write stored snapshots as WARC response records (OUT.warc.gz)."""
    from pipeline import api
    with _store(obj) as store:
        records = api.export_warc(store, Path(out), claim=claim, factcheck=factcheck,
                                  source=source)
    click.echo(f"{out}: {records} WARC records")


@cli.command("export-wacz")
@_export_target
@click.pass_obj
def export_wacz(obj: dict[str, str], out: str, claim: str | None, factcheck: str | None,
                source: str | None) -> None:
    """Package stored snapshots as a WACZ for ReplayWeb.page (OUT.wacz)."""
    from pipeline import api
    with _store(obj) as store:
        summary = api.export_wacz(store, Path(out), claim=claim, factcheck=factcheck,
                                  source=source)
    click.echo(f"{out}: {summary.pages} versions of {summary.sources} sources, "
               f"{summary.bytes:,} bytes")


@cli.command()
@click.option("--older-than", required=True, metavar="AGE", help="e.g. 90d")
@click.option("--vacuum", is_flag=True,
              help="Then give the space back: VACUUM (SQLite: the file shrinks).")
@click.pass_obj
def prune(obj: dict[str, str], older_than: str, vacuum: bool) -> None:
    """Remove old snapshots and fetch rows nothing refers to (never baselines or audit events)."""
    from pipeline import api
    with _store(obj) as store:
        counts = api.prune(store, older_than, vacuum=vacuum)
    click.echo(f"pruned {counts['snapshots']} snapshot(s), {counts['fetches']} fetch row(s), "
               f"{counts['outcomes']} outcome(s), {counts['blobs']} blob(s) older than "
               f"{older_than}; {counts['snapshots_kept']} snapshot(s) kept")
    if "bytes_before" in counts:
        click.echo(f"vacuumed: {counts['bytes_before']:,} → {counts['bytes_after']:,} bytes")
    elif vacuum:
        click.echo("vacuumed the tables: their free space is reused by new rows")


@cli.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--anchor", "anchor_file", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Compare the chain with the anchors kept in FILE (lines of "
                                   "'audit head --append' and 'audit checkpoint --append').")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="PUBFILE", help="Check checkpoint signatures with this public key (repeat "
                                      "for rotated keys; default: the keys the anchor file names).")
@click.option("--deep", is_flag=True, help="Also re-hash every stored snapshot and check "
                                           "snapshot, flag and review rows against the chain.")
@click.option("--max-problems", default=20, show_default=True, metavar="N",
              help="How many mismatches --deep lists.")
@click.pass_obj
def audit_verify(obj: dict[str, str], anchor_file: Path | None, keys: tuple[Path, ...],
                 deep: bool, max_problems: int) -> None:
    """Walk the hash chain; name the first row edited, deleted or inserted (exit 1)."""
    from pipeline import api
    from pipeline.render import audit_lines
    with _store(obj) as store:
        result = api.audit_verify(store, anchor_file=anchor_file, public_keys=keys, deep=deep,
                                  limit=max_problems)
    if not result.ok:
        lines = result.problems
        if result.chain.problem:
            lines[0] = (f"audit chain broken after {result.chain.good} good event(s): "
                        f"{result.chain.problem}")
        unlisted = result.deep.mismatches - len(result.deep.problems) if result.deep else 0
        if unlisted:
            lines.append(f"… and {unlisted} more mismatch(es) (--max-problems)")
        raise ClaimwatchError("\n".join([f"audit verification failed: {len(lines)} "
                                         "problem(s)", *lines]))
    for line in audit_lines(result):
        click.echo(line)


@audit.command("head")
@click.option("--json", "as_json", is_flag=True, help="Print the head as one JSON line.")
@click.option("--append", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Append it to this anchor file as one JSON line (quiet, for cron).")
@click.pass_obj
def audit_head(obj: dict[str, str], as_json: bool, append: Path | None) -> None:
    """Print the chain's head (seq, hash, time) to keep outside the database."""
    from pipeline import api
    with _store(obj) as store:
        head = api.audit_head(store, append=append)
    if append is None or sys.stdout.isatty():
        click.echo(head.line() if as_json else head.text())


@audit.command("keygen")
@click.argument("keyfile", type=click.Path(dir_okay=False, path_type=Path))
def audit_keygen(keyfile: Path) -> None:
    """Write a new Ed25519 signing key to KEYFILE (mode 0600) and its public key to
    KEYFILE.pub."""
    from pipeline import api
    public = api.audit_keygen(keyfile)
    click.echo(f"wrote {keyfile} (private: keep it off the database's disk) and {keyfile}.pub")
    click.echo(f"public key: {public}")


@audit.command("checkpoint")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True,
              envvar="CLAIMWATCH_AUDIT_KEY", metavar="KEYFILE",
              help="The private signing key ($CLAIMWATCH_AUDIT_KEY).")
@click.option("--append", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also append the checkpoint to this anchor file.")
@click.option("--json", "as_json", is_flag=True, help="Print the checkpoint as one JSON line.")
@click.pass_obj
def audit_checkpoint(obj: dict[str, str], key: Path, append: Path | None,
                     as_json: bool) -> None:
    """Sign the chain's head and record the signature in the chain (a checkpoint)."""
    from pipeline import api
    with _store(obj) as store:
        made = api.audit_checkpoint(store, key, append=append)
    if made is None:
        click.echo("nothing to sign: no event since the last checkpoint")
    elif as_json:
        click.echo(made.line())
    else:
        click.echo(f"signed checkpoint: {made.text()}"
                   + (f", appended to {append}" if append else ""))


@cli.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(obj: dict[str, str]) -> None:
    """Upgrade the schema to this claimwatch's revision (back the database up first)."""
    from pipeline import api
    was = api.db_upgrade(obj["db"])
    if was.status == "current":
        click.echo(f"database schema already at {was.head} (head)")
        return
    start = was.revision or "none"
    if was.matches:
        start += f" (the tables of {was.matches}, adopted)"
    click.echo(f"database schema upgraded: {start} → {was.head}")


@db_group.command("current")
@click.pass_obj
def db_current(obj: dict[str, str]) -> None:
    """Print the schema revision; exit 1 when claimwatch cannot use the database as it is."""
    from pipeline import api
    state = api.db_current(obj["db"])
    click.echo({"current": f"{state.revision} (head)",
                "empty": "none (empty database: created on first use)"}.get(
                    state.status, state.revision or "none"))
    if state.problem:
        raise ClaimwatchError(state.problem)


@db_group.command("copy")
@click.option("--to", "target", required=True, metavar="URL",
              help="The new, empty database (e.g. postgresql+psycopg://…).")
@click.pass_obj
def db_copy(obj: dict[str, str], target: str) -> None:
    """Copy every row (ids, snapshots, the audit chain) into a new database, e.g. PostgreSQL."""
    from pipeline import api
    counts = api.db_copy(obj["db"], target)
    click.echo(f"copied {sum(counts.values()):,} rows in {len(counts)} tables; the audit chain "
               "verifies on the copy")


@cli.command()
@click.argument("source_id")
@click.option("--from", "from_id", type=int, metavar="SNAPSHOT", help="Default: the baseline.")
@click.option("--to", "to_id", type=int, metavar="SNAPSHOT", help="Default: the latest.")
@click.pass_obj
def diff(obj: dict[str, str], source_id: str, from_id: int | None, to_id: int | None) -> None:
    """Show what changed in a source between two snapshots."""
    from pipeline import api
    from pipeline.render import console, print_diff
    config = api.load_config(obj["sources"])
    with _store(obj) as store:
        result = api.source_diff(store, config, source_id, from_id=from_id, to_id=to_id)
    print_diff(console(), result)


@cli.command()
@click.argument("source_id", required=False)
@click.option("--url", help="Probe this URL instead of a source of sources.yaml.")
@click.option("--kind", type=click.Choice(["auto", "html", "pdf", "xlsx", "csv", "json", "feed"]),
              help="With --url: the document kind (default auto).")
@click.option("--select", help="With --url: CSS selector (JMESPath for JSON) of the region.")
@click.option("--follow", help="With --url: CSS selector of the link to the document to watch.")
@click.option("--ignore", multiple=True, metavar="REGEX", help="With --url: text to drop (repeat).")
@click.option("--fetch", "fetch_mode", type=click.Choice(["http", "browser"]),
              help="With --url: as served, or rendered in Chromium (default: defaults.fetch).")
@click.option("--expect", multiple=True, metavar="YAML",
              help="An expectation to evaluate, e.g. 'quote: some words' (repeat).")
@click.option("--lines", default=40, show_default=True, help="How many text lines/rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def probe(obj: dict[str, str], source_id: str | None, url: str | None, kind: str | None,
          select: str | None, follow: str | None, ignore: tuple[str, ...],
          fetch_mode: str | None, expect: tuple[str, ...], lines: int, as_json: bool) -> None:
    """Fetch a source now and show what claimwatch sees; stores nothing."""
    from pipeline import api
    from pipeline.render import console, print_probe, probe_json
    if (source_id is None) == (url is None):
        raise click.UsageError("give a SOURCE_ID or --url (not both)")
    config = api.load_config(obj["sources"]) if source_id or os.path.exists(obj["sources"]) \
        else api.empty_config()
    options = {k: v for k, v in {"kind": kind, "select": select, "follow": follow,
                                 "ignore": list(ignore) or None, "fetch": fetch_mode}.items()
               if v is not None}
    result = api.probe(config, source_id=source_id, url=url, options=options, expect=expect)
    if as_json:
        click.echo(json.dumps(probe_json(result), indent=2))
    else:
        print_probe(console(), result, lines=lines)


@cli.group(invoke_without_command=True)
@click.option("--failed", "failed_only", is_flag=True, help="Only the deliveries given up on.")
@click.option("--json", "as_json", is_flag=True, help="Print {\"alerts\": [...]}.")
@click.pass_context
def alerts(ctx: click.Context, failed_only: bool, as_json: bool) -> None:
    """List alert deliveries and their state; `alerts retry` re-queues failed ones."""
    from pipeline import api
    from pipeline.render import alert_line, console
    if ctx.invoked_subcommand is not None:
        return
    with _store(ctx.obj) as store:
        found = api.alerts(store, failed_only=failed_only)
    if as_json:
        click.echo(json.dumps({"alerts": [alert.to_json() for alert in found]}, indent=2))
        return
    out = console()
    if not found:
        out.print("no failed alerts" if failed_only else "no alerts")
    for alert in found:
        out.print(alert_line(alert))


@alerts.command("retry")
@click.option("--id", "alert_ids", multiple=True, metavar="ALERT_ID",
              help="Only this alert (repeat). Default: every undelivered one.")
@click.pass_obj
def alerts_retry(obj: dict[str, str], alert_ids: tuple[str, ...]) -> None:
    """Deliver undelivered alerts now (failed ones re-queued, pending ones not waiting out
    their backoff): after fixing a channel."""
    from pipeline import api
    config = api.load_config(obj["sources"])
    with _store(obj) as store:
        report = api.retry_alerts(store, config, alert_ids)
    _print_delivery(report)


@alerts.command("backfill")
@click.pass_obj
def alerts_backfill(obj: dict[str, str]) -> None:
    """Send each channel the open flags it never got (a channel added while they were open)."""
    from rich.markup import escape

    from pipeline import api
    from pipeline.render import console
    config = api.load_config(obj["sources"])
    with _store(obj) as store:
        made, report = api.backfill_alerts(store, config)
    out = console()
    if not made:
        out.print("every channel has every open flag it wants")
    for channel, n in made.items():
        out.print(f"{escape(channel)}: {n} open flag(s) queued")
    _print_delivery(report)


@cli.group(invoke_without_command=True)
@click.option("--source", "source_id", metavar="ID", help="Only this source's versions.")
@click.option("--snapshot", "snapshot_id", type=int, metavar="N", help="Only this version.")
@click.option("--json", "as_json", is_flag=True, help="Print {\"archive\": [...]}.")
@click.pass_context
def archive(ctx: click.Context, source_id: str | None, snapshot_id: int | None,
            as_json: bool) -> None:
    """Each new version's submission to the public archive; `archive send` submits now."""
    from pipeline import api
    from pipeline.render import archive_line, console
    if ctx.invoked_subcommand is not None:
        return
    with _store(ctx.obj) as store:
        found = api.archive_status(store, source=source_id, snapshot=snapshot_id)
    if as_json:
        click.echo(json.dumps({"archive": [record.to_json() for record in found]}, indent=2))
        return
    out = console()
    if not found:
        out.print("no version has been sent to a public archive")
    for record in found:
        out.print(archive_line(record))


@archive.command("send")
@click.option("--json", "as_json", is_flag=True, help="Print the round's report as JSON.")
@click.pass_obj
def archive_send(obj: dict[str, str], as_json: bool) -> None:
    """Submit the new versions waiting for the public archive (as the rate and the daily cap
    allow) and ask after the captures under way."""
    from pipeline import api
    from pipeline.render import archive_report_lines, console
    config = api.load_config(obj["sources"])
    with _store(obj) as store:
        report = api.archive_send(store, config)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for line in archive_report_lines(report):
        console().print(line)


def _print_delivery(report: Any) -> None:
    from pipeline.render import console, delivery_lines
    lines = delivery_lines(report)
    for line in lines or [f"alerts: nothing sent, {report.pending} pending"]:
        console().print(line)


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep the demo's database and sources in this directory.")
@click.option("--serve", "serve_desk", is_flag=True,
              help="Then open the review desk on the demo's database (until Ctrl-C).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="With --serve: the loopback port of the desk.")
def demo(keep: str | None, serve_desk: bool, port: int) -> None:
    """Run the whole pipeline on the seed fact-check, offline, against a loopback server; with
    --serve, end with the review desk open on its database."""
    from pipeline.demo.run import run_demo
    from pipeline.render import console

    run_demo(console(), keep_dir=keep, serve_port=port if serve_desk else None)


# --- rendering -----------------------------------------------------------------------------


def _print_report(report: CheckReport) -> None:
    """Quiet for cron: a summary when there is something to say, or on a terminal."""
    errors = [s for s in report.sources if s.error]
    if not (report.flags or errors or sys.stdout.isatty()):
        return
    from rich.markup import escape

    from pipeline.render import console, flag_line
    out = console()
    data = report.to_json()
    out.print(f"checked {data['checked']} source(s): {data['changed']} changed, "
              f"{data['errors']} error(s), {len(report.flags)} new flag(s)")
    for source in errors:
        out.print(f"[yellow]error[/] {source.source}: {escape(source.error or '')}")
    for flag in report.flags:
        out.print(flag_line(flag))


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as progress:
        task = progress.add_task("check", total=None)

        def advance(_report: SourceReport, total: int) -> None:
            progress.update(task, total=total, advance=1)

        yield advance


def _store(obj: dict[str, str], *, create: bool = False) -> AbstractContextManager[Store]:
    """The database named by --db, closed afterwards. Only commands that write pass `create`:
    the others refuse a database that does not exist rather than leave an empty one behind."""
    from pipeline import api
    return api.opened(obj["db"], create=create)


@cli.command("import")
@click.argument("target", metavar="URL_OR_FILE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the draft to this new file (e.g. sources.d/ID.yaml); default: print it.")
@click.option("--id", "factcheck_id", metavar="ID",
              help="The fact-check's id (default: from its address or title).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the draft as JSON (claims, proposals, sources) instead of YAML.")
@click.pass_obj
def import_factcheck(obj: dict[str, str], target: str, output: Path | None,
                     factcheck_id: str | None, as_json: bool) -> None:
    """Draft a watch of a published fact-check: its claims, the pages they cite and the
    evidence proposed on each, checked on the pages; for an editor to read and accept."""
    from pipeline import api
    draft = api.import_factcheck(target, sources=obj["sources"], factcheck_id=factcheck_id,
                                 output=output)
    items = [i for c in draft.claims for i in c.items if i.active]
    kinds: dict[str, int] = {}
    for item in items:
        kind = next(iter(item.expectation or {"changes": 0}))
        kinds[kind] = kinds.get(kind, 0) + 1
    unread = [s for s in draft.sources if s.error]
    summary = (f"{draft.factcheck_id}: {len(draft.claims)} claims, {len(draft.sources)} cited "
               f"sources ({len(unread)} could not be read), {len(items)} evidence items ("
               + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")")
    if as_json:
        click.echo(json.dumps(draft.to_json(), indent=2))
    elif output is None:
        click.echo(draft.text, nl=False)
    if output is not None:
        click.echo(f"{summary}\nwritten to {output}: read it, edit it, then `claimwatch "
                   "validate`", err=as_json)
    else:
        click.echo(summary, err=True)


cli.add_command(serve)
cli.add_command(users)
cli.add_command(backfill)
cli.add_command(timeline)


def settle() -> None:
    """What a one-shot process has loaded by now (the library, the configuration) stays until
    it exits: frozen, the garbage collector never walks it again, during the run or at exit.
    At 500 sources an unchanged `check` spent 0.17 s of its 1.0 s in collections over those
    ~100,000 objects, and its exit 0.2–0.4 s more (bench/README.md). Not for the daemon or the
    desk: a configuration they replace must stay collectable."""
    gc.freeze()


def main() -> None:
    """Entry point: run the command, map every error to its exit code and one line."""
    try:
        _main()
    finally:
        settle()  # whatever the command was, its exit need not collect what it loaded


def _main() -> None:
    try:
        code = cli.main(standalone_mode=False, prog_name="claimwatch")
        sys.exit(code if isinstance(code, int) else 0)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("claimwatch: aborted", err=True)
        sys.exit(130)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(exc.exit_code)
    except UsageError as exc:  # the library names a field; the user typed an option
        option = OPTIONS.get(exc.field or "")
        click.echo(f"claimwatch: {option + ': ' if option else ''}{exc}", err=True)
        sys.exit(exc.exit_code)
    except ClaimwatchError as exc:
        click.echo(f"claimwatch: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("claimwatch: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("CLAIMWATCH_DEBUG"):
            raise
        click.echo(f"claimwatch: internal error: {type(exc).__name__}: {exc} "
                   "(set CLAIMWATCH_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
