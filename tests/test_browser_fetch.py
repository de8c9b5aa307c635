"""`fetch: browser` (issue 16): pages whose text their scripts build, rendered in Debian's
Chromium through Playwright on loopback sites. A script-built quote holds rendered and is
missing served; switching `fetch:` starts a new baseline with an audit event and no flag; a
page's requests obey the address rules of plain fetches; a page that never finishes loading is
a recorded timeout. `validate` says when this machine cannot render pages."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, text
from warcio.archiveiterator import ArchiveIterator

from db import Store, blobs
from db.models import AuditEventRow, FetchRow, FlagRow, SnapshotRow, SourceRow
from pipeline import api, browser_fetch, config
from pipeline.config import Source
from pipeline.demo.server import SiteServer
from pipeline.errors import ConfigError, UsageError
from pipeline.fetch import Fetcher, FetchResult
from pipeline.source_fetch import Fetched, fetch_source
from tests.conftest import Handler
from tests.test_addresses import FAST as FAST_NET
from tests.test_addresses import PUBLIC, Internet
from tests.test_check import FAST, sources_yaml, write

needs_playwright = pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                                      reason="playwright is not installed")
needs_chromium = pytest.mark.skipif(browser_fetch.find_chromium() is None,
                                    reason="no chromium on this machine (apt-get install "
                                           "chromium)")

SENTENCE = "The Sheriff's Office does not work with any agency on civil immigration enforcement."
QUOTE = "quote: does not work with any agency on civil immigration enforcement"
# the page's text is built by its script from data it fetches, as live blogs and newsroom
# pages built by script do
SCRIPTED = """<!doctype html><html><head><title>Statement</title></head><body>
<main><h1>Sheriff's statement</h1><p id="statement">Loading…</p></main>
<script>
fetch("statement.json").then(r => r.json()).then(d => {
  document.getElementById("statement").textContent = d.text;
});
</script></body></html>"""


def scripted_site(site: SiteServer) -> str:
    write(site, "index.html", SCRIPTED)
    write(site, "statement.json", json.dumps({"text": SENTENCE}))
    return site.url("index.html")


def browser_opts(extra: str = "") -> str:
    return f"    select: main\n    fetch: browser\n{extra}"


def events(store: Store, kind: str) -> list[AuditEventRow]:
    with store.session() as session:
        return list(session.scalars(select(AuditEventRow).where(AuditEventRow.kind == kind)
                                    .order_by(AuditEventRow.seq)))


def flags(store: Store) -> list[FlagRow]:
    with store.session() as session:
        return list(session.scalars(select(FlagRow)))


@needs_playwright
@needs_chromium
def test_a_script_built_quote_holds_rendered_and_is_missing_served(
        store: Store, site: SiteServer, tmp_path: Path) -> None:
    url = scripted_site(site)
    served = api.check(store, sources_yaml(url, QUOTE), everything=True, settings=FAST)
    assert served.sources[0].status == "new"
    [flag] = served.flags
    assert flag.outcome == "broken" and "not found" in flag.reason

    other = api.open_db(f"sqlite:///{tmp_path / 'rendered.db'}")
    rendered = api.check(other, sources_yaml(url, QUOTE, source_opts=browser_opts()),
                         everything=True, settings=FAST)
    assert rendered.sources[0].status == "new" and rendered.sources[0].error is None
    assert rendered.flags == [], "the quote holds once the page's script has run"
    with other.session() as session:
        snapshot = session.scalars(select(SnapshotRow)).one()
        assert snapshot.fetch_mode == "browser" and snapshot.content_type == "text/html"
        assert SENTENCE.encode() in blobs.get(session, snapshot.blob_sha256)
        assert snapshot.raw_sha256 is not None, "the response as served is kept, for WARC"
        assert blobs.get(session, snapshot.raw_sha256) == SCRIPTED.encode()
    assert [r.path for r in site.requests].count("/statement.json") == 1

    # the WARC replays what the server sent, and carries what claimwatch read beside it
    out = tmp_path / "evidence.warc.gz"
    assert api.export_warc(other, out, source="s") == 3
    with open(out, "rb") as stream:
        records = [(r.rec_type, r.rec_headers, r.content_stream().read())
                   for r in ArchiveIterator(stream)]
    [(_, response, served_body)] = [r for r in records if r[0] == "response"]
    [(_, conversion, dom)] = [r for r in records if r[0] == "conversion"]
    assert served_body == SCRIPTED.encode() and SENTENCE.encode() in dom
    assert conversion.get_header("WARC-Refers-To") == response.get_header("WARC-Record-ID")
    assert conversion.get_header("Claimwatch-Fetch-Mode") == "browser"


@needs_playwright
@needs_chromium
def test_audit_verify_deep_re_hashes_the_kept_response_as_served(store: Store,
                                                                 site: SiteServer) -> None:
    url = scripted_site(site)
    api.check(store, sources_yaml(url, QUOTE, source_opts=browser_opts()), everything=True,
              settings=FAST)
    [event] = events(store, "snapshot")
    with store.session() as session:
        snapshot = session.scalars(select(SnapshotRow)).one()
        snapshot_id, dom, raw = snapshot.id, snapshot.blob_sha256, snapshot.raw_sha256
        assert raw is not None and event.data["raw_sha256"] == raw
        assert event.data["fetch_mode"] == "browser"
    assert any(e.kind == "snapshot" and e.text.endswith(f"→ snapshot {snapshot_id} (rendered "
                                                        "in a browser)")
               for e in api.history(store, source="s"))
    with store.session() as session:
        forged = blobs.put(session, b"<p>forged</p>")
    clean = api.audit_verify(store, deep=True)
    assert clean.ok, clean.problems
    assert clean.deep is not None and clean.deep.blobs == 3, "the DOM, the response, the forgery"

    with store.engine.begin() as conn:  # the served bytes replaced, as an intruder would
        conn.execute(text("UPDATE blob SET data = :data, size = :size WHERE sha256 = :sha"),
                     {"data": blobs.pack(b"<p>forged</p>"), "size": 13, "sha": raw})
    [problem] = api.audit_verify(store, deep=True).problems
    assert problem.startswith(f"blob {raw[:16]}… holds 13 bytes hashing to ")
    assert problem.endswith(f"(snapshots: {snapshot_id} of s (its response as served))")

    with store.engine.begin() as conn:  # the snapshot pointed at other served bytes
        conn.execute(text("UPDATE snapshot SET raw_sha256 = :forged"), {"forged": forged})
    problems = api.audit_verify(store, deep=True).problems
    assert f"snapshot {snapshot_id}: raw blob is '{forged}' in the database but '{raw}' in the " \
           f"audit log (seq {event.seq})" in problems
    with store.engine.begin() as conn:  # or at none stored
        conn.execute(text("DELETE FROM blob WHERE sha256 = :forged"), {"forged": forged})
    assert f"snapshot {snapshot_id} of s: the blob of its response as served {forged[:16]}… " \
           "is missing" in api.audit_verify(store, deep=True).problems
    assert dom != raw


@needs_playwright
@needs_chromium
def test_import_reads_a_cited_source_declared_fetch_browser_rendered(site: SiteServer,
                                                                      tmp_path: Path) -> None:
    cited = scripted_site(site).replace("127.0.0.1", "localhost")  # another site than the check
    write(site, "check.html", f"""<html><body><article><h1>Does the sheriff work with ICE?</h1>
        <h2>1. The Sheriff's Office does not work with any agency on civil immigration
        enforcement</h2><p>The Sheriff's Office does not work with any agency on civil
        immigration enforcement, <a href="{cited}">its statement says</a>.</p>
        </article></body></html>""")
    drafts = {}
    for mode in ("http", "browser"):
        desk = tmp_path / mode
        desk.mkdir()
        (desk / "desk.yaml").write_text("version: 1\ndefaults: {host_delay: 0s}\nsources:\n"
                                        f"  statement: {{url: '{cited}', select: main, "
                                        f"fetch: {mode}}}\n")
        drafts[mode] = api.import_factcheck(site.url("check.html"), sources=desk).text
    quotes = {}
    for mode, draft in drafts.items():
        assert "- source: statement" in draft and "\n  statement:" not in draft
        [claim] = yaml.safe_load(draft)["factchecks"][0]["claims"]
        quotes[mode] = [e.get("quote") for e in claim["evidence"]]
    assert quotes["browser"] == [SENTENCE], "the quote is proposed from the rendered page"
    assert SENTENCE not in quotes["http"], "as served, the page says only 'Loading…'"

    # a cited page the desk does not declare, under `defaults.fetch: browser`: the draft's
    # source inherits it, so the page is read rendered, as its checks will read it
    for mode in ("http", "browser"):
        desk = tmp_path / f"defaults-{mode}"
        desk.mkdir()
        (desk / "desk.yaml").write_text(f"version: 1\ndefaults: {{host_delay: 0s, fetch: {mode}}}"
                                        "\nsources: {}\n")
        draft = yaml.safe_load(api.import_factcheck(site.url("check.html"), sources=desk).text)
        [claim] = draft["factchecks"][0]["claims"]
        quotes[mode] = [e.get("quote") for e in claim["evidence"]]
    assert quotes["browser"] == [SENTENCE], "an undeclared page is read rendered too"
    assert SENTENCE not in quotes["http"]


@needs_playwright
@needs_chromium
def test_switching_fetch_starts_a_new_baseline_with_an_event_and_no_flag(
        store: Store, site: SiteServer) -> None:
    # the sentence is in the page as served; the script adds a paragraph, so the rendered
    # region differs from the served one and `changes: any` would flag the switch itself
    write(site, "index.html", SCRIPTED.replace("Loading…", SENTENCE).replace(
        'document.getElementById("statement").textContent = d.text;',
        'document.querySelector("main").insertAdjacentHTML("beforeend", "<p>Updated.</p>");'))
    write(site, "statement.json", "{}")
    url = site.url("index.html")
    plain = sources_yaml(url, QUOTE, "changes: any")
    rendered = sources_yaml(url, QUOTE, "changes: any", source_opts=browser_opts())
    first = api.check(store, plain, everything=True, settings=FAST)
    assert first.flags == []

    switched = api.check(store, rendered, everything=True, settings=FAST)
    assert switched.sources[0].status == "changed" and switched.flags == []
    [event] = events(store, "fetch-mode")
    assert (event.source, event.data["from"], event.data["to"]) == ("s", "http", "browser")
    assert event.data["new_baselines"] == 2 and event.data["snapshot"] == \
        switched.sources[0].snapshot
    with store.session() as session:
        source = session.scalars(select(SourceRow)).one()
        assert source.validators == {}, "a rendered page is never asked for conditionally"

    with pytest.raises(UsageError, match="a rendered page is never compared with a page as "
                                         "served"):
        api.source_diff(store, rendered, "s", from_id=first.sources[0].snapshot,
                        to_id=switched.sources[0].snapshot)
    assert api.source_diff(store, rendered, "s").before.id == switched.sources[0].snapshot

    again = api.check(store, rendered, everything=True, settings=FAST)
    assert again.flags == [] and again.sources[0].status == "unchanged", "the same DOM again"
    back = api.check(store, plain, everything=True, settings=FAST)
    assert back.sources[0].status == "changed" and back.flags == []
    assert [(e.data["from"], e.data["to"]) for e in events(store, "fetch-mode")] == [
        ("http", "browser"), ("browser", "http")]
    assert flags(store) == []
    lines = api.history(store, source="s")
    assert any("fetch: browser" in e.text and "new baseline" in e.text for e in lines)


@needs_playwright
@needs_chromium
def test_a_page_cannot_make_claimwatch_reach_a_private_address(
        serve: Callable[[Handler], str]) -> None:
    requested: list[str] = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        requested.append(h.path)
        port = h.server.server_address[1]
        body = {"/page": f"""<html><body><main><p id="out">public page</p>
<img src="http://{PUBLIC}:{port}/pixel.png">
<script>
for (const u of ["http://intranet.example:{port}/secret", "http://127.0.0.1:{port}/secret2",
                 "http://{PUBLIC}:{port}/public.txt"]) {{
  fetch(u).then(r => r.text()).then(t => {{
    document.getElementById("out").append(" " + t);
  }}).catch(() => {{}});
}}
</script></main></body></html>""", "/secret": "db_password=hunter2",
                "/secret2": "db_password=hunter2", "/public.txt": "public data"}.get(h.path, "")
        data = body.encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/html" if h.path == "/page" else "text/plain")
        h.send_header("Access-Control-Allow-Origin", "*")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    port = int(serve(handle).rsplit(":", 1)[1].strip("/"))
    internet = Internet({"news.example": [[PUBLIC]], "intranet.example": [["127.0.0.1"]]})
    url = f"http://news.example:{port}/page"

    async def main() -> Fetched:
        async with internet.fetcher(FAST_NET) as fetcher, \
                browser_fetch.Browser(fetcher) as chromium:
            return await fetch_source(fetcher, Source(url=url, obey_robots=False), url=url,
                                      timeout=10, max_bytes=1024**2, validators={},
                                      browser=chromium)

    fetched = asyncio.run(main())
    body = (fetched.result.body or b"").decode()
    assert fetched.result.ok and "public data" in body, "public requests go through"
    assert "hunter2" not in body
    assert "/secret" not in requested and "/secret2" not in requested
    assert "/pixel.png" not in requested, "images carry no text: never fetched"
    assert set(internet.connected) == {PUBLIC}, "every connection was claimwatch's, checked"
    refused = [a.error for a in fetched.attempts if a.error]
    assert any("intranet.example resolves to 127.0.0.1, a loopback address" in e
               for e in refused), refused
    assert any("127.0.0.1 is a loopback address" in e for e in refused), refused
    assert fetched.attempts[-1].error is None and fetched.attempts[-1].url == url


@needs_playwright
@needs_chromium
def test_a_page_that_never_finishes_loading_is_a_recorded_timeout(
        store: Store, serve: Callable[[Handler], str], monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    launched = browser_fetch.Browser._launched

    async def slow_launch(self: browser_fetch.Browser) -> object:
        await asyncio.sleep(2.5)  # a loaded machine: the browser up after the page's 2 s
        return await launched(self)

    monkeypatch.setattr(browser_fetch.Browser, "_launched", slow_launch)

    def handle(h: BaseHTTPRequestHandler) -> None:
        if h.path == "/hang.js":
            release.wait(20)  # a script that never comes
            return
        data = b'<html><body><main><p>Text</p><script src="/hang.js"></script></main></body>'
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    url = serve(handle) + "page"
    cfg = sources_yaml(url, QUOTE, source_opts=browser_opts("    timeout: 2s\n"))
    try:
        report = api.check(store, cfg, everything=True, settings=FAST)
    finally:
        release.set()
    [source] = report.sources
    assert source.status == "error"
    assert source.error == "timed out after 2s: the page never finished loading in the browser"
    with store.session() as session:
        row = session.scalars(select(FetchRow).order_by(FetchRow.id.desc())).first()
        assert row is not None and row.result == "error" and row.error == source.error
        assert session.scalars(select(SourceRow)).one().consecutive_failures == 1
        assert session.scalars(select(SnapshotRow)).first() is None


@needs_playwright
@needs_chromium
def test_a_browser_past_its_memory_limit_is_stopped_and_the_next_page_gets_another(
        site: SiteServer) -> None:
    url = scripted_site(site)

    async def main() -> tuple[FetchResult, FetchResult, int]:
        async with Fetcher(FAST) as fetcher, browser_fetch.Browser(
                fetcher, browser_fetch.BrowserSettings(memory=1024**2)) as chromium:
            served = await fetcher.fetch(url, obey_robots=False)
            over = await chromium.render(served, source_url=url, timeout=10,
                                         max_bytes=1024**2)
            chromium.settings = browser_fetch.BrowserSettings()
            fine = await chromium.render(served, source_url=url, timeout=10,
                                         max_bytes=1024**2)
            return over, fine, chromium.launches

    over, fine, launches = asyncio.run(main())
    assert over.body is None and over.error is not None
    assert over.error.startswith("the browser used more than 1 MB rendering the page ("), \
        over.error
    assert fine.ok and SENTENCE.encode() in (fine.body or b"") and launches == 2


@needs_playwright
@needs_chromium
def test_rendered_pages_are_screened_for_soft_404s_and_challenges(store: Store,
                                                                   site: SiteServer) -> None:
    # served with 200 and a title, the page's script turns it into a "not found" page
    write(site, "gone.html", """<html><head><title>Statement</title></head><body><main>
<p>Loading</p></main><script>document.title = "Page not found";
document.querySelector("main").textContent = "Sorry, we could not find that page.";
</script></body></html>""")
    write(site, "challenge.html", """<html><head><title>Just a moment...</title></head><body>
<main><div id="cf-chl-widget">Checking your browser</div></main>
<script>document.body.append("still checking")</script></body></html>""")
    cfg = sources_yaml(site.url("gone.html"), QUOTE, source_opts=browser_opts())
    [gone] = api.check(store, cfg, everything=True, settings=FAST).sources
    assert gone.status == "error" and gone.error is not None
    assert gone.error.startswith('a "page not found" page served with HTTP 200')
    cfg = sources_yaml(site.url("challenge.html"), QUOTE, source_opts=browser_opts())
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.sources[0].error is not None
    assert report.sources[0].error.startswith("blocked by a bot challenge or firewall page")
    assert [f.outcome for f in report.flags] == ["error"]
    with store.session() as session:
        assert session.scalars(select(SnapshotRow)).first() is None, "neither is evidence"


@needs_playwright
@needs_chromium
def test_probe_renders_a_source_with_fetch_browser(site: SiteServer, tmp_path: Path) -> None:
    url = scripted_site(site)
    cfg = sources_yaml(url, QUOTE, source_opts=browser_opts())
    result = api.probe(cfg, source_id="s")
    assert result.error is None
    assert [r.status for _ev, r in result.outcomes] == ["holds"]
    for mode, outcome in (("browser", "holds"), ("http", "broken")):
        done = subprocess.run(
            [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
             str(tmp_path / "none.yaml"), "probe", "--url", url, "--select", "main", "--fetch",
             mode, "--expect", QUOTE, "--json"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert [o["outcome"] for o in json.loads(done.stdout)["expectations"]] == [outcome]


def test_validate_says_when_this_machine_cannot_render_pages(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(CONFIG)
    env = {**os.environ, browser_fetch.ENV: str(tmp_path / "no-chromium")}
    done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()",
                           "--sources", str(path), "validate"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    if importlib.util.find_spec("playwright") is None:
        message = "fetch: browser needs Playwright, which is not installed (pip install " \
                  "'claimwatch[browser]')"
    else:
        message = (f"fetch: browser needs Chromium, which is not on this machine: "
                   f"${browser_fetch.ENV} names no file")
    assert done.stderr == f"{path}:6: {message} (2 sources use it)\n"


def test_a_machine_that_cannot_render_makes_the_items_errors_and_requests_nothing(
        store: Store, site: SiteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(browser_fetch.ENV, str(tmp_path / "no-chromium"))
    url = scripted_site(site)
    report = api.check(store, sources_yaml(url, QUOTE, source_opts=browser_opts()),
                       everything=True, settings=FAST)
    [source] = report.sources
    assert source.status == "error" and source.error is not None
    assert source.error.startswith("fetch: browser needs ")
    [flag] = report.flags
    assert (flag.outcome, flag.severity) == ("error", "medium"), \
        "the desk must decide how to read it: not a page gone (unreachable, high)"
    assert site.requests == []
    with store.session() as session:
        assert session.scalars(select(SourceRow)).one().consecutive_failures == 0


def test_fetch_is_http_or_browser_per_source_or_by_default() -> None:
    cfg = config.parse(CONFIG.replace("version: 1\n", "version: 1\ndefaults: {fetch: browser}\n")
                       .replace("    fetch: browser\n", "    fetch: http\n", 1))
    assert [cfg.fetch_mode(s) for s in ("plain", "live", "blog")] == ["browser", "http",
                                                                     "browser"]
    with pytest.raises(ConfigError) as bad:
        config.parse(CONFIG.replace("fetch: browser", "fetch: chrome", 1))
    assert bad.value.problems == ["sources.yaml:6: sources.live.fetch: 'chrome' is not allowed: "
                                  "input should be 'http' or 'browser'"]


CONFIG = """\
version: 1
sources:
  plain:
    url: http://127.0.0.1:9/a
  live:
    fetch: browser
    url: http://127.0.0.1:9/b
  blog:
    url: http://127.0.0.1:9/c
    fetch: browser
factchecks: []
"""
