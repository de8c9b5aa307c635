"""Starting claimwatch costs only what the command needs: `--version`, `--help` and a
command's `--help` answer without loading the database layer, the config models, the parsers,
the alert channels or the desk (bench/run.py times them)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "pydantic", "lxml", "apprise", "httpx", "fastapi", "rich", "db",
         "alerts", "desk", "feedparser", "pypdf", "trafilatura", "python_calamine", "re2")
PROBE = """
import json, sys
sys.argv = ["claimwatch", *json.loads(sys.argv[1])]
from pipeline.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "--help"],
                                  ["users", "--help"], ["review"]])
def test_the_cli_starts_without_loading_the_library(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=60)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
