"""Storage: SQLAlchemy 2.x models, the engine (SQLite pragmas or PostgreSQL), the schema
(Alembic migrations in db/migrations/) and the blob store.

Only `db/`, `pipeline/check.py` and `alerts/` write to the database. See docs/architecture.md for
the model.
"""

from db.engine import SchemaState, Store, open_store, schema_state, upgrade_schema, utcnow

__all__ = ["SchemaState", "Store", "open_store", "schema_state", "upgrade_schema", "utcnow"]
