"""`claimwatch status` as a health check: exit 0 when nothing needs attention, 1 when a source
keeps failing, nothing checks a source any more, or an alert was given up."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from db import Store, utcnow
from db.models import AlertRow, SourceRow
from pipeline import api, config
from pipeline.cli import cli
from pipeline.demo.server import SiteServer
from pipeline.fetch import FetchSettings

FAST = FetchSettings(user_agent="t", retries=0, host_delay=0, connect_timeout=1)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup(tmp_path: Path, site: SiteServer) -> tuple[Path, config.Config]:
    (site.root / "ok.html").write_text("<html><body><main>All is well here.</main></body></html>")
    path = tmp_path / "sources.yaml"
    path.write_text(f"""\
version: 1
defaults: {{every: 1h}}
sources:
  ok: {{url: "{site.url('ok.html')}"}}
  dead: {{url: "http://127.0.0.1:{dead_port()}/gone"}}
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
          - {{source: ok, quote: all is well here}}
          - {{source: dead, quote: anything at all here}}
""")
    return path, config.load(path)


def status_cli(path: Path, store: Store) -> tuple[int, dict]:
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--sources", str(path), "--db", url, "status", "--json"])
    return result.exit_code, json.loads(result.output)


def test_healthy_then_failing_then_overdue(tmp_path: Path, store: Store,
                                           site: SiteServer) -> None:
    path, cfg = setup(tmp_path, site)
    api.check(store, cfg, only=["ok"], settings=FAST)
    code, state = status_cli(path, store)
    assert state["sources"]["active"] == 2 and state["sources"]["due"] == 1  # dead: never
    assert (code, state["attention"]) == (0, [])
    for _ in range(3):
        api.check(store, cfg, only=["dead"], settings=FAST)
    code, state = status_cli(path, store)
    [failing] = state["sources"]["failing"]
    assert failing["source"] == "dead" and failing["in_a_row"] == 3 and failing["backed_off"]
    assert "refused" in failing["error"]
    assert code == 1 and state["attention"] == ["1 source(s) failing: dead"]
    assert state["flags"]["open"] == 1 and state["flags"]["by_severity"] == {"high": 1}
    with store.session() as session:
        session.execute(update(SourceRow).where(SourceRow.slug == "ok").values(
            next_check_at=utcnow() - dt.timedelta(hours=3)))
    code, state = status_cli(path, store)
    assert state["sources"]["overdue"] == ["ok"] and code == 1
    assert any("overdue" in line for line in state["attention"])


def test_a_given_up_alert_needs_attention(tmp_path: Path, store: Store,
                                          site: SiteServer) -> None:
    path, cfg = setup(tmp_path, site)
    for _ in range(3):
        api.check(store, cfg, only=["dead"], settings=FAST)
    with store.session() as session:
        session.add(AlertRow(alert_id="cw-test", flag_id=1, channel="file:x", payload={},
                             status="failed", attempts=12, next_attempt_at=utcnow(),
                             last_error="connection refused", created_at=utcnow()))
    code, state = status_cli(path, store)
    assert code == 1 and state["alerts"]["failed"] == 1
    assert any("alert(s) given up" in line for line in state["attention"])


def test_each_backfill_s_state_in_text_and_json(tmp_path: Path, store: Store,
                                                site: SiteServer) -> None:
    """With `defaults.backfill_from`, `status` says of each dated fact-check whether it awaits
    its backfill, which one a worker is loading now, which one stopped midway (the next check
    resumes it: nothing needs attention), and when each was backfilled; the next `check` then
    finishes the interrupted and the awaiting ones, and leaves the one another worker holds."""
    from db import leases
    from pipeline import backfill
    from tests.test_daemon import dated_sources
    page = "<html><body><main>The council approved the budget.</main></body></html>"
    copies = tmp_path / "copies"
    copies.mkdir()
    (copies / "2025-03-10.html").write_text(page)
    names = ["stopped", "busy", "new", "done"]
    for name in names:
        (site.root / f"{name}.html").write_text(page)
    path = tmp_path / "sources.yaml"
    dated_sources(path, site, copies, names, tmp_path / "alerts.jsonl")
    cfg = config.load(path)
    api.backfill(store, cfg, "fc-done", where=str(copies))  # by hand: finished
    lease = dt.timedelta(minutes=5)
    stopped = backfill.claim_waiting(store, cfg, "a-check", lease=lease)
    busy = backfill.claim_waiting(store, cfg, "a-daemon", lease=lease)
    assert (stopped and stopped.factcheck, busy and busy.factcheck) == ("fc-stopped", "fc-busy")
    with store.session() as session:  # the check stopped midway: its leases let go
        leases.release(session, "a-check")

    code, state = status_cli(path, store)
    assert code == 0 and state["attention"] == [], "a backfill's state needs no one"
    found = {b["factcheck"]: b for b in state["backfills"]}
    assert list(found) == ["fc-busy", "fc-done", "fc-new", "fc-stopped"]
    assert {k: b["state"] for k, b in found.items()} == {
        "fc-busy": "in-progress", "fc-done": "finished", "fc-new": "awaiting",
        "fc-stopped": "interrupted"}
    assert [found["fc-new"]["started_at"], found["fc-new"]["finished_at"],
            found["fc-stopped"]["finished_at"], found["fc-done"]["started_at"]] == [None] * 4
    started = found["fc-stopped"]["started_at"]
    assert started is not None and found["fc-done"]["finished_at"] is not None
    url = store.engine.url.render_as_string(hide_password=False)
    text = CliRunner().invoke(cli, ["--sources", str(path), "--db", url, "status"]).output
    lines = text.splitlines()
    at = lines.index("backfills: 1 awaiting, 1 in progress, 1 interrupted, 1 finished")
    assert lines[at + 1:at + 5] == [
        f"  fc-busy: backfill started {found['fc-busy']['started_at']}, in progress",
        "  fc-new: awaiting its backfill",
        f"  fc-stopped: backfill started {started}, interrupted (the next check or daemon "
        "resumes it)",
        f"  fc-done: backfilled {found['fc-done']['finished_at']}"]

    resumed = api.check(store, cfg, settings=FAST)
    assert sorted(r.factcheck for r in resumed.backfills) == ["fc-new", "fc-stopped"]
    assert sorted(s.source for s in resumed.sources) == ["done", "new", "stopped"]
    _code, state = status_cli(path, store)
    assert {b["factcheck"]: b["state"] for b in state["backfills"]} == {
        "fc-busy": "in-progress", "fc-done": "finished", "fc-new": "finished",
        "fc-stopped": "finished"}


def test_a_failed_backfill_says_why_and_needs_attention(tmp_path: Path, store: Store,
                                                        site: SiteServer) -> None:
    """A backfill that `check` ended because `backfill_from` cannot be read is `failed`, with
    the reason, in the text and the JSON (not `finished`), listed before the finished ones, and
    needs someone: nothing resumes it. Once `claimwatch backfill` completed it, nothing does."""
    from tests.test_daemon import dated_sources
    page = "<html><body><main>The council approved the budget.</main></body></html>"
    copies = tmp_path / "copies"
    for name in ("broken", "zdone"):
        (site.root / f"{name}.html").write_text(page)
    path = tmp_path / "sources.yaml"
    dated_sources(path, site, copies, ["broken", "zdone"], tmp_path / "alerts.jsonl")
    cfg = config.load(path)
    copies.mkdir()
    (copies / "2025-03-10.html").write_text(page)
    api.backfill(store, cfg, "fc-zdone", where=str(copies))  # by hand: finished
    copies.rename(tmp_path / "elsewhere")  # then the directory is moved away
    [failed] = api.check(store, cfg, settings=FAST).backfills
    why = f"{str(copies)!r} is neither `cdx`, a directory nor a file"
    assert (failed.factcheck, failed.error) == ("fc-broken", why)

    code, state = status_cli(path, store)
    found = {b["factcheck"]: b for b in state["backfills"]}
    assert {k: (b["state"], b["error"]) for k, b in found.items()} == {
        "fc-broken": ("failed", why), "fc-zdone": ("finished", None)}
    assert code == 1 and state["attention"] == [
        "1 backfill(s) failed: fc-broken (fix the cause, then 'claimwatch backfill FACTCHECK')"]
    url = store.engine.url.render_as_string(hide_password=False)
    lines = CliRunner().invoke(cli, ["--sources", str(path), "--db", url, "status"]).output \
        .splitlines()
    at = lines.index("backfills: 1 failed, 1 finished")
    assert lines[at + 1:at + 3] == [
        f"  fc-broken: backfill failed {found['fc-broken']['finished_at']}: {why} (its sources "
        "are checked live; 'claimwatch backfill fc-broken' completes it)",
        f"  fc-zdone: backfilled {found['fc-zdone']['finished_at']}"]
    assert "needs attention: 1 backfill(s) failed: fc-broken" in lines[-1]

    (tmp_path / "elsewhere").rename(copies)
    done = CliRunner().invoke(cli, ["--sources", str(path), "--db", url, "backfill",
                                    "fc-broken", "--from", str(copies)])
    assert done.exit_code == 0, (done.output, done.exception)
    code, state = status_cli(path, store)
    assert (code, state["attention"]) == (0, [])
    assert {b["factcheck"]: (b["state"], b["error"]) for b in state["backfills"]} == {
        "fc-broken": ("finished", None), "fc-zdone": ("finished", None)}
