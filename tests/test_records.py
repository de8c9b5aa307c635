"""What a desk keeps: WARC export of snapshots, and retention that never removes baselines, what
flags and reviews point to, or audit events (the evidence report: tests/test_report.py)."""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from warcio.archiveiterator import ArchiveIterator
from warcio.cli import main as warcio_main

from db import Store
from db.models import BlobRow, FetchRow, OutcomeRow, SnapshotRow
from pipeline import api
from pipeline.cli import cli
from pipeline.demo.server import SiteServer
from tests.test_review import check, only_flag, serve, sources


@pytest.fixture
def history(store: Store, site: SiteServer) -> Store:
    """ICE's list grows 6 → 7 (flag, revised), MPD's page changes noise four times."""
    serve(site, 6)
    check(store, sources(site))
    serve(site, 7)
    check(store, sources(site))
    api.review(store, only_flag(store), decision="revised", reviewer="J. Doe",
               note="ICE added <b>Sherburne</b>", verdict="Outdated: seven agencies")
    for n in range(4):
        (site.root / "mpd.html").write_text(
            f"<html><body><main><p>The revised policies more clearly prohibit assisting ICE.</p>"
            f"</main><aside>weather {n}</aside></body></html>")
        check(store, sources(site))
    return store


def test_warc_export_is_readable_and_checks(history: Store, tmp_path: Path,
                                            site: SiteServer) -> None:
    out = tmp_path / "evidence.warc.gz"
    records = api.export_warc(history, out, factcheck="fc")
    with history.session() as session:
        assert records == (session.scalar(select(func.count()).select_from(SnapshotRow)) or 0) + 1
    with open(out, "rb") as stream:
        responses = [(r.rec_headers.get_header("WARC-Target-URI"), r.http_headers.get_statuscode(),
                      r.content_stream().read()) for r in ArchiveIterator(stream)
                     if r.rec_type == "response"]
    assert len(responses) == records - 1
    uri, status, body = responses[-1]
    assert status == "200" and uri.startswith(site.base_url)
    assert body == (site.root / Path(uri).name).read_bytes() or uri.endswith("list.csv")
    with pytest.raises(SystemExit) as checked:  # `warcio check`: every record's digests
        warcio_main(["check", str(out)])
    assert checked.value.code == 0
    claim_only = api.export_warc(history, tmp_path / "claim.warc.gz", claim="mpd-no-escort")
    assert claim_only == 1 + 5, "the MPD page: one first snapshot and four changes"
    with pytest.raises(api.UsageError, match="exactly one"):
        api.export_warc(history, out)


def age(store: Store) -> None:
    """Every snapshot, fetch and outcome as if recorded in 2020."""
    with store.session() as session:
        for model, column in ((SnapshotRow, SnapshotRow.fetched_at),
                              (FetchRow, FetchRow.started_at),
                              (OutcomeRow, OutcomeRow.created_at)):
            session.execute(update(model).values({column: dt.datetime(2020, 1, 1)}))


def test_prune_keeps_what_the_record_needs(history: Store, site: SiteServer) -> None:
    age(history)
    with history.session() as session:
        before = session.scalar(select(func.count()).select_from(SnapshotRow))
    flags_before = api.flags(history, include_closed=True)
    counts = api.prune(history, "90d")
    assert counts["snapshots"] >= 3, "the MPD page's intermediate versions go"
    with history.session() as session:
        kept = session.scalar(select(func.count()).select_from(SnapshotRow))
        blobs = session.scalar(select(func.count()).select_from(BlobRow))
    assert kept == before - counts["snapshots"] and blobs == kept
    assert api.flags(history, include_closed=True) == flags_before
    assert api.audit_verify(history).ok, "the chain still verifies after a prune"
    assert "pruned" in api.history(history)[-1].text
    for source in ("ice", "mpd"):  # baseline → latest is still there to read
        assert api.source_diff(history, sources(site), source).error is None
    assert api.prune(history, "90d")["snapshots"] == 0, "idempotent"
    with pytest.raises(api.UsageError, match="not a duration") as bad:
        api.prune(history, "soon")
    assert bad.value.field == "older_than"

def test_prune_vacuum_gives_the_space_back(store: Store, site: SiteServer) -> None:
    """Pruned rows leave free pages the file keeps; --vacuum returns them (SQLite: the file
    shrinks; PostgreSQL: plain VACUUM, the space is reused)."""
    rng = random.Random(7)
    serve(site, 6)
    for _ in range(12):  # twelve versions of a page whose noise zstd cannot shrink
        noise = base64.b64encode(rng.randbytes(150_000)).decode()
        (site.root / "mpd.html").write_text(
            "<html><body><main><p>The revised policies more clearly prohibit assisting ICE.</p>"
            f"</main><aside>{noise}</aside></body></html>")
        check(store, sources(site))
    age(store)
    url = store.engine.url.render_as_string(hide_password=False)
    done = CliRunner().invoke(cli, ["--db", url, "prune", "--older-than", "90d", "--vacuum"])
    assert done.exit_code == 0, done.output
    assert re.search(r"pruned (\d+) snapshot", done.output).group(1) == "10"  # type: ignore
    if store.engine.dialect.name != "sqlite":
        assert done.output.splitlines()[-1] == ("vacuumed the tables: their free space is "
                                                "reused by new rows")
        return
    shown = re.fullmatch(r"vacuumed: ([\d,]+) → ([\d,]+) bytes", done.output.splitlines()[-1])
    assert shown is not None, done.output
    before, after = (int(n.replace(",", "")) for n in shown.groups())
    assert before > 1_500_000 and after < before / 3
    database = Path(store.engine.url.database or "")
    assert database.stat().st_size == after, "the file on disk is the size printed"
