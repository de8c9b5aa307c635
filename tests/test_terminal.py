"""Page text is data on an editor's terminal too: escapes a page carries (clear the screen, reset
the terminal, retitle the window, an OSC 8 link) never reach it, whether `history`, `flags`,
`diff` and `check` print to a pipe (cron mail) or to a terminal, where only claimwatch's own
colours pass."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from pipeline.demo.server import SiteServer

ESCAPES = "\x1b[2J\x1bc\x1b]0;pwned\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\x9b31m"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def write_desk(tmp_path: Path, site: SiteServer) -> None:
    (tmp_path / "sources.yaml").write_text(f"""\
version: 1
defaults: {{host_delay: 0s}}
sources:
  statement: {{url: "{site.url('index.html')}", select: main}}
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


def publish(site: SiteServer, text: str) -> None:
    (site.root / "index.html").write_text(f"<html><body><main><p>{text}</p></main></body></html>")


def command(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from pipeline.cli import main; main()", "--sources",
            str(tmp_path / "sources.yaml"), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}",
            *args]


def on_a_terminal(tmp_path: Path, *args: str) -> str:
    """What the command writes to a (pseudo-)terminal."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(command(tmp_path, *args), stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, cwd=tmp_path, env=env)
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(leader)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")  # the terminal's line ends


def test_page_escapes_never_reach_a_pipe_or_a_terminal(tmp_path: Path, site: SiteServer) -> None:
    write_desk(tmp_path, site)
    publish(site, "The sheriff does not hold people on detainers alone.")
    first = subprocess.run(command(tmp_path, "check", "--all"), cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    publish(site, f"Policy under review.{ESCAPES} More soon.")
    piped = {args: subprocess.run(command(tmp_path, *args), cwd=tmp_path, capture_output=True,
                                  text=True, timeout=60)
             for args in (("check", "--all"), ("flags",), ("history",), ("history", "--csv"),
                          ("diff", "statement"))}
    for args, done in piped.items():
        assert done.returncode == 0, (args, done.stderr)
        assert not CONTROL.search(done.stdout + done.stderr), (args, done.stdout)
    assert "Policy under review" in piped[("diff", "statement")].stdout, "the text is shown"
    for args in (("history",), ("flags",), ("diff", "statement")):
        shown = on_a_terminal(tmp_path, *args)
        assert "Policy under review" in shown or "detainers" in shown, (args, shown)
        assert not CONTROL.search(COLOUR.sub("", shown)), (args, repr(shown))
        assert "\x1bc" not in shown and "\x1b]" not in shown and "\x1b[2J" not in shown
