"""The desk in a real browser: Debian's Chromium driven by Playwright (no browser download), on
the desk served by uvicorn on loopback over the demo's real database. An editor goes from the
queue to a recorded decision; a viewer cannot review; a hostile snapshot runs nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import api
from pipeline.demo.server import SiteServer
from tests.desk_support import PASSWORD, ServedDesk, demo_copy, serve_desk

CHROMIUM = os.environ.get("CLAIMWATCH_CHROMIUM") or shutil.which("chromium") \
    or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if CHROMIUM is None:
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-demo") / "demo"


@pytest.fixture
def desk(demo_cache: Path, tmp_path: Path) -> Iterator[ServedDesk]:
    with serve_desk(demo_copy(demo_cache, tmp_path / "desk")) as served:
        yield served


def log_in(browser: Any, desk: ServedDesk, name: str) -> Any:
    page = browser.new_page()
    page.goto(desk.url + "/")
    assert page.url.endswith("/login?next=/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(desk.url + "/")
    return page


def test_an_editor_goes_from_the_queue_to_a_recorded_decision(browser: Any,
                                                              desk: ServedDesk) -> None:
    page = log_in(browser, desk, "editor")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.locator("article.claim:has(a[href='/claims/six-287g-agencies']) a.flag").click()
    page.wait_for_url("**/flags/*")
    added = page.locator("tr.added")
    assert "Sherburne County Sheriff" in added.first.inner_text(), "the added row, marked"
    assert page.locator("ins").count() >= 1, "the change highlighted"
    page.get_by_label("changes (revised)").check()
    verdict = page.get_by_label("New verdict")
    assert verdict.is_visible(), "the verdict field appears for 'revised'"
    verdict.fill("Mostly accurate")
    page.get_by_label("Also update the expectation", exact=False).check()
    page.get_by_label("Note (kept in the history)").fill("ICE added Sherburne County")
    page.get_by_role("button", name="Record the decision").click()
    page.get_by_text("Recorded:").wait_for()
    assert "sources.yaml updated" in page.content()
    page.get_by_role("link", name="claim six-287g-agencies").click()
    assert page.get_by_text("revised on review").is_visible()
    page.get_by_role("link", name="History").click()
    page.get_by_label("Claim").fill("six-287g-agencies")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_text("reviewed by Editor Person: revised").is_visible()
    [claim] = [c for fc in yaml.safe_load(desk.sources.read_text())["factchecks"]
               for c in fc["claims"] if c["id"] == "six-287g-agencies"]
    assert claim["verdict"] == "Mostly accurate"
    assert claim["evidence"][0]["table"]["count"] == 7
    assert errors == [], f"the pages logged errors: {errors}"


def test_a_viewer_gets_no_review_button_and_a_forged_post_is_refused(browser: Any,
                                                                    desk: ServedDesk) -> None:
    page = log_in(browser, desk, "viewer")
    [flag] = [f for f in api.flags(desk.store) if f.claim == "mpd-no-escort"]
    page.goto(f"{desk.url}/flags/{flag.id}")
    assert page.get_by_role("button", name="Record the decision").count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(f"{desk.url}/flags/{flag.id}/review",
                               form={"csrf": token, "decision": "upheld"})
    assert forged.status == 403
    editor = log_in(browser, desk, "editor")
    missing = editor.request.post(f"{desk.url}/flags/{flag.id}/review",
                                  form={"decision": "upheld"})
    assert missing.status == 403, "no CSRF token: refused even for an editor"
    assert [f.status for f in api.flags(desk.store) if f.id == flag.id] == ["open"]


def aside(work: Any, *args: Any, **kwargs: Any) -> Any:
    """Run `work` in a thread of its own: Playwright's sync API holds this thread's event loop,
    and a check runs one of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work, *args, **kwargs).result()


HOSTILE = """<html><head><title>Statement</title>
<script>fetch("{beacon}/script"); console.log("script ran");</script></head>
<body><main><p>{text}</p>
<img src="x" onerror="fetch('{beacon}/onerror'); console.log('onerror ran')">
<img src="{beacon}/image.png"><link rel="stylesheet" href="{beacon}/style.css">
<iframe src="{beacon}/frame"></iframe></main></body></html>"""


def test_a_hostile_snapshot_runs_nothing_and_loads_nothing(browser: Any, tmp_path: Path,
                                                          serve: Any) -> None:
    hits: list[str] = []

    def beacon(handler: BaseHTTPRequestHandler) -> None:
        hits.append(handler.path)
        handler.send_response(204)
        handler.end_headers()

    beacon_url = serve(beacon).rstrip("/")
    directory = tmp_path / "hostile"
    directory.mkdir()
    site = directory / "site"
    site.mkdir()
    page_file = site / "index.html"
    page_file.write_text(HOSTILE.format(beacon=beacon_url, text="The sheriff does not hold "
                                                               "people on detainers alone."))
    with SiteServer(site) as server:
        (directory / "sources.yaml").write_text(f"""\
version: 1
defaults: {{host_delay: 0s}}
sources:
  statement: {{url: "{server.url('index.html')}", select: main}}
factchecks:
  - id: fc
    title: T
    claims:
      - id: detainers
        text: The sheriff does not hold people on detainers alone.
        verdict: Supported
        evidence:
          - {{source: statement, quote: does not hold people on detainers alone}}
""")
        config = api.load_config(directory / "sources.yaml")
        with api.opened(f"sqlite:///{directory / 'claimwatch.db'}") as store:
            aside(api.check, store, config, everything=True)
            page_file.write_text(HOSTILE.format(beacon=beacon_url, text="Policy under review."))
            assert aside(api.check, store, config, everything=True).flags
    with serve_desk(directory) as desk:
        page = log_in(browser, desk, "editor")
        console: list[str] = []
        answered: list[str] = []  # requests the network answered (a blocked one is not)
        page.on("console", lambda m: console.append(m.text))
        page.context.on("response", lambda r: answered.append(r.url))
        [flag] = api.flags(desk.store)
        page.goto(f"{desk.url}/flags/{flag.id}")
        frame = page.frame_locator("iframe.snapshot").first
        frame.get_by_text("Policy under review.").wait_for()
        detail = api.flag(desk.store, api.load_config(desk.sources), flag.id)
        assert detail.baseline is not None and detail.flagged is not None
        for snapshot, text in ((detail.baseline.id, "detainers alone"),
                               (detail.flagged.id, "Policy under review.")):
            page.goto(f"{desk.url}/snapshots/{snapshot}")
            page.frame_locator("iframe.snapshot").get_by_text(text).wait_for()
        page.wait_for_timeout(500)
    assert hits == [], f"the stored page reached out: {hits}"
    assert not [u for u in answered if u.startswith(beacon_url)]
    assert not [m for m in console if "ran" in m], f"the stored page's script ran: {console}"
