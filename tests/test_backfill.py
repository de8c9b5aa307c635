"""`claimwatch backfill` and `claimwatch timeline` (issue 17): versions from where they are
kept, loaded as archived snapshots from a fact-check's publication day, evaluated in time order
with the live rules, flags dated when the evidence moved; ICE's real 287(g) history replayed."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db import Store, blobs, leases, utcnow
from db.models import BlobRow, FactCheckRow, FetchRow, FlagRow, OutcomeRow, SnapshotRow, SourceRow
from pipeline import api, config
from pipeline.archive_sources import Capture, nearest
from pipeline.archive_sources.directory import Directory, stamp_of
from pipeline.demo.cdx import CdxServer
from pipeline.demo.server import SiteServer
from pipeline.sync import sync_config

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "ice-287g"
SKIP_REAL = ("the real ICE workbooks are not here: ../shared/real/ice-287g is outside the "
             "repository")

ICE = """\
version: 1
sources:
  ice-287g:
    url: https://www.ice.gov/identify-and-arrest/287g
    kind: auto
    follow: "a[href$='.xlsx']"
    every: 1d
factchecks:
  - id: mn-police-ice
    title: Did Minnesota police join ICE
    published: 2025-05-27
    claims:
      - id: six-287g-agencies
        text: Six Minnesota law enforcement agencies have 287(g) agreements with ICE.
        verdict: Supported
        evidence:
          - source: ice-287g
            table: {where: {STATE: Minnesota}, count: 6, distinct: LAW ENFORCEMENT AGENCY}
"""

# the issue's timeline, as `claimwatch timeline` prints it
ICE_TIMELINE = [
    "2025-05-27 holds: 6 distinct LAW ENFORCEMENT AGENCY in 8 rows",
    "2025-06-27 broken: 7 distinct LAW ENFORCEMENT AGENCY in 9 rows (added: Mille Lacs County "
    "Sheriff's Office)",
    "2025-07-12 still broken, rows changed: removed: MINNESOTA | Jackson County Sheriff's "
    "Office | County | Jackson County | Jail Enforcement Model | 2025-03-07 | link "
    "(7 distinct LAW ENFORCEMENT AGENCY in 8 rows)",
]


def counts(store: Store) -> tuple[int, int, int]:
    with store.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))  # type: ignore
                     for model in (SnapshotRow, OutcomeRow, FlagRow))


@pytest.mark.skipif(not REAL.is_dir(), reason=SKIP_REAL)
def test_ice_s_real_history_replays_to_the_issue_s_timeline(store: Store) -> None:
    """21 daily copies of ICE's workbook, read in place as a directory of dated copies: the
    copy of the publication day is the baseline; Mille Lacs County's addition breaks the count
    on 2025-06-27 (one flag, dated then); Jackson County's second row goes on 2025-07-12; an
    MOA cell filled in (`link pending` → `link`, 2025-07-02) moves nothing."""
    cfg = config.parse(ICE)
    report = api.backfill(store, cfg, "mn-police-ice", where=str(REAL))
    [done] = report.sources
    assert (done.captures, done.baseline) == (21, dt.datetime(2025, 5, 27, 15, 18, 13))
    assert done.loaded + done.same == 18 and not done.errors, "from the baseline on"
    [flag] = done.flags
    assert (flag.outcome, flag.opened_at) == ("broken", dt.datetime(2025, 6, 27, 15, 17, 25))
    assert "added: Mille Lacs County Sheriff's Office" in flag.reason
    found = api.timeline(store, "six-287g-agencies", config=cfg)
    [item] = found.items
    assert [m.line for m in item.moments] == ICE_TIMELINE
    assert all(m.archived for m in item.moments)
    assert [m.count for m in item.moments] == [6, 7, 7]
    with store.session() as session:
        snapshots = list(session.scalars(select(SnapshotRow).order_by(SnapshotRow.fetched_at)))
        source = session.scalars(select(SourceRow)).one()
        assert all(s.archived_at is not None and s.archive_url.startswith("file://")
                   for s in snapshots)
        assert source.latest_snapshot_id == snapshots[-1].id, "the newest version known"
        assert source.next_check_at is None and source.last_checked_at is None, \
            "the live schedule is not touched"
        alert_flag = session.scalars(select(FlagRow)).one()
        assert alert_flag.status == "open"

    report = api.report(store, "mn-police-ice", "md", config=cfg)
    assert "As published (2025-05-27): holds: 6 distinct LAW ENFORCEMENT AGENCY in 8 rows" \
        in report
    assert "Now: still broken, rows changed: removed: MINNESOTA " in report
    assert "(since 2025-07-12)" in report
    before = counts(store)
    again = api.backfill(store, cfg, "mn-police-ice", where=str(REAL))
    assert (again.sources[0].loaded, again.sources[0].flags) == (0, [])
    assert counts(store) == before, "a re-run adds nothing twice"
    assert [m.line for m in api.timeline(store, "six-287g-agencies", config=cfg)
            .items[0].moments] == ICE_TIMELINE


PAGE = "<html><body><main><p>{}</p></main></body></html>"
QUOTED = """\
version: 1
sources:
  page:
    url: http://127.0.0.1:9/page
    kind: html
    select: main
factchecks:
  - id: fc
    title: T
    published: 2025-03-10
    claims:
      - id: c
        text: t
        verdict: Supported
        evidence:
          - {source: page, quote: the council approved the budget}
"""


def dated(directory: Path, versions: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, words in versions.items():
        (directory / name).write_text(PAGE.format(words))


def test_a_directory_of_dated_copies_gives_dated_flags(store: Store, tmp_path: Path) -> None:
    """Copies named by their time; the one nearest the publication day is the baseline (the
    older ones are not loaded); a quote reworded, then restored, then gone: flags dated at the
    capture, one open flag per outcome, resolved by the source as a live check does."""
    dated(tmp_path / "copies" / "page", {
        "2025-02-01.html": "The council approved the budget on Monday.",
        "2025-03-09T08:00:00Z.html": "The council approved the budget on Monday.",
        "20250401T120000Z.html": "The council approved the budget on Monday. Updated.",
        "2025-04-02.html": "The council approved the budget on Monday. Updated.",
        "2025-05-01.html": "The council rejected the budget.",
        "2025-06-01.html": "The council approved the budget on Monday.",
        "notes.txt": "no date here",
    })
    cfg = config.parse(QUOTED)
    report = api.backfill(store, cfg, "fc", where=str(tmp_path / "copies"))
    [done] = report.sources
    assert done.captures == 5 and done.baseline == dt.datetime(2025, 3, 9, 8)
    assert (done.loaded, done.same, done.already) == (4, 1, 0), done
    [flag] = done.flags
    assert (flag.outcome, f"{flag.opened_at:%Y-%m-%d}") == ("broken", "2025-05-01")
    assert [f.status for f in api.flags(store, include_closed=True)] == ["resolved-by-source"]
    lines = [m.line for m in api.timeline(store, "c", config=cfg).items[0].moments]
    assert [line[:17] for line in lines] == ["2025-03-09 holds:", "2025-05-01 broken",
                                             "2025-06-01 holds:"]
    assert "quote no longer found" in lines[1]
    report = api.report(store, "fc", "md", config=cfg)
    assert "As published (2025-03-09): holds: quote found" in report
    assert "(since 2025-06-01)" in report
    html = api.report(store, "fc", "html", config=cfg)
    assert "<dt>As published (2025-03-09)</dt>" in html and "<dt>Now (since 2025-06-01)</dt>" \
        in html


def test_a_loaded_version_is_stored_on_the_version_before_it(store: Store,
                                                             tmp_path: Path) -> None:
    """As live checks store them: each version after the first a delta on the one before."""
    rng = random.Random(4)
    text = " ".join(f"{rng.getrandbits(30):x}" for _ in range(4000))  # ~35 KB zstd can't shrink
    dated(tmp_path / "copies" / "page", {
        f"2025-03-{day:02d}.html": f"The council approved the budget. {n} {text}"
        for n, day in enumerate((9, 12, 15))})
    api.backfill(store, config.parse(QUOTED), "fc", where=str(tmp_path / "copies"))
    with store.session() as session:
        rows = session.execute(select(BlobRow.sha256, BlobRow.base_sha256, BlobRow.size,
                                      func.length(BlobRow.data))
                               .join(SnapshotRow, SnapshotRow.blob_sha256 == BlobRow.sha256)
                               .order_by(SnapshotRow.fetched_at)).all()
        bodies = [blobs.get(session, row.sha256) for row in rows]
    assert [row.base_sha256 for row in rows] == [None, rows[0].sha256, rows[1].sha256]
    assert all(row[3] < row.size / 20 for row in rows[1:])
    assert [blobs.digest(body) for body in bodies] == [row.sha256 for row in rows]


def test_a_git_repository_s_commits_are_the_captures(store: Store, tmp_path: Path) -> None:
    """Git scraping: one file, one commit per capture, at the commit's time."""
    repo = tmp_path / "scraped"
    repo.mkdir()

    def commit(words: str, when: str) -> None:
        (repo / "page.html").write_text(PAGE.format(words))
        env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "HOME": str(tmp_path),
               "GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@x", "GIT_COMMITTER_NAME": "s",
               "GIT_COMMITTER_EMAIL": "s@x", "PATH": "/usr/bin:/bin"}
        subprocess.run(["git", "-C", str(repo), "add", "page.html"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", "scrape"], check=True, env=env)

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit("The council approved the budget.", "2025-03-10T09:00:00Z")
    commit("The council delayed the vote.", "2025-04-15T09:00:00Z")
    cfg = config.parse(QUOTED)
    [done] = api.backfill(store, cfg, "fc", where=str(repo)).sources
    assert (done.captures, done.loaded, done.baseline) == (2, 2, dt.datetime(2025, 3, 10, 9))
    assert [f"{f.opened_at:%Y-%m-%d}" for f in done.flags] == ["2025-04-15"]
    with store.session() as session:
        urls = list(session.scalars(select(SnapshotRow.archive_url)))
    assert all(u.startswith("git:") and u.endswith(":page.html") for u in urls)


def test_backfill_needs_a_publication_day_and_a_place(store: Store, tmp_path: Path) -> None:
    cfg = config.parse(QUOTED.replace("    published: 2025-03-10\n", ""))
    with pytest.raises(api.UsageError, match="no `published:` day"):
        api.backfill(store, cfg, "fc", where=str(tmp_path))
    with pytest.raises(api.UsageError, match="neither `cdx`, a directory nor a file") as err:
        api.backfill(store, config.parse(QUOTED), "fc", where=str(tmp_path / "nowhere"))
    assert err.value.field == "from"
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(FetchRow)) == 0


def test_file_names_and_the_nearest_capture() -> None:
    assert stamp_of("20250519T024922Z-participatingAgencies05162025am.xlsx") == \
        dt.datetime(2025, 5, 19, 2, 49, 22)
    assert stamp_of("20250519151802.html") == dt.datetime(2025, 5, 19, 15, 18, 2)
    assert stamp_of("2025-05-19.csv") == dt.datetime(2025, 5, 19)
    assert stamp_of("page-2025-13-40.html") is None and stamp_of("index.html") is None
    days = [Capture(dt.datetime(2025, 5, d, h), "u", f"a{d}") for d, h in [(20, 15), (27, 15),
                                                                        (28, 1)]]
    assert nearest(days, dt.date(2025, 5, 27)) == 1
    assert nearest(days, dt.date(2025, 5, 1)) == 0


def test_the_real_workbooks_copied_read_the_same(tmp_path: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(SKIP_REAL)
    copy = tmp_path / "ice"
    shutil.copytree(REAL, copy)
    listed = Directory(copy, "https://www.ice.gov/x").captures(
        "https://www.ice.gov/x", dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1))
    assert len(listed) == 21 and listed[0].content_type.endswith("spreadsheetml.sheet")


def test_a_backfilled_flag_s_alert_says_since_when(store: Store, tmp_path: Path) -> None:
    """The alert of a flag raised on an archived version carries where it was kept, and its
    message says since when the evidence moved."""
    from alerts.message import alert_message
    from db.models import AlertRow
    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget on Monday.",
        "2025-06-21T09:30:00Z.html": "The council rejected the budget.",
    })
    cfg = config.parse(QUOTED + 'alerts:\n  - to: "file:' + str(tmp_path / "a.jsonl") + '"\n')
    api.backfill(store, cfg, "fc", where=str(tmp_path / "copies"))
    with store.session() as session:
        [alert] = session.scalars(select(AlertRow))
        payload = alert.payload
    assert payload["flag"]["opened_at"] == "2025-06-21T09:30:00Z"
    assert payload["snapshot"]["archive_url"].endswith("2025-06-21T09%3A30%3A00Z.html")
    assert "(since 2025-06-21)" in alert_message(payload).text


def test_backfill_alerts_only_what_is_still_open_at_its_end(store: Store,
                                                             tmp_path: Path) -> None:
    """A replay where one item's flag opens then resolves, another's opens and stays open: one
    alert, for the open one, saying since when; the resolved one is history only (timeline,
    audit log), and a re-run alerts nothing again."""
    from alerts.message import alert_message
    from db.models import AlertRow
    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget. The mayor signed it.",
        "2025-04-02.html": "The council rejected the budget. The mayor signed it.",
        "2025-05-03.html": "The council approved the budget. The mayor vetoed it.",
    })
    two = QUOTED.replace("          - {source: page, quote: the council approved the budget}\n",
                         "          - {source: page, quote: the council approved the budget}\n"
                         "          - {source: page, quote: the mayor signed it}\n")
    cfg = config.parse(two + 'alerts:\n  - to: "file:' + str(tmp_path / "a.jsonl") + '"\n')
    report = api.backfill(store, cfg, "fc", where=str(tmp_path / "copies"))
    opened = [(f"{f.opened_at:%Y-%m-%d}", f.id) for f in report.sources[0].flags]
    assert [day for day, _id in opened] == ["2025-04-02", "2025-05-03"]
    statuses = {f.id: f.status for f in api.flags(store, include_closed=True)}
    assert list(statuses.values()) == ["resolved-by-source", "open"]
    still_open = opened[1][1]
    assert report.alerted == [still_open] and report.to_json()["alerted"] == [still_open]
    with store.session() as session:
        alerts = list(session.scalars(select(AlertRow)))
        [payload] = [a.payload for a in alerts]
        assert [a.flag_id for a in alerts] == [still_open]
    assert "(since 2025-05-03)" in alert_message(payload).text
    assert [m.line[:17] for m in api.timeline(store, "c", config=cfg).items[0].moments] == [
        "2025-03-10 holds:", "2025-04-02 broken", "2025-05-03 holds:"], "history kept"
    again = api.backfill(store, cfg, "fc", where=str(tmp_path / "copies"))
    assert again.alerted == []
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(AlertRow)) == 1


def html(words: str) -> tuple[int, bytes, str]:
    """A capture the CDX stand-in serves: a page with these words."""
    return 200, PAGE.format(words).encode(), "text/html; charset=utf-8"


def test_the_internet_archive_s_cdx_api_through_a_loopback_stand_in(store: Store) -> None:
    """Captures listed by CDX between the two dates, each read in its `id_` form from the
    configured server only (a capture's row never decides where claimwatch connects), through
    claimwatch's fetcher (its User-Agent, robots.txt); a capture the archive fails to serve is
    recorded as a failed attempt and reported, and the others go on."""
    from pipeline.fetch import FetchSettings
    url = "http://127.0.0.1:9/page"
    server = CdxServer({
        "20250101000000": html("too early"),
        "20250310090000": html("The council approved the budget."),
        "20250402120000": (503, b"busy", "text/plain"),
        "20250621093000": html("The council rejected the budget."),
    }, url)
    try:
        cfg = config.parse(QUOTED)
        report = api.backfill(store, cfg, "fc", where="cdx",
                              cdx_url=f"{server.base}/cdx/search/cdx",
                              settings=FetchSettings(user_agent="cw-test", retries=0,
                                                     host_delay=0))
    finally:
        server.close()
    [done] = report.sources
    assert (done.captures, done.loaded, done.baseline) == (3, 2, dt.datetime(2025, 3, 10, 9))
    assert len(done.errors) == 1 and "20250402120000id_/" in done.errors[0] \
        and "503" in done.errors[0]
    assert [f"{f.opened_at:%Y-%m-%d}" for f in done.flags] == ["2025-06-21"]
    paths = [p for p, _ua in server.requests if p != "/robots.txt"]
    assert paths[0].startswith("/cdx/search/cdx?url=http%3A%2F%2F127.0.0.1%3A9%2Fpage&from=")
    assert paths[1:] == [f"/web/{ts}id_/{url}" for ts in
                         ("20250310090000", "20250402120000", "20250621093000")]
    assert {ua for _p, ua in server.requests} == {"cw-test"}
    with store.session() as session:
        failed = session.scalars(select(FetchRow).where(FetchRow.error.is_not(None))).one()
        assert failed.status == 503 and failed.url.endswith(f"20250402120000id_/{url}")
        archived = list(session.scalars(select(SnapshotRow.archive_url)
                                        .order_by(SnapshotRow.fetched_at)))
    assert archived == [f"{server.base}/web/20250310090000id_/{url}",
                        f"{server.base}/web/20250621093000id_/{url}"]


def test_an_archive_that_cannot_list_a_source_s_captures_leaves_its_backfill_failed(
        store: Store, db_url: str, tmp_path: Path) -> None:
    """The archive is down when a fact-check is backfilled: nothing of the source could be
    loaded, so the backfill ends `failed`, naming the source and why, not `finished` (its
    publication-day baseline would otherwise be lost without a word), and `claimwatch
    backfill` says so and exits 1; run again once the archive answers, it loads the versions
    and is finished."""
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.fetch import FetchSettings
    url = "http://127.0.0.1:9/page"
    server = CdxServer({"20250310090000": html("The council approved the budget."),
                        "20250621093000": html("The council rejected the budget.")}, url)
    cfg = config.parse(QUOTED)
    kw = {"where": "cdx", "cdx_url": server.cdx_url,
          "settings": FetchSettings(user_agent="cw-test", retries=0, host_delay=0)}
    try:
        server.down = 503
        report = api.backfill(store, cfg, "fc", **kw)
        [done] = report.sources
        assert (done.captures, done.loaded) == (0, 0) and done.unlisted is not None
        assert "503" in done.unlisted and done.errors == [done.unlisted]
        why = f"the captures of a source could not be listed: page: {done.unlisted}"
        [state] = api.status(store, cfg)["backfills"]
        assert (state["state"], state["error"], report.error) == ("failed", why, why)

        server.down = 403  # refused (not retried): as the command says it
        sources = tmp_path / "sources.yaml"
        sources.write_text(QUOTED)
        ran = CliRunner().invoke(cli, ["--sources", str(sources), "--db", db_url, "backfill",
                                       "fc", "--from", "cdx", "--cdx-url", server.cdx_url])
        assert ran.exit_code == 1, ran.output
        assert ran.output.endswith(" (run it again once the archive answers)\n")
        assert "  failed: the captures of a source could not be listed: page: " in ran.output

        server.down = 0
        [done] = api.backfill(store, cfg, "fc", **kw).sources
    finally:
        server.close()
    assert (done.captures, done.loaded, done.unlisted) == (2, 2, None)
    [state] = api.status(store, cfg)["backfills"]
    assert (state["state"], state["error"]) == ("finished", None)


@pytest.mark.parametrize("form", ["warc", "wacz"])
def test_claimwatch_s_own_warc_and_wacz_read_back(store: Store, tmp_path: Path,
                                                 form: str) -> None:
    """What `export-warc` / `export-wacz` write is a place versions are kept: backfilled into
    another database it gives the same timeline."""
    from db import open_store
    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget on Monday.",
        "2025-04-02.html": "The council approved the budget on Monday, after a debate.",
        "2025-06-21T09:30:00Z.html": "The council rejected the budget.",
    })
    cfg = config.parse(QUOTED)
    api.backfill(store, cfg, "fc", where=str(tmp_path / "copies"))
    out = tmp_path / f"fc.{'warc.gz' if form == 'warc' else 'wacz'}"
    if form == "warc":
        api.export_warc(store, out, factcheck="fc")
    else:
        api.export_wacz(store, out, factcheck="fc")
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        [done] = api.backfill(other, cfg, "fc", where=str(out)).sources
        assert (done.captures, done.loaded, done.errors) == (3, 3, [])
        assert [f"{f.opened_at:%Y-%m-%d}" for f in done.flags] == ["2025-06-21"]
        theirs = [m.line for m in api.timeline(other, "c", config=cfg).items[0].moments]
        with other.session() as session:
            urls = list(session.scalars(select(SnapshotRow.archive_url)))
    finally:
        other.close()
    ours = [m.line for m in api.timeline(store, "c", config=cfg).items[0].moments]
    assert theirs == ours and len(ours) == 2
    assert all(u.startswith(out.resolve().as_uri() + "#") for u in urls)


def test_another_tool_s_warc_by_target_uri(tmp_path: Path) -> None:
    """A WARC written elsewhere: the source's captures are its 2xx responses for the source's
    URL, at their WARC-Date; other URLs, errors and requests are not versions."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from pipeline.archive_sources.warc_file import WarcFile
    path = tmp_path / "crawl.warc.gz"
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, status, when, body in [
                ("http://127.0.0.1:9/page", "200 OK", "2025-03-10T09:00:00.123Z", b"<p>one</p>"),
                ("http://127.0.0.1:9/other", "200 OK", "2025-03-11T09:00:00Z", b"<p>x</p>"),
                ("http://127.0.0.1:9/page", "404 Not Found", "2025-03-12T09:00:00Z", b"gone"),
                ("http://127.0.0.1:9/page", "200 OK", "2025-04-01T00:00:00Z", b"<p>two</p>")]:
            http = StatusAndHeaders(status, [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": when}))
            request = io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")
            writer.write_record(writer.create_warc_record(url, "request", payload=request))
    kept = WarcFile(path, config.parse(QUOTED).sources["page"], "page")
    found = kept.captures("http://127.0.0.1:9/page", dt.datetime(2025, 1, 1),
                          dt.datetime(2026, 1, 1))
    assert [(c.captured_at, c.content_type) for c in found] == [
        (dt.datetime(2025, 3, 10, 9), "text/html"), (dt.datetime(2025, 4, 1), "text/html")]
    assert [kept.read(c).body for c in found] == [b"<p>one</p>", b"<p>two</p>"]


def test_live_checks_go_on_from_the_backfilled_history(store: Store, site: SiteServer,
                                                      tmp_path: Path) -> None:
    """After a backfill, a live check of the same bytes is unchanged and opens nothing new;
    a later live change flags as it always did, now dated now."""
    from tests.test_check import FAST
    url = f"{site.base_url}/page.html"
    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget on Monday.",
        "2025-06-21.html": "The council rejected the budget.",
    })
    cfg = config.parse(QUOTED.replace("http://127.0.0.1:9/page", url))
    api.backfill(store, cfg, "fc", where=str(tmp_path / "copies"))
    (site.root / "page.html").write_text(PAGE.format("The council rejected the budget."))
    first = api.check(store, cfg, everything=True, settings=FAST)
    assert [(s.status, s.flags) for s in first.sources] == [("unchanged", [])]
    (site.root / "page.html").write_text(PAGE.format("The council approved the budget."))
    second = api.check(store, cfg, everything=True, settings=FAST)
    assert second.sources[0].status == "changed"
    [flag] = api.flags(store, include_closed=True)
    assert (flag.status, f"{flag.opened_at:%Y-%m-%d}") == ("resolved-by-source", "2025-06-21")


def test_a_cdx_re_run_asks_the_archive_for_no_capture_again(store: Store) -> None:
    """Politeness: a capture already loaded is not downloaded again (only the listing is)."""
    from pipeline.fetch import FetchSettings
    url = "http://127.0.0.1:9/page"
    server = CdxServer({
        "20250310090000": html("The council approved the budget."),
        "20250621093000": html("The council rejected the budget."),
    }, url)
    fast = FetchSettings(user_agent="cw-test", retries=0, host_delay=0)
    try:
        cfg = config.parse(QUOTED)
        kw = {"where": "cdx", "cdx_url": f"{server.base}/cdx/search/cdx", "settings": fast}
        api.backfill(store, cfg, "fc", **kw)  # type: ignore[arg-type]
        before = len(server.requests)
        [done] = api.backfill(store, cfg, "fc", **kw).sources  # type: ignore[arg-type]
    finally:
        server.close()
    assert (done.already, done.loaded) == (2, 0)
    assert [p for p, _ua in server.requests[before:] if p != "/robots.txt"][0].startswith(
        "/cdx/search/cdx?") and len([p for p, _ in server.requests[before:]
                                     if p.startswith("/web/")]) == 0


def test_a_follow_source_follows_the_archived_page_s_link_in_the_archive(
        store: Store) -> None:
    """ICE's case: the archived landing page links the list under a new name each time; the
    link is followed in the archive at the page's time, on the archive's host only."""
    from pipeline.fetch import FetchSettings
    url = "http://127.0.0.1:9/287g"
    landing = "<html><body><a href='/files/list-{}.csv'>the list</a></body></html>"
    rows = "STATE,AGENCY\nMINNESOTA,A\nMINNESOTA,B\n"
    server = CdxServer({
        "20250527120000": (200, landing.format("0523").encode(), "text/html"),
        "20250527120000 http://127.0.0.1:9/files/list-0523.csv": (200, rows.encode(),
                                                                  "text/csv"),
        "20250627120000": (200, landing.format("0627").encode(), "text/html"),
        "20250627120000 http://127.0.0.1:9/files/list-0627.csv": (
            200, (rows + "MINNESOTA,C\n").encode(), "text/csv"),
    }, url)
    cfg = config.parse(f"""\
version: 1
sources:
  list: {{url: "{url}", kind: auto, follow: "a[href$='.csv']"}}
factchecks:
  - id: fc
    title: T
    published: 2025-05-27
    claims:
      - id: c
        text: t
        verdict: Supported
        evidence:
          - source: list
            table: {{where: {{STATE: Minnesota}}, count: 2, distinct: AGENCY}}
""")
    try:
        [done] = api.backfill(store, cfg, "fc", where="cdx", cdx_url=server.cdx_url,
                              settings=FetchSettings(user_agent="t", retries=0,
                                                     host_delay=0)).sources
    finally:
        server.close()
    assert (done.loaded, done.errors) == (2, [])
    assert [f"{f.opened_at:%Y-%m-%d} {f.outcome}" for f in done.flags] == ["2025-06-27 broken"]
    assert "added: C" in done.flags[0].reason
    with store.session() as session:
        urls = list(session.scalars(select(SnapshotRow.url).order_by(SnapshotRow.fetched_at)))
    assert urls == ["http://127.0.0.1:9/files/list-0523.csv",
                    "http://127.0.0.1:9/files/list-0627.csv"]
    assert [p for p, _ua in server.requests if "list-" in p] == [
        "/web/20250527120000id_/http://127.0.0.1:9/files/list-0523.csv",
        "/web/20250627120000id_/http://127.0.0.1:9/files/list-0627.csv"]


def test_the_first_check_backfills_when_the_desk_turns_it_on(store: Store, site: SiteServer,
                                                             tmp_path: Path) -> None:
    """`defaults.backfill_from`: a fact-check with `published:` that was never checked is
    backfilled before its first live check; the next check does not backfill again."""
    from tests.test_check import FAST
    url = f"{site.base_url}/page.html"
    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget on Monday.",
        "2025-06-21.html": "The council rejected the budget.",
    })
    (site.root / "page.html").write_text(PAGE.format("The council rejected the budget."))
    text = QUOTED.replace("http://127.0.0.1:9/page", url)
    off = api.check(store, config.parse(text), everything=True, settings=FAST)
    assert off.backfills == [] and [f.opened_at.year for f in off.flags] == [dt.date.today().year]
    report = api.report(store, "fc", "md", config=config.parse(text))
    assert f"First checked ({dt.datetime.now(dt.UTC):%Y-%m-%d}): broken" in report, \
        "months after publication, a first check is not how it stood as published"
    other = Path(str(tmp_path / "other.db"))
    from db import open_store
    fresh = open_store(f"sqlite:///{other}")
    try:
        cfg = config.parse(text + f"defaults: {{backfill_from: '{tmp_path / 'copies'}'}}\n")
        first = api.check(fresh, cfg, everything=True, settings=FAST)
        [done] = first.backfills
        assert [f"{f.opened_at:%Y-%m-%d}" for f in done.sources[0].flags] == ["2025-06-21"]
        assert [(s.status, s.flags) for s in first.sources] == [("unchanged", [])]
        again = api.check(fresh, cfg, everything=True, settings=FAST)
        assert again.backfills == []
    finally:
        fresh.close()


def marks(store: Store, factcheck: str = "fc") -> tuple[bool, bool]:
    """Whether a worker (a daemon, a `check`) started the fact-check's backfill, and whether
    one finished it."""
    with store.session() as session:
        row = session.scalars(select(FactCheckRow).where(FactCheckRow.slug == factcheck)).one()
        return row.backfill_started_at is not None, row.backfill_finished_at is not None


# a quote that holds, breaks, then holds again
THREE = {"2025-03-10.html": "The council approved the budget on Monday.",
         "2025-04-01.html": "The council rejected the budget.",
         "2025-05-01.html": "The council approved the budget on Monday."}


def backfilling(site: SiteServer, tmp_path: Path, versions: dict[str, str], live: str
                ) -> tuple[Path, config.Config]:
    """`QUOTED` on the loopback site's page (which now says `live`), with
    `defaults.backfill_from` a directory of these dated copies (returned, with the config)."""
    copies = tmp_path / "copies"
    dated(copies, versions)
    (site.root / "page.html").write_text(PAGE.format(live))
    return copies, config.parse(
        QUOTED.replace("http://127.0.0.1:9/page", f"{site.base_url}/page.html")
        + f"defaults: {{backfill_from: '{copies}'}}\n")


def backfill_state(store: Store, cfg: config.Config, factcheck: str = "fc") -> str | None:
    """Where the fact-check's backfill stands, as `claimwatch status --json` says it."""
    return next((b["state"] for b in api.status(store, cfg)["backfills"]
                 if b["factcheck"] == factcheck), None)


def test_a_daemon_s_backfill_stopped_after_its_baseline_awaits_the_rest(
        store: Store, site: SiteServer, tmp_path: Path) -> None:
    """What awaits a backfill is kept on the fact-check's row: a daemon's claim marks it
    started, so stopped after its baseline (its item evaluated) it still awaits one, its source
    held back from live checks; the next backfill loads only the rest, then its end marks it
    finished and live checks take over."""
    from pipeline import backfill as backfill_stage
    from tests.test_check import FAST
    copies, cfg = backfilling(site, tmp_path, THREE, "The council approved the budget.")

    def held_back() -> list[str]:
        with store.session() as session:
            return list(session.scalars(select(SourceRow.slug).where(backfill_stage.awaiting())))

    with store.session() as session:  # as a check or a daemon does first
        sync_config(session, cfg)
    assert backfill_state(store, cfg) == "awaiting" and held_back() == ["page"]
    claimed = backfill_stage.claim_waiting(store, cfg, "daemon", lease=dt.timedelta(minutes=1))
    assert claimed is not None and claimed.factcheck == "fc" and marks(store) == (True, False)
    assert backfill_stage.claim_waiting(store, cfg, "other", lease=dt.timedelta(minutes=1)) \
        is None, "its source is leased to the first"

    class Stopped(Exception):
        pass

    def stop_after_two(_source: str, done: object) -> None:
        if counts(store)[0] == 2:
            raise Stopped

    with pytest.raises(Stopped):
        api.backfill(store, cfg, "fc", where=str(copies), on_version=stop_after_two)
    assert backfill_state(store, cfg) == "in-progress"
    meanwhile = api.check(store, cfg, everything=True, settings=FAST)
    assert (meanwhile.backfills, meanwhile.sources, meanwhile.busy) == ([], [], ["page"]), \
        "`check` leaves it to the daemon on it"
    with store.session() as session:  # as the stopping daemon does
        leases.release(session, "daemon", claimed.source_ids)
    assert marks(store) == (True, False)
    assert backfill_state(store, cfg) == "interrupted" and held_back() == ["page"], \
        "evaluated from its baseline on, but not finished: the rest is awaited"
    resumed = api.check(store, cfg, everything=True, settings=FAST)
    [done] = resumed.backfills[0].sources
    assert (done.loaded, done.already) == (1, 2)
    assert [s.status for s in resumed.sources] == ["changed"], "the live check came after"
    assert marks(store) == (True, True)
    assert backfill_state(store, cfg) == "finished" and held_back() == []
    assert api.check(store, cfg, everything=True, settings=FAST).backfills == []


class Interrupted(BaseException):
    """A `check` stopped in the middle (as Ctrl-C's KeyboardInterrupt: nothing catches it)."""


def leased(store: Store) -> list[str]:
    """The sources some worker holds now."""
    with store.session() as session:
        return list(session.scalars(select(SourceRow.slug).where(
            SourceRow.lease_owner.is_not(None))))


def test_a_cron_check_stopped_after_the_baseline_is_resumed_by_the_next_check(
        store: Store, site: SiteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`claimwatch check` takes a backfill as a daemon does (its sources leased, the fact-check
    marked started): stopped once the baseline was loaded (its item evaluated, the later versions
    not), it lets its leases go, and the next `check` loads the rest, skipping the baseline,
    before the page's first live check; the history has no hole."""
    from tests.test_check import FAST
    _copies, cfg = backfilling(site, tmp_path, THREE, "The council rejected the budget.")
    read = Directory.read

    def stopped_after_the_baseline(kept: Directory, capture: Capture) -> object:
        if capture.captured_at > dt.datetime(2025, 3, 10):
            raise Interrupted
        return read(kept, capture)

    monkeypatch.setattr(Directory, "read", stopped_after_the_baseline)
    with pytest.raises(Interrupted):
        api.check(store, cfg, everything=True, settings=FAST)
    monkeypatch.undo()
    assert counts(store)[:2] == (1, 1), "the baseline was loaded and its item evaluated"
    assert leased(store) == [], "the stopped check let its leases go"

    resumed = api.check(store, cfg, everything=True, settings=FAST)
    [done] = [s for report in resumed.backfills for s in report.sources]
    assert (done.loaded, done.already) == (2, 1), "the rest of the backfill, not the baseline"
    assert [s.status for s in resumed.sources] == ["changed"], "then the live check"
    assert [m.line[:18] for m in api.timeline(store, "c", config=cfg).items[0].moments] == [
        "2025-03-10 holds: ", "2025-04-01 broken:", "2025-05-01 holds: ",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d} broken:"], "no hole in the history"
    assert marks(store) == (True, True) and leased(store) == []
    assert api.check(store, cfg, everything=True, settings=FAST).backfills == []


def test_two_cron_checks_started_together_backfill_a_fact_check_once(
        store: Store, site: SiteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `claimwatch check`s at once (cron, and someone by hand): the first takes the
    backfill; the second, started while the first reads the archive, finds the source busy and
    leaves it, neither backfilling it nor checking it live before the backfill ends."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tests.test_check import FAST
    two = dict(list(THREE.items())[:2])
    _copies, cfg = backfilling(site, tmp_path, two, "The council rejected the budget.")
    reading, go_on = threading.Event(), threading.Event()
    read = Directory.read

    def first_read_waits(kept: Directory, capture: Capture) -> object:
        if not reading.is_set():  # the first check's first capture: wait for the second check
            reading.set()
            assert go_on.wait(60)
        return read(kept, capture)

    monkeypatch.setattr(Directory, "read", first_read_waits)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(api.check, store, cfg, everything=True, settings=FAST)
        try:
            assert reading.wait(60), "the first check reads the archive"
            second = api.check(store, cfg, everything=True, settings=FAST)
        finally:
            go_on.set()
        first = running.result(timeout=120)
    assert (second.backfills, second.sources, second.busy) == ([], [], ["page"])
    [done] = [s for report in first.backfills for s in report.sources]
    assert (done.loaded, done.already) == (2, 0)
    assert [s.status for s in first.sources] == ["unchanged"], "the live check came after"
    assert counts(store)[0] == 2 and marks(store) == (True, True) and leased(store) == []


def test_only_a_whole_backfill_finishes_and_an_evaluated_fact_check_awaits_none(
        store: Store, site: SiteServer, tmp_path: Path) -> None:
    """`claimwatch backfill FACTCHECK` marks the fact-check's backfill finished (`--source`, one
    of several, does not); a fact-check evaluated without either mark (checked before the
    desk turned `backfill_from` on, or before the marks existed) awaits no backfill."""
    from tests.test_check import FAST
    copies = tmp_path / "copies"
    dated(copies, {"2025-03-10.html": "The council approved the budget on Monday."})
    two = QUOTED.replace("  page:\n", f"  other: {{url: '{site.base_url}/other.html', "
                                      "select: main}\n  page:\n") \
        + "          - {source: other, quote: the council approved the budget}\n"
    cfg = config.parse(two)
    api.backfill(store, cfg, "fc", where=str(copies), source="page")
    assert marks(store) == (False, False)
    api.backfill(store, cfg, "fc", where=str(copies))
    assert marks(store) == (False, True)

    (site.root / "page.html").write_text(PAGE.format("The council approved the budget."))
    plain = QUOTED.replace("id: fc\n", "id: fc2\n").replace("id: c\n", "id: c2\n") \
        .replace("http://127.0.0.1:9/page", f"{site.base_url}/page.html")
    api.check(store, config.parse(plain), everything=True, settings=FAST)
    assert marks(store, "fc2") == (False, False)
    turned_on = config.parse(plain + f"defaults: {{backfill_from: '{copies}'}}\n")
    assert backfill_state(store, turned_on, "fc2") is None
    assert api.check(store, turned_on, everything=True, settings=FAST).backfills == []


def test_the_commands(tmp_path: Path) -> None:
    """`claimwatch backfill` and `claimwatch timeline`, through the command line."""
    import os
    import sys

    def claimwatch(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
        return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()",
                               "--sources", "s.yaml", "--db", "sqlite:///cw.db", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget on Monday.",
        "2025-06-21.html": "The council rejected the budget.",
    })
    (tmp_path / "s.yaml").write_text(QUOTED)
    done = claimwatch("backfill", "fc", "--from", "copies")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "fc: published 2025-03-10"
    assert lines[1].startswith("  page: 2 captures, 2 loaded, 0 already, 0 unchanged, 0 errors; "
                               "baseline 2025-03-10T00:00:00Z; ")
    assert lines[2].startswith("    flag 1 since 2025-06-21: broken (c): quote no longer found")
    again = claimwatch("backfill", "fc", "--from", "copies", "--json")
    assert json.loads(again.stdout)["sources"][0]["already"] == 2
    shown = claimwatch("timeline", "c")
    assert shown.returncode == 0 and shown.stdout.splitlines()[2:] == [
        "    2025-03-10 holds: quote found: \"The council approved the budget\" (archived)",
        "    2025-06-21 broken: quote no longer found (closest match 84%: \"The council "
        "rejected the budget\") (archived)"]
    data = json.loads(claimwatch("timeline", "c", "--json").stdout)
    assert [m["date"] for m in data["items"][0]["moments"]] == ["2025-03-10", "2025-06-21"]
    nowhere = claimwatch("backfill", "fc", "--from", "nowhere")
    assert (nowhere.returncode, nowhere.stderr) == (
        2, "claimwatch: --from: 'nowhere' is neither `cdx`, a directory nor a file\n")
    (tmp_path / "s.yaml").write_text(QUOTED.replace("    published: 2025-03-10\n", ""))
    undated = claimwatch("backfill", "fc", "--from", "copies")
    assert undated.returncode == 2 and "has no `published:` day" in undated.stderr


def test_a_daemon_s_backfill_that_breaks_is_finished_so_its_sources_are_checked(
        store: Store, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backfill that fails with anything but the database (an archive claimwatch cannot read,
    a bug while reading a capture) is logged and finished: it must not hold its sources back
    from live checks for ever. One that fails on the database stays started, to be resumed."""
    import io

    from sqlalchemy.exc import OperationalError

    from pipeline import backfill as backfill_stage
    from pipeline import daemon
    copies = tmp_path / "copies"
    dated(copies, {"2025-03-10.html": "The council approved the budget on Monday."})
    sources = tmp_path / "sources.yaml"
    sources.write_text(QUOTED + f"defaults: {{backfill_from: '{copies}'}}\n")
    with store.session() as session:  # as the daemon's check loop does first
        sync_config(session, config.load(sources))
    log = io.StringIO()
    worker = daemon.Daemon(sources, db_url, daemon.Settings(log_format="json"),
                           daemon.Log(log, "json"))
    try:
        def database_down(*_args: object, **_kwargs: object) -> None:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

        monkeypatch.setattr(daemon.api, "backfill", database_down)
        with pytest.raises(OperationalError):
            worker.backfill_new()
        assert marks(store) == (True, False), "the database failed: it is resumed later"

        def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("a bug while reading a capture")

        monkeypatch.setattr(daemon.api, "backfill", broken)
        worker.backfill_new()
    finally:
        worker.store.close()
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["event"], e["error"]) for e in events if e["event"] == "backfill-failed"] == [
        ("backfill-failed", "RuntimeError: a bug while reading a capture")]
    assert marks(store) == (True, True)
    with store.session() as session:
        [state] = backfill_stage.states(session, config.load(sources), utcnow())
    assert (state.state, state.error) == ("failed", "RuntimeError: a bug while reading a capture")
    with store.session() as session:
        assert list(session.scalars(select(SourceRow.slug).where(backfill_stage.awaiting()))) \
            == [], "its sources are live-checked from now on"
        assert session.scalar(select(func.count()).select_from(SourceRow).where(
            SourceRow.lease_owner.is_not(None))) == 0, "and no lease is left behind"


def test_a_cron_check_s_backfill_that_breaks_is_ended_and_the_live_checks_go_on(
        store: Store, db_url: str, site: SiteServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`claimwatch check` ends a backfill that fails for anything but the database as a daemon
    does: the failure is one line on stderr and the backfill's `error` in the report, and the
    fact-check's sources are checked live in that same run and by the next ones, which do not
    try it again. One that fails on the database fails the check and stays started, to be
    resumed."""
    from click.testing import CliRunner
    from sqlalchemy.exc import OperationalError

    from pipeline.cli import cli
    from tests.test_check import FAST
    copies, cfg = backfilling(site, tmp_path, THREE, "The council rejected the budget.")
    read = Directory.read

    def database_down(_kept: Directory, _capture: Capture) -> object:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Directory, "read", database_down)
    with pytest.raises(OperationalError):
        api.check(store, cfg, everything=True, settings=FAST)
    assert marks(store) == (True, False) and leased(store) == [], "to be resumed"
    assert backfill_state(store, cfg) == "interrupted"

    def broken_after_the_baseline(kept: Directory, capture: Capture) -> object:
        if capture.captured_at > dt.datetime(2025, 3, 10):
            raise RuntimeError("a bug while reading a capture")
        return read(kept, capture)

    monkeypatch.setattr(Directory, "read", broken_after_the_baseline)
    sources = tmp_path / "sources.yaml"
    sources.write_text(QUOTED.replace("http://127.0.0.1:9/page", f"{site.base_url}/page.html")
                       + f"defaults: {{backfill_from: '{copies}', host_delay: 0s}}\n")
    ran = CliRunner().invoke(cli, ["--sources", str(sources), "--db", db_url, "check", "--json"])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    assert ran.stderr == (
        "claimwatch: backfill of fc failed: RuntimeError: a bug while reading a capture (ended: "
        "its sources are checked live from now on; 'claimwatch backfill fc' completes it)\n")
    report = json.loads(ran.stdout)
    assert report["backfills"] == [{
        "factcheck": "fc", "published": "2025-03-10", "sources": [], "alerted": [],
        "error": "RuntimeError: a bug while reading a capture"}]
    assert [(s["source"], s["status"]) for s in report["sources"]] == [("page", "changed")], \
        "the live check went on, from the baseline the backfill loaded"
    assert marks(store) == (True, True) and leased(store) == []
    [state] = api.status(store, cfg)["backfills"]
    assert (state["state"], state["error"]) == (
        "failed", "RuntimeError: a bug while reading a capture"), "not `finished`: it failed"

    monkeypatch.undo()
    again = api.check(store, cfg, everything=True, settings=FAST)
    assert (again.backfills, [s.status for s in again.sources]) == ([], ["unchanged"])
    assert "backfills" not in again.to_json()


def test_a_version_whose_reading_spins_is_an_error_and_the_backfill_goes_on(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Archived versions are read as live checks read theirs, in a worker process under the
    source's `extract_timeout`: a capture that makes a parser spin is a failed attempt (no
    snapshot), its item an `error` outcome at the capture's time with the one-line reason, and
    the backfill goes on with the next version. Read in this process, it would hang the
    backfill (and a daemon's backfill thread) for ever: the backfill runs in a thread here, and
    the spinning ends only in this process (a worker's copy spins until it is killed), once
    the thread was given up on."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.extract import EXTRACTORS
    from tests.test_extraction_worker import LIMIT, spin_on
    given_up = threading.Event()

    def spin() -> None:
        while not given_up.is_set():
            pass

    monkeypatch.setitem(EXTRACTORS, "html", spin_on(b"spin-forever", spin))
    dated(tmp_path / "copies", {
        "2025-03-10.html": "The council approved the budget on Monday.",
        "2025-04-01.html": "The council approved the budget on Monday. spin-forever",
        "2025-05-01.html": "The council rejected the budget.",
    })
    cfg = config.parse(QUOTED + f"defaults: {{extract_timeout: {LIMIT}s}}\n")
    pool = ThreadPoolExecutor(1)
    running = pool.submit(api.backfill, store, cfg, "fc", where=str(tmp_path / "copies"))
    try:
        report = running.result(timeout=120)
    finally:
        given_up.set()
        pool.shutdown()
    [done] = report.sources
    why = f"extraction took over {LIMIT} s"
    assert (done.captures, done.loaded) == (3, 2)
    assert [(f"{f.opened_at:%Y-%m-%d}", f.outcome) for f in done.flags] == [
        ("2025-04-01", "error"), ("2025-05-01", "broken")]
    [error] = done.errors
    assert error.startswith("2025-04-01T00:00:00Z file://") and error.endswith(f": {why}")
    moments = api.timeline(store, "c", config=cfg).items[0].moments
    assert [(f"{m.at:%Y-%m-%d}", m.outcome) for m in moments] == [
        ("2025-03-10", "holds"), ("2025-04-01", "error"), ("2025-05-01", "broken")]
    assert why in moments[1].line
    with store.session() as session:
        failed = session.scalars(select(FetchRow).where(FetchRow.error.is_not(None))).one()
        assert (failed.result, failed.error, failed.snapshot_id) == ("error", why, None)
        assert session.scalar(select(func.count()).select_from(SnapshotRow)) == 2
        error_outcome = session.scalars(select(OutcomeRow).where(
            OutcomeRow.status == "error")).one()
        assert (error_outcome.reason, error_outcome.created_at) == (
            why, dt.datetime(2025, 4, 1))


def test_a_backfill_whose_place_is_missing_is_failed_until_claimwatch_backfill_completes_it(
        store: Store, db_url: str, site: SiteServer, tmp_path: Path) -> None:
    """`backfill_from` names a directory that does not exist: the check ends the backfill and
    checks the sources live, and the fact-check's backfill is `failed`, with that reason, where
    people look (`status`), not `finished`; later checks leave it so. Once the directory is
    there, `claimwatch backfill FACTCHECK` loads it, and the failure is gone."""
    from click.testing import CliRunner

    from pipeline.cli import cli
    from tests.test_check import FAST
    missing = tmp_path / "copies"
    sources = tmp_path / "sources.yaml"
    sources.write_text(QUOTED.replace("http://127.0.0.1:9/page", f"{site.base_url}/page.html")
                       + f"defaults: {{backfill_from: '{missing}', host_delay: 0s}}\n")
    (site.root / "page.html").write_text(PAGE.format("The council rejected the budget."))
    cfg = config.load(sources)
    why = f"{str(missing)!r} is neither `cdx`, a directory nor a file"
    [done] = api.check(store, cfg, everything=True, settings=FAST).backfills
    assert done.error == why
    [state] = api.status(store, cfg)["backfills"]
    assert (state["state"], state["error"]) == ("failed", why)
    assert state["finished_at"] is not None
    assert api.check(store, cfg, everything=True, settings=FAST).backfills == []
    assert backfill_state(store, cfg) == "failed", "a later check does not clear it"

    dated(missing, THREE)  # the cause fixed
    ran = CliRunner().invoke(cli, ["--sources", str(sources), "--db", db_url, "backfill", "fc",
                                   "--from", str(missing)])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    [state] = api.status(store, cfg)["backfills"]
    assert (state["state"], state["error"]) == ("finished", None)
    [item] = api.timeline(store, "c", config=cfg).items
    assert [f"{m.at:%Y-%m-%d}" for m in item.moments][:3] == [
        "2025-03-10", "2025-04-01", "2025-05-01"], "the versions it missed, loaded"


def test_a_failed_backfill_s_reason_is_kept_as_one_short_printable_line(
        store: Store, tmp_path: Path) -> None:
    """The reason can quote a path or a URL, so it is kept as `status` and the desk show it:
    no control characters (terminal escapes), on one line, and bounded; the report of the
    check says the same."""
    from pipeline import backfill as backfill_stage
    cfg = config.parse(QUOTED + f"defaults: {{backfill_from: '{tmp_path}'}}\n")
    with store.session() as session:
        sync_config(session, cfg)
    claimed = backfill_stage.claim_waiting(store, cfg, "a-check", lease=dt.timedelta(minutes=1))
    assert claimed is not None

    def hostile(_factcheck: str) -> backfill_stage.BackfillReport:
        raise RuntimeError("cannot read /srv/\x1b[2Jcopies\x07\x9b\tnow " + "x" * 1000
                           + "\nsecond line")

    done = backfill_stage.backfill_claimed(store, cfg, claimed, dt.timedelta(minutes=1), hostile)
    [state] = api.status(store, cfg)["backfills"]
    assert state["state"] == "failed" and state["error"] == done.error
    assert done.error is not None and len(done.error) == backfill_stage.REASON_CHARS
    assert done.error.startswith("RuntimeError: cannot read /srv/[2Jcopies now xxx")
    assert done.error.endswith("x…") and done.error.isprintable()
