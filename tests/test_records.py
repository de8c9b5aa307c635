"""What a desk keeps: WARC export of snapshots, and retention that never removes baselines, what
flags and reviews point to, or audit events (the evidence report: tests/test_report.py)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import itertools
import json
import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from wacz.main import main as wacz_main
from warcio.archiveiterator import ArchiveIterator
from warcio.cli import main as warcio_main

from db import Store, blobs
from db.models import BlobRow, FetchRow, OutcomeRow, SnapshotRow, SourceRow
from pipeline import api, config
from pipeline.cli import cli
from pipeline.demo.server import SiteServer
from pipeline.siblings import Siblings
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


def test_wacz_export_validates_and_lists_every_version(history: Store, db_url: str,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "evidence.wacz"
    with history.session() as session:  # a minute apart, as scheduled checks would be
        for n, snapshot in enumerate(session.scalars(select(SnapshotRow).order_by(
                SnapshotRow.id))):
            snapshot.fetched_at = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=n)
    shown = CliRunner().invoke(cli, ["--db", db_url, "export-wacz", "--factcheck", "fc",
                                     str(out)])
    with history.session() as session:
        stored = session.scalars(select(SnapshotRow).order_by(SnapshotRow.fetched_at,
                                                              SnapshotRow.id)).all()
        urls = {s.url for s in stored}
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith(f"{out}: {len(stored)} versions of 2 sources")
    assert wacz_main(["validate", "-f", str(out)]) == 0, "Webrecorder's own validator"
    with zipfile.ZipFile(out) as package:
        names = set(package.namelist())
        assert {"datapackage.json", "datapackage-digest.json", "pages/pages.jsonl",
                "archive/claimwatch.warc.gz", "indexes/index.cdx.gz"} <= names
        assert package.getinfo("archive/claimwatch.warc.gz").compress_type == zipfile.ZIP_STORED
        header, *pages = [json.loads(line) for line in
                          package.read("pages/pages.jsonl").decode().splitlines() if line]
        described = json.loads(package.read("datapackage.json"))
        with package.open("indexes/index.cdx.gz") as raw:
            index = gzip.decompress(raw.read()).decode()
    assert header["format"] == "json-pages-1.0" and "fact-check fc" in header["title"]
    assert len(pages) == len(stored), "one page per stored version"
    assert {p["url"] for p in pages} == urls
    assert [p["title"] for p in pages if "mpd" in p["url"]] == [
        f"mpd · version {n} of 5" for n in range(1, 6)], "in capture order"
    assert described["wacz_version"] and "fact-check fc" in described["title"]
    assert all(url.split("://", 1)[1].split("/", 1)[1] in index for url in urls)


def test_wacz_export_refuses_clearly(history: Store, db_url: str, tmp_path: Path) -> None:
    with pytest.raises(api.NotFound, match="nothing known as 'nope'"):
        api.export_wacz(history, tmp_path / "x.wacz", claim="nope")
    out = tmp_path / "exports" / "x.wacz"
    (tmp_path / "exports").mkdir()
    out.mkdir()  # a directory where the package should go: it cannot replace it
    with pytest.raises(api.UsageError, match="cannot write") as refused:
        api.export_wacz(history, out, factcheck="fc")
    assert refused.value.field == "out"
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["x.wacz"], \
        "nothing half-written left behind"
    nowhere = tmp_path / "no-such-dir" / "x.wacz"
    for command in ("export-wacz", "export-warc"):  # the argument the user typed is named
        ran = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()",
                              "--db", db_url, command, "--factcheck", "fc", str(nowhere)],
                             capture_output=True, text=True, timeout=60)
        assert ran.returncode == 2 and ran.stdout == ""
        assert ran.stderr == f"claimwatch: OUT: cannot write {nowhere}: No such file or " \
                             "directory\n", ran.stderr


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
        stored_before = session.scalar(select(func.count()).select_from(BlobRow)) or 0
    flags_before = api.flags(history, include_closed=True)
    counts = api.prune(history, "90d")
    assert counts["snapshots"] >= 3, "the MPD page's intermediate versions go"
    with history.session() as session:
        kept = session.scalar(select(func.count()).select_from(SnapshotRow))
        stored = session.scalar(select(func.count()).select_from(BlobRow)) or 0
        needed = {s.blob_sha256 for s in session.scalars(select(SnapshotRow))}
    assert kept == before - counts["snapshots"]
    assert stored == len(needed) == kept and stored + int(counts["blobs"]) == stored_before, \
        "a kept version stored on a pruned one was re-encoded: only what snapshots need stays"
    assert_every_snapshot_reads_back(history)
    assert api.audit_verify(history, deep=True).ok, "every blob, delta or whole, re-hashes"
    assert api.flags(history, include_closed=True) == flags_before
    assert api.audit_verify(history).ok, "the chain still verifies after a prune"
    assert "pruned" in api.history(history)[-1].text
    for source in ("ice", "mpd"):  # baseline → latest is still there to read
        assert api.source_diff(history, sources(site), source).error is None
    assert api.prune(history, "90d")["snapshots"] == 0, "idempotent"
    with pytest.raises(api.UsageError, match="not a duration") as bad:
        api.prune(history, "soon")
    assert bad.value.field == "older_than"

def assert_every_snapshot_reads_back(store: Store) -> None:
    """Every stored snapshot decodes (its delta chain whole) to the bytes its digest names,
    read in a transaction of its own, so no body read before helps."""
    with store.session() as session:
        ids = session.scalars(select(SnapshotRow.id)).all()
    for snapshot_id in ids:
        body, record = api.snapshot_content(store, snapshot_id)
        assert hashlib.sha256(body).hexdigest() == record.sha256, f"snapshot {snapshot_id}"


def pages(store: Store, site: SiteServer, versions: int) -> None:
    """`versions` versions of a ~40 KB MPD page, each differing from the last by a paragraph."""
    rng = random.Random(3)
    words = ["the", "county", "sheriff", "said", "officers", "would", "not", "assist",
             "federal", "agents", "in", "any"]
    paragraphs = [" ".join(rng.choices(words, k=60)) for _ in range(100)]
    for n in range(versions):
        paragraphs[rng.randrange(100)] = " ".join(rng.choices(words, k=60)) + f" ({n})"
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        (site.root / "mpd.html").write_text(
            "<html><body><main><p>The revised policies more clearly prohibit assisting ICE.</p>"
            f"{body}</main></body></html>")
        check(store, sources(site))


def test_versions_are_stored_as_bounded_chains_of_deltas(store: Store, site: SiteServer) -> None:
    serve(site, 6)
    pages(store, site, blobs.CHAIN + 4)
    with store.session() as session:
        rows = session.execute(select(BlobRow.sha256, BlobRow.size, func.length(BlobRow.data),
                                      BlobRow.base_sha256, BlobRow.depth)
                               .join(SnapshotRow, SnapshotRow.blob_sha256 == BlobRow.sha256)
                               .join(SourceRow, SourceRow.id == SnapshotRow.source_id)
                               .where(SourceRow.slug == "mpd").order_by(SnapshotRow.id)).all()
    assert [r.depth for r in rows] == [*range(blobs.CHAIN), *range(4)], \
        "a whole body, then deltas, each on the version before; whole again every CHAIN"
    assert all(r.base_sha256 == prev.sha256 for prev, r in itertools.pairwise(rows) if r.depth)
    whole, delta = rows[0], rows[1]
    assert delta[2] < whole[2] / 4 and delta[2] < delta.size * 0.03
    assert_every_snapshot_reads_back(store)
    with store.session() as session:  # the first read decodes the chain; the next ones reuse it
        assert [blobs.digest(blobs.get(session, r.sha256)) for r in rows] == [r.sha256
                                                                              for r in rows]


def test_a_prune_keeps_every_chain_readable(store: Store, site: SiteServer) -> None:
    serve(site, 6)
    pages(store, site, 8)
    age(store)
    counts = api.prune(store, "90d")
    assert counts["snapshots"] >= 5, "the versions between baseline and latest go"
    with store.session() as session:
        kept = {s.blob_sha256 for s in session.scalars(select(SnapshotRow))}
        rows = session.execute(select(BlobRow.sha256, BlobRow.base_sha256, BlobRow.depth)).all()
    assert {r.sha256 for r in rows} == kept and int(counts["blobs"]) >= 5, "their blobs go too"
    assert all(r.base_sha256 in kept for r in rows if r.base_sha256), \
        "the latest version is a delta on a kept one (the baseline) again, not on a pruned one"
    assert any(r.base_sha256 for r in rows)
    assert_every_snapshot_reads_back(store)
    assert api.audit_verify(store, deep=True).ok
    pages(store, site, 2)  # new versions, deltas on the kept latest one
    assert_every_snapshot_reads_back(store)
    assert api.audit_verify(store, deep=True).ok


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


def test_a_body_shared_by_two_sources_is_stored_once_and_chains_never_loop(
        store: Store) -> None:
    """Two sources serving the same bytes share one blob, whose base is whoever stored it first
    chose; a body already stored keeps its encoding whatever base a later writer offers, so a
    base is always an older blob and no chain loops."""
    rng = random.Random(5)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(500)]
    page = [" ".join(rng.choices(vocabulary, k=40)) for _ in range(200)]
    x, y = "\n".join(page).encode(), "\n".join(["edited", *page[1:]]).encode()
    z = "\n".join([*page[:-1], "edited at the end"]).encode()
    with store.session() as session:
        sx = blobs.put(session, x)
        sy = blobs.put(session, y, base=sx)  # source A: x, then y
        assert blobs.put(session, y, base=blobs.put(session, z, base=sx)) == sy  # source B
        assert blobs.put(session, x, base=sy) == sx
        rows = {r.sha256: r for r in session.scalars(select(BlobRow))}
    assert len(rows) == 3
    assert (rows[sx].base_sha256, rows[sy].base_sha256, rows[sy].depth) == (None, sx, 1)
    assert len(rows[sy].data) < len(rows[sx].data) / 10
    for sha, body in ((sx, x), (sy, y), (blobs.digest(z), z)):
        with store.session() as session:
            assert blobs.get(session, sha) == body
    with store.session() as session:  # what prune keeps for a snapshot of y alone: y and x
        source = SourceRow(slug="a", url="http://a/", options={})
        session.add(source)
        session.flush()
        session.add(SnapshotRow(source_id=source.id, blob_sha256=sy, url="http://a/",
                                content_type="text/plain", kind="text", headers={},
                                fetched_at=dt.datetime(2026, 1, 1)))
        session.flush()
        assert set(session.scalars(blobs.needed())) == {sy, sx}



def test_a_batch_looks_its_bodies_up_at_once_and_another_writer_in_between_is_no_error(
        db_url: str) -> None:
    """A batch asks once which of its bodies are stored (`blobs.look_up`); one stored already is
    not stored again, and one another worker stores after the look-up is no error: its row
    stands and the batch points at it."""
    old, new, theirs = b"<p>kept</p>" * 50, b"<p>new</p>" * 50, b"<p>theirs</p>" * 50
    first, other = api.open_db(db_url), api.open_db(db_url)
    try:
        with first.session() as session:
            blobs.put(session, old)
        with first.session() as session:
            blobs.look_up(session, [blobs.digest(b) for b in (old, new, theirs)])
            with other.session() as elsewhere:
                blobs.put(elsewhere, theirs)
            for body in (old, new, theirs):
                assert blobs.put(session, body) == blobs.digest(body)
        with first.session() as session:
            rows = {r.sha256: r for r in session.scalars(select(BlobRow))}
            assert set(rows) == {blobs.digest(b) for b in (old, new, theirs)}
            for body in (old, new, theirs):
                assert blobs.get(session, blobs.digest(body)) == body
    finally:
        first.close()
        other.close()

QUOTE = "The revised policies more clearly prohibit assisting ICE."
# one site's template: inline CSS and script every page of it repeats, as news sites do
TEMPLATE = random.Random(15)
STYLE = "".join(f".c{TEMPLATE.getrandbits(40):x}{{color:#{TEMPLATE.getrandbits(24):06x};"
                f"margin:{TEMPLATE.randrange(99)}px}}\n" for _ in range(900))


def news(site: SiteServer, name: str, version: int = 1) -> None:
    """A page of the site: its template, and an article of its own (~10 KB) that each version
    rewrites a paragraph of."""
    rng = random.Random(name)
    paragraphs = [" ".join(f"{rng.getrandbits(30):x}" for _ in range(40)) for _ in range(30)]
    for n in range(2, version + 1):
        paragraphs[random.Random(f"{name}{n}").randrange(30)] = f"version {n} of {name}"
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    (site.root / f"{name}.html").write_text(
        f"<html><head><style>{STYLE}</style></head><body><main><p>{QUOTE}</p>{body}</main>"
        "</body></html>")


def news_sources(pages: dict[str, str]) -> config.Config:
    """sources.yaml watching each page (name → URL) for the quote."""
    listed = "".join(f"  {name}: {{url: \"{url}\", select: main}}\n" for name, url in pages.items())
    evidence = "".join(f"          - {{source: {name}, quote: more clearly prohibit assisting}}\n"
                       for name in pages)
    return config.parse(f"version: 1\nsources:\n{listed}factchecks:\n  - id: fc\n"
                        "    title: MPD and ICE\n    claims:\n      - id: mpd\n"
                        "        text: MPD will not escort ICE.\n        verdict: Supported\n"
                        f"        evidence:\n{evidence}")


def stored_as(store: Store) -> dict[str, list[tuple[str, int, str | None, int, int]]]:
    """Each source's snapshots in order: (blob, size, base, depth, bytes stored)."""
    with store.session() as session:
        rows = session.execute(
            select(SourceRow.slug, BlobRow.sha256, BlobRow.size, BlobRow.base_sha256,
                   BlobRow.depth, func.length(BlobRow.data))
            .join(SnapshotRow, SnapshotRow.source_id == SourceRow.id)
            .join(BlobRow, BlobRow.sha256 == SnapshotRow.blob_sha256).order_by(SnapshotRow.id))
        found: dict[str, list[tuple[str, int, str | None, int, int]]] = {}
        for slug, *blob in rows:
            found.setdefault(slug, []).append(tuple(blob))  # type: ignore[arg-type]
    return found


def test_a_first_snapshot_is_stored_on_a_sibling_page_of_the_same_host(
        store: Store, site: SiteServer, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    with SiteServer(tmp_path / "elsewhere") as elsewhere:
        for name in ("a", "b", "c"):
            news(site, name)
        news(elsewhere, "d")  # the same template on another host
        serve(site, 6)
        check(store, news_sources({"a": site.url("a.html")}))
        check(store, sources(site))  # a CSV list on the same host
        first = stored_as(store)
        check(store, news_sources({"a": site.url("a.html"), "b": site.url("b.html"),
                                   "c": site.url("c.html"), "d": elsewhere.url("d.html")}))
        stored = stored_as(store)
    [a] = first["a"]
    assert a[2] is None, "the first page of a host is stored whole"
    [b], [c], [d] = stored["b"], stored["c"], stored["d"]
    assert (b[2], b[3]) == (a[0], 1), "a new page is a delta on the host's page stored before"
    assert c[2] in (a[0], b[0]) and c[3] in (1, 2), "checked together, on each other"
    assert b[4] < a[4] * 0.6 and c[4] < a[4] * 0.6, "the template is not stored again"
    assert (d[2], d[3]) == (None, 0), "another host's page is no sibling"
    assert [s[2] for s in stored["ice"]] == [None], "nor a CSV list a page's"
    with store.session() as session:  # a list is never tried against a page
        [ice] = session.scalars(select(SourceRow).where(SourceRow.slug == "ice")).all()
        ice.latest_snapshot_id = None
        choice = Siblings().load(session, [ice])
        assert choice.choose(ice.host, "csv", site.url("new.csv"), ice.id) is None
        assert choice.choose(ice.host, "html", site.url("x/new.html"), ice.id) is not None
        session.rollback()
    assert_every_snapshot_reads_back(store)
    assert api.audit_verify(store, deep=True).ok


def test_a_page_stored_on_a_sibling_stays_readable_when_the_sibling_goes(
        store: Store, site: SiteServer, tmp_path: Path) -> None:
    """b's first page is a delta on a's latest; that version of a is pruned later, a retired:
    b's page is re-encoded on what is kept, and every snapshot, export and audit still reads."""
    both = news_sources({"a": site.url("a.html"), "b": site.url("b.html")})
    news(site, "a")
    news(site, "b")
    check(store, news_sources({"a": site.url("a.html")}))
    news(site, "a", 2)
    check(store, news_sources({"a": site.url("a.html")}))
    check(store, both)
    news(site, "a", 3)
    check(store, both)
    before = stored_as(store)
    a1, a2, a3 = before["a"]
    [b1] = before["b"]
    assert b1[2] == a2[0], "b's first page is stored on a's latest one"
    age(store)
    assert api.prune(store, "90d")["snapshots"] == 1, "a's middle version goes"
    after = stored_as(store)
    assert [s[0] for s in after["a"]] == [a1[0], a3[0]] and after["b"][0][0] == b1[0]
    assert after["b"][0][2] in (a1[0], None), "re-encoded on a kept version of a, or whole"
    assert_every_snapshot_reads_back(store)
    assert api.audit_verify(store, deep=True).ok
    assert api.export_warc(store, tmp_path / "b.warc.gz", source="b") == 2

    api.retire_source(store, "a", by="J. Doe", note="moved")
    news(site, "b", 2)
    check(store, news_sources({"b": site.url("b.html")}))
    age(store)
    api.prune(store, "90d")
    assert_every_snapshot_reads_back(store)
    assert api.audit_verify(store, deep=True).ok
    with store.session() as session:
        assert all(blobs.get(session, s.blob_sha256) for s in session.scalars(select(SnapshotRow)))


def test_prune_keeps_a_rendered_pages_response_as_served(store: Store) -> None:
    """A rendered snapshot points at two blobs, its DOM and its response as served: both, and
    the bases they need, are kept."""
    older = base64.b64encode(random.Random(1).randbytes(20_000))
    served, dom = older + b"<p>served</p>", b"<p>DOM</p>"
    with store.session() as session:
        source = SourceRow(slug="a", url="http://a/", options={})
        session.add(source)
        session.flush()
        base = blobs.put(session, older)
        raw = blobs.put(session, served, base=base)  # a delta on the served one before
        session.add(SnapshotRow(source_id=source.id, blob_sha256=blobs.put(session, dom),
                                url="http://a/", content_type="text/html", kind="html",
                                headers={}, fetched_at=dt.datetime(2026, 1, 1),
                                fetch_mode="browser", raw_sha256=raw))
        session.flush()
        assert set(session.scalars(blobs.needed())) == {blobs.digest(dom), raw, base}
        assert blobs.unchain(session) == 1, "its base, pointed at by no snapshot, goes"
        assert set(session.scalars(blobs.needed())) == {blobs.digest(dom), raw}
    with store.session() as session:
        assert blobs.get(session, raw) == served
