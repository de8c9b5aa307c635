"""Alerts end to end with real receivers on loopback (issue 4): flags raised by `check` reach a
json:// webhook, a local SMTP server and a file; a channel that is down gets everything once it
is back, and nothing twice as new; a crash between send and mark resends the same alert_id; many
flags make one digest; filters; secrets from ${ENV} never shown; page content escaped."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from alerts import deliver as deliver_stage
from alerts import outbox
from alerts.channels import FileChannel, channel_keys, redact, secrets
from alerts.deliver import backoff, deliver
from alerts.message import Message
from db import Store, utcnow
from db.models import AlertRow
from pipeline import api, config
from pipeline.config import Retry
from pipeline.demo.server import SiteServer
from pipeline.errors import ConfigError, UsageError
from pipeline.fetch import FetchSettings

FAST = FetchSettings(user_agent="claimwatch-test", timeout=2, connect_timeout=1, retries=0,
                     backoff_base=0.01, host_delay=0)
SENTENCES = ["The office does not hold people on ICE detainers alone.",
             "Deputies do not ask about immigration status at traffic stops.",
             "The jail shares booking data only as state law requires.",
             "No agreement with ICE was signed in the last two years.",
             "The sheriff declined to join a federal immigration task force.",
             "Interpreters are provided at no cost to anyone who is booked.",
             "Inmates may call a lawyer within one hour of being booked."]
FC_URL = "https://example.org/fact-checks/sheriff"
ALERT_ID = re.compile(r"^alert_id: (cw-\S+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def later(seconds: int) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


class Webhook:
    """A json:// receiver on loopback; down (connection refused) until `start()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def url(self, userinfo: str = "") -> str:
        return f"json://{userinfo}127.0.0.1:{self.port}/hooks/claimwatch"

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(json.loads(body))
                hook.auth.append(self.headers.get("Authorization", ""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def alert_ids(self) -> list[str]:
        """Every alert id received, once per message that carried it."""
        return [found for post in self.posts for found in ALERT_ID.findall(post["message"])]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def desk(site: SiteServer, alerts: str, *, claims: int = 1, sources: str = "",
         factchecks: str = "") -> config.Config:
    """A desk watching one page for `claims` quotes (fact-check `fc`), with these channels."""
    return config.parse(desk_yaml(site, alerts, claims=claims, sources=sources,
                                  factchecks=factchecks))


def desk_yaml(site: SiteServer, alerts: str, *, claims: int = 1, sources: str = "",
              factchecks: str = "") -> str:
    items = "".join(f"""\
      - id: claim-{n}
        text: {SENTENCES[n]}
        verdict: Supported
        evidence:
          - {{source: page, quote: "{SENTENCES[n]}"}}
""" for n in range(claims))
    return f"""\
version: 1
sources:
  page:
    url: {site.url("index.html")}
    select: main
{sources}alerts:
{alerts}
factchecks:
  - id: fc
    title: Does the sheriff work with ICE
    url: {FC_URL}
    claims:
{items}{factchecks}"""


def publish(site: SiteServer, *paragraphs: str) -> None:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    (site.root / "index.html").write_text(f"<html><body><main>{body}</main></body></html>")


def break_claims(store: Store, site: SiteServer, cfg: config.Config,
                 replacement: str = "The page was rewritten.") -> api.RunReport:
    """Check the page as it is (the baseline), then with every sentence gone: flags."""
    publish(site, *SENTENCES)
    first = api.check(store, cfg, everything=True, settings=FAST)
    assert first.flags == []
    publish(site, replacement)
    return api.check(store, cfg, everything=True, settings=FAST)


def alert_rows(store: Store) -> list[AlertRow]:
    with store.session() as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- webhook: down, then up -------------------------------------------------------------------


def test_a_webhook_that_is_down_gets_everything_once_it_is_up(store: Store, site: SiteServer,
                                                              webhook: Webhook,
                                                              tmp_path: Path) -> None:
    cfg = desk(site, f"""\
  - to: "{webhook.url()}"
    retry: {{first: 30s, max: 1h}}
  - to: "file:{tmp_path / 'alerts.jsonl'}"
""", claims=2)
    report = break_claims(store, site, cfg)
    assert len(report.flags) == 2
    assert report.to_json()["alerts"] == {
        "sent": 2, "failed": 0, "pending": 2,
        "errors": [f"{webhook.url()}: A Connection error occurred sending JSON notification "
                   "to 127.0.0.1: connection refused"]}
    assert len(lines(tmp_path / "alerts.jsonl")) == 2, "the file channel is not held up"
    [down] = {a.last_error for a in api.alerts(store) if a.status == "pending"}
    assert "connection refused" in down

    assert deliver(store, cfg).sent == 0, "not due yet: backing off"
    webhook.start()
    back = deliver(store, cfg, now=later(31))
    assert (back.sent, back.messages, back.pending, back.errors) == (2, 2, 0, [])
    assert sorted(webhook.alert_ids()) == sorted(a.alert_id for a in alert_rows(store)
                                                 if a.channel == webhook.url())
    assert {p["type"] for p in webhook.posts} == {"failure"}, "high severity"

    assert deliver(store, cfg, now=later(3600)).sent == 0
    publish(site, "The page was rewritten.", "And rewritten again elsewhere.")
    again = api.check(store, cfg, everything=True, settings=FAST)
    assert again.flags == [] and again.alerts.sent == 0, "the open flags do not alert again"
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == 2, "no alert_id arrived twice"
    story = [e.text for e in api.history(store, claim="claim-0") if e.kind == "alert"]
    assert [s[s.index("alert for"):] for s in story if webhook.url() in s] == [
        f"alert for flag 1 retrying for {webhook.url()}: A Connection error occurred sending "
        "JSON notification to 127.0.0.1: connection refused",
        f"alert for flag 1 delivered to {webhook.url()}"]


def test_a_crash_between_send_and_mark_resends_the_same_alert(store: Store, site: SiteServer,
                                                              webhook: Webhook,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    webhook.start()
    cfg = desk(site, f'  - to: "{webhook.url()}"')
    monkeypatch.setattr(api, "deliver", lambda store, config: deliver_stage.DeliveryReport())
    break_claims(store, site, cfg)  # the flag and its alert, not sent yet

    def crash(*args: object) -> None:
        raise RuntimeError("killed after sending, before marking sent")

    monkeypatch.setattr(deliver_stage, "_mark_sent", crash)
    with pytest.raises(RuntimeError):
        deliver(store, cfg)
    assert [a.status for a in alert_rows(store)] == ["pending"]
    monkeypatch.undo()
    assert deliver(store, cfg).sent == 1
    first, second = webhook.alert_ids()
    assert first == second == alert_rows(store)[0].alert_id, "resent under the same alert_id"
    assert deliver(store, cfg).sent == 0
    assert len(set(webhook.alert_ids())) == 1, "a receiver that drops repeats sees one alert"


# --- email --------------------------------------------------------------------------------------


HOSTILE = ('Statement: &lt;script&gt;alert("x")&lt;/script&gt; '
           '&lt;a href="https://evil.example/login"&gt;verify your account&lt;/a&gt;')


def test_an_email_alert_escapes_what_the_page_says(store: Store, site: SiteServer,
                                                   smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    cfg = desk(site, f'  - to: "mailto://127.0.0.1:{port}?to=editors@example.org'
                     f'&from=claimwatch@example.org"')
    report = break_claims(store, site, cfg, replacement=HOSTILE)
    assert report.alerts.sent == 1
    [mail] = mailbox.messages
    assert mail["Subject"] == f"[HIGH] broken: {SENTENCES[0]} (claim-0)"
    assert mail["To"] == "editors@example.org"
    html_part = mail.get_body(("html",))
    text_part = mail.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    links = set(re.findall(r'<a href="([^"]*)"', html))
    assert links == {FC_URL, site.url("index.html")}, "only sources.yaml's URLs are links"
    text = text_part.get_content()
    for needle in (SENTENCES[0], "Verdict: Supported", "Does the sheriff work with ICE",
                   "quote no longer found", "What changed:", f"-{SENTENCES[0]}",
                   "claimwatch review 1 --decision", alert_rows(store)[0].alert_id):
        assert needle in text


# --- file -------------------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from alerts.channels import FileChannel
from alerts.message import Message
channel = FileChannel("file:x", Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    payloads = tuple({"alert_id": f"{sys.argv[2]}-{i}-{j}", "pad": sys.argv[2] * 9000}
                     for j in range(2))
    channel.send(Message(f"{sys.argv[2]}-{i}", "t", "t", "t", "low", payloads))
"""


def test_the_file_channel_under_two_writer_processes(tmp_path: Path) -> None:
    path, per_writer = tmp_path / "alerts.jsonl", 150
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(per_writer)],
                                cwd=Path(__file__).parent.parent)
               for name in ("a", "b")]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    found = lines(path)  # every line is whole JSON: nothing interleaved
    assert len(found) == 2 * 2 * per_writer
    assert len({f["alert_id"] for f in found}) == len(found)
    assert all(f["pad"] == f["alert_id"][0] * 9000 for f in found)


def test_a_torn_last_line_does_not_swallow_the_next_alert(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"alert_id": "cw-1-cut sho')  # an earlier write cut short (disk full)
    FileChannel("file:x", path).send(Message("cw-2", "t", "t", "t", "low",
                                             ({"alert_id": "cw-2"},)))
    assert json.loads(path.read_text().splitlines()[-1]) == {"alert_id": "cw-2"}


# --- digests and filters ------------------------------------------------------------------------


def test_more_than_n_flags_for_a_channel_make_one_digest(store: Store, site: SiteServer,
                                                         webhook: Webhook, tmp_path: Path) -> None:
    webhook.start()
    cfg = desk(site, f"""\
  - to: "{webhook.url()}"
    digest_over: 5
  - to: "file:{tmp_path / 'alerts.jsonl'}"
""", claims=7)
    report = break_claims(store, site, cfg)
    assert len(report.flags) == 7
    assert (report.alerts.sent, report.alerts.messages) == (14, 8)
    [post] = webhook.posts
    assert post["title"] == "[HIGH] 7 claims flagged: 7 high"
    rows = [a for a in alert_rows(store) if a.channel == webhook.url()]
    assert sorted(webhook.alert_ids()) == sorted(a.alert_id for a in rows)
    [digest] = {a.digest_id for a in rows}
    assert digest and f"digest_id: {digest}" in post["message"]
    assert len(lines(tmp_path / "alerts.jsonl")) == 7, "a file gets one line per alert"


@pytest.mark.parametrize(("flags", "messages"), [(5, 5), (6, 1)])
def test_digest_over_n_means_more_than_n(store: Store, site: SiteServer, flags: int,
                                         messages: int) -> None:
    sent: list[Message] = []
    cfg = desk(site, '  - to: "json://127.0.0.1:9/unused"\n    digest_over: 5', claims=flags)
    with pytest.MonkeyPatch.context() as patch:  # keep the alerts in the outbox for now
        patch.setattr(api, "deliver", lambda store, config: deliver_stage.DeliveryReport())
        break_claims(store, site, cfg)
    report = deliver(store, cfg, sender=lambda channel, message: sent.append(message))
    assert (report.sent, report.messages, len(sent)) == (flags, messages, messages)
    assert sum(len(m.payloads) for m in sent) == flags


def test_min_severity_and_factchecks_choose_the_channels(store: Store, site: SiteServer,
                                                         tmp_path: Path) -> None:
    (site.root / "list.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    sheet = f"  sheet: {{url: '{site.url('list.xlsx')}'}}\n"
    other = """\
  - id: fc-b
    title: Another fact-check
    claims:
      - id: listed
        text: The county is on the list.
        verdict: Supported
        evidence:
          - {source: sheet, table: {where: {STATE: MN}, present: true}}
"""
    cfg = desk(site, f"""\
  - to: "file:{tmp_path / 'high.jsonl'}"
    min_severity: high
  - to: "file:{tmp_path / 'fc-b.jsonl'}"
    factchecks: [fc-b]
  - to: "file:{tmp_path / 'all.jsonl'}"
""", sources=sheet, factchecks=other)
    publish(site, "The page says something else.")
    report = api.check(store, cfg, everything=True, settings=FAST)
    assert sorted((f.factcheck, f.severity) for f in report.flags) == [
        ("fc", "high"), ("fc-b", "medium")]

    def seen(name: str) -> list[tuple[str, str]]:
        return sorted((p["factcheck"]["id"], p["flag"]["severity"])
                      for p in lines(tmp_path / name))

    assert seen("high.jsonl") == [("fc", "high")]
    assert seen("fc-b.jsonl") == [("fc-b", "medium")]
    assert seen("all.jsonl") == [("fc", "high"), ("fc-b", "medium")]


def test_the_file_line_carries_what_spec_3_lists(store: Store, site: SiteServer,
                                                 tmp_path: Path) -> None:
    cfg = desk(site, f'  - to: "file:{tmp_path / "alerts.jsonl"}"')
    report = break_claims(store, site, cfg)
    [line] = lines(tmp_path / "alerts.jsonl")
    [row] = alert_rows(store)
    assert line == row.payload and line["alert_id"] == row.alert_id
    assert line["flag"] == report.flags[0].spec_json()
    assert line["factcheck"] == {"id": "fc", "title": "Does the sheriff work with ICE",
                                 "url": FC_URL}
    assert line["claim"] == {"id": "claim-0", "text": SENTENCES[0], "verdict": "Supported"}
    assert line["source"] == {"id": "page", "url": site.url("index.html")}
    assert (line["baseline"]["id"], line["snapshot"]["id"]) == (1, 2)
    assert line["baseline"]["fetched_at"] and line["snapshot"]["fetched_at"]
    assert line["change"] == {"text": [f"-{s}" for s in SENTENCES]
                              + ["+The page was rewritten."]}


# --- retries, give-up, re-queue -------------------------------------------------------------


def test_backoff_doubles_up_to_max_then_gives_up_and_retry_requeues(
        store: Store, site: SiteServer, webhook: Webhook) -> None:
    cfg = desk(site, f"""\
  - to: "{webhook.url()}"
    retry: {{first: 10s, max: 15s, attempts: 3}}
""")
    start = utcnow()
    break_claims(store, site, cfg)
    [row] = alert_rows(store)
    assert row.attempts == 1 and 9 <= (row.next_attempt_at - start).total_seconds() <= 12
    assert deliver(store, cfg, now=start + dt.timedelta(seconds=12)).retrying == 1
    [row] = alert_rows(store)
    assert row.attempts == 2 and row.next_attempt_at >= start + dt.timedelta(seconds=12 + 15)
    gave_up = deliver(store, cfg, now=start + dt.timedelta(seconds=60))
    assert (gave_up.failed, gave_up.pending) == (1, 0)
    [failed] = api.alerts(store, failed_only=True)
    assert failed.attempts == 3 and "connection refused" in failed.last_error

    assert deliver(store, cfg, now=later(3600)).sent == 0, "given up: not retried by itself"
    webhook.start()
    assert api.retry_alerts(store, cfg).sent == 1, "the channel fixed, retry delivers at once"
    assert webhook.alert_ids() == [failed.alert_id]
    with pytest.raises(UsageError, match="was sent already"):
        api.retry_alerts(store, cfg, [failed.alert_id])


def test_retry_delivers_pending_alerts_without_waiting_out_their_backoff(
        store: Store, site: SiteServer, webhook: Webhook) -> None:
    cfg = desk(site, f"""\
  - to: "{webhook.url()}"
    retry: {{first: 1h, max: 6h}}
""")
    break_claims(store, site, cfg)
    [row] = alert_rows(store)
    assert row.status == "pending" and row.next_attempt_at > later(3000), "backing off"
    webhook.start()
    assert deliver(store, cfg).sent == 0, "a normal round waits out the backoff"
    assert api.retry_alerts(store, cfg).sent == 1, "retry sends it now"
    assert len(webhook.alert_ids()) == 1


def test_a_channel_added_later_can_be_given_the_open_flags(store: Store, site: SiteServer,
                                                           webhook: Webhook,
                                                           tmp_path: Path) -> None:
    first = desk(site, f'  - to: "file:{tmp_path / "alerts.jsonl"}"\n', claims=2)
    assert len(break_claims(store, site, first).flags) == 2
    both = desk(site, f'  - to: "file:{tmp_path / "alerts.jsonl"}"\n'
                      f'  - to: "{webhook.url()}"\n', claims=2)
    with store.session() as session:
        assert list(outbox.missing(session, both).values()) == [[1, 2]]
    assert "never got" in " ".join(api.status(store, both)["attention"]), "status prompts"
    webhook.start()
    made, report = api.backfill_alerts(store, both)
    assert made == {webhook.url(): 2} and report.sent == 2
    assert len(lines(tmp_path / "alerts.jsonl")) == 2, "the old channel got nothing twice"
    assert api.backfill_alerts(store, both)[0] == {}, "nothing twice on a second run"


def test_backoff_schedule() -> None:
    retry = Retry(first=60, max=6 * 3600, attempts=12)
    assert [backoff(retry, n) for n in range(1, 12)] == [
        60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600]


def test_a_channel_removed_from_sources_yaml_fails_its_pending_alerts(
        store: Store, site: SiteServer, webhook: Webhook) -> None:
    cfg = desk(site, f'  - to: "{webhook.url()}"')
    break_claims(store, site, cfg)
    gone = deliver(store, cfg.model_copy(update={"alerts": []}), now=later(3600))
    assert gone.failed == 1
    assert api.alerts(store)[0].last_error == "the channel is no longer in sources.yaml"


# --- secrets ------------------------------------------------------------------------------------

SECRET = "s3cr3t-Hook-Token-91"


def claimwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env["CW_HOOK_TOKEN"] = SECRET
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_secret_from_the_environment_is_never_shown(site: SiteServer, webhook: Webhook,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    hook = webhook.url("desk:${CW_HOOK_TOKEN}@").replace("/claimwatch", "/${CW_HOOK_TOKEN}")
    (tmp_path / "sources.yaml").write_text(desk_yaml(site, f'  - to: "{hook}"'))
    monkeypatch.setenv("CW_HOOK_TOKEN", SECRET)
    store = api.open_db(str(tmp_path / "claimwatch.db"))
    cfg = api.load_config(tmp_path / "sources.yaml")
    publish(site, *SENTENCES)
    api.check(store, cfg, everything=True, settings=FAST)  # the baseline, in this process
    publish(site, "Gone.")
    outputs = [claimwatch("check", "--all", cwd=tmp_path), claimwatch("alerts", cwd=tmp_path),
               claimwatch("alerts", "--json", cwd=tmp_path)]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    masked = webhook.url("desk:****@").replace("/claimwatch", "/****")
    report = outputs[0].stdout
    assert "alerts: 0 sent in 0 message(s), 1 to retry, 0 given up, 1 pending" in report
    assert f"alert error {masked}: " in report and "connection refused" in report
    assert "pending" in outputs[1].stdout and "connection refused" in outputs[1].stdout
    [listed] = json.loads(outputs[2].stdout)["alerts"]
    assert listed["channel"] == masked and "connection refused" in listed["last_error"]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("claimwatch.db*"))
    for text in [o.stdout + o.stderr for o in outputs] + [stored.decode("latin-1")]:
        assert SECRET not in text and f"{SECRET[0]}...{SECRET[-1]}" not in text

    webhook.start()  # the secret is used where it belongs: in the request
    try:
        assert deliver(store, cfg, now=later(90)).sent == 1
    finally:
        store.close()
    assert webhook.auth == ["Basic " + base64.b64encode(f"desk:{SECRET}".encode()).decode()]


def test_config_errors_about_a_channel_name_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_SMTP_PASSWORD", SECRET)
    with pytest.raises(ConfigError) as caught:
        config.parse("""\
version: 1
alerts:
  - to: "mailtos://desk:${CW_SMTP_PASSWORD}@127.0.0.1?to=editors@example.org"
  - to: "file:alerts.jsonl"
    factchecks: [fc-a]
    retry: {first: 1h, max: 1m}
  - to: "nosuchservice://${CW_SMTP_PASSWORD}"
factchecks:
  - id: fc-b
    title: T
    claims: [{id: c, text: t, verdict: v, evidence: [{source: s, changes: any}]}]
sources:
  s: {url: "https://example.org/"}
""")
    problems = caught.value.problems
    assert SECRET not in str(problems) and f"{SECRET[0]}...{SECRET[-1]}" not in str(problems)
    assert problems[0].startswith("sources.yaml:3: alerts.0.to: cannot send alerts there: ")
    assert "sources.yaml:5: unknown fact-check 'fc-a' (did you mean 'fc-b'?)" in problems
    assert "sources.yaml:6: alerts.1.retry: 'first' is longer than 'max'" in problems
    assert problems[-1].startswith("sources.yaml:7: alerts.2.to: cannot send alerts there")


def test_channel_keys_mask_secrets_and_stay_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_TOKEN", "tok-123456")
    a = "slack://tok-123456/B1/C1"
    b = "json://desk:pass%2Fword@example.org/hook"
    assert channel_keys([a, b, "file:alerts.jsonl", a]) == [
        "slack://****/B1/C1", "json://desk:****@example.org/hook", "file:alerts.jsonl",
        "slack://****/B1/C1 #2"]
    assert redact("failed for pass/word and p...d", secrets(b)) == "failed for **** and ****"


def test_two_deliverers_at_once_send_each_alert_once(store: Store, site: SiteServer,
                                                     webhook: Webhook,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    webhook.start()
    cfg = desk(site, f'  - to: "{webhook.url()}"')
    monkeypatch.setattr(api, "deliver", lambda store, config: deliver_stage.DeliveryReport())
    break_claims(store, site, cfg)  # a flag and its alert, pending
    barrier = threading.Barrier(2)
    reports: list[deliver_stage.DeliveryReport] = []

    def deliverer() -> None:
        barrier.wait()
        reports.append(deliver(store, cfg))

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.sent for r in reports) == [0, 1]
    assert len(webhook.alert_ids()) == 1, "a cron check and a daemon never both send it"


def test_with_a_desk_address_every_alert_links_to_its_flag(store: Store, site: SiteServer,
                                                           webhook: Webhook,
                                                           tmp_path: Path) -> None:
    text = desk_yaml(site, f"""\
  - to: "file:{tmp_path / 'alerts.jsonl'}"
  - to: "{webhook.url()}"
""", claims=1).replace("version: 1\n", "version: 1\ndesk: {url: 'https://desk.example.org/'}\n")
    webhook.start()
    report = break_claims(store, site, config.parse(text))
    [flag] = report.flags
    [line] = lines(tmp_path / "alerts.jsonl")
    assert line["review_url"] == f"https://desk.example.org/flags/{flag.id}"
    [post] = webhook.posts
    assert f"https://desk.example.org/flags/{flag.id}" in post["message"]
    assert "claimwatch review" not in post["message"], "the editor clicks; no command to run"
