"""The audit trail: an append-only hash chain that `audit verify` checks (tampering is done with
plain SQL, as an intruder would), and `history` telling how each verdict was kept current."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from db import Store, anchor
from db.audit import GENESIS, chain_hash
from db.models import AuditEventRow, AuditHeadRow
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


def test_moments_and_ages_beyond_the_calendar_are_usage_errors(story: Store) -> None:
    """A datetime cannot be 99,999,999 days ago: one line, not an OverflowError."""
    for since, until in [("99999999d", None), (None, "99999999999d"), ("0d", None)]:
        with pytest.raises(api.UsageError, match="longer than 100 years|not a duration"):
            api.history(story, since=since, until=until)
    assert api.history(story, since="0001-01-01", until="9999-12-31") == api.history(story)
    assert api.history(story, until="9999-12-31T23:59-05:00") == api.history(story)
    with pytest.raises(api.UsageError, match="'99999999d' is longer than 100 ") as too_long:
        api.prune(story, "99999999d")
    assert too_long.value.field == "older_than"


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


# --- anchors: the head kept outside the database, and signed checkpoints -------------------


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def last_seq(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT MAX(seq) FROM audit_event")).scalar_one()


def rewrite(store: Store, seq: int, data: dict) -> None:
    """What an intruder who knows the scheme does: edit event `seq`, then recompute the hash of
    every later event and move the head, so that the chain verifies again."""
    with store.engine.begin() as conn:
        prev = conn.execute(select(AuditEventRow.hash).where(AuditEventRow.seq == seq - 1)
                            ).scalar() or GENESIS
        events = conn.execute(select(AuditEventRow).where(AuditEventRow.seq >= seq)
                              .order_by(AuditEventRow.seq)).all()
        for event in events:
            body = data if event.seq == seq else event.data
            digest = chain_hash(prev, event.seq, event.at, event.kind, event.source, event.claim,
                                body)
            conn.execute(update(AuditEventRow).where(AuditEventRow.id == event.id)
                         .values(data=body, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(AuditHeadRow).values(hash=prev))


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


def test_a_cut_tail_is_caught_by_an_anchor_even_with_a_forged_head(story: Store,
                                                                  tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    head = api.audit_head(story, append=anchors)
    assert head.seq == last_seq(story)
    cut(story, head.seq - 3, head="forge")
    assert verify(story).ok, "without an anchor, a cut tail with a matching head is invisible"
    result = api.audit_verify(story, anchor_file=anchors)
    assert not result.ok and result.chain.ok
    assert result.problems == [f"the chain ends at seq {head.seq - 3} but {anchors}:1 anchors "
                               f"seq {head.seq} (at {head.at}): events were deleted from its "
                               "end (1 anchor(s) beyond it)"]
    sql(story, "DELETE FROM audit_head")
    assert len(api.audit_verify(story, anchor_file=anchors).problems) == 2


def test_a_rewrite_with_recomputed_hashes_is_caught_by_an_anchor(story: Store, site: SiteServer,
                                                                 tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    with story.engine.connect() as conn:
        review_seq = conn.execute(text("SELECT seq FROM audit_event WHERE kind = 'review'")
                                  ).scalar_one()
    earlier = api.audit_head(story)
    anchors.write_text(f"# pasted from ticket DESK-12\n{earlier.text()}\n")  # a person's copy
    serve(site, 8)
    check(story, sources(site))  # the chain goes on
    api.audit_head(story, append=anchors)
    assert api.audit_verify(story, anchor_file=anchors).ok
    with story.engine.connect() as conn:
        data = conn.execute(select(AuditEventRow.data).where(AuditEventRow.seq == review_seq)
                            ).scalar_one()
    rewrite(story, review_seq, {**data, "by": "someone else", "note": None})
    assert verify(story).ok, "a recomputed chain verifies on its own"
    result = api.audit_verify(story, anchor_file=anchors)
    assert not result.ok
    [problem] = result.problems
    assert problem.startswith(f"event seq {earlier.seq} has hash ")
    assert f"but {anchors}:2 anchors {earlier.hash[:16]}…: the chain was rewritten at or " \
           f"before seq {earlier.seq}; 1 later anchor(s) differ too" in problem


def test_the_head_is_printed_to_keep_and_read_back(story: Store, tmp_path: Path) -> None:
    url, anchors = url_of(story), tmp_path / "anchors.jsonl"
    shown = CliRunner().invoke(cli, ["--db", url, "audit", "head"])
    head = api.audit_head(story)
    assert shown.exit_code == 0 and shown.output == f"seq={head.seq} hash={head.hash} " \
                                                    f"at={head.at}\n"
    as_json = CliRunner().invoke(cli, ["--db", url, "audit", "head", "--json"])
    assert json.loads(as_json.output) == {"seq": head.seq, "hash": head.hash, "at": head.at}
    for _ in range(2):  # cron: quiet, one line a run
        quiet = CliRunner().invoke(cli, ["--db", url, "audit", "head", "--append", str(anchors)])
        assert quiet.exit_code == 0 and quiet.output == ""
    assert anchors.read_text() == as_json.output * 2
    checked = CliRunner().invoke(cli, ["--db", url, "audit", "verify", "--anchor", str(anchors)])
    assert checked.exit_code == 0, checked.output
    assert f"anchors: 2 match the chain, the latest seq {head.seq} ({anchors}:1)" \
        in checked.output
    (tmp_path / "notes.txt").write_text("seq=twelve\n")
    bad = CliRunner().invoke(cli, ["--db", url, "audit", "verify", "--anchor",
                                   str(tmp_path / "notes.txt")])
    assert f"{tmp_path / 'notes.txt'}:1: not an anchor" in str(bad.exception)
    missing = CliRunner().invoke(cli, ["--db", url, "audit", "verify", "--anchor",
                                       str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, api.UsageError)
    assert "cannot read anchor file" in str(missing.exception)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "audit.key"
    path.parent.mkdir()
    result = CliRunner().invoke(cli, ["audit", "keygen", str(path)])
    assert result.exit_code == 0, result.output
    return path


def pub(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def test_keygen_writes_a_private_key_only_its_owner_reads(key: Path) -> None:
    assert key.stat().st_mode & 0o777 == 0o600
    assert pub(key).read_text().startswith("ed25519:")
    again = CliRunner().invoke(cli, ["audit", "keygen", str(key)])
    assert isinstance(again.exception, api.UsageError) and "never overwritten" in str(
        again.exception)
    assert key.stat().st_mode & 0o777 == 0o600


def test_checkpoints_are_signed_and_verified(story: Store, key: Path, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    head = api.audit_head(story)
    made = api.audit_checkpoint(story, key, append=anchors)
    assert made is not None and (made.seq, made.hash) == (head.seq, head.hash)
    assert api.audit_checkpoint(story, key, append=anchors) is None, \
        "nothing happened since: an idle daemon does not grow the chain"
    assert [json.loads(line) for line in anchors.read_text().splitlines()] == [made.to_json()]
    assert api.history(story)[-1].text.endswith(f"checkpoint: seq {head.seq} signed by "
                                                f"{pub(key).read_text().strip()}")
    unchecked = api.audit_verify(story)
    assert unchecked.ok and unchecked.anchors.unverified == 1
    for kwargs in ({"public_keys": [pub(key)]}, {"public_keys": [key]},
                   {"anchor_file": anchors}):  # the public key, the private key, the file's
        result = api.audit_verify(story, **kwargs)
        assert result.ok, result.problems
        assert result.anchors.signatures == (2 if "anchor_file" in kwargs else 1)
    cli_run = CliRunner().invoke(cli, ["--db", url_of(story), "audit", "checkpoint"],
                                 env={"CLAIMWATCH_AUDIT_KEY": str(key)})
    assert cli_run.output == "nothing to sign: no event since the last checkpoint\n"


def test_a_forged_checkpoint_is_reported(story: Store, key: Path, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    made = api.audit_checkpoint(story, key, append=anchors)
    assert made is not None
    # the line edited to vouch for another event, its signature kept
    line = json.loads(anchors.read_text())
    with story.engine.connect() as conn:
        other = conn.execute(text("SELECT hash FROM audit_event WHERE seq = 3")).scalar_one()
    anchors.write_text(json.dumps({**line, "seq": 3, "hash": other}) + "\n")
    result = api.audit_verify(story, anchor_file=anchors)
    assert result.problems == [f"{anchors}:1: the signature of the checkpoint of seq 3 does not "
                               "verify: forged or altered"]
    # a checkpoint signed by the intruder's own key: caught when the desk names its key
    intruder = tmp_path / "intruder.key"
    api.audit_keygen(intruder)
    anchors.unlink()
    forged = anchor.sign(anchor.Anchor(3, other, None), anchor.load_private_key(intruder))
    anchor.append(anchors, forged)
    result = api.audit_verify(story, anchor_file=anchors, public_keys=[pub(key)])
    assert len(result.problems) == 1 and result.problems[0].startswith(
        f"{anchors}:1: the checkpoint of seq 3 is signed by {forged.key}, not by a key of the "
        "desk: forged")


def test_the_chains_own_checkpoints_catch_a_rewrite_before_them(story: Store, key: Path) -> None:
    made = api.audit_checkpoint(story, key)
    assert made is not None
    with story.engine.connect() as conn:
        data = conn.execute(select(AuditEventRow.data).where(AuditEventRow.seq == 2)
                            ).scalar_one()
    rewrite(story, 2, {**data, "verdict": "Rewritten"})
    assert verify(story).ok
    result = api.audit_verify(story, public_keys=[pub(key)])
    assert not result.ok and result.problems[0].startswith("event seq ")
    assert f"but checkpoint event seq {made.seq + 1} anchors {made.hash[:16]}…" \
        in result.problems[0]
    # the intruder also moves the checkpoint to the new hash: its signature no longer holds
    with story.engine.connect() as conn:
        new_hash = conn.execute(select(AuditEventRow.hash).where(AuditEventRow.seq == made.seq)
                                ).scalar_one()
    rewrite(story, made.seq + 1, {**made.to_json(), "hash": new_hash})
    result = api.audit_verify(story, public_keys=[pub(key)])
    assert result.problems == [f"checkpoint event seq {made.seq + 1}: the signature of the "
                               f"checkpoint of seq {made.seq} does not verify: forged or altered"]


def test_verify_prints_every_problem_one_line_each(story: Store, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    head = api.audit_head(story, append=anchors)
    cut(story, head.seq - 2, head="delete")
    result = CliRunner().invoke(cli, ["--db", url_of(story), "audit", "verify", "--anchor",
                                      str(anchors)])
    lines = str(result.exception).splitlines()
    assert lines[0] == "audit verification failed: 2 problem(s)"
    assert lines[1].startswith(f"audit chain broken after {head.seq - 2} good event(s): the "
                               "chain's head row is missing")
    assert lines[2].startswith(f"the chain ends at seq {head.seq - 2} but {anchors}:1 anchors")
