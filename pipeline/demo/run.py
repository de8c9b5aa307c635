"""`claimwatch demo`: the real pipeline on the seed fact-check, offline.

A loopback SiteServer serves look-alikes of the cited sources (fixtures/v1, then fixtures/v2);
the repository's sources.yaml is checked against it with only the URLs pointed at the server, into
a temporary database. Nothing is canned: every flag printed comes from `check`.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from pipeline import api
from pipeline.config import parse as parse_config
from pipeline.errors import ClaimwatchError
from pipeline.records import FlagRecord
from pipeline.render import flag_line, print_diff
from pipeline.textnorm import printable

from .server import SiteServer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = Path(__file__).resolve().parent / "real" / "ice-287g"  # unmodified public copies
REPLAY_PUBLISHED = "2025-05-27"
SEED_SOURCES = Path(__file__).resolve().parents[2] / "sources.yaml"


DEMO_EDITOR, DEMO_PASSWORD = "editor", "claimwatch-demo"  # loopback only: a newcomer's first look


def run_demo(
    console: Console, *, keep_dir: str | None = None, sources: Path = SEED_SOURCES,
    serve_port: int | None = None,
) -> list[FlagRecord]:
    """Run the demo and print what it found; return the flags the second check opened. With
    `serve_port`, then serve the review desk on the demo's database at 127.0.0.1:PORT (the
    publishers' loopback site stays up, so "check now" works) until interrupted."""
    if not sources.is_file():
        raise ClaimwatchError(
            f"the seed's sources.yaml is not at {sources}: run the demo from a "
            "checkout of claimwatch (pip install -e .)"
        )
    started = time.monotonic()
    # the desk's port is taken first: one in use is said now, not after the whole story
    listening = _listen(serve_port) if serve_port is not None else contextlib.nullcontext()
    with listening as sock, tempfile.TemporaryDirectory(prefix="claimwatch-demo-") as tmp:
        workdir = Path(keep_dir) if keep_dir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with SiteServer(FIXTURES / "v1") as server:
            demo_sources = _point_at(server, sources, workdir / "sources.yaml")
            config = api.load_config(demo_sources)
            db_url = f"sqlite:///{workdir / 'claimwatch.db'}"
            store = api.open_db(db_url)
            try:
                flags = _story(console, server, config, store, started)
                if sock is not None:
                    _serve(console, store, demo_sources, sock)
            finally:
                store.close()
        where = (
            f"kept in {workdir}: try `claimwatch --sources {demo_sources} --db {db_url} flags`"
            if keep_dir
            else "removed (use --keep DIR to keep it)"
        )
        console.print(f"\nThe demo's database was {escape(where)}.")
    return flags


def _story(
    console: Console, server: SiteServer, config: Any, store: Any, started: float
) -> list[FlagRecord]:
    factcheck = config.factchecks[0]
    n_claims = sum(1 for _ in config.claims())
    console.print(
        f'[bold]claimwatch demo[/]: "{escape(factcheck.title)}" — {n_claims} claims, '
        f"{len(config.sources)} cited sources, served offline by {server.base_url}",
        highlight=False,
    )

    first = api.check(store, config, everything=True)
    console.print(
        f"\n[bold]1. First check[/] (the sources as the fact-check cited them): "
        f"{_summary(first.to_json())}",
        highlight=False,
    )
    for flag in first.flags:
        console.print("   " + flag_line(flag))

    server.root = FIXTURES / "v2"
    console.print(
        "\n[bold]2. The publishers edit their pages[/] (a new 287(g) spreadsheet, an "
        "article rewritten, a correction, and timestamp and sidebar churn elsewhere)",
        highlight=False,
    )
    second = api.check(store, config, everything=True)
    console.print(f"   Second check: {_summary(second.to_json())}")

    claims = {claim.id: claim for _fc, claim in config.claims()}
    flagged = sorted({f.claim for f in second.flags}, key=list(claims).index)
    console.print(
        f"\n[bold]3. Claims flagged for review[/] ({len(flagged)} of {len(claims)})",
        highlight=False,
    )
    for claim_id in flagged:
        claim = claims[claim_id]
        console.print(
            f"\n [bold]{claim_id}[/] (verdict: {escape(claim.verdict)})\n   {escape(claim.text)}",
            highlight=False,
        )
        for flag in (f for f in second.flags if f.claim == claim_id):
            console.print("   " + flag_line(flag))

    console.print(
        "\n[bold]4. What changed in the flagged sources[/] (baseline → latest)", highlight=False
    )
    for source_id in sorted({f.source for f in second.flags}):
        console.print()
        print_diff(console, api.source_diff(store, config, source_id))

    holding = [c for c in claims if c not in flagged]
    console.print(f"\n[bold]5. Still holding[/]: {', '.join(holding) or 'none'}")
    sent = first.alerts.sent + second.alerts.sent
    console.print(f"\n[bold]6. Alerts[/]: {sent} sent to the file channel (alerts.jsonl, one "
                  "JSON line each); `claimwatch alerts` lists every delivery", highlight=False)
    _replay(console, config)
    console.print(f"\nDone in {time.monotonic() - started:.1f}s.")
    return second.flags


def replay_sources(config: Any) -> str:
    """The replay's sources.yaml: the seed's ICE source and its "six agencies" claim, in a
    fact-check published on REPLAY_PUBLISHED (bench/backfill.py uses it too)."""
    source = config.sources["ice-287g"]
    claim = next(c for _fc, c in config.claims() if c.id == "six-287g-agencies")
    ev = next(e for e in claim.evidence if e.source == "ice-287g")
    return yaml.safe_dump({
        "version": 1,
        "sources": {"ice-287g": {"url": source.url, "kind": source.kind,
                                 "follow": source.follow}},
        "factchecks": [{"id": "mn-police-ice", "title": "Did Minnesota police join ICE",
                        "published": REPLAY_PUBLISHED, "claims": [{
                            "id": claim.id, "text": claim.text, "verdict": claim.verdict,
                            "evidence": [{"source": "ice-287g",
                                          "table": ev.table.model_dump(exclude_none=True)
                                          if ev.table else None}]}]}]},
        sort_keys=False, allow_unicode=True)


def _replay(console: Console, config: Any) -> None:
    """Since publication, on real data: ICE's own workbook as it stood on three days of 2025,
    backfilled as a directory of dated copies into a database of its own, and the timeline."""
    claim = next(c for _fc, c in config.claims() if c.id == "six-287g-agencies")
    text = replay_sources(config)
    console.print(
        f"\n[bold]7. Since publication, on real data[/]: ICE's own 287(g) workbook on "
        f"{len(list(REAL.glob('*.xlsx')))} days of 2025, replayed from a fact-check published "
        f"{REPLAY_PUBLISHED} (`claimwatch backfill --from DIR`, then `claimwatch timeline`)",
        highlight=False)
    with tempfile.TemporaryDirectory(prefix="claimwatch-replay-") as tmp:
        replay = parse_config(text, "since-publication.yaml")
        store = api.open_db(f"sqlite:///{Path(tmp) / 'replay.db'}")
        try:
            report = api.backfill(store, replay, "mn-police-ice", where=str(REAL))
            for moment in api.timeline(store, claim.id, config=replay).items[0].moments:
                console.print(f"   {escape(printable(moment.line))}", highlight=False)
            for done in report.sources:
                for flag in done.flags:
                    console.print(f"   flag {flag.id}: {flag.outcome} since "
                                  f"{flag.opened_at:%Y-%m-%d}", highlight=False)
        finally:
            store.close()


def _listen(port: int) -> Any:
    from desk.server import listen
    return listen("127.0.0.1", port)


def _serve(console: Console, store: Any, sources: Path, sock: Any) -> None:
    """The desk on the demo's database, with a demo editor, until Ctrl-C."""
    from desk.app import create_app
    from desk.server import address, run

    api.add_user(store, DEMO_EDITOR, "editor", DEMO_PASSWORD, display_name="Demo Editor")
    console.print(
        f"\n[bold]8. The review desk[/] is open at {address(sock)} — log in as "
        f"[bold]{DEMO_EDITOR}[/] with the password [bold]{DEMO_PASSWORD}[/], open a flag, and "
        "record a decision. Ctrl-C stops it.",
        highlight=False,
    )
    run(create_app(store, sources), sock)


def _summary(report: dict[str, Any]) -> str:
    statuses = [s["status"] for s in report["sources"]]
    parts = [
        f"{statuses.count(s)} {s}"
        for s in ("new", "changed", "unchanged", "error")
        if statuses.count(s)
    ]
    return (
        f"{report['checked']} sources checked ({', '.join(parts)}), "
        f"{len(report['flags'])} new flag(s)"
    )


def _point_at(server: SiteServer, sources: Path, out: Path) -> Path:
    """Write a copy of `sources` whose URLs name the fixtures on `server`."""
    data = yaml.safe_load(sources.read_text(encoding="utf-8"))
    for source_id, source in data["sources"].items():
        main = sorted((FIXTURES / "v1" / source_id).glob("index.*"))
        if not main:
            raise ClaimwatchError(f"the demo has no fixture for source {source_id!r}")
        source["url"] = server.url(f"{source_id}/{main[0].name}")
    data["alerts"] = [{"to": f"file:{out.parent / 'alerts.jsonl'}"}]
    # every "publisher" is this one loopback server: spacing requests to it protects no one
    data.setdefault("defaults", {})["host_delay"] = "0s"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
