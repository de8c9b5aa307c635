"""A WACZ export opens in ReplayWeb.page, version by version: Webrecorder's replay app (its npm
package, served from loopback; `.ci/run` fetches it) in Debian's Chromium replays each stored
version of a page with that version's text."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from sqlalchemy import select

from db import Store
from db.models import SnapshotRow
from pipeline import api
from pipeline.demo.server import SiteServer
from tests.test_review import check, serve, sources

CHROMIUM = os.environ.get("CLAIMWATCH_CHROMIUM") or shutil.which("chromium") \
    or shutil.which("chromium-browser")
REPLAYWEB = Path(os.environ.get("CLAIMWATCH_REPLAYWEBPAGE")
                 or Path(__file__).parents[1] / ".ci/cache/replaywebpage").expanduser()
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if CHROMIUM is None:
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)
if not (REPLAYWEB / "sw.js").is_file():
    pytest.skip("ReplayWeb.page is not here (set CLAIMWATCH_REPLAYWEBPAGE to the unpacked npm "
                "package `replaywebpage`; .ci/run does)", allow_module_level=True)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def replay_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """ReplayWeb.page's files and our WACZ, served from one loopback origin (its service
    worker only replays archives from where it is allowed to fetch)."""
    root = tmp_path / "replay"
    shutil.copytree(REPLAYWEB, root, ignore=shutil.ignore_patterns("src", "*.md"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_each_version_replays_with_its_own_text(store: Store, site: SiteServer,
                                                replay_site: tuple[str, Path]) -> None:
    serve(site, 6)
    for weather in ("Snow on Tuesday", "Sunny on Wednesday"):
        (site.root / "mpd.html").write_text(
            "<html><body><main><p>The revised policies more clearly prohibit assisting ICE."
            f"</p></main><aside>{weather}</aside></body></html>")
        check(store, sources(site))
    stamps = {}
    with store.session() as session:  # an hour apart, as scheduled checks would be
        for n, snapshot in enumerate(session.scalars(select(SnapshotRow).where(
                SnapshotRow.url.endswith("mpd.html")).order_by(SnapshotRow.id))):
            snapshot.fetched_at = dt.datetime(2026, 1, 1) + dt.timedelta(hours=n)
            stamps[n] = snapshot.fetched_at.strftime("%Y%m%d%H%M%S")
    origin, root = replay_site
    api.export_wacz(store, root / "evidence.wacz", source="mpd")

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            seen = [_replayed_text(page, origin, site.url("mpd.html"), stamps[n])
                    for n in (0, 1)]
        finally:
            browser.close()
    assert "Snow on Tuesday" in seen[0] and "Sunny" not in seen[0]
    assert "Sunny on Wednesday" in seen[1] and "Snow" not in seen[1]


def _replayed_text(page: Any, origin: str, url: str, stamp: str) -> str:
    """The body text of `url` as ReplayWeb.page replays its capture at `stamp`."""
    page.goto(f"{origin}/index.html?source={origin}/evidence.wacz"
              f"#view=replay&url={url}&ts={stamp}")
    capture = re.compile(rf"/w/.+/{stamp}[a-z_]*/")
    for _ in range(60):  # the service worker installs and indexes the archive first
        for frame in page.frames:
            if capture.search(frame.url):
                text = frame.inner_text("body", timeout=5_000)
                if "prohibit assisting ICE" in text:
                    return str(text)
        page.wait_for_timeout(250)
    raise AssertionError(f"ReplayWeb.page never showed the {stamp} capture of {url}: "
                         f"{[f.url for f in page.frames]}")
