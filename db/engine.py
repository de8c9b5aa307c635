"""Opening the database and keeping its schema: an SQLite file (WAL, busy timeout, foreign keys)
or any SQLAlchemy URL (PostgreSQL in production and in CI). Code above this stays dialect-neutral.

The schema is Alembic's (db/migrations/, one revision per release). `open_store` creates it in a
new, empty database and refuses any database at another revision than this claimwatch's, with
one line saying what to run; `upgrade_schema` (`claimwatch db upgrade`) brings an older
database, or one made before claimwatch used migrations, to head. Schema changes run in one
transaction under a lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so processes
opening a new database together create it once. The common case, a database at head, costs one
query and no Alembic import (about 0.1 s), which is why Alembic is imported where it is needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db.models import Base
from pipeline.errors import ClaimwatchError, UsageError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key held while a schema is checked and changed (per database, not schema)
SCHEMA_LOCK = 0x636C_6D77_6462
_FIRST_RUN = "(run 'claimwatch check' first, or pass --db)"


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

    def vacuum(self) -> tuple[int, int] | None:
        """Give the space of deleted rows back (`prune --vacuum`), outside any transaction.
        SQLite rewrites the file and empties the WAL: returns its bytes (WAL included) before
        and after. PostgreSQL gets a plain VACUUM of claimwatch's tables: returns None.

        Not VACUUM FULL: it rewrites each table under an exclusive lock, so every check, daemon
        and command would wait for the whole rewrite, and it needs room for a second copy of the
        table. Plain VACUUM takes no such lock; the freed space is reused by the rows the next
        checks write, and only pages at the end of a table go back to the file system."""
        url = self.engine.url.render_as_string(hide_password=False)
        path = _sqlite_file(url)
        with _translated(url, "vacuum"), \
                self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.dialect.name != "sqlite":
                tables = ", ".join(conn.dialect.identifier_preparer.quote(t.name)
                                   for t in Base.metadata.sorted_tables)
                conn.exec_driver_sql(f"VACUUM {tables}")
                return None
            before = _file_bytes(path)
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return before, _file_bytes(path)


def revisions() -> list[str]:
    """This claimwatch's schema revisions, oldest first. Each file in migrations/versions is named
    after its revision id (tests/test_migrations.py checks it), so knowing the head costs a
    directory listing instead of importing Alembic."""
    return sorted(p.stem for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands: `revision` is alembic_version's, `head` this
    claimwatch's. `status` is one of
    empty          no claimwatch tables: `open_store` creates the schema
    current        at head
    behind         at an older revision: `claimwatch db upgrade`
    newer          at a revision this claimwatch does not know (a newer claimwatch's)
    unversioned    no alembic_version, but exactly the tables of revision `matches` (made by
                   create_all before claimwatch used migrations): `claimwatch db upgrade` adopts it
    unrecognized   no alembic_version, and claimwatch tables matching no revision
    """

    status: str
    revision: str | None
    head: str
    matches: str | None = None

    @property
    def problem(self) -> str | None:
        """Why claimwatch cannot use the database as it is, in one line; None when it can."""
        upgrade = "run 'claimwatch db upgrade'"
        return {
            "behind": f"database schema is at revision {self.revision}; this claimwatch needs "
                      f"{self.head}: {upgrade}",
            "newer": f"database schema is at revision {self.revision}, which this claimwatch "
                     f"(at {self.head}) does not know: it was written by a newer claimwatch; "
                     "upgrade claimwatch",
            "unversioned": f"database has the tables of revision {self.matches} but no "
                           "alembic_version (made by create_all, before claimwatch used "
                           f"migrations): {upgrade} to adopt it",
            "unrecognized": "database has claimwatch tables but no alembic_version, and they "
                            "match no claimwatch release (made by create_all during "
                            "development?): move it aside and let claimwatch create a new one",
        }.get(self.status)


def open_store(url: str, *, create: bool = True) -> Store:
    """Connect to `url` (a SQLAlchemy URL or a path to an SQLite file). A new, empty database
    gets the schema; one at any other revision than head is refused (`SchemaState.problem`).
    Commands that only read pass `create=False`: an SQLite file that does not exist, or a
    database without claimwatch's tables, is then refused in one line instead of created (a
    `claimwatch flags` in the wrong directory left an empty claimwatch.db there)."""
    url = _url(url)
    if not create:
        _refuse_missing_file(url)
    with _translated(url, "open"):
        engine = _engine(url)
        try:
            if _stamped(engine) != [revisions()[-1]]:  # the common case costs this one query
                _settle(engine, upgrade=False, create=create)
        except BaseException:
            engine.dispose()
            raise
    return Store(engine, sessionmaker(engine, expire_on_commit=False))


def upgrade_schema(url: str) -> SchemaState:
    """Bring the database at `url` to head (`claimwatch db upgrade`); returns where it was."""
    url = _url(url)
    with _translated(url, "upgrade"):
        engine = _engine(url)
        try:
            return _settle(engine, upgrade=True)
        finally:
            engine.dispose()


def schema_state(url: str) -> SchemaState:
    """Where the database at `url` stands (`claimwatch db current`); changes nothing, and an
    SQLite file that does not exist is refused rather than created by connecting."""
    url = _url(url)
    _refuse_missing_file(url)
    with _translated(url, "open"):
        engine = _engine(url)
        try:
            with engine.connect() as conn:
                return _state(conn)
        finally:
            engine.dispose()


def migrations_config(target: Connection | str) -> Config:
    """Alembic's configuration for claimwatch's migrations, run on an open connection (inside
    its transaction) or, for writing revisions (see migrations/env.py), on a database URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s")
    if isinstance(target, str):
        config.set_main_option("sqlalchemy.url", target.replace("%", "%%"))
    else:
        config.attributes["connection"] = target
    return config


def _settle(engine: Engine, *, upgrade: bool, create: bool = True) -> SchemaState:
    """Under the schema lock: create an empty database's schema (unless not `create`); with
    `upgrade`, also bring an older or unversioned one to head; refuse anything else. Returns
    the state found."""
    from alembic import command

    with _locked(engine) as conn:
        state = _state(conn)  # again: another process may have created the schema meanwhile
        if state.status == "empty" and not create:
            raise UsageError(f"no claimwatch tables in database "
                             f"{engine.url.render_as_string(hide_password=True)} {_FIRST_RUN}")
        fixable = {"empty", "behind", "unversioned"} if upgrade else {"empty"}
        if state.status in fixable:
            if state.matches is not None:  # unversioned: it has that revision's tables
                command.stamp(migrations_config(conn), state.matches)
            command.upgrade(migrations_config(conn), "head")
            if conn.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise ClaimwatchError(f"after the upgrade, a foreign key in table {broken[0]}"
                                          " would point nowhere; nothing was changed")
        elif state.problem:
            raise ClaimwatchError(state.problem)
    return state


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the schema lock and commits on success."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        try:
            if sqlite:
                # batch migrations copy a table and drop the original, which the rows pointing
                # at it would forbid; the pragma only changes outside a transaction
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK)))
            yield conn
            conn.commit()
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _stamped(engine: Engine) -> list[str] | None:
    """alembic_version's rows, or None when there is no such table (a failure to connect is
    raised: trying again on the slow path would only double the wait)."""
    with engine.connect() as conn:
        try:
            return list(conn.scalars(text("SELECT version_num FROM alembic_version")))
        except (OperationalError, ProgrammingError):
            return None


def _state(conn: Connection) -> SchemaState:
    known = revisions()
    tables = set(inspect(conn).get_table_names())
    stamped = (list(conn.scalars(text("SELECT version_num FROM alembic_version")))
               if "alembic_version" in tables else [])
    revision = ", ".join(stamped) or None
    if revision is None:
        if not tables & set(Base.metadata.tables):
            return SchemaState("empty", None, known[-1])
        matches = _identify(conn)
        return SchemaState("unrecognized" if matches is None else "unversioned", None,
                           known[-1], matches)
    status = "current" if revision == known[-1] else "behind" if revision in known else "newer"
    return SchemaState(status, revision, known[-1])


def _identify(conn: Connection) -> str | None:
    """The revision whose tables and columns an unversioned database has, exactly: each
    revision's are read off a scratch in-memory database upgraded step by step."""
    from alembic import command

    layouts: list[tuple[str, dict[str, set[str]]]] = []
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as s:
            for revision in revisions():
                command.upgrade(migrations_config(s), revision)
                layouts.append((revision, _layout(s)))
    finally:
        scratch.dispose()
    names = set().union(*(layout for _rev, layout in layouts))
    found = _layout(conn, only=names)
    return next((rev for rev, layout in layouts if layout == found), None)


def _layout(conn: Connection, only: set[str] | None = None) -> dict[str, set[str]]:
    """Table → column names (other applications' tables left out when `only` is given)."""
    inspector = inspect(conn)
    return {table: {column["name"] for column in inspector.get_columns(table)}
            for table in inspector.get_table_names()
            if table != "alembic_version" and (only is None or table in only)}


def _url(url: str) -> str:
    return url if "://" in url else f"sqlite:///{url}"


def _sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names; None for an in-memory database or another dialect."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path).expanduser() if path and path != ":memory:" else None


def _file_bytes(path: Path | None) -> int:
    """An SQLite database's size on disk: the file and its write-ahead log."""
    if path is None:
        return 0
    wal = path.with_name(path.name + "-wal")
    return sum(p.stat().st_size for p in (path, wal) if p.exists())


def _refuse_missing_file(url: str) -> None:
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        shown = str(path) if path.is_absolute() or str(path).startswith(".") else f"./{path}"
        raise UsageError(f"no database at {shown} {_FIRST_RUN}")


@contextmanager
def _translated(url: str, doing: str) -> Iterator[None]:
    """SQLAlchemy's errors as one line each."""
    try:
        yield
    except ArgumentError as exc:
        raise UsageError(f"--db {url!r} is not a database URL: {exc}") from None
    except OperationalError as exc:
        detail = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise ClaimwatchError(f"cannot {doing} database {_safe(url)}: {detail}") from None
    except SQLAlchemyError as exc:
        detail = str(exc).splitlines()[0]
        raise ClaimwatchError(f"cannot {doing} database {_safe(url)}: {detail}") from None


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
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
