"""`claimwatch demo` flags exactly the seed claims whose evidence the fixtures change, for the
right reasons, through the real pipeline (nothing canned)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pipeline.demo.run import run_demo


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
