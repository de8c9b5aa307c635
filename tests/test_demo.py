"""`claimwatch demo` flags exactly the seed claims whose evidence the fixtures change, for the
right reasons, through the real pipeline (nothing canned)."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from pipeline.demo.run import DEMO_EDITOR, DEMO_PASSWORD, run_demo

ROOT = Path(__file__).resolve().parents[1]


def test_demo_flags_the_right_claims_for_the_right_reasons(tmp_path: Path) -> None:
    out = io.StringIO()
    flags = run_demo(Console(file=out, width=200), keep_dir=str(tmp_path / "demo"))
    got = sorted((f.claim, f.source, f.outcome, f.severity) for f in flags)
    assert got == [
        ("bca-withdrew", "bca-statement", "broken", "high"),
        ("bottom-line-pockets", "ice-287g", "broken", "high"),
        ("bottom-line-pockets", "reformer-mpd-policy", "broken", "high"),
        ("mpd-no-escort", "reformer-mpd-policy", "broken", "high"),
        ("six-287g-agencies", "ice-287g", "broken", "high"),
    ]
    reasons = {f.claim + "/" + f.source: f.reason for f in flags}
    assert reasons["six-287g-agencies/ice-287g"] == (
        "rows with STATE=Minnesota: expected 6 distinct LAW ENFORCEMENT AGENCY, found 7 "
        "(added: Sherburne County Sheriff's Office)")
    assert reasons["mpd-no-escort/reformer-mpd-policy"].startswith("quote no longer found")
    assert reasons["bca-withdrew/bca-statement"].startswith('"correction" now appears')
    text = out.getvalue()
    assert "+ MINNESOTA | Sherburne County Sheriff's Office" in text, "the table diff is shown"
    assert "Still holding: officials-clean-up-chaos, hennepin-no-coordination" in text
    assert (tmp_path / "demo" / "claimwatch.db").exists()
    replay = text[text.index("7. Since publication, on real data"):]
    assert "\n   2025-05-27 holds: 6 distinct LAW ENFORCEMENT AGENCY in 8 rows\n" in replay
    assert "\n   2025-06-27 broken: 7 distinct LAW ENFORCEMENT AGENCY in 9 rows (added: Mille " \
        "Lacs County Sheriff's Office)\n" in replay
    assert "\n   2025-07-12 still broken, rows changed: removed: MINNESOTA | Jackson County " \
        "Sheriff's Office" in replay
    assert "flag 1: broken since 2025-06-27" in replay


def test_demo_serve_ends_with_the_desk_open_on_its_database(tmp_path: Path) -> None:
    """The quick start's last step: `claimwatch demo --serve` leaves the desk open, a demo
    editor can log in and see the flags the demo raised, and Ctrl-C ends it cleanly."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    demo = subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "demo", "--serve",
         "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in demo.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "review desk" in line:
                break
        assert f"http://127.0.0.1:{port}/" in "".join(lines), "".join(lines)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):  # listening before the line; the app may still start
                try:
                    form = client.get("/login")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore
            client.post("/login", data={"name": DEMO_EDITOR, "password": DEMO_PASSWORD,
                                        "next": "/", "csrf": token})
            queue = client.get("/")
            assert queue.status_code == 200 and queue.text.count('class="flag"') == 5
    finally:
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=30)[0]
    assert demo.returncode == 0, rest
    assert "Traceback" not in rest


def test_a_port_in_use_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    """`serve` and `demo --serve` on a port another program holds: one line saying so, exit 2,
    before the demo's story runs or a database is made (they used to announce the desk, then
    print uvicorn's error, or run the whole demo first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    (tmp_path / "sources.yaml").write_text((ROOT / "sources.yaml").read_text())
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        for args in (["serve"], ["demo", "--serve"]):
            done = subprocess.run(
                [sys.executable, "-c", "from pipeline.cli import main; main()", *args,
                 "--port", str(port)], cwd=tmp_path, env=env, capture_output=True, text=True,
                timeout=60)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert done.stdout == ""
            assert done.stderr == f"claimwatch: cannot listen on 127.0.0.1:{port}: " \
                                  "Address already in use\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sources.yaml"], "no database was made"
