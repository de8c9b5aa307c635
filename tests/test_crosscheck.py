"""`audit verify --deep`: stored bytes and the snapshot, flag and review rows checked against the
audit chain. Tampering is done with plain SQL, as an intruder would: the chain itself stays
intact, so only the cross-check can tell."""

from __future__ import annotations

import pytest
import zstandard
from click.testing import CliRunner
from sqlalchemy import select, text

from db import Store, blobs
from db.models import AuditEventRow, SnapshotRow, SourceRow
from pipeline import api
from pipeline.cli import cli
from pipeline.demo.server import SiteServer
from tests.test_review import check, serve, sources


@pytest.fixture
def desk(store: Store, site: SiteServer) -> Store:
    """Every move a flag can make: flag 1 opens (7 agencies), resolves by itself (6 again),
    re-opens (7 again) and is reviewed; flag 2 opens when a quote goes and stays open."""
    cfg = sources(site)
    for agencies, quote in ((6, True), (7, False), (6, False), (7, False)):
        serve(site, agencies, quote=quote)
        check(store, cfg)
    [one, two] = api.flags(store)
    api.review(store, one.id, decision="revised", reviewer="J. Doe", note="ICE added one",
               verdict="Outdated")
    assert [e.kind for e in api.history(store) if e.kind.startswith("flag")].count(
        "flag-reopened") == 1
    return store


def deep(store: Store, limit: int = 20) -> api.AuditReport:
    return api.audit_verify(store, deep=True, limit=limit)


def sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_a_clean_database_passes(desk: Store) -> None:
    result = deep(desk)
    assert result.ok, result.problems
    with desk.engine.connect() as conn:
        snapshots = conn.execute(text("SELECT COUNT(*) FROM snapshot")).scalar_one()
        stored = conn.execute(text("SELECT COUNT(*) FROM blob")).scalar_one()
    assert result.deep is not None
    assert (result.deep.blobs, result.deep.snapshots, result.deep.flags, result.deep.reviews,
            result.deep.older) == (stored, snapshots, 2, 1, 0)
    out = CliRunner().invoke(cli, ["--db", desk.engine.url.render_as_string(hide_password=False),
                                   "audit", "verify", "--deep"])
    assert out.exit_code == 0 and f"deep: {stored} blob(s) re-hashed; {snapshots} snapshot(s), " \
                                  "2 flag(s) and 1 review(s) match their audit events" in out.output


def latest_ice_snapshot(store: Store) -> tuple[int, str]:
    with store.session() as session:
        return session.execute(select(SnapshotRow.id, SnapshotRow.blob_sha256)
                               .join(SourceRow, SourceRow.id == SnapshotRow.source_id)
                               .where(SourceRow.slug == "ice")
                               .order_by(SnapshotRow.id.desc())).first()


FORGED = b"STATE,LAW ENFORCEMENT AGENCY\nMINNESOTA,Nobody\n"


def test_replaced_blob_bytes_are_caught(desk: Store) -> None:
    snapshot, sha = latest_ice_snapshot(desk)
    sql(desk, "UPDATE blob SET data = :data, size = :size WHERE sha256 = :sha",
        data=zstandard.ZstdCompressor().compress(FORGED), size=len(FORGED), sha=sha)
    assert api.audit_verify(desk).ok, "the chain alone cannot see it"
    [problem] = deep(desk).problems
    assert problem.startswith(f"blob {sha[:16]}… holds {len(FORGED)} bytes hashing to "
                              f"{blobs.digest(FORGED)[:16]}…, not the bytes its key names: "
                              "replaced (snapshots: ")
    assert f"{snapshot} of ice)" in problem, "it names the snapshots that serve those bytes"


def test_a_snapshot_pointed_at_other_bytes_is_caught(desk: Store) -> None:
    snapshot, sha = latest_ice_snapshot(desk)
    with desk.session() as session:
        forged = blobs.put(session, FORGED)  # a well-formed blob: its key is its bytes' hash
    sql(desk, "UPDATE snapshot SET blob_sha256 = :forged WHERE id = :id", forged=forged,
        id=snapshot)
    [problem] = deep(desk).problems
    assert problem.startswith(f"snapshot {snapshot}: blob is '{forged}' in the database but "
                              f"'{sha}' in the audit log (seq ")


def test_an_edited_flag_is_caught(desk: Store) -> None:
    [one, two] = api.flags(desk, include_closed=True)
    sql(desk, "UPDATE flag SET reason = 'nothing to see', status = 'open' WHERE id = :id",
        id=one.id)
    sql(desk, "UPDATE flag SET severity = 'low' WHERE id = :id", id=two.id)
    result = deep(desk)
    assert result.deep is not None and result.deep.mismatches == 2
    first, second = result.problems
    assert first.startswith(f"flag {one.id}: reason is 'nothing to see' in the database but "
                            f"{one.reason[:40]!r}"[:-1])
    assert "; status is 'open' in the database but 'reviewed' in the audit log (seq " in first
    assert second.startswith(f"flag {two.id}: severity is 'low' in the database but 'high'")
    limited = deep(desk, limit=1)
    assert len(limited.problems) == 1 and limited.deep.mismatches == 2
    out = CliRunner().invoke(cli, ["--db", desk.engine.url.render_as_string(hide_password=False),
                                   "audit", "verify", "--deep", "--max-problems", "1"])
    assert str(out.exception).splitlines()[-1] == "… and 1 more mismatch(es) (--max-problems)"


def test_a_flag_row_added_or_taken_away_is_caught(desk: Store) -> None:
    [_one, two] = api.flags(desk, include_closed=True)
    sql(desk, "INSERT INTO flag (id, claim_id, evidence_id, source_id, outcome_id, outcome, "
              "severity, reason, snapshot_id, baseline_snapshot_id, opened_at, status) "
              "SELECT 99, claim_id, evidence_id, source_id, outcome_id, outcome, severity, "
              "reason, snapshot_id, baseline_snapshot_id, opened_at, status FROM flag "
              "WHERE id = :id", id=two.id)
    sql(desk, "DELETE FROM alert WHERE flag_id = :id", id=two.id)
    sql(desk, "DELETE FROM flag WHERE id = :id", id=two.id)
    problems = deep(desk).problems
    assert problems[0].startswith(f"flag {two.id} is in the audit log (seq ")
    assert problems[0].endswith("but not in the database: deleted")
    assert problems[1] == "flag 99 has no audit event: it was written outside claimwatch"


def test_an_edited_review_is_caught(desk: Store) -> None:
    sql(desk, "UPDATE review SET reviewer = 'Someone Else', decision = 'upheld'")
    [problem] = deep(desk).problems
    assert problem.startswith("review 1 of flag 1: decision is 'upheld' in the database but "
                              "'revised' in the audit log (seq ")
    assert "; reviewer is 'Someone Else' in the database but 'J. Doe' in the audit log" in problem
    sql(desk, "DELETE FROM verdict WHERE review_id IS NOT NULL")
    sql(desk, "DELETE FROM review")
    [problem] = deep(desk).problems
    assert problem.startswith("flag 1 was reviewed (seq ") and problem.endswith(
        "but its review row is missing: deleted")


def test_rows_older_than_the_audit_log_are_counted_not_failed(desk: Store) -> None:
    """A database from before the audit log (the first release) has rows no event tells of."""
    with desk.session() as session:
        [seq] = [seq for seq, data in session.execute(
            select(AuditEventRow.seq, AuditEventRow.data).where(AuditEventRow.kind == "snapshot"))
            if data["snapshot"] == 1]
    sql(desk, "UPDATE snapshot SET fetched_at = '2001-01-01 00:00:00' WHERE id = 1")
    sql(desk, "DELETE FROM audit_event WHERE seq = :seq", seq=seq)
    result = deep(desk)
    assert result.deep is not None and result.deep.ok and result.deep.older == 1
    assert not result.chain.ok, "the deleted event still breaks the chain"
