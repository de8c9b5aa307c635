"""A secret in a source's URL (`?key=${API_KEY}`) is sent to the source and nowhere else: the
database (rows, audit events, stored bytes), alerts, history, reports, probe, diff, status and
errors all show `${API_KEY}`, also when the site redirects with the key or echoes it back."""

from __future__ import annotations

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from db import blobs, open_store
from db.models import BlobRow

SECRET = "s3cr3t-t0ken-4e1f"


def claimwatch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "API_KEY": SECRET, "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()",
                           "--sources", str(tmp_path / "sources.yaml"), "--db",
                           f"sqlite:///{tmp_path / 'claimwatch.db'}", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_secret_in_a_source_url_is_sent_and_never_kept(tmp_path: Path, serve: Any) -> None:
    status = {"value": "open"}
    keys_seen: list[str] = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        key = parse_qs(url.query).get("key", [""])[0]
        keys_seen.append(key)
        if key != SECRET:
            h.send_response(403)
            h.end_headers()
            return
        if url.path == "/data":  # the API moves and says where, key and all
            h.send_response(302)
            h.send_header("Location", f"/v2/data?key={SECRET}&format=json")
            h.end_headers()
            return
        body = json.dumps({"status": status["value"], "request": f"/v2/data?key={SECRET}"})
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Location", f"/v2/data?key={SECRET}")
        h.end_headers()
        h.wfile.write(body.encode())

    base = serve(handle)
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
desk: {{url: "https://desk.example.org"}}
defaults: {{host_delay: 0s}}
sources:
  docket:
    url: "{base}data?key=${{API_KEY}}"
    kind: json
alerts:
  - to: "file:{tmp_path / 'alerts.jsonl'}"
factchecks:
  - id: fc
    title: The case is open
    claims:
      - id: open-case
        text: The case is still open.
        verdict: Supported
        evidence:
          - {{source: docket, json: {{path: status, equals: open}}}}
""")
    outputs = [claimwatch(tmp_path, "check", "--all", "--json")]
    status["value"] = "closed"
    outputs += [claimwatch(tmp_path, "check", "--all", "--json"),
                claimwatch(tmp_path, "flags", "--json"),
                claimwatch(tmp_path, "history", "--json"),
                claimwatch(tmp_path, "history", "--csv"),
                claimwatch(tmp_path, "report", "fc", "--format", "md"),
                claimwatch(tmp_path, "report", "fc", "--format", "html"),
                claimwatch(tmp_path, "diff", "docket"),
                claimwatch(tmp_path, "status", "--json"),
                claimwatch(tmp_path, "alerts", "--json"),
                claimwatch(tmp_path, "probe", "docket", "--json")]
    assert SECRET in keys_seen, "the source got its key"
    assert all(o.returncode in (0, 1) for o in outputs), [o.stderr for o in outputs]
    flags = json.loads(outputs[2].stdout)["flags"]
    assert [f["outcome"] for f in flags] == ["broken"], "the check really ran"
    shown = "\n".join(o.stdout + o.stderr for o in outputs)
    assert "${API_KEY}" in shown, "the URL is shown as written"
    assert SECRET not in shown
    alerts = (tmp_path / "alerts.jsonl").read_text()
    assert "${API_KEY}" in alerts and SECRET not in alerts
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("claimwatch.db*"))
    assert SECRET.encode() not in stored, "no row, event or index holds it"
    store = open_store(f"sqlite:///{tmp_path / 'claimwatch.db'}")
    try:
        with store.session() as session:
            bodies = [blobs.get(session, sha) for sha in session.scalars(
                session.query(BlobRow.sha256).statement)]
    finally:
        store.close()
    assert bodies and not [b for b in bodies if SECRET.encode() in b], \
        "an echoing body is stored with the key redacted"
    assert any(b"${API_KEY}" in b for b in bodies)
