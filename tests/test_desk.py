"""The review desk over HTTP, as served by uvicorn on loopback, on the demo's real database:
logging in, the queue, a flag's evidence change, reviewing (with the edit of sources.yaml),
permissions and CSRF, snapshots kept inert, the REST API and its problem+json errors."""

from __future__ import annotations

import datetime as dt
import difflib
import html
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
import yaml
from sqlalchemy import select, text

from db.models import FlagRow
from pipeline import api
from pipeline.config import Config
from pipeline.demo.server import SiteServer
from pipeline.sync import sync_config
from tests.desk_support import PASSWORD, ServedDesk, csrf_of, demo_copy, login, serve_desk


@pytest.fixture
def desk(demo_cache: Path, tmp_path: Path) -> Iterator[ServedDesk]:
    with serve_desk(demo_copy(demo_cache, tmp_path / "desk")) as served:
        yield served


def flag_of(desk: ServedDesk, claim: str, source: str) -> int:
    [found] = [f for f in api.flags(desk.store) if (f.claim, f.source) == (claim, source)]
    return found.id


def test_pages_need_a_login_and_a_wrong_password_is_one_line(desk: ServedDesk) -> None:
    anonymous = desk.client()
    assert anonymous.get("/").status_code == 303
    assert anonymous.get("/").headers["location"] == "/login?next=/"
    refused = login(anonymous, "editor", "not the password")
    assert refused.status_code == 401 and "wrong name or password" in refused.text
    unknown = login(anonymous, "nobody", PASSWORD)
    assert unknown.status_code == 401 and "wrong name or password" in unknown.text
    done = login(anonymous, "editor")
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert anonymous.get("/").status_code == 200


def test_failed_logins_slow_the_account_down(desk: ServedDesk) -> None:
    client = desk.client()
    for _ in range(3):
        assert login(client, "checker", "wrong password!").status_code == 401
    locked = login(client, "checker")  # the right password, too soon
    assert locked.status_code == 401 and "too many failed logins" in locked.text


def test_the_queue_groups_flags_by_fact_check_and_claim(desk: ServedDesk) -> None:
    page = desk.client("viewer").get("/")
    assert page.status_code == 200
    html = page.text
    assert "Did Minnesota police join ICE" in html
    assert html.count('class="flag"') == len(api.flags(desk.store)) == 5
    assert "not seen yet" in html
    assert html.index("sev-high") < html.index("</main>")
    high = desk.client("viewer").get("/", params={"severity": "low"})
    assert high.status_code == 200 and 'class="flag"' not in high.text


def test_a_flag_shows_the_change_and_who_has_seen_it(desk: ServedDesk) -> None:
    flag_id = flag_of(desk, "six-287g-agencies", "ice-287g")
    editor = desk.client("editor")
    page = editor.get(f"/flags/{flag_id}").text
    assert "6 distinct" in page and "Minnesota" in page, "the expectation in words"
    assert "Sherburne County Sheriff" in page, "the added row"
    assert 'name="decision"' in page, "an editor gets the review form"
    assert "Also update the expectation" in page and "7 distinct" in page
    queue = desk.client("viewer").get("/").text
    assert "seen by Editor Person" in queue
    viewer_page = desk.client("viewer").get(f"/flags/{flag_id}").text
    assert 'name="decision"' not in viewer_page, "a viewer gets no review button"


def test_a_revised_review_edits_sources_yaml_and_lands_in_history(desk: ServedDesk) -> None:
    flag_id = flag_of(desk, "six-287g-agencies", "ice-287g")
    editor = desk.client("editor")
    form = editor.get(f"/flags/{flag_id}").text
    before = desk.sources.read_text()
    done = editor.post(f"/flags/{flag_id}/review", data={
        "csrf": csrf_of(form), "decision": "revised", "verdict": "Mostly accurate",
        "note": "ICE added Sherburne County", "update_expectation": "true"})
    assert done.status_code == 200 and "Recorded" in done.text
    assert "sources.yaml updated" in done.text
    after = desk.sources.read_text()
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                     lineterm="", n=0)
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert sorted(changed) == ["+        count: 7", "+    verdict: Mostly accurate",
                               "-        count: 6", "-    verdict: Supported"], changed
    config = yaml.safe_load(after)
    [claim] = [c for fc in config["factchecks"] for c in fc["claims"]
               if c["id"] == "six-287g-agencies"]
    assert claim["verdict"] == "Mostly accurate"
    assert claim["evidence"][0]["table"]["count"] == 7
    assert api.load_config(desk.sources), "the edited file still validates"
    claim_page = editor.get("/claims/six-287g-agencies").text
    assert "Mostly accurate" in claim_page \
        and "revised on review by Editor Person" in claim_page
    story = editor.get("/history", params={"claim": "six-287g-agencies"}).text
    assert "reviewed by Editor Person: revised" in story
    again = editor.post(f"/flags/{flag_id}/review", data={"csrf": csrf_of(form),
                                                         "decision": "upheld"})
    assert again.status_code == 409 and "already reviewed by Editor Person" in again.text


def test_a_viewer_cannot_review_and_a_missing_csrf_token_is_refused(desk: ServedDesk) -> None:
    flag_id = flag_of(desk, "mpd-no-escort", "reformer-mpd-policy")
    viewer = desk.client("viewer")
    token = csrf_of(viewer.get("/").text)
    forged = viewer.post(f"/flags/{flag_id}/review", data={"csrf": token, "decision": "upheld"})
    assert forged.status_code == 403 and "editor role" in forged.text
    editor = desk.client("editor")
    editor.get("/")
    missing = editor.post(f"/flags/{flag_id}/review", data={"decision": "upheld"})
    assert missing.status_code == 403 and "security token" in missing.text
    with desk.store.session() as session:
        assert session.get(FlagRow, flag_id).status == "open", "nothing was recorded"


def test_checkers_comment_and_viewers_may_not(desk: ServedDesk) -> None:
    flag_id = flag_of(desk, "mpd-no-escort", "reformer-mpd-policy")
    checker = desk.client("checker")
    token = csrf_of(checker.get(f"/flags/{flag_id}").text)
    posted = checker.post(f"/flags/{flag_id}/comment", data={"csrf": token,
                                                             "text": "<b>calling MPD</b>"})
    assert posted.status_code == 303
    page = checker.get(f"/flags/{flag_id}").text
    assert "&lt;b&gt;calling MPD&lt;/b&gt;" in page, "a comment is text, escaped"
    viewer = desk.client("viewer")
    refused = viewer.post(f"/flags/{flag_id}/comment",
                          data={"csrf": csrf_of(viewer.get("/").text), "text": "hi"})
    assert refused.status_code == 403


def test_snapshots_are_served_inert_and_pages_carry_security_headers(desk: ServedDesk) -> None:
    client = desk.client("viewer")
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    with desk.store.session() as session:
        snapshot = session.scalars(select(FlagRow.snapshot_id).where(
            FlagRow.snapshot_id.is_not(None))).first()
    raw = client.get(f"/snapshots/{snapshot}/raw")
    assert raw.status_code == 200
    assert raw.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    shown = client.get(f"/snapshots/{snapshot}").text
    assert f'src="/snapshots/{snapshot}/raw" sandbox' in shown or "<table>" in shown
    download = client.get(f"/snapshots/{snapshot}/download")
    assert download.headers["content-disposition"].startswith("attachment")


def test_retiring_a_source_closes_its_flags(desk: ServedDesk) -> None:
    editor = desk.client("editor")
    token = csrf_of(editor.get("/sources/bca-statement").text)
    done = editor.post("/sources/bca-statement/retire", data={"csrf": token,
                                                              "note": "the BCA took it down"})
    assert done.status_code == 303
    assert [f.source for f in api.flags(desk.store)].count("bca-statement") == 0
    page = editor.get("/sources?health=retired").text
    assert "bca-statement" in page
    again = editor.post("/sources/bca-statement/retire", data={"csrf": token})
    assert again.status_code == 409
    story = html.unescape(editor.get("/history", params={"source": "bca-statement"}).text)
    assert 'bca-statement retired by Editor Person — "the BCA took it down"' in story
    assert "closed: its source was retired" in editor.get("/history").text
    assert "account editor added by cli (role editor)" in editor.get("/history").text


def test_the_sources_page_counts_each_state_and_lists_the_chosen_one(desk: ServedDesk) -> None:
    api.retire_source(desk.store, "bca-statement", by="tests")
    every = api.sources(desk.store, api.load_config(desk.sources))
    states = Counter(h.state for h in every)
    assert states["retired"] == 1 and len(states) > 1
    viewer = desk.client("viewer")
    page = viewer.get("/sources").text
    assert f"<b>{len(every)}</b> all" in page
    assert all(f"<b>{n}</b> {state}</a>" in page for state, n in states.items())
    assert re.findall(r'<td><a href="/sources/([^"]+)">', page) == [h.source for h in every]
    chosen = viewer.get("/sources?health=retired").text
    assert f"<b>{len(every)}</b> all" in chosen  # the counts stay the whole desk's
    assert re.findall(r'<td><a href="/sources/([^"]+)">', chosen) == ["bca-statement"]
    assert viewer.get("/sources?health=gone").status_code == 400


def test_the_rest_api_takes_tokens_and_speaks_problem_json(desk: ServedDesk) -> None:
    token, _record = api.issue_token(desk.store, "editor", "tests")
    client = desk.client()
    assert client.get("/api/v1/flags").status_code == 401
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/flags", headers=headers).json()
    assert len(listed["flags"]) == 5 and listed["open_by_severity"]["high"] == 5
    flag_id = flag_of(desk, "mpd-no-escort", "reformer-mpd-policy")
    one = client.get(f"/api/v1/flags/{flag_id}", headers=headers).json()
    assert one["change"]["kind"] == "quote" and one["expectation_words"].startswith("the quote")
    bad = client.post(f"/api/v1/flags/{flag_id}/review", headers=headers,
                      json={"decision": "revised"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["field"] == "verdict"
    done = client.post(f"/api/v1/flags/{flag_id}/review", headers=headers,
                       json={"decision": "upheld", "note": "still true"})
    assert done.status_code == 200 and done.json()["review"]["by"] == "Editor Person"
    conflict = client.post(f"/api/v1/flags/{flag_id}/review", headers=headers,
                           json={"decision": "dismissed"})
    assert conflict.status_code == 409
    missing = client.get("/api/v1/flags/999999", headers=headers)
    assert missing.status_code == 404 and missing.json()["detail"] == "there is no flag 999999"
    assert client.get("/healthz").json()["ok"] is True
    schema = client.get("/api/openapi.json").json()
    assert "/api/v1/flags/{flag_id}/review" in schema["paths"]
    assert not any(path.startswith("/flags") for path in schema["paths"]), "pages stay out"


def test_any_two_versions_of_a_source_compare(desk: ServedDesk) -> None:
    versions = api.snapshots(desk.store, "ice-287g")
    newest, oldest = versions[0].id, versions[-1].id
    viewer = desk.client("viewer")
    page = viewer.get("/sources/ice-287g/compare", params={"from": oldest, "to": newest})
    assert page.status_code == 200
    assert "Sherburne County Sheriff" in page.text and 'class="added"' in page.text
    token, _ = api.issue_token(desk.store, "viewer", "compare")
    same = desk.client().get("/api/v1/sources/ice-287g/diff",
                             params={"from": newest, "to": newest},
                             headers={"Authorization": f"Bearer {token}"}).json()
    assert same["region"]["summary"] == "no line changed" and same["tables"] == []
    moved = desk.client().get("/api/v1/sources/ice-287g/diff",
                              params={"from": oldest, "to": newest},
                              headers={"Authorization": f"Bearer {token}"}).json()
    assert any("Sherburne County Sheriff's Office" in row
               for t in moved["tables"] for row in t["added"])
    foreign = api.snapshots(desk.store, "dhs-news")[0].id
    refused = desk.client().get("/api/v1/sources/ice-287g/diff",
                                params={"from": foreign, "to": newest},
                                headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 404 and "not a snapshot of this source" in refused.text


def test_the_fact_check_page_is_the_evidence_report_and_downloads_it(desk: ServedDesk) -> None:
    viewer = desk.client("viewer")
    page = viewer.get("/factchecks/mn-police-ice")
    assert page.status_code == 200
    tree = lxml.html.document_fromstring(page.text)
    [summary] = tree.xpath("//p[@class='report-summary']")
    assert summary.text_content().startswith(
        "Of the 8 claims in “Did Minnesota police join ICE”, 4 rest on evidence that holds as "
        "published. 4 have evidence under review: on reformer-mpd-policy, the quote is gone;")
    assert "ICE's own database shows six local law enforcement agencies in Minnesota with " \
           "active 287(g) agreements." in [(h.text or "").strip() for h in tree.xpath("//h2")]
    assert "Distinct LAW ENFORCEMENT AGENCY values: 6 before, 7 after." in tree.text_content()
    flag = flag_of(desk, "six-287g-agencies", "ice-287g")
    with desk.store.session() as session:
        row = session.get(FlagRow, flag)
        assert row is not None
        compared = {f"/snapshots/{row.baseline_snapshot_id}", f"/snapshots/{row.snapshot_id}"}
    assert compared <= set(tree.xpath("//a/@href")), "the desk's own snapshot pages"
    assert not tree.xpath("//main//style|//main//*[@style]"), "the page's policy allows neither"

    markdown = viewer.get("/factchecks/mn-police-ice/report.md")
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == \
        'attachment; filename="mn-police-ice-evidence.md"'
    assert markdown.text.startswith("# Evidence report: Did Minnesota police join ICE\n")
    assert f"(</snapshots/{row.snapshot_id}>)" in markdown.text, "no desk address: relative"
    standalone = viewer.get("/factchecks/mn-police-ice/report.html")
    assert standalone.headers["content-type"] == "text/html; charset=utf-8"
    assert standalone.headers["content-disposition"] == \
        'attachment; filename="mn-police-ice-evidence.html"'
    assert standalone.headers["content-security-policy"] == \
        "default-src 'none'; style-src 'unsafe-inline'"
    assert standalone.text.startswith("<!doctype html>") and "<style>" in standalone.text

    data = yaml.safe_load(desk.sources.read_text())
    data["desk"]["url"] = "https://desk.example/"
    desk.sources.write_text(yaml.safe_dump(data, sort_keys=False))
    linked = viewer.get("/factchecks/mn-police-ice/report.md").text
    assert f"(<https://desk.example/snapshots/{row.snapshot_id}>)" in linked
    token, _record = api.issue_token(desk.store, "viewer", "tests")
    headers = {"Authorization": f"Bearer {token}"}
    as_json = desk.client().get("/api/v1/factchecks/mn-police-ice", headers=headers).json()
    assert as_json["summary"] == summary.text_content()
    [ice] = [e for c in as_json["claims"] if c["id"] == "six-287g-agencies"
             for e in c["evidence"] if e["source"] == "ice-287g"]
    assert ice["flags"][0]["snapshot"]["href"] == \
        f"https://desk.example/snapshots/{row.snapshot_id}"
    served = desk.client().get("/api/v1/factchecks/mn-police-ice/report",
                               params={"format": "md"}, headers=headers)
    assert served.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "content-disposition" not in served.headers and served.text == linked


def test_a_claim_s_page_shows_its_timeline(desk: ServedDesk) -> None:
    """Each evidence item's timeline, the days it moved, on the claim's page and in the API."""
    expected = api.timeline(desk.store, "six-287g-agencies",
                            config=api.load_config(desk.sources))
    [item] = [i for i in expected.items if i.source == "ice-287g"]
    assert len(item.moments) >= 2 and item.moments[-1].outcome == "broken"
    viewer = desk.client("viewer")
    page = viewer.get("/claims/six-287g-agencies").text
    assert "<h4>Timeline</h4>" in page
    lists = lxml.html.fromstring(page).xpath('//ol[contains(@class, "timeline")]')
    shown = [" ".join(li.text_content().split())
             for li in lists[expected.items.index(item)].xpath("li")]
    assert [line.split(" · ")[0] for line in shown] == [m.line for m in item.moments]
    token, _record = api.issue_token(desk.store, "viewer", "tests")
    got = desk.client().get("/api/v1/claims/six-287g-agencies/timeline",
                            headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200 and got.json() == expected.to_json()


def test_a_rendered_snapshot_says_so_on_the_flag_and_snapshot_pages_and_in_json(
        desk: ServedDesk) -> None:
    flag_id = flag_of(desk, "mpd-no-escort", "reformer-mpd-policy")
    with desk.store.session() as session:
        flag = session.get(FlagRow, flag_id)
        assert flag is not None and flag.baseline_snapshot_id is not None
        rendered, served = flag.snapshot_id, flag.baseline_snapshot_id
    with desk.store.engine.begin() as conn:  # as a check with `fetch: browser` stores it
        conn.execute(text("UPDATE snapshot SET fetch_mode = 'browser' WHERE id = :id"),
                     {"id": rendered})
    viewer = desk.client("viewer")
    page = lxml.html.fromstring(viewer.get(f"/flags/{flag_id}").text)
    [compared] = [dd.text_content() for dd in page.iter("dd")
                  if f"snapshot {rendered}" in dd.text_content()][:1]
    assert f"snapshot {rendered} (" in compared and "rendered in a browser)" in compared
    assert compared.count("rendered in a browser") == 1, "the baseline was read as served"
    stored = [p.text_content() for p in page.iter("p")
              if "Download the original" in p.text_content()]
    assert [("rendered in a browser" in p) for p in stored] == [True, False], \
        "beside the stored snapshot: now (rendered), then the baseline (as served)"
    shown = viewer.get(f"/snapshots/{rendered}").text
    assert "rendered in a browser (headless Chromium)" in shown
    assert "as served (no browser)" in viewer.get(f"/snapshots/{served}").text

    token, _record = api.issue_token(desk.store, "viewer", "tests")
    headers = {"Authorization": f"Bearer {token}"}
    assert viewer.get(f"/api/v1/snapshots/{rendered}", headers=headers).json()[
        "fetch_mode"] == "browser"
    assert viewer.get(f"/api/v1/snapshots/{served}", headers=headers).json()[
        "fetch_mode"] == "http"
    detail = viewer.get(f"/api/v1/flags/{flag_id}", headers=headers).json()
    assert (detail["snapshot"]["fetch_mode"], detail["baseline"]["fetch_mode"]) == (
        "browser", "http")


def dated_desk(site: SiteServer, tmp_path: Path) -> Config:
    """A desk's sources.yaml and database in `tmp_path`: with `defaults.backfill_from` (one
    dated copy), `fc`, published, cites `page` on the loopback site and awaits its backfill
    (synced, never checked); `other` is cited by a fact-check with no `published:` day."""
    from db import open_store
    copies = tmp_path / "copies"
    copies.mkdir()
    main = "<html><body><main>The council approved the budget.</main></body></html>"
    (copies / "2025-03-10.html").write_text(main)
    (site.root / "page.html").write_text(main)
    (site.root / "other.html").write_text(main)
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
defaults: {{host_delay: 0s, backfill_from: "{copies}"}}
sources:
  page: {{url: "{site.url('page.html')}", select: main}}
  other: {{url: "{site.url('other.html')}", select: main}}
factchecks:
  - id: fc
    title: The council and the budget
    published: 2025-03-10
    claims:
      - id: c
        text: The council approved the budget.
        verdict: Supported
        evidence:
          - {{source: page, quote: the council approved the budget}}
  - id: undated
    title: The budget, again
    claims:
      - {{id: c2, text: The council approved the budget., verdict: Supported,
         evidence: [{{source: other, quote: the council approved the budget}}]}}
""")
    cfg = api.load_config(tmp_path / "sources.yaml")
    store = open_store(f"sqlite:///{tmp_path / 'claimwatch.db'}")
    with store.session() as session:  # as the desk's first check does
        sync_config(session, cfg)
    store.close()
    return cfg


def test_a_fact_check_s_page_says_where_its_backfill_stands(site: SiteServer,
                                                            tmp_path: Path) -> None:
    """With `defaults.backfill_from`, a dated fact-check's page says whether loading its
    sources' versions since publication is awaited, under way, stopped midway (the next check
    resumes it) or done, and when; the REST API gives the same as `status --json`."""
    from db import leases
    from pipeline import backfill
    from tests.test_check import FAST
    cfg = dated_desk(site, tmp_path)

    def said(desk: ServedDesk) -> str:
        page = desk.client("viewer").get("/factchecks/fc")
        assert page.status_code == 200
        [line] = lxml.html.document_fromstring(page.text).xpath("//p[@class='backfill']")
        return " ".join(line.text_content().split())

    with serve_desk(tmp_path) as desk:
        assert said(desk) == (
            "awaiting backfill The versions of this fact-check's sources since its publication "
            "day are not loaded yet: the next check loads them, before it checks the sources "
            "live.")
        claimed = backfill.claim_waiting(desk.store, cfg, "a-check", lease=dt.timedelta(minutes=5))
        assert claimed is not None
        [state] = api.status(desk.store, cfg)["backfills"]
        started = dt.datetime.strptime(state["started_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert said(desk).startswith(
            "backfill in progress Loading the versions of this fact-check's sources since its "
            f"publication day: started {started:%Y-%m-%d %H:%M} UTC (")
        with desk.store.session() as session:  # the check was stopped: its leases let go
            leases.release(session, "a-check")
        assert said(desk) == (
            "backfill interrupted Loading the versions of this fact-check's sources since its "
            f"publication day started {started:%Y-%m-%d %H:%M} UTC and stopped before the end: "
            "the next check resumes it, loading only what is missing.")
        api.check(desk.store, cfg, settings=FAST)
        [state] = api.status(desk.store, cfg)["backfills"]
        finished = dt.datetime.strptime(state["finished_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert said(desk) == ("backfilled The versions of this fact-check's sources since its "
                              f"publication day were loaded {finished:%Y-%m-%d %H:%M} UTC.")
        token, _record = api.issue_token(desk.store, "viewer", "tests")
        got = desk.client().get("/api/v1/factchecks/fc",
                                headers={"Authorization": f"Bearer {token}"}).json()
        assert got["backfill"] == state


def test_check_now_runs_no_backfill_and_says_when_a_source_awaits_one(
        site: SiteServer, tmp_path: Path) -> None:
    """"Check now" on a source whose fact-check awaits its backfill answers at once that the
    next scheduled check loads it first, and checks nothing (a live check now would become its
    baseline); on another source it checks that source, after answering, and still runs no
    backfill: loading an archive's versions is no work for a web request. The REST API says
    the same in `awaiting_backfill`."""
    import time

    from db import utcnow
    from pipeline import backfill

    cfg = dated_desk(site, tmp_path)
    with serve_desk(tmp_path) as desk:
        editor = desk.client("editor")
        csrf = csrf_of(editor.get("/sources/page").text)
        asked = editor.post("/sources/page/check", data={"csrf": csrf})
        assert (asked.status_code, asked.headers["location"]) == (
            303, "/sources/page?awaiting=1")
        [said] = lxml.html.fromstring(editor.get(asked.headers["location"]).text).xpath(
            "//p[contains(@class, 'banner')]")
        assert " ".join(said.text_content().split()) == (
            "page is not checked now: a fact-check citing it awaits its backfill (the versions "
            "of its sources since its publication day are not loaded yet). The next scheduled "
            "check loads them first, then checks page live; checking it now would make "
            "today's version its baseline.")

        asked = editor.post("/sources/other/check", data={"csrf": csrf})
        assert (asked.status_code, asked.headers["location"]) == (
            303, "/sources/other?checking=1")
        deadline = time.monotonic() + 60  # the check runs after the answer
        while api.source(desk.store, cfg, "other").last_check_at is None:
            assert time.monotonic() < deadline, "the check asked for ran"
            time.sleep(0.1)
        assert len(api.snapshots(desk.store, "other")) == 1

        token, _record = api.issue_token(desk.store, "editor", "tests")
        got = desk.client().post("/api/v1/sources/page/check",
                                 headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200
        assert (got.json()["checked"], got.json()["awaiting_backfill"]) == (0, ["page"])
        with desk.store.session() as session:
            assert [s.state for s in backfill.states(session, cfg, utcnow())] == [
                "awaiting"], "no backfill ran"
        assert api.snapshots(desk.store, "page") == [] and api.source(
            desk.store, cfg, "page").last_check_at is None, "nor any check of page"


def test_a_failed_backfill_shows_with_its_reason_and_the_list_shows_each_state(
        site: SiteServer, tmp_path: Path) -> None:
    """A backfill a check ended because `backfill_from` cannot be read is `failed` on the
    fact-check's page (with the reason, escaped: it quotes the path), in the REST API, and as a
    badge on the Fact-checks list, where only the dated fact-check has one; once `claimwatch
    backfill` loaded it, all of them say it was backfilled."""
    from tests.test_check import FAST
    dated_desk(site, tmp_path)
    copies = tmp_path / "copies"
    missing = tmp_path / "<b>gone</b>"
    sources = tmp_path / "sources.yaml"
    sources.write_text(sources.read_text().replace(str(copies), str(missing)))
    cfg = api.load_config(sources)
    why = f"{str(missing)!r} is neither `cdx`, a directory nor a file"

    def badges(desk: ServedDesk) -> dict[str, list[tuple[str, str]]]:
        listed = desk.client("viewer").get("/factchecks")
        assert listed.status_code == 200
        return {row.xpath("string(td[1]/a)"): [(b.get("class"), b.text_content())
                                               for b in row.xpath("td[1]//span[@class]")]
                for row in lxml.html.document_fromstring(listed.text).xpath("//tbody/tr")}

    with serve_desk(tmp_path) as desk:
        assert badges(desk) == {"The council and the budget": [("badge", "awaiting backfill")],
                                "The budget, again": []}
        [done] = api.check(desk.store, cfg, settings=FAST).backfills
        assert done.error == why
        [state] = api.status(desk.store, cfg)["backfills"]
        assert (state["state"], state["error"]) == ("failed", why)
        ended = dt.datetime.strptime(state["finished_at"], "%Y-%m-%dT%H:%M:%SZ")
        page = desk.client("viewer").get("/factchecks/fc")
        assert "<b>gone</b>" not in page.text and "&lt;b&gt;gone&lt;/b&gt;" in page.text
        [line] = lxml.html.document_fromstring(page.text).xpath("//p[@class='backfill']")
        assert " ".join(line.text_content().split()) == (
            "backfill failed Loading the versions of this fact-check's sources since its "
            f"publication day failed {ended:%Y-%m-%d %H:%M} UTC: {why}. Its sources are checked "
            "live meanwhile; once the cause is fixed, claimwatch backfill fc loads the versions "
            "missing.")
        assert line.xpath("span/@class") == ["badge failed"]
        assert badges(desk)["The council and the budget"] == [("badge failed",
                                                               "backfill failed")]
        token, _record = api.issue_token(desk.store, "viewer", "tests")
        bearer = {"Authorization": f"Bearer {token}"}
        assert desk.client().get("/api/v1/factchecks/fc", headers=bearer).json()[
            "backfill"] == state
        listed = desk.client().get("/api/v1/factchecks", headers=bearer).json()["factchecks"]
        assert {f["id"]: f["backfill"] for f in listed} == {"fc": state, "undated": None}

        api.backfill(desk.store, cfg, "fc", where=str(copies))  # as `claimwatch backfill`
        assert badges(desk)["The council and the budget"] == [("badge holds", "backfilled")]
        got = desk.client().get("/api/v1/factchecks/fc", headers=bearer).json()["backfill"]
        assert (got["state"], got["error"]) == ("finished", None)
