"""A review that closes the loop with sources.yaml: besides the decision (`pipeline.flags`), a
`revised` verdict is written into the claim's `verdict:`, and a review may also update the
evidence item's expectation to what is observed now (`count: 6` → `count: 7`). claimwatch edits
the file itself, keeping its comments and layout (`pipeline.yaml_edit`); when it may not (a
read-only file, or one edited meanwhile) the review is still recorded and the result carries
the exact edit to make by hand. Every edit is an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db import Store, audit
from db.models import ClaimRow, EvidenceRow, FlagRow, by_id
from pipeline import flags, yaml_edit
from pipeline.config import Config, Evidence, yaml_files
from pipeline.errors import Conflict, NotFound, NotWritable, UsageError
from pipeline.flag_detail import flag_detail
from pipeline.records import FlagRecord
from pipeline.vocab import Decision


@dataclass(frozen=True)
class FileEdit:
    """One edit of sources.yaml a review made, or could not make (then `reason` says why and
    `diff` is the edit to make by hand)."""

    path: str
    what: str  # "verdict" | "expectation"
    diff: str
    applied: bool
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "what": self.what, "diff": self.diff,
                "applied": self.applied, "reason": self.reason}


@dataclass(frozen=True)
class Reviewed:
    flag: FlagRecord
    edits: list[FileEdit]

    def to_json(self) -> dict[str, Any]:
        return {**self.flag.to_json(), "edits": [e.to_json() for e in self.edits]}


def review(store: Store, config: Config, sources: Path, flag_id: int, *, decision: str,
           reviewer: str, note: str | None = None, verdict: str | None = None,
           update_expectation: bool = False, account_id: int | None = None) -> Reviewed:
    """Record the decision and make the sources.yaml edits it implies."""
    with store.session() as session:
        claim, source, old, new = _what_to_edit(session, config, flag_id, update_expectation)
    expectation = None if new is None else Evidence.model_validate(
        {"source": source, **new}).expectation()
    planners: list[tuple[str, Callable[[], yaml_edit.Edit]]] = []
    if decision == Decision.REVISED and verdict and verdict.strip():
        planners.append(("verdict", lambda: yaml_edit.plan_verdict(
            _file(sources, claim), claim, verdict, within=_directory(sources))))
    if new is not None:
        planners.append(("expectation", lambda: yaml_edit.plan_expectation(
            _file(sources, claim), claim, old, new, source=source,
            within=_directory(sources))))
    for _what, plan in planners:  # bad input shows before anything is recorded
        plan()
    written: list[yaml_edit.Edit] = []
    try:
        with store.session() as session:
            record = flags.review(session, flag_id, decision=decision, reviewer=reviewer,
                                  note=note, verdict=verdict, account_id=account_id)
            edits = []
            for what, plan in planners:  # each planned on the file as the last one left it
                edit = plan()
                if edit.before != edit.after:
                    edits.append(_apply(session, flag_id, what, edit, written, expectation))
    except BaseException:
        for edit in reversed(written):  # the review did not commit: neither do its edits
            yaml_edit.apply(replace(edit, before=edit.after, after=edit.before))
        raise
    return Reviewed(record, edits)


def _what_to_edit(session: Session, config: Config, flag_id: int, update: bool
                  ) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
    """The flag's claim id, source id, the item's expectation, and the updated expectation
    when the review updates it."""
    flag = by_id(session, FlagRow, flag_id)
    if flag is None:
        raise NotFound(f"there is no flag {flag_id}", field="flag")
    claim = session.get(ClaimRow, flag.claim_id)
    evidence = session.get(EvidenceRow, flag.evidence_id)
    assert claim is not None and evidence is not None
    detail = flag_detail(session, config, flag_id)
    if not update:
        return claim.slug, detail.flag.source, evidence.expectation, None
    if detail.proposal is None:
        raise UsageError("there is no update of the expectation to make for this flag (only "
                         "a table's count or a quote's wording can follow the source)",
                         field="update_expectation")
    return claim.slug, detail.flag.source, evidence.expectation, detail.proposal.expectation


def _apply(session: Session, flag_id: int, what: str, edit: yaml_edit.Edit,
           written: list[yaml_edit.Edit], expectation: dict[str, Any] | None) -> FileEdit:
    """Write one edit, and move the rows it concerns so the next sync finds them unchanged."""
    flag = session.get(FlagRow, flag_id)
    assert flag is not None
    try:
        yaml_edit.apply(edit)
    except (NotWritable, Conflict) as exc:
        reason = exc.reason if isinstance(exc, NotWritable) else str(exc)
        done = FileEdit(str(edit.path), what, edit.diff, False, reason)
    else:
        written.append(edit)
        done = FileEdit(str(edit.path), what, edit.diff, True)
        if what == "verdict":  # the file now says what the review decided: no new history
            claim = session.get(ClaimRow, flag.claim_id)
            assert claim is not None
            claim.config_verdict = claim.verdict
        elif edit.identity is not None and expectation is not None:
            evidence = session.get(EvidenceRow, flag.evidence_id)  # it keeps its history
            assert evidence is not None
            evidence.identity, evidence.expectation = edit.identity, expectation
    audit.record(session, "sources-edit", {"flag": flag_id, "what": what,
                                           "file": str(edit.path), "applied": done.applied,
                                           "reason": done.reason, "diff": edit.diff})
    return done


def _file(sources: Path, claim: str) -> Path:
    """The YAML file that declares the claim (sources.yaml, or one file of a directory)."""
    if sources.is_dir():
        return yaml_edit.find_claim_file(yaml_files(sources), claim)
    return sources


def _directory(sources: Path) -> Path | None:
    return sources if sources.is_dir() else None
