"""One check, end to end on a loopback site, on SQLite and (with CLAIMWATCH_TEST_PG) PostgreSQL:
snapshots stored once, unchanged sources cheap, flags raised and deduplicated per SPEC, failures
recorded, and a crash mid-check leaving nothing half-written."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from db import Store
from db.models import (
    BlobRow,
    EvidenceRow,
    FetchRow,
    FlagRow,
    OutcomeRow,
    SnapshotRow,
    SourceRow,
)
from pipeline import api, config, evaluate, recorder
from pipeline import plan as planning
from pipeline.demo.server import SiteServer
from pipeline.fetch import Fetcher, FetchSettings
from pipeline.source_fetch import fetch_source
from pipeline.sync import sync_config
from tests.conftest import Handler

FAST = FetchSettings(user_agent="claimwatch-test", timeout=2, connect_timeout=1, retries=0,
                     backoff_base=0.01, host_delay=0)

PAGE = """<html><head><title>Statement</title><script>var build = "{build}";</script></head>
<body><nav><a href="/">Home</a> Most read: {sidebar}</nav>
<main><h1>Sheriff's statement</h1>
<p>The Sheriff's Office does not work with any agency on civil immigration enforcement.</p>
<p>{extra}</p></main>
<aside>Weather: {sidebar}</aside></body></html>"""


def page(extra: str = "Deputies patrol the county.", sidebar: str = "sports",
         build: str = "a1") -> str:
    return PAGE.format(extra=extra, sidebar=sidebar, build=build)


def sources_yaml(url: str, *evidence: str, source_opts: str = "    select: main\n",
                 defaults: str = "{}") -> config.Config:
    items = "\n".join(f"          - {{source: s, {e}}}" for e in evidence)
    return config.parse(f"""\
version: 1
defaults: {defaults}
sources:
  s:
    url: {url}
{source_opts}factchecks:
  - id: fc
    title: A fact-check
    claims:
      - id: claim-a
        text: The sheriff does not work with ICE.
        verdict: Supported
        evidence:
{items}
""")


def count(store: Store, model: type) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def write(site: SiteServer, name: str, body: str | bytes) -> None:
    path = site.root / name
    path.write_bytes(body.encode() if isinstance(body, str) else body)


QUOTE = "quote: does not work with any agency on civil immigration enforcement"


def test_first_check_stores_one_snapshot_and_rechecks_cost_a_304(store: Store,
                                                                  site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    first = api.check(store, cfg, everything=True, settings=FAST)
    assert first.to_json()["sources"][0]["status"] == "new"
    assert first.flags == []
    second = api.check(store, cfg, everything=True, settings=FAST)
    assert second.to_json()["sources"][0] == {
        "source": "s", "status": "unchanged", "snapshot": first.sources[0].snapshot,
        "http_status": 304, "error": None}
    assert site.requests[-1].headers.get("If-None-Match"), "the re-check is a conditional GET"
    assert (count(store, SnapshotRow), count(store, BlobRow), count(store, FetchRow)) == (1, 1, 2)
    assert count(store, OutcomeRow) == 1, "an unchanged source is not evaluated again"


def test_same_bytes_without_validators_add_a_fetch_row_only(store: Store,
                                                           site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    with store.session() as session:  # as if the server sent no ETag / Last-Modified
        session.scalars(select(SourceRow)).one().validators = {}
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "unchanged" and report.sources[0].http_status == 200
    assert (count(store, SnapshotRow), count(store, BlobRow), count(store, FetchRow)) == (1, 1, 2)


def test_noise_outside_the_region_raises_nothing(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE, "changes: any")
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", page(sidebar="weather", build="b2"))
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "changed", "the bytes did change: a new snapshot"
    assert report.flags == []
    assert count(store, SnapshotRow) == 2


def test_removed_quote_flags_once_and_diff_shows_it(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", page().replace(
        "does not work with any agency on civil immigration enforcement",
        "cooperates with federal partners"))
    report = api.check(store, cfg, everything=True, settings=FAST)
    [flag] = report.flags
    assert (flag.claim, flag.outcome, flag.severity) == ("claim-a", "broken", "high")
    assert flag.reason.startswith("quote no longer found")
    assert flag.factcheck == "fc" and flag.source == "s"
    write(site, "index.html", page(sidebar="other").replace(
        "does not work with any agency on civil immigration enforcement",
        "cooperates with federal partners"))
    again = api.check(store, cfg, everything=True, settings=FAST)
    assert again.flags == [], "the same outcome while its flag is open opens nothing"
    assert [f.id for f in api.flags(store)] == [flag.id]
    d = api.source_diff(store, cfg, "s")
    assert any(line.startswith("-") and "civil immigration" in line for line in d.diff.text)
    assert any(line.startswith("+") and "federal partners" in line for line in d.diff.text)


def test_table_count_change_names_the_added_agency(store: Store, site: SiteServer) -> None:
    rows = ["STATE,LAW ENFORCEMENT AGENCY,SUPPORT TYPE",
            "MINNESOTA,Cass County Sheriff's Office,Task Force Model",
            "MINNESOTA,Crow Wing County Sheriff's Office,Task Force Model",
            "MINNESOTA,Crow Wing County Sheriff's Office,Warrant Service Officer",
            "IOWA,Polk County Sheriff's Office,Task Force Model"]
    write(site, "list.csv", "\n".join(rows))
    cfg = sources_yaml(site.url("list.csv"),
                       "table: {where: {STATE: Minnesota}, count: 2, distinct: LAW ENFORCEMENT "
                       "AGENCY}", source_opts="")
    assert api.check(store, cfg, everything=True, settings=FAST).flags == []
    write(site, "list.csv", "\n".join([*rows, "MINNESOTA,Sherburne County Sheriff's Office,"
                                              "Jail Enforcement Model"]))
    [flag] = api.check(store, cfg, everything=True, settings=FAST).flags
    assert flag.reason == ("rows with STATE=Minnesota: expected 2 distinct LAW ENFORCEMENT "
                              "AGENCY, found 3 (added: Sherburne County Sheriff's Office)")


def test_404_makes_every_item_unreachable_at_once(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE, "absent: rescinded")
    api.check(store, cfg, everything=True, settings=FAST)
    site.status = 404
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error" and report.sources[0].http_status == 404
    assert sorted((f.outcome, f.severity) for f in report.flags) == [
        ("unreachable", "high"), ("unreachable", "high")]
    assert "HTTP 404" in report.flags[0].reason


def test_dead_host_is_unreachable_after_three_failures(store: Store, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = sources_yaml(f"http://127.0.0.1:{port}/gone", QUOTE)
    settings = FetchSettings(user_agent="t", retries=1, backoff_base=0.01, connect_timeout=1)
    for _ in range(2):
        report = api.check(store, cfg, everything=True, settings=settings)
        assert report.sources[0].status == "error" and report.flags == []
        assert "refused" in (report.sources[0].error or "")
    third = api.check(store, cfg, everything=True, settings=settings)
    [flag] = third.flags
    assert flag.outcome == "unreachable" and "3 checks in a row" in flag.reason
    assert count(store, FetchRow) == 6, "every attempt (first try and retry) is recorded"
    assert count(store, SnapshotRow) == 0


def test_a_wrong_quote_is_flagged_on_the_first_check(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), "quote: the sheriff joined ICE task forces")
    [flag] = api.check(store, cfg, everything=True, settings=FAST).flags
    assert (flag.outcome, flag.severity) == ("broken", "high")
    assert api.check(store, cfg, everything=True, settings=FAST).flags == []


def test_unreadable_documents_are_error_outcomes(store: Store, site: SiteServer) -> None:
    write(site, "list.xlsx", b"PK\x03\x04 this is not really a workbook")
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("list.xlsx"), "table: {where: {STATE: MN}, count: 1}",
                       source_opts="")
    [flag] = api.check(store, cfg, everything=True, settings=FAST).flags
    assert (flag.outcome, flag.severity) == ("error", "medium")
    assert "xlsx" in flag.reason
    nothing = sources_yaml(site.url("index.html"), QUOTE, source_opts="    select: '#gone'\n")
    report = api.check(store, nothing, everything=True, settings=FAST)
    assert report.sources[0].error == "select '#gone' matched nothing on the page"


def test_a_quote_after_elements_nested_too_deep_is_an_error_not_removed(
        store: Store, site: SiteServer) -> None:
    """libxml2 stops at its depth limit and keeps the tree so far: the quote after it is cut."""
    def nested(depth: int) -> str:
        return page().replace("<main>", "<main>" + "<div>" * depth + "Notes" + "</div>" * depth)

    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", nested(300))
    assert api.check(store, cfg, everything=True, settings=FAST).flags == [], \
        "300 levels are read whole: the quote is still there"
    write(site, "index.html", nested(3_000))
    report = api.check(store, cfg, everything=True, settings=FAST)
    [flag] = report.flags
    assert (flag.outcome, flag.severity) == ("error", "medium")
    assert "the page cannot be read whole: its elements nest deeper than 2,048 levels" \
        in flag.reason


def test_oversized_and_bomb_responses_are_recorded_errors(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page(extra="x" * 300_000))
    cfg = sources_yaml(site.url("index.html"), QUOTE,
                       source_opts="    select: main\n    max_bytes: 100KB\n")
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error"
    assert "limit" in (report.sources[0].error or "")
    assert count(store, SnapshotRow) == 0


def test_bad_encoding_still_reads_the_page(store: Store, site: SiteServer) -> None:
    body = page(extra="Caf\xe9 owners \xff\xfe said").encode("latin-1")
    write(site, "index.html", body)  # served as utf-8 but is not
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].error is None and report.flags == []


def test_gzip_bomb_is_refused(store: Store, serve: Callable[[Handler], str]) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)

    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(bomb)))
        request.end_headers()
        request.wfile.write(bomb)

    report = api.check(store, sources_yaml(serve(handle), QUOTE), everything=True, settings=FAST)
    assert report.sources[0].status == "error"
    assert "decompression bomb" in (report.sources[0].error or "")
    assert count(store, BlobRow) == 0


def test_a_redirect_to_cloud_metadata_is_a_recorded_failure(
        store: Store, serve: Callable[[Handler], str]) -> None:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        request.send_header("Content-Length", "0")
        request.end_headers()

    report = api.check(store, sources_yaml(serve(handle), QUOTE), everything=True, settings=FAST)
    line = ("redirect to http://169.254.169.254/latest/meta-data/ blocked: 169.254.169.254 is a "
            "cloud metadata address (allow it by listing 169.254.169.254 itself in "
            "defaults.allow_networks)")
    assert (report.sources[0].status, report.sources[0].error) == ("error", line)
    assert count(store, SnapshotRow) == 0 and count(store, BlobRow) == 0
    with store.session() as session:
        assert session.scalars(select(FetchRow.error)).all() == [line]


def test_a_slow_server_is_a_recorded_timeout(store: Store, serve: Callable[[Handler], str]) -> None:
    def handle(request: BaseHTTPRequestHandler) -> None:
        time.sleep(2.5)
        request.send_response(200)
        request.end_headers()

    cfg = sources_yaml(serve(handle), QUOTE, source_opts="    timeout: 1s\n")
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error"
    assert "timed out" in (report.sources[0].error or "")
    with store.session() as session:
        attempt = session.scalars(select(FetchRow)).one()
        assert attempt.error == report.sources[0].error and 900 <= attempt.duration_ms < 2500


def test_a_crash_between_stages_leaves_no_partial_rows(store: Store, site: SiteServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    before = [count(store, m) for m in (FetchRow, SnapshotRow, BlobRow, OutcomeRow, FlagRow)]
    write(site, "index.html", page().replace("does not work with any agency on civil "
                                             "immigration enforcement", "works with ICE"))

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure after snapshot, before evaluation")

    monkeypatch.setattr(evaluate, "evaluate", explode)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error"
    assert "injected failure" in (report.sources[0].error or "")
    after = [count(store, m) for m in (FetchRow, SnapshotRow, BlobRow, OutcomeRow, FlagRow)]
    assert after == before, "the failed check wrote nothing at all"
    monkeypatch.undo()
    redo = api.check(store, cfg, everything=True, settings=FAST)
    assert redo.sources[0].status == "changed"
    assert [f.outcome for f in redo.flags] == ["broken"]


def test_a_crash_in_one_source_costs_only_that_check(store: Store, site: SiteServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks that finish together are recorded in one transaction; a bug while recording one
    of them must still leave the others recorded, and the audit chain intact."""
    names = [f"s{i}" for i in range(6)]
    for name in names:
        write(site, f"{name}.html", page(extra=f"Page {name}."))
    sources = "".join(f"  {n}:\n    url: {site.url(n + '.html')}\n    select: main\n"
                      for n in names)
    items = "".join(f"          - {{source: {n}, {QUOTE}}}\n" for n in names)
    cfg = config.parse(f"version: 1\nsources:\n{sources}factchecks:\n  - id: fc\n"
                       f"    title: T\n    claims:\n      - id: c\n        text: T\n"
                       f"        verdict: Supported\n        evidence:\n{items}")
    real = evaluate.evaluate

    def explode_on_s3(item: config.Evidence, *args: object) -> evaluate.Result:
        if item.source == "s3":
            raise RuntimeError("injected failure in s3")
        return real(item, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate, "evaluate", explode_on_s3)
    with store.session() as session:  # what check.run does, with all six in one batch
        sync_config(session, cfg)
        rows = list(session.scalars(select(SourceRow).order_by(SourceRow.slug)))
        plans = planning.plans(session, cfg, rows, "test-worker")

    async def fetch_all() -> list[recorder.Checked]:
        async with Fetcher(FAST) as fetcher:
            return [recorder.Checked(plan, await fetch_source(
                fetcher, plan.source, url=plan.url, timeout=plan.timeout,
                max_bytes=plan.max_bytes, validators=plan.validators)) for plan in plans]

    reports = recorder.record_batch(store, cfg, asyncio.run(fetch_all()), recorder.QuietRows())
    statuses = {s.source: s.status for s in reports}
    assert statuses == {n: "error" if n == "s3" else "new" for n in names}
    assert "injected failure in s3" in (reports[3].error or "")
    with store.session() as session:
        snapped = set(session.scalars(select(SourceRow.slug).join(
            SnapshotRow, SnapshotRow.source_id == SourceRow.id)))
        assert snapped == set(names) - {"s3"}
        session.execute(update(SourceRow).values(lease_owner=None, lease_until=None))  # as run
    assert api.audit_verify(store).ok
    monkeypatch.undo()
    again = api.check(store, cfg, only=["s3"], settings=FAST)
    assert [(s.source, s.status) for s in again.sources] == [("s3", "new")]


def test_sources_yaml_is_synced_only_when_it_changed(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    with store.session() as session:
        assert sync_config(session, cfg) is False, "the same file again: nothing to sync"
    edited = sources_yaml(site.url("index.html"), QUOTE, "quote: Deputies patrol the county")
    with store.session() as session:
        assert sync_config(session, edited) is True
    with store.session() as session:
        assert sync_config(session, edited) is False
        active = session.scalar(select(func.count()).select_from(EvidenceRow)
                                .where(EvidenceRow.active.is_(True)))
        assert active == 2
    with store.session() as session:  # and back: the older file is a change again
        assert sync_config(session, cfg) is True
    assert count(store, EvidenceRow) == 2


def test_only_due_sources_are_checked_unless_all(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    assert len(api.check(store, cfg, settings=FAST).sources) == 1, "never checked: due"
    assert api.check(store, cfg, settings=FAST).sources == [], "checked just now: not due"
    assert len(api.check(store, cfg, only=["s"], settings=FAST).sources) == 1
    with pytest.raises(api.UsageError):
        api.check(store, cfg, only=["nope"], settings=FAST)


LANDING = '<html><body><main><a href="{name}">Current list</a> {note}</main></body></html>'
ROWS = "STATE,AGENCY\nMINNESOTA,Cass County Sheriff's Office\n"


def test_follow_rechecks_page_and_document_conditionally(store: Store, site: SiteServer) -> None:
    write(site, "287g.html", LANDING.format(name="list-0109.csv", note=""))
    write(site, "list-0109.csv", ROWS)
    cfg = sources_yaml(site.url("287g.html"), "table: {where: {STATE: Minnesota}, count: 1}",
                       source_opts="    follow: \"a[href$='.csv']\"\n")
    first = api.check(store, cfg, everything=True, settings=FAST)
    assert first.sources[0].status == "new" and first.flags == []
    with store.session() as session:
        snapshot = session.scalars(select(SnapshotRow)).one()
        assert snapshot.url.endswith("/list-0109.csv"), "the snapshot is the followed document"
    site.requests.clear()
    again = api.check(store, cfg, everything=True, settings=FAST)
    assert again.sources[0].status == "unchanged"
    assert [r.path for r in site.requests] == ["/robots.txt", "/287g.html", "/list-0109.csv"]
    assert all(r.headers.get("If-None-Match") for r in site.requests[1:])
    write(site, "287g.html", LANDING.format(name="list-0116.csv", note="Updated Jan 16"))
    write(site, "list-0116.csv", ROWS)
    renamed = api.check(store, cfg, everything=True, settings=FAST)
    assert renamed.sources[0].status == "unchanged", "same bytes under a new name"
    assert count(store, SnapshotRow) == 1


def test_follow_without_a_link_is_an_error_outcome(store: Store, site: SiteServer) -> None:
    write(site, "287g.html", LANDING.format(name="list.csv", note=""))
    write(site, "list.csv", ROWS)
    cfg = sources_yaml(site.url("287g.html"), "table: {where: {STATE: Minnesota}, count: 1}",
                       source_opts="    follow: \"a[href$='.csv']\"\n")
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "287g.html", "<html><body><main>The list is being updated.</main></body></html>")
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error" and report.sources[0].snapshot is None
    [flag] = report.flags
    assert (flag.outcome, flag.severity) == ("error", "medium")
    assert "matched no link" in flag.reason
    assert count(store, SnapshotRow) == 1, "the landing page is not stored as the document"


CHALLENGE = ("<html><head><title>Just a moment...</title></head><body>Checking your browser "
             "before accessing the site.<div id='cf-chl-widget'></div></body></html>")
NOT_FOUND = ("<html><head><title>Page not found | Sheriff</title></head><body><main>"
             "Sorry, we can't find that page.</main></body></html>")


def test_a_bot_challenge_is_an_error_not_a_removed_quote(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", CHALLENGE)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error" and "bot challenge" in report.sources[0].error
    [flag] = report.flags
    assert (flag.outcome, flag.severity) == ("error", "medium")
    assert count(store, SnapshotRow) == 1, "a challenge page is never stored as a version"


def test_a_soft_404_is_unreachable_after_three_checks(store: Store, site: SiteServer) -> None:
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", NOT_FOUND)
    for _ in range(2):
        report = api.check(store, cfg, everything=True, settings=FAST)
        assert report.sources[0].status == "error" and report.flags == []
        assert "page not found" in (report.sources[0].error or "")
    [flag] = api.check(store, cfg, everything=True, settings=FAST).flags
    assert flag.outcome == "unreachable" and "3 checks in a row" in flag.reason


def test_flip_flops_resolve_and_reopen_one_flag(store: Store, site: SiteServer) -> None:
    removed = page().replace("does not work with any agency on civil immigration enforcement",
                             "works with federal partners")
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE)
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", removed)
    [flag] = api.check(store, cfg, everything=True, settings=FAST).flags
    write(site, "index.html", page(sidebar="node B"))
    back = api.check(store, cfg, everything=True, settings=FAST)
    assert back.flags == [] and api.flags(store) == []
    [closed] = api.flags(store, include_closed=True)
    assert (closed.id, closed.status) == (flag.id, "resolved-by-source")
    write(site, "index.html", removed.replace("sports", "node A"))
    again = api.check(store, cfg, everything=True, settings=FAST)
    assert again.flags == [], "the swing re-opens the same flag: no new flag, no new alert"
    assert [(f.id, f.status) for f in api.flags(store)] == [(flag.id, "open")]


def test_reopen_window_is_configurable(store: Store, site: SiteServer) -> None:
    removed = page().replace("does not work with any agency on civil immigration enforcement",
                             "works with federal partners")
    write(site, "index.html", page())
    cfg = sources_yaml(site.url("index.html"), QUOTE, defaults="{reopen_within: 1h}")
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "index.html", removed)
    [first] = api.check(store, cfg, everything=True, settings=FAST).flags
    write(site, "index.html", page(sidebar="node B"))
    api.check(store, cfg, everything=True, settings=FAST)
    with store.session() as session:  # resolved long ago
        session.get(FlagRow, first.id).closed_at -= dt.timedelta(days=1)
    write(site, "index.html", removed.replace("sports", "node A"))
    [second] = api.check(store, cfg, everything=True, settings=FAST).flags
    assert second.id != first.id, "outside the window a recurrence is a new flag"


RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Newsroom</title>{items}
</channel></rss>"""


def test_diff_shows_feed_items_and_json_fields(store: Store, site: SiteServer) -> None:
    item = "<item><title>{0}</title><guid>{0}</guid></item>"
    write(site, "feed.xml", RSS.format(items=item.format("Budget hearing")))
    write(site, "case.json", '{"case": {"status": "pending", "entries": 3}}')
    cfg = config.parse(f"""\
version: 1
sources:
  feed: {{url: "{site.url('feed.xml')}"}}
  case: {{url: "{site.url('case.json')}"}}
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
          - {{source: feed, new_items: "(?i)emergency"}}
          - {{source: case, json: {{path: case.status, equals: pending}}}}
""")
    api.check(store, cfg, everything=True, settings=FAST)
    write(site, "feed.xml", RSS.format(items=item.format("Emergency order sought")))
    write(site, "case.json", '{"case": {"entries": 4, "status": "dismissed"}}')
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert sorted(f.source for f in report.flags) == ["case", "feed"]
    feed_diff = api.source_diff(store, cfg, "feed").diff
    assert [i.title for i in feed_diff.items_added] == ["Emergency order sought"]
    assert [i.title for i in feed_diff.items_removed] == ["Budget hearing"]
    json_diff = api.source_diff(store, cfg, "case").diff.text
    assert '-  "status": "pending"' in json_diff and '+  "status": "dismissed"' in json_diff


def test_a_source_robots_txt_disallows_is_a_recorded_error(store: Store,
                                                           site: SiteServer) -> None:
    write(site, "robots.txt", "User-agent: claimwatch\nDisallow: /private/\n")
    (site.root / "private").mkdir()
    write(site, "private/index.html", page())
    cfg = sources_yaml(site.url("private/index.html"), QUOTE)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].status == "error" and "robots.txt" in report.sources[0].error
    [flag] = report.flags
    assert (flag.outcome, flag.severity) == ("error", "medium")
    assert [r.path for r in site.requests] == ["/robots.txt"], "the page was never requested"
    with store.session() as session:
        assert session.scalars(select(FetchRow)).one().error.startswith("robots.txt")
    overridden = sources_yaml(site.url("private/index.html"), QUOTE,
                              source_opts="    select: main\n    obey_robots: false\n")
    assert api.check(store, overridden, everything=True, settings=FAST).sources[0].error is None
