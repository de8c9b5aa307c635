"""The public archive (issue 16 item 1) against a loopback server speaking the Save Page Now 2
API as documented (POST /save, GET /save/status/{job_id}, its JSON answers, `status_ext` errors
and its 429s): each new version is submitted once and its capture recorded with the snapshot;
pending jobs are polled; permanent refusals are recorded and never retried; 429s back off; the
rate and the daily cap hold; the link shows in the alert and the report; keys are never stored.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from alerts.message import alert_message
from db import Store, open_store, utcnow
from db.models import ArchiveRow, Base
from pipeline import api, archive, config
from pipeline import check as check_stage
from pipeline.daemon import Daemon, Log, Settings
from pipeline.demo.server import SiteServer
from pipeline.errors import ConfigError
from pipeline.fetch import FetchSettings
from tests.desk_support import serve_desk
from tests.test_check import QUOTE, page, write
from tests.test_cli import claimwatch

FAST = FetchSettings(user_agent="claimwatch-test", timeout=2, connect_timeout=1, retries=0,
                     host_delay=0)
ACCESS, SECRET = "acc-K3yZ9q", "sec-Wq7Rt2pLx"
STAMP = "20261127201500"


class FakeArchive:
    """Save Page Now 2 on loopback. `statuses` are the answers its status endpoint gives a job
    in turn (the last one repeats); `posts` are special answers to the next POSTs."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = [{"status": "success"}]
        self.posts: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[str, str, dict[str, str], dict[str, list[str]]]] = []
        self.jobs: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                        kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(size).decode())
                fake.requests.append(("POST", self.path, dict(self.headers), form))
                if self.headers.get("Authorization") != f"LOW {ACCESS}:{SECRET}":
                    self._answer(401, b'{"message": "You need to be logged in"}')
                    return
                if fake.posts:
                    status, headers, body = fake.posts.pop(0)
                    self._answer(status, body, headers, "text/html")
                    return
                url = form["url"][0]
                job = f"spn2-{uuid.uuid4().hex}"
                fake.jobs[job] = (url, list(fake.statuses))
                self._answer(200, json.dumps({"url": url, "job_id": job}).encode())

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, dict(self.headers), {}))
                job = self.path.removeprefix("/save/status/")
                if job not in fake.jobs:
                    self._answer(404, b'{"status": "error", "message": "no such job"}')
                    return
                url, answers = fake.jobs[job]
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                body: dict[str, Any] = {"job_id": job, **answer}
                if answer["status"] == "success":
                    body |= {"original_url": url, "timestamp": STAMP, "duration_sec": 6.2,
                             "resources": [url]}
                elif answer["status"] == "pending":
                    body |= {"resources": []}
                self._answer(200, json.dumps(body).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posted(self) -> list[str]:
        return [form["url"][0] for method, _p, _h, form in self.requests if method == "POST"]


@pytest.fixture
def ia(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArchive]:
    monkeypatch.setenv("IA_ACCESS", ACCESS)
    monkeypatch.setenv("IA_SECRET", SECRET)
    fake = FakeArchive()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def desk(site: SiteServer, ia: FakeArchive, *, names: tuple[str, ...] = ("s",),
         archive_opts: str = "", alerts: str = "", extra: str = "") -> config.Config:
    return config.parse(desk_yaml(site, ia, names=names, archive_opts=archive_opts,
                                  alerts=alerts, extra=extra))


def desk_yaml(site: SiteServer, ia: FakeArchive, *, names: tuple[str, ...] = ("s",),
              archive_opts: str = "", alerts: str = "", extra: str = "") -> str:
    sources = "".join(f"  {n}:\n    url: {site.url(n + '.html')}\n    select: main\n{extra}"
                      for n in names)
    claims = "".join(f"""\
      - id: claim-{n}
        text: The sheriff does not work with ICE.
        verdict: Supported
        evidence:
          - {{source: {n}, {QUOTE}}}
""" for n in names)
    return f"""\
version: 1
archive:
  endpoint: {ia.url}
  access: ${{IA_ACCESS}}
  secret: ${{IA_SECRET}}
{archive_opts}{alerts}sources:
{sources}factchecks:
  - id: fc
    title: A fact-check
    claims:
{claims}"""


def rows(store: Store) -> list[ArchiveRow]:
    with store.session() as session:
        found = list(session.scalars(select(ArchiveRow).order_by(ArchiveRow.id)))
        session.expunge_all()
        return found


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def test_a_new_version_is_submitted_once_and_its_capture_recorded(
        store: Store, site: SiteServer, ia: FakeArchive) -> None:
    write(site, "s.html", page())
    cfg = desk(site, ia)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.to_json()["archive"] == {"submitted": 1, "archived": 1, "failed": 0,
                                           "retrying": 0, "pending": 0, "held": None,
                                           "errors": []}
    [post] = [r for r in ia.requests if r[0] == "POST"]
    assert post[1] == "/save" and post[3] == {"url": [site.url("s.html")]}
    assert post[2]["Accept"] == "application/json"
    assert post[2]["User-Agent"].startswith("claimwatch/")
    assert "if_not_archived_within" not in json.dumps(ia.requests)
    [record] = api.archive_status(store)
    assert record.to_json() == {
        "snapshot": report.sources[0].snapshot, "source": "s", "url": site.url("s.html"),
        "status": "archived", "job_id": record.job_id,
        "archived_url": f"{ia.url}/web/{STAMP}/{site.url('s.html')}",
        "captured_at": "2026-11-27T20:15:00Z", "error": None, "message": None, "attempts": 0,
        "next_attempt_at": None, "submitted_at": record.to_json()["submitted_at"]}
    assert record.job_id and record.job_id.startswith("spn2-")
    # unchanged: nothing more goes to the archive; a change is one more submission
    api.check(store, cfg, everything=True, settings=FAST)
    assert len(ia.posted()) == 1
    write(site, "s.html", page(extra="Deputies patrol the whole county."))
    api.check(store, cfg, everything=True, settings=FAST)
    assert len(ia.posted()) == 2 and [r.status for r in rows(store)] == ["archived"] * 2
    assert api.status(store, cfg)["archive"] == {"pending": 0, "submitted": 0, "archived": 2,
                                                 "failed": 0}
    events = [e for e in api.history(store, source="s") if e.kind == "archive"]
    assert len(events) == 2 and f"{ia.url}/web/{STAMP}/" in events[0].text


def test_a_pending_capture_is_polled_until_it_succeeds(store: Store, site: SiteServer,
                                                       ia: FakeArchive) -> None:
    ia.statuses = [{"status": "pending"}, {"status": "pending"}, {"status": "success"}]
    write(site, "s.html", page())
    cfg = desk(site, ia)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.archive is not None and report.archive.pending == 1
    [row] = rows(store)
    assert (row.status, row.archived_url) == ("submitted", None)
    assert archive.send(store, cfg, now=later(5)).archived == 0, "not polled before it is due"
    assert archive.send(store, cfg, now=later(25)).archived == 0  # pending again
    done = archive.send(store, cfg, now=later(50))
    assert (done.archived, done.pending) == (1, 0)
    [row] = rows(store)
    assert row.status == "archived" and row.archived_url == f"{ia.url}/web/{STAMP}/" \
        f"{site.url('s.html')}"
    assert len(ia.posted()) == 1, "polling never submits again"


def test_a_blocked_url_is_recorded_and_never_retried(store: Store, site: SiteServer,
                                                     ia: FakeArchive) -> None:
    ia.statuses = [{"status": "error", "status_ext": "error:blocked-url",
                    "exception": "BlockedURL", "message": "This URL is in the block list."}]
    write(site, "s.html", page())
    cfg = desk(site, ia)
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.archive is not None and report.archive.failed == 1
    [record] = api.archive_status(store, source="s")
    assert (record.status, record.error, record.message, record.attempts,
            record.next_attempt_at) == ("failed", "error:blocked-url",
                                        "This URL is in the block list.", 0, None)
    seen = len(ia.requests)
    for minutes in (10, 600, 6000):
        archive.send(store, cfg, now=later(minutes * 60))
    assert len(ia.requests) == seen


def test_a_passing_refusal_is_submitted_again_but_not_forever(store: Store, site: SiteServer,
                                                              ia: FakeArchive) -> None:
    ia.statuses = [{"status": "error", "status_ext": "error:no-browsers-available",
                    "message": "Try again later."}]
    write(site, "s.html", page())
    cfg = desk(site, ia, archive_opts="  retry: {first: 1m, max: 1h, attempts: 3}\n")
    api.check(store, cfg, everything=True, settings=FAST)
    [row] = rows(store)
    assert (row.status, row.attempts, row.error) == ("pending", 1, "error:no-browsers-available")
    archive.send(store, cfg, now=later(30))
    assert len(ia.posted()) == 1, "backing off"
    archive.send(store, cfg, now=later(61))
    archive.send(store, cfg, now=later(200))
    [row] = rows(store)
    assert (row.status, row.attempts, len(ia.posted())) == ("failed", 3, 3)
    archive.send(store, cfg, now=later(86400))
    assert len(ia.posted()) == 3


def test_429_backs_off_for_retry_after_then_submits(store: Store, site: SiteServer,
                                                    ia: FakeArchive) -> None:
    ia.posts = [(429, {"Retry-After": "300"}, b"<html>Too Many Requests</html>")]
    for name in ("a", "b"):
        write(site, f"{name}.html", page())
    cfg = desk(site, ia, names=("a", "b"))
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.archive is not None and report.archive.retrying == 1
    [error] = report.archive.errors
    assert error.endswith(": HTTP 429 Too Many Requests")
    assert len(ia.posted()) == 1, "a 429 ends the round: the other version waits with it"
    first, second = sorted(rows(store), key=lambda r: -r.attempts)
    assert (first.status, first.attempts, second.status, second.attempts) == (
        "pending", 1, "pending", 0)
    assert first.next_attempt_at >= later(290) and second.next_attempt_at >= later(290)
    archive.send(store, cfg, now=later(200))
    assert len(ia.posted()) == 1, "Retry-After is respected"
    done = archive.send(store, cfg, now=later(310))
    assert done.archived == 2 and len(ia.posted()) == 3


def test_an_archive_that_is_down_holds_up_nothing(store: Store, site: SiteServer,
                                                  ia: FakeArchive) -> None:
    ia.server.shutdown()
    ia.server.server_close()  # connection refused from now on
    for name in ("a", "b"):
        write(site, f"{name}.html", page())
    report = api.check(store, desk(site, ia, names=("a", "b")), everything=True, settings=FAST)
    assert [s.status for s in report.sources] == ["new", "new"]
    assert report.archive is not None and report.archive.retrying == 1
    assert sorted((r.status, r.attempts) for r in rows(store)) == [("pending", 0),
                                                                   ("pending", 1)]


def test_the_rate_and_the_daily_cap_hold(store: Store, site: SiteServer, ia: FakeArchive,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the rounds happen at noon (UTC), so no day ends between them, whenever the test runs
    noon = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(archive, "utcnow", lambda: noon)
    names = ("a", "b", "c", "d")
    for name in names:
        write(site, f"{name}.html", page())
    cfg = desk(site, ia, names=names, archive_opts="  rate: 2\n  daily: 3\n")
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert report.archive is not None and report.archive.submitted == 2
    assert report.archive.held == "the rate of 2 captures a minute is reached"
    assert archive.send(store, cfg, now=noon + dt.timedelta(seconds=10)).submitted == 0
    nxt = archive.send(store, cfg, now=noon + dt.timedelta(seconds=70))
    assert (nxt.submitted, nxt.held) == (1, "the daily cap of 3 captures is reached")
    assert archive.send(store, cfg, now=noon + dt.timedelta(hours=6)).submitted == 0
    tomorrow = noon + dt.timedelta(hours=13)  # 01:00 the next day: a new day's cap
    assert archive.send(store, cfg, now=tomorrow).submitted == 1
    assert sorted(r.status for r in rows(store)) == ["archived"] * 4
    assert len(ia.posted()) == 4


def test_an_opted_out_source_and_a_url_with_a_secret_are_never_sent(
        store: Store, site: SiteServer, ia: FakeArchive) -> None:
    write(site, "s.html", page())
    cfg = desk(site, ia, extra="    archive: false\n")
    api.check(store, cfg, everything=True, settings=FAST)
    assert rows(store) == [] and ia.requests == []
    cfg = desk(site, ia)
    assert archive.wanted(cfg, "s", site.url("s.html")) is True
    assert archive.wanted(cfg, "s", site.url("s.html") + "?key=${PAGE_KEY}") is False


def test_a_changed_source_shows_its_archive_links_in_the_alert_and_the_report(
        store: Store, site: SiteServer, ia: FakeArchive, tmp_path: Path) -> None:
    inbox = tmp_path / "alerts.jsonl"
    write(site, "s.html", page())
    cfg = desk(site, ia, alerts=f"alerts:\n  - to: file:{inbox}\n")
    first = api.check(store, cfg, everything=True, settings=FAST)
    write(site, "s.html", page().replace(
        "does not work with any agency on civil immigration enforcement",
        "cooperates with federal partners"))
    second = api.check(store, cfg, everything=True, settings=FAST)
    [flag] = second.flags
    link = f"{ia.url}/web/{STAMP}/{site.url('s.html')}"
    [line] = inbox.read_text().splitlines()
    payload = json.loads(line)
    assert payload["flag"]["id"] == flag.id
    assert payload["baseline"]["id"] == first.sources[0].snapshot
    archived = {"status": "archived", "url": link, "captured_at": "2026-11-27T20:15:00Z",
                "error": None}
    assert payload["baseline"]["archive"] == archived
    assert payload["snapshot"]["archive"] == archived  # captured before the delivery
    message = alert_message(payload)
    assert f"Archived before: captured 2026-11-27T20:15:00Z <{link}>" in message.text
    assert f'<a href="{link}">' in message.html
    built = api.report_document(store, "fc", config=cfg)
    [story] = built.claims[0].evidence[0].flags
    assert story.baseline is not None and story.baseline.archived_url == link
    assert story.to_json()["baseline"]["archived_url"] == link
    assert f'<a href="{link}">archived</a>' in api.report(store, "fc", "html", config=cfg)
    assert f"[archived](<{link}>)" in api.report(store, "fc", "md", config=cfg)


def test_the_desks_flag_page_links_the_public_copy_beside_the_stored_snapshot(
        site: SiteServer, ia: FakeArchive, tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(desk_yaml(site, ia))
    cfg = api.load_config(tmp_path / "sources.yaml")
    write(site, "s.html", page())
    store = open_store(f"sqlite:///{tmp_path / 'claimwatch.db'}")
    api.check(store, cfg, everything=True, settings=FAST)
    ia.statuses = [{"status": "error", "status_ext": "error:blocked-url",
                    "message": "<b>blocked</b>"}]
    write(site, "s.html", page().replace("does not work with any agency", "works with agencies"))
    [flag] = api.check(store, cfg, everything=True, settings=FAST).flags
    store.close()
    link = f"{ia.url}/web/{STAMP}/{site.url('s.html')}"
    with serve_desk(tmp_path) as served:
        client = served.client("viewer")
        html = client.get(f"/flags/{flag.id}").text
        data = client.get(f"/api/v1/flags/{flag.id}").json()
        snapshot_page = client.get("/snapshots/1").text
        snapshot_json = client.get("/api/v1/snapshots/2").json()
    assert f'<a href="{link}" rel="noreferrer noopener" target="_blank">public archive copy</a>' \
        in html
    assert "public archive: failed (error:blocked-url)" in html
    assert data["baseline"]["archive"]["url"] == link
    assert data["snapshot"]["archive"] == {"status": "failed", "url": None, "captured_at": None,
                                           "error": "error:blocked-url"}
    assert f'<a href="{link}" rel="noreferrer noopener" target="_blank">the archive\'s copy</a>' \
        in snapshot_page
    assert snapshot_json["archive"] == data["snapshot"]["archive"]


def test_the_keys_are_never_stored(store: Store, site: SiteServer, ia: FakeArchive,
                                   db_url: str, tmp_path: Path) -> None:
    ia.posts = [(500, {}, b"<html>oops</html>")]
    ia.statuses = [{"status": "error", "status_ext": "error:blocked",
                    "message": f"refused for LOW {ACCESS}:{SECRET}"}]
    write(site, "s.html", page())
    cfg = desk(site, ia)
    api.check(store, cfg, everything=True, settings=FAST)
    archive.send(store, cfg, now=later(400))
    [row] = rows(store)
    assert row.status == "failed" and row.message == "refused for LOW ${IA_ACCESS}:${IA_SECRET}"
    dumped = []
    with store.session() as session:
        for table in Base.metadata.sorted_tables:
            dumped += [repr(tuple(r)) for r in session.execute(select(table))]
    everything = "\n".join(dumped)
    assert ACCESS not in everything and SECRET not in everything
    if db_url.startswith("sqlite:///"):
        raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        assert ACCESS.encode() not in raw and SECRET.encode() not in raw


def test_a_pruned_snapshot_takes_its_archive_row_along(store: Store, site: SiteServer,
                                                       ia: FakeArchive) -> None:
    cfg = desk(site, ia)
    for extra in ("One.", "Two.", "Three."):
        write(site, "s.html", page(extra=extra))
        api.check(store, cfg, everything=True, settings=FAST)
    assert [r.snapshot_id for r in rows(store)] == [1, 2, 3]
    time.sleep(1.1)
    assert api.prune(store, "1s")["snapshots"] == 1
    assert [r.snapshot_id for r in rows(store)] == [1, 3]
    assert len([e for e in api.history(store, source="s") if e.kind == "archive"]) == 3


def test_the_daemon_sends_as_its_own_job(site: SiteServer, ia: FakeArchive,
                                         tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(desk_yaml(site, ia))
    write(site, "s.html", page())
    db_url = f"sqlite:///{tmp_path / 'claimwatch.db'}"
    store = open_store(db_url)
    check_stage.run(store, api.load_config(tmp_path / "sources.yaml"), everything=True,
                    settings=FAST)  # the check alone: no round after it
    store.close()
    out = io.StringIO()
    daemon = Daemon(tmp_path / "sources.yaml", db_url, Settings(), Log(out, "json"))
    assert "send_archive" in [job.__name__ for job, _every in daemon.jobs()]
    daemon.send_archive()
    daemon.store.close()
    [line] = out.getvalue().splitlines()
    assert json.loads(line) | {"ts": None} == {
        "ts": None, "event": "archive", "submitted": 1, "archived": 1, "failed": 0,
        "pending": 0, "held": None, "errors": None}


def test_the_cli_shows_and_sends(site: SiteServer, ia: FakeArchive, tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(desk_yaml(site, ia))
    write(site, "s.html", page())
    ia.statuses = [{"status": "pending"}, {"status": "success"}]
    done = claimwatch("check", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["archive"]["pending"] == 1
    listed = claimwatch("archive", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.startswith("s snapshot 1 submitted job spn2-")
    sent = claimwatch("archive", "send", cwd=tmp_path)
    assert sent.stdout == "archive: 0 submitted, 0 archived, 0 to retry, 0 given up, 1 waiting\n"
    store = open_store(f"sqlite:///{tmp_path / 'claimwatch.db'}")
    assert archive.send(store, api.load_config(tmp_path / "sources.yaml"),
                        now=later(30)).archived == 1
    store.close()
    [record] = json.loads(claimwatch("archive", "--source", "s", "--json",
                                     cwd=tmp_path).stdout)["archive"]
    assert record["archived_url"] == f"{ia.url}/web/{STAMP}/{site.url('s.html')}"
    unknown = claimwatch("archive", "--source", "nope", cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr) == (2, "claimwatch: unknown source 'nope'\n")
    (tmp_path / "sources.yaml").write_text(desk_yaml(site, ia).replace(
        f"archive:\n  endpoint: {ia.url}\n  access: ${{IA_ACCESS}}\n  secret: ${{IA_SECRET}}\n",
        ""))
    off = claimwatch("archive", "send", cwd=tmp_path)
    assert off.returncode == 2 and "no 'archive:' block" in off.stderr


def test_the_archive_block_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IA_SECRET", SECRET)
    with pytest.raises(ConfigError) as err:
        config.parse("version: 1\narchive:\n  access: abc123\n  secret: ${IA_SECRET}\n"
                     "  rate: 0\n")
    assert err.value.problems == [
        "sources.yaml:3: archive.access: write the key as ${NAME} and set NAME in the "
        "environment: a key is never written in sources.yaml",
        "sources.yaml:5: archive.rate: Input should be greater than or equal to 1"]
    with pytest.raises(ConfigError) as err:
        config.parse("version: 1\narchive:\n  access: ${IA_NOPE}\n  secret: ${IA_SECRET}\n")
    assert err.value.problems == ["sources.yaml:3: environment variable IA_NOPE is not set"]
