"""Storage: SQLAlchemy 2.x models, the engine (SQLite pragmas or PostgreSQL) and the blob store.

Only `db/`, `pipeline/check.py` and `alerts/` write to the database. See docs/architecture.md for
the model.
"""

from db.engine import Store, open_store, utcnow

__all__ = ["Store", "open_store", "utcnow"]
