"""The schema's migrations (db/migrations/, db/engine.py), on SQLite and (with CLAIMWATCH_TEST_PG)
PostgreSQL: an empty database upgrades to exactly db/models.py; a first-release database keeps
its rows through `claimwatch db upgrade` and checks carry on; claimwatch refuses a database at
another revision with one line; processes opening a new database together create it once."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import zstandard
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Engine,
    Integer,
    MetaData,
    column,
    create_engine,
    event,
    func,
    inspect,
    select,
    table,
    text,
)

from db import open_store, schema_state, upgrade_schema
from db.engine import migrations_config, revisions
from db.models import AuditHeadRow, Base, BlobRow, ClaimRow, EvidenceRow, SourceRow, VerdictRow
from pipeline import api
from pipeline.demo.server import SiteServer
from pipeline.errors import ClaimwatchError, UsageError
from pipeline.fetch import FetchSettings
from tests.test_check import QUOTE, page, sources_yaml, write
from tests.test_cli import claimwatch
from tests.test_records import assert_every_snapshot_reads_back, pages

CHAIN = ("0001_spine", "0002_review_audit_alerts_leases", "0003_config_sync", "0004_hosts",
         "0005_desk", "0006_deltas", "0007_archived", "0008_archive",
         "0009_fetch_mode", "0010_backfill_marks", "0011_backfill_error")
SPINE, REVIEW, SYNC, HOSTS, DESK = CHAIN[:5]
HEAD = CHAIN[-1]
FAST = FetchSettings(user_agent="t", retries=0, host_delay=0)
OLD = (f"database schema is at revision {SPINE}; this claimwatch needs {HEAD}: "
       "run 'claimwatch db upgrade'")


def raw(url: str) -> Engine:
    """An engine without claimwatch's checks (nor SQLite's foreign keys), to set scenes."""
    return create_engine(url)


def at_revision(url: str, revision: str) -> None:
    engine = raw(url)
    with engine.begin() as conn:
        command.upgrade(migrations_config(conn), revision)
    engine.dispose()


def drift(url: str) -> list[Any]:
    """What autogenerate would change to make the database match db/models.py."""
    engine = raw(url)
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return found


def test_revision_files_are_named_after_a_linear_chain_of_ids() -> None:
    scripts = ScriptDirectory.from_config(migrations_config("sqlite://"))
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [s.revision for s in chain] == revisions() == list(CHAIN)
    assert [s.down_revision for s in chain] == [None, *revisions()[:-1]]
    assert all(Path(s.path).stem == s.revision and len(s.revision) <= 32 for s in chain), \
        "db.engine reads the head off the file names; alembic_version holds 32 characters"
    assert scripts.get_current_head() == revisions()[-1]


def test_an_empty_database_upgrades_to_exactly_the_models(db_url: str, tmp_path: Path) -> None:
    done = claimwatch("--db", db_url, "db", "upgrade", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"database schema upgraded: none → {HEAD}\n")
    assert drift(db_url) == []
    again = claimwatch("--db", db_url, "db", "upgrade", cwd=tmp_path)
    assert again.stdout == f"database schema already at {HEAD} (head)\n"
    assert claimwatch("--db", db_url, "db", "current", cwd=tmp_path).stdout == f"{HEAD} (head)\n"
    store = open_store(db_url)
    with store.session() as session:
        head = session.get(AuditHeadRow, 1)
        assert head is not None and (head.seq, head.hash) == (0, "0" * 64)
    store.close()


def test_open_store_creates_a_new_database_then_checks_it_with_one_query(db_url: str) -> None:
    open_store(db_url).close()
    assert schema_state(db_url).status == "current" and drift(db_url) == []
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        open_store(db_url).close()
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert statements == ["SELECT version_num FROM alembic_version"]


def test_commands_that_only_read_refuse_a_missing_database_and_create_nothing(
        db_url: str) -> None:
    missing = (r"(no database at /.*/claimwatch\.db|no claimwatch tables in database "
               r"postgresql\S+) \(run 'claimwatch check' first, or pass --db\)$")
    with pytest.raises(UsageError, match=missing):
        open_store(db_url, create=False)
    if db_url.startswith("sqlite"):
        with pytest.raises(UsageError, match=missing):
            schema_state(db_url)  # `db current`: connecting would create the file
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
    else:
        engine = raw(db_url)
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
        engine.dispose()
    open_store(db_url).close()  # a command that writes creates it
    open_store(db_url, create=False).close()


def test_downgrades_come_back_to_the_models(db_url: str) -> None:
    open_store(db_url).close()
    engine = raw(db_url)
    with engine.begin() as conn:
        command.downgrade(migrations_config(conn), SPINE)
        assert "claimwatch_meta" in inspect(conn).get_table_names()
        command.downgrade(migrations_config(conn), "base")
        assert inspect(conn).get_table_names() == ["alembic_version"]
    engine.dispose()
    assert schema_state(db_url).status == "empty"
    open_store(db_url).close()
    assert drift(db_url) == []


def test_a_downgrade_stores_every_delta_whole_again(db_url: str, site: SiteServer) -> None:
    """0005 knows no bases: going back to it first stores each body as a whole zstd frame."""
    store = open_store(db_url)
    write(site, "index.html", page())
    pages(store, site, 4)
    store.close()
    engine = raw(db_url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM blob WHERE depth > 0")).scalar()
        command.downgrade(migrations_config(conn), DESK)
        stored = conn.execute(text("SELECT sha256, size, data FROM blob")).all()
    engine.dispose()
    assert len(stored) == 4
    for sha, size, data in stored:
        body = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
        assert hashlib.sha256(body).hexdigest() == sha


def test_an_upgrade_keeps_a_digest_of_each_changes_any_observation(db_url: str,
                                                                  site: SiteServer) -> None:
    """Outcomes of `changes: any` items held the region's text; from 0006 on, its digest."""
    write(site, "index.html", page())
    config = sources_yaml(site.url("index.html"), QUOTE, "changes: any")
    store = open_store(db_url)
    api.check(store, config, everything=True, settings=FAST)
    store.close()
    outcome = table("outcome", column("id", Integer), column("observed", JSON))
    engine = raw(db_url)
    with engine.begin() as conn:
        command.downgrade(migrations_config(conn), DESK)
        rows = conn.execute(select(outcome.c.id, outcome.c.observed).order_by(outcome.c.id)).all()
        conn.execute(outcome.update().where(outcome.c.id == rows[1][0])
                     .values(observed="the region's whole text"))
        command.upgrade(migrations_config(conn), HEAD)
        after = conn.execute(select(outcome.c.observed).order_by(outcome.c.id)).scalars().all()
    engine.dispose()
    assert after[0] == rows[0][1], "a quote's passage stays"
    assert after[1] == {"sha256": hashlib.sha256(b"the region's whole text").hexdigest(),
                        "chars": len("the region's whole text")}


def first_release(url: str, site: SiteServer) -> dict[str, Any]:
    """A database as the first release left it: one claim with its verdict, a source checked
    once, its snapshot (and blob), the evidence item with that snapshot as baseline. Rows get
    their ids from the database (each the first of its table: 1), as they did then."""
    write(site, "index.html", page())
    config = sources_yaml(site.url("index.html"), QUOTE)
    ev = config.factchecks[0].claims[0].evidence[0]
    body = page().encode()
    sha = hashlib.sha256(body).hexdigest()
    at = dt.datetime(2026, 11, 1, 12, 0)
    rows: dict[str, list[dict[str, Any]]] = {
        "claimwatch_meta": [{"key": "schema", "value": "1"}],
        "factcheck": [{"slug": "fc", "title": "A fact-check", "url": None,
                       "active": True}],
        "claim": [{"slug": "claim-a", "factcheck_id": 1, "active": True,
                   "text": "The sheriff does not work with ICE.", "verdict": "Supported"}],
        "source": [{"slug": "s", "url": site.url("index.html"), "active": True,
                    "options": {"select": "main"}, "next_check_at": at, "last_checked_at": at,
                    "last_status": "new", "consecutive_failures": 0, "validators": {},
                    "latest_snapshot_id": None}],
        "blob": [{"sha256": sha, "size": len(body),
                  "data": zstandard.ZstdCompressor().compress(body)}],
        "snapshot": [{"source_id": 1, "blob_sha256": sha, "url": site.url("index.html"),
                      "content_type": "text/html", "charset": "utf-8", "kind": "html",
                      "headers": {}, "fetched_at": at}],
        "evidence": [{"claim_id": 1, "source_id": 1, "identity": ev.identity(),
                      "position": 0, "expectation": ev.expectation(), "active": True,
                      "baseline_snapshot_id": 1, "evaluated_snapshot_id": 1,
                      "evaluated_options": None, "last_outcome": "holds"}],
    }
    at_revision(url, SPINE)
    engine = raw(url)
    tables = MetaData()
    with engine.begin() as conn:
        tables.reflect(conn)
        for name, values in rows.items():
            conn.execute(tables.tables[name].insert(), values)
        conn.execute(tables.tables["source"].update().values(latest_snapshot_id=1))
    engine.dispose()
    return {"config": config, "sha": sha, "at": at}


def test_a_first_release_database_upgrades_keeping_its_rows_and_checks_carry_on(
        db_url: str, site: SiteServer, tmp_path: Path) -> None:
    scene = first_release(db_url, site)
    with pytest.raises(ClaimwatchError) as refused:
        open_store(db_url)
    assert str(refused.value) == OLD
    cli = claimwatch("--db", db_url, "flags", cwd=tmp_path)
    assert (cli.returncode, cli.stderr) == (1, f"claimwatch: {OLD}\n")
    current = claimwatch("--db", db_url, "db", "current", cwd=tmp_path)
    assert (current.returncode, current.stdout) == (1, f"{SPINE}\n")

    done = claimwatch("--db", db_url, "db", "upgrade", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"database schema upgraded: {SPINE} → {HEAD}\n")
    assert drift(db_url) == []

    store = open_store(db_url)
    with store.session() as session:
        claim = session.scalars(select(ClaimRow)).one()
        assert (claim.verdict, claim.config_verdict) == ("Supported", "Supported")
        history = session.scalars(select(VerdictRow)).all()
        assert [(v.claim_id, v.verdict, v.origin, v.review_id) for v in history] == \
            [(claim.id, "Supported", "sources.yaml", None)]
        source = session.scalars(select(SourceRow)).one()
        assert (source.latest_snapshot_id, source.lease_owner) == (1, None)
        evidence = session.scalars(select(EvidenceRow)).one()
        assert (evidence.baseline_snapshot_id, evidence.accepted_outcome_id) == (1, None)
        head = session.get(AuditHeadRow, 1)
        assert head is not None and (head.seq, head.hash) == (0, "0" * 64)
        assert "claimwatch_meta" not in inspect(session.connection()).get_table_names()

    config = scene["config"]
    same = api.check(store, config, everything=True, settings=FAST)
    assert [s.status for s in same.sources] == ["unchanged"] and not same.flags
    write(site, "index.html", page().replace("does not work with any agency", "works with ICE"))
    moved = api.check(store, config, everything=True, settings=FAST)
    assert [s.status for s in moved.sources] == ["changed"] and len(moved.flags) == 1
    flag = api.review(store, moved.flags[0].id, decision="revised", reviewer="J. Doe",
                      verdict="Outdated")
    assert flag.flag.review.verdict_before == "Supported"
    with store.session() as session:
        evidence = session.scalars(select(EvidenceRow)).one()
        assert evidence.id == 1, "the first release's evidence item carries on, baseline and all"
        assert [v.origin for v in session.scalars(select(VerdictRow).order_by(VerdictRow.id))] \
            == ["sources.yaml", "review"]
        old = session.get(BlobRow, scene["sha"])
        assert old is not None and (old.base_sha256, old.depth) == (None, 0), "a whole body"
    assert_every_snapshot_reads_back(store)  # the first release's blob, and the new version
    assert api.audit_verify(store, deep=True).ok
    store.close()


def test_a_0010_database_upgrades_keeping_its_backfill_marks(db_url: str,
                                                             tmp_path: Path) -> None:
    """0011 adds a failed backfill's reason: a fact-check backfilled before it keeps its marks
    and reads as `finished` (no reason), one awaiting its backfill still awaits it."""
    from pipeline import backfill
    at_revision(db_url, "0010_backfill_marks")
    started, finished = dt.datetime(2026, 11, 27, 8, 0), dt.datetime(2026, 11, 27, 8, 5)
    engine = raw(db_url)
    tables = MetaData()
    with engine.begin() as conn:
        tables.reflect(conn)
        conn.execute(tables.tables["factcheck"].insert(), [
            {"slug": "done", "title": "Backfilled", "active": True,
             "published": dt.date(2025, 3, 10), "backfill_started_at": started,
             "backfill_finished_at": finished},
            {"slug": "begun", "title": "Started", "active": True,
             "published": dt.date(2025, 3, 10), "backfill_started_at": started,
             "backfill_finished_at": None}])
    engine.dispose()
    done = claimwatch("--db", db_url, "db", "upgrade", cwd=tmp_path)
    assert done.stdout == f"database schema upgraded: 0010_backfill_marks → {HEAD}\n"
    assert drift(db_url) == []
    store = open_store(db_url)
    with store.session() as session:
        assert [(b.factcheck, b.state, b.started_at, b.finished_at, b.error)
                for b in backfill.states(session, None, dt.datetime(2026, 11, 28))] == [
            ("begun", "interrupted", started, None, None),
            ("done", "finished", started, finished, None)]
    store.close()


def test_a_database_made_before_migrations_is_adopted(db_url: str, tmp_path: Path) -> None:
    at_revision(db_url, SPINE)  # exactly what the first release's create_all made, plus:
    engine = raw(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    with pytest.raises(ClaimwatchError, match=f"^database has the tables of revision {SPINE} "
                       r"but no alembic_version .*: run 'claimwatch db upgrade' to adopt it$"):
        open_store(db_url)
    done = claimwatch("--db", db_url, "db", "upgrade", cwd=tmp_path)
    assert done.stdout == \
        f"database schema upgraded: none (the tables of {SPINE}, adopted) → {HEAD}\n"
    assert schema_state(db_url).status == "current" and drift(db_url) == []


def test_a_development_database_without_revision_is_refused(db_url: str) -> None:
    engine = raw(db_url)  # as open_store made them before migrations: create_all and a meta row
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE claimwatch_meta (key VARCHAR(50) PRIMARY KEY, "
                          "value TEXT NOT NULL)"))
    engine.dispose()
    for attempt in (open_store, upgrade_schema):
        with pytest.raises(ClaimwatchError, match="^database has claimwatch tables but no "
                           "alembic_version, and they match no claimwatch release .*: move it "
                           "aside and let claimwatch create a new one$"):
            attempt(db_url)


def test_a_database_from_a_newer_claimwatch_is_refused(db_url: str, tmp_path: Path) -> None:
    open_store(db_url).close()
    engine = raw(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003_from_the_future'"))
    engine.dispose()
    newer = ("database schema is at revision 0003_from_the_future, which this claimwatch (at "
             f"{HEAD}) does not know: it was written by a newer claimwatch; upgrade claimwatch")
    for attempt in (open_store, upgrade_schema):
        with pytest.raises(ClaimwatchError) as refused:
            attempt(db_url)
        assert str(refused.value) == newer
    current = claimwatch("--db", db_url, "db", "current", cwd=tmp_path)
    assert (current.returncode, current.stdout, current.stderr) == \
        (1, "0003_from_the_future\n", f"claimwatch: {newer}\n")


def _open_together(url: str, ready: Any, results: Any) -> None:
    ready.wait(timeout=60)
    try:
        open_store(url).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which shows it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_database_together_create_it_once(db_url: str) -> None:
    # forked, not spawned: each process still opens its own connections and races the others at
    # the barrier, without importing the library anew (two seconds a process on a loaded machine)
    fork = multiprocessing.get_context("fork")
    n = 4
    ready, results = fork.Barrier(n), fork.Queue()
    workers = [fork.Process(target=_open_together, args=(db_url, ready, results))
               for _ in range(n)]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == ["ok"] * n
    engine = raw(db_url)
    with engine.connect() as conn:
        assert list(conn.scalars(text("SELECT version_num FROM alembic_version"))) == [HEAD]
        assert conn.scalar(select(func.count()).select_from(AuditHeadRow)) == 1
    engine.dispose()
