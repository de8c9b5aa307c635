"""Shared fixtures: databases (SQLite in a temp dir; PostgreSQL when CLAIMWATCH_TEST_PG is set,
each test in a schema of its own), a loopback site to check, and the guarantee that no daemon a
test started outlives it."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db import Store, open_store
from pipeline.demo.server import SiteServer

PG_URL = os.environ.get("CLAIMWATCH_TEST_PG")
# the `claimwatch run` processes tests start: killed after the test if still running, so a test
# that fails midway never leaves a daemon checking (and loading the machine) for hours
DAEMONS: list[subprocess.Popen] = []
# the modules whose assertions read the clock (daemons on a schedule, workers sharing a host's
# turns, time limits): with the suite spread over CPUs (pytest-xdist, pyproject's addopts) they
# run one after another on one worker, so they never compete with each other for the cores
CLOCK = {"test_daemon", "test_fetch", "test_leases", "test_scale_out"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in CLOCK:
            item.add_marker(pytest.mark.xdist_group("clock"))


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    yield
    while DAEMONS:
        process = DAEMONS.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)



@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL on a PostgreSQL schema of its own, dropped afterwards (skips without
    CLAIMWATCH_TEST_PG): tests and the processes they start share it, and run beside others."""
    if not PG_URL:
        pytest.skip("CLAIMWATCH_TEST_PG is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file `open_store` gave the schema, once per session (per xdist worker)."""
    path = tmp_path_factory.mktemp("migrated") / "claimwatch.db"
    open_store(f"sqlite:///{path}").close()
    assert not path.with_name(f"{path.name}-wal").exists(), "closing checkpointed the WAL"
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL: an SQLite file, then PostgreSQL (skipped unless CLAIMWATCH_TEST_PG).
    Empty; but when the test uses `store`, the SQLite file is a copy of one `open_store` gave
    the schema once per session, as it would have made it of an empty one (migrating costs a
    few tenths of a second a test; the migrations themselves are tests/test_migrations.py's,
    on empty databases). PostgreSQL's schema is made anew for each test (copying a database
    took as long)."""
    if request.param == "sqlite":
        path = tmp_path / "claimwatch.db"
        if "store" in request.fixturenames:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the demo runs once per session (`tests.desk_support.demo_copy` copies it)."""
    return tmp_path_factory.mktemp("demo-cache") / "demo"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteServer]:
    """A loopback site serving tmp_path/site (write files there; switch `root` to change)."""
    root = tmp_path / "site"
    root.mkdir()
    with SiteServer(root) as server:
        yield server


Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    """Serve GET requests with a handler function on loopback; returns the server's URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handle: Handler) -> str:
        class _Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handle(self)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        # a short poll: shutting down waits for one (0.5 s by default, after every test)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
