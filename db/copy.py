"""Copy a whole claimwatch database to another one (e.g. SQLite → PostgreSQL when a desk outgrows
one machine). Rows keep their ids, so snapshots, flags and the audit chain stay intact; the copy
verifies the audit chain on the target before it reports success.

Tables go in dependency order. Two references point "forward" (a source's latest snapshot, an
evidence item's accepted outcome): they are copied empty first and filled in a second pass.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, insert, select, text, update

from db.audit import verify
from db.engine import Store
from db.models import Base, EvidenceRow, SourceRow
from pipeline.errors import UsageError

BATCH = 2000
DEFERRED = {"source": "latest_snapshot_id", "evidence": "accepted_outcome_id"}
REPLACED = {"audit_head"}  # seeded by the migrations: the source's row replaces the target's
OWN = {"alembic_version", "claimwatch_meta"}  # the target's own schema bookkeeping


def copy(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of `source` into the empty database `target`; return rows per table."""
    tables = [t for t in Base.metadata.sorted_tables if t.name not in OWN]
    with target.engine.connect() as conn:
        filled = [t.name for t in tables if t.name not in REPLACED
                  and conn.execute(select(func.count()).select_from(t)).scalar()]
    if filled:
        raise UsageError(f"the target database is not empty ({', '.join(filled[:3])} …): copy "
                         "into a new database")
    counts: dict[str, int] = {}
    deferred: dict[str, list[tuple[Any, Any]]] = {name: [] for name in DEFERRED}
    with source.engine.connect() as src, target.engine.begin() as dst:
        for table in tables:
            if table.name in REPLACED:
                dst.execute(table.delete())
            counts[table.name] = _copy_table(src, dst, table, deferred)
        for name, column in DEFERRED.items():
            model = SourceRow if name == "source" else EvidenceRow
            for row_id, value in deferred[name]:
                dst.execute(update(model).where(model.id == row_id).values({column: value}))
        if dst.dialect.name == "postgresql":
            _reset_sequences(dst, tables)
    with target.session() as session:
        result = verify(session)
    if not result.ok:
        raise UsageError(f"the copy's audit chain does not verify: {result.problem}")
    return counts


def _copy_table(src: Any, dst: Any, table: Table,
                deferred: dict[str, list[tuple[Any, Any]]]) -> int:
    later = DEFERRED.get(table.name)
    n = 0
    result = src.execution_options(yield_per=BATCH).execute(select(table))
    for rows in result.partitions():
        batch = [dict(row._mapping) for row in rows]
        if later:
            for row in batch:
                if row[later] is not None:
                    deferred[table.name].append((row["id"], row[later]))
                    row[later] = None
        dst.execute(insert(table), batch)
        n += len(batch)
    return n


def _reset_sequences(dst: Any, tables: list[Table]) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind: move them past the copied ids."""
    quote = dst.dialect.identifier_preparer.quote  # "fetch" is a reserved word there
    for table in tables:
        if "id" in table.c and table.c.id.autoincrement is not False and \
                table.c.id.type.python_type is int:
            dst.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{quote(table.name)}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {quote(table.name)}), 0) + 1, false)"))
