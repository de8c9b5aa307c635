"""The audit trail: an append-only hash chain that `audit verify` checks (tampering is done with
plain SQL, as an intruder would), and `history` telling how each verdict was kept current."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from db import Store
from pipeline import api
from pipeline.cli import cli
from pipeline.demo.server import SiteServer
from tests.test_review import check, only_flag, serve, sources


@pytest.fixture
def story(store: Store, site: SiteServer) -> Store:
    """Six agencies, then seven: a flag, reviewed and revised."""
    serve(site, 6)
    check(store, sources(site))
    serve(site, 7)
    check(store, sources(site))
    api.review(store, only_flag(store), decision="revised", reviewer="J. Doe",
               note="ICE added Sherburne County", verdict="Outdated: seven agencies")
    return store


def test_history_tells_the_story_of_a_claim(story: Store) -> None:
    lines = [e.text for e in api.history(story, claim="six-agencies")]
    kinds = [line.split(" ", 2)[2] for line in lines]
    assert kinds[0] == "sources.yaml: claim six-agencies added (verdict 'Supported')"
    assert any(k.startswith("ice first snapshot") for k in kinds)
    changed = next(i for i, k in enumerate(kinds) if k.startswith("ice changed (+1 row)"))
    flagged = next(i for i, k in enumerate(kinds) if k.startswith("flag 1 (high) on six-agencies"
                                                                  ": broken on ice"))
    reviewed = next(i for i, k in enumerate(kinds) if k.startswith(
        "flag 1 on six-agencies reviewed by J. Doe: revised, 'Supported' → 'Outdated: seven "
        "agencies' — \"ICE added Sherburne County\""))
    assert changed < flagged < reviewed
    assert not any("mpd" in k for k in kinds), "another claim's sources are not in this story"


def test_history_filters_and_formats(story: Store, tmp_path: Path) -> None:
    everything = api.history(story)
    assert [e.seq for e in everything] == sorted(e.seq for e in everything)
    assert {e.kind for e in everything} >= {"config", "snapshot", "flag", "review", "run"}
    assert all(e.source == "mpd" for e in api.history(story, source="mpd"))
    assert api.history(story, since="2999-01-01") == []
    assert len(api.history(story, until="1d")) == 0
    assert len(api.history(story, since="1d")) == len(everything)
    with pytest.raises(api.UsageError, match="not a date"):
        api.history(story, since="last tuesday")
    url = story.engine.url.render_as_string(hide_password=False)
    as_json = CliRunner().invoke(cli, ["--db", url, "history", "--json", "--claim",
                                       "six-agencies"])
    events = json.loads(as_json.output)["events"]
    assert events[-1]["kind"] == "review" and events[-1]["data"]["by"] == "J. Doe"
    as_csv = CliRunner().invoke(cli, ["--db", url, "history", "--csv", "--source", "ice"])
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert rows[0] == ["seq", "at", "kind", "source", "claim", "text"] and len(rows) > 2


def verify(store: Store) -> api.Verification:
    return api.audit_verify(store)


def test_an_honest_chain_verifies(story: Store) -> None:
    result = verify(story)
    assert result.ok and result.events == len(api.history(story))


def sql(store: Store, statement: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_edited_row_is_named(story: Store) -> None:
    sql(story, "UPDATE audit_event SET data = '{\"by\": \"someone else\"}' "
               "WHERE kind = 'review'")
    result = verify(story)
    assert not result.ok and "was edited" in (result.problem or "")
    assert "review" in (result.problem or "")


def test_a_deleted_row_is_named(story: Store) -> None:
    sql(story, "DELETE FROM audit_event WHERE seq = 3")
    result = verify(story)
    assert not result.ok and result.problem.startswith("event seq 3 is missing")


def test_a_row_inserted_out_of_order_is_named(story: Store) -> None:
    sql(story, "UPDATE audit_event SET seq = seq + 1000 WHERE seq >= 4")
    sql(story, "UPDATE audit_event SET seq = seq - 999 WHERE seq >= 1004")
    sql(story, "INSERT INTO audit_event (seq, at, kind, data, prev_hash, hash) SELECT 4, at, "
               "'review', '{}', hash, hash FROM audit_event WHERE seq = 3")
    result = verify(story)
    assert not result.ok and "event seq 4" in (result.problem or "")


def test_deleted_last_rows_are_noticed(story: Store) -> None:
    sql(story, "DELETE FROM audit_event WHERE seq = (SELECT MAX(seq) FROM audit_event)")
    result = verify(story)
    assert not result.ok and "the last rows were deleted" in (result.problem or "")


def test_audit_verify_command(story: Store) -> None:
    url = story.engine.url.render_as_string(hide_password=False)
    ok = CliRunner().invoke(cli, ["--db", url, "audit", "verify"])
    assert ok.exit_code == 0 and "audit chain intact" in ok.output
    sql(story, "UPDATE audit_event SET kind = 'run' WHERE seq = 2")
    bad = CliRunner().invoke(cli, ["--db", url, "audit", "verify"])
    assert bad.exception is not None and "event seq 2" in str(bad.exception)


def last_seq(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT MAX(seq) FROM audit_event")).scalar_one()


def cut(store: Store, keep: int, *, head: str) -> None:
    """Delete every event after seq `keep`; `head`: "delete" its row, or "forge" it to match."""
    sql(store, f"DELETE FROM audit_event WHERE seq > {keep}")
    if head == "delete":
        sql(store, "DELETE FROM audit_head")
    else:
        sql(store, f"UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit_event "
                   f"WHERE seq = {keep})")


def test_a_cut_tail_taken_with_its_head_row_is_noticed(story: Store) -> None:
    cut(story, last_seq(story) - 3, head="delete")
    result = verify(story)
    assert not result.ok and "head row is missing" in (result.problem or "")
