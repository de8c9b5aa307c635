"""A transaction numbers its new rows itself (db/numbering.py): each table's rows go in one
INSERT, and two writers never hand out one id twice, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

from sqlalchemy import event, func, select

from db import Store, blobs, numbering
from db.engine import open_store
from db.models import FetchRow, SnapshotRow, SourceRow

WHEN = dt.datetime(2026, 11, 1, 12, 0)


def _snapshot(source: int, sha: str, n: int) -> SnapshotRow:
    return SnapshotRow(source_id=source, blob_sha256=sha, url=f"http://a.example/{n}",
                       content_type="text/html", charset=None, kind="html", headers={},
                       fetched_at=WHEN, fetch_mode="http")


def _inserts(store: Store) -> Counter[str]:
    """INSERT statements run on `store` from now on, by table (executemany counts once)."""
    seen: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("INSERT INTO"):
            seen[statement.split()[2].strip('"')] += 1

    event.listen(store.engine, "before_cursor_execute", count)
    return seen


def test_a_batch_of_new_rows_goes_in_one_insert_per_table_in_the_order_added(
        store: Store) -> None:
    with store.session() as session:
        source = SourceRow(slug="a", url="http://a.example/", host="a.example:80")
        session.add(source)
        session.flush()
        sha = blobs.put(session, b"<p>one</p>")
        seen = _inserts(store)
        snapshots = [_snapshot(source.id, sha, n) for n in range(40)]
        fetches = [FetchRow(source_id=source.id, started_at=WHEN, duration_ms=n, url="u")
                   for n in range(40)]
        session.add_all(snapshots + fetches)
        numbering.number(session, (SnapshotRow, FetchRow))
        session.flush()
        for n, fetch in enumerate(fetches):  # a fetch row then points at its snapshot
            fetch.snapshot_id = snapshots[n].id
    assert seen == {"snapshot": 1, "fetch": 1}
    ids = [s.id for s in snapshots]
    assert ids == sorted(ids) and len(set(ids)) == 40
    with store.session() as session:
        stored = session.execute(select(FetchRow.duration_ms, FetchRow.snapshot_id)
                                 .order_by(FetchRow.id)).all()
        assert stored == [(n, ids[n]) for n in range(40)]
        # the database's own numbering goes on after them
        later = _snapshot(source.id, sha, 99)
        session.add(later)
        session.flush()
        assert later.id > max(ids)


def test_two_writers_never_number_a_row_alike(db_url: str) -> None:
    """A second writer numbering while the first has not committed gets other ids: SQLite makes
    it wait for the first's write lock, PostgreSQL's sequence hands out each id once."""
    first, second = open_store(db_url), open_store(db_url)
    try:
        with first.session() as session:
            session.add(SourceRow(slug="a", url="http://a.example/", host="a.example:80"))
            session.flush()
            source = session.scalar(select(SourceRow.id))
            sha = blobs.put(session, b"<p>one</p>")
        numbered: dict[str, list[int]] = {}

        def write(store: Store, name: str, hold: float) -> None:
            with store.session() as session:
                rows = [_snapshot(source, sha, n) for n in range(25)]
                session.add_all(rows)
                numbering.number(session, (SnapshotRow,))
                numbered[name] = [row.id for row in rows]
                session.flush()
                time.sleep(hold)  # the other writer numbers meanwhile

        one = threading.Thread(target=write, args=(first, "first", 0.5))
        one.start()
        while "first" not in numbered:
            time.sleep(0.01)
        write(second, "second", 0.0)
        one.join()
        assert not set(numbered["first"]) & set(numbered["second"])
        with first.session() as session:
            assert session.scalar(select(func.count()).select_from(SnapshotRow)) == 50
    finally:
        first.close()
        second.close()


def test_storing_a_body_leaves_the_batchs_pending_rows_to_its_own_flush(store: Store) -> None:
    """The recorder stores each check's body between adding its rows and the batch's flush: a
    body stored must not flush the rows added before it (they went in one at a time)."""
    with store.session() as session:
        source = SourceRow(slug="a", url="http://a.example/", host="a.example:80")
        session.add(source)
        session.flush()
        sha = blobs.put(session, b"<p>one</p>")
        pending = _snapshot(source.id, sha, 1)
        session.add(pending)
        blobs.put(session, b"<p>two</p>", base=sha)
        assert pending in session.new
