"""Runs evaluation-corpus cases (shared/corpus/README.md "How a case is run") through the real
command line against a loopback SiteServer, and scores them against their expectations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.demo.server import SiteServer

# the public cases are not part of the repository: they sit beside it, in ../shared
PUBLIC = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cases"
SKIP_PUBLIC = ("the public corpus is not here: ../shared/corpus is outside the repository; "
               ".ci/run requires it")
OURS = Path(__file__).resolve().parent / "corpus" / "cases"


def case_dirs(*roots: Path) -> list[Path]:
    return sorted(d for root in roots if root.is_dir() for d in root.iterdir()
                  if (d / "case.yaml").is_file())


@dataclass
class CaseRun:
    name: str
    expected: list[list[tuple[str, str, str]]]  # per check: (claim, outcome, severity)
    opened: list[list[tuple[str, str, str]]]
    open_at_end: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def caught(self) -> int:
        return sum(len(set(e) & set(o)) for e, o in zip(self.expected, self.opened, strict=True))

    @property
    def passed(self) -> bool:
        return (not self.errors
                and all(sorted(e) == sorted(o)
                        for e, o in zip(self.expected, self.opened, strict=True))
                and sorted(self.open_at_end) == sorted(f for o in self.opened for f in o))


def run_case(case: Path, workdir: Path) -> CaseRun:
    spec = yaml.safe_load((case / "case.yaml").read_text())
    main = next((case / "v1").glob("index.*")).name
    expected = [_expected(spec.get("expect_first") or {}), _expected(spec.get("expect") or {})]
    run = CaseRun(case.name, expected, [])
    with SiteServer(case / "v1") as server:
        _configure(server, spec, "v1")
        sources = workdir / "sources.yaml"
        sources.write_text(yaml.safe_dump(_sources(spec, server.url(main))))
        args = ["--sources", str(sources), "--db", f"sqlite:///{workdir / 'db.sqlite'}"]
        for version in ("v1", "v2"):
            if version == "v2":
                server.root = case / "v2"
                server.status = spec.get("v2_status")
                _configure(server, spec, "v2")
            report = _invoke(args + ["check", "--all", "--json"], run)
            run.opened.append([(f["claim"], f["outcome"], f["severity"])
                               for f in report.get("flags", [])])
        listed = _invoke(args + ["flags", "--json"], run)
        run.open_at_end = [(f["claim"], f["outcome"], f["severity"])
                           for f in listed.get("flags", [])]
    return run


def _invoke(args: list[str], run: CaseRun) -> dict[str, Any]:
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    if result.exit_code != 0 or result.exception:
        run.errors.append(f"{' '.join(args[-3:])}: exit {result.exit_code}: "
                          f"{result.exception!r} {result.output[-500:]}")
        return {}
    return json.loads(result.stdout)


def _expected(table: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(item, e["outcome"], e["flag"]) for item, e in table.items()
            if e.get("flag", "none") != "none"]


def _configure(server: SiteServer, spec: dict[str, Any], version: str) -> None:
    server.content_types = {f["path"]: f["content_type"] for f in spec.get("files") or []
                            if f.get("content_type") and version in f.get("in", [version])}
    server.redirects = {r["from"]: (int(r["status"]), r["to"])
                        for r in spec.get("redirects") or [] if version in r.get("in", [version])}


def _sources(spec: dict[str, Any], url: str) -> dict[str, Any]:
    claims = []
    for item in spec["evidence"]:
        expectation = {k: v for k, v in item.items() if k not in ("id", "claim")}
        claims.append({"id": item["id"], "text": item.get("claim", item["id"]),
                       "verdict": "Supported",
                       "evidence": [{"source": "case-src", **expectation}]})
    return {"version": 1,
            "sources": {"case-src": {"url": url, **(spec.get("source") or {})}},
            "factchecks": [{"id": "case", "title": "corpus case", "claims": claims}]}
