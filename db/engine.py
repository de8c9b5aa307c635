"""Opening the database: an SQLite file (WAL, busy timeout, foreign keys) or any SQLAlchemy URL
(PostgreSQL in production and in CI). Code above this stays dialect-neutral.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db.models import SCHEMA_VERSION, AuditHeadRow, Base, MetaRow
from pipeline.errors import ClaimwatchError, UsageError


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime every row stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Store:
    """An open database: `session()` gives one transaction that commits or rolls back whole."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Connect to `url` (a SQLAlchemy URL or a path to an SQLite file) and create the schema."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        engine = _engine(url)
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            if conn.execute(select(MetaRow).where(MetaRow.key == "schema")).first() is None:
                conn.execute(MetaRow.__table__.insert().values(key="schema",
                                                               value=str(SCHEMA_VERSION)))
            if conn.execute(select(AuditHeadRow.id)).first() is None:
                conn.execute(AuditHeadRow.__table__.insert().values(id=1, seq=0, hash="0" * 64))
    except ArgumentError as exc:
        raise UsageError(f"--db {url!r} is not a database URL: {exc}") from None
    except OperationalError as exc:
        detail = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise ClaimwatchError(f"cannot open database {_safe(url)}: {detail}") from None
    except SQLAlchemyError as exc:
        raise ClaimwatchError(f"cannot open database {_safe(url)}: {exc}") from None
    return Store(engine, sessionmaker(engine, expire_on_commit=False))


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"
