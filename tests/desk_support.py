"""What the desk's tests share: the demo's real database (the seed fact-check checked twice, its
flags opened by the real pipeline), copied for each test, people in each role, and the desk
served by uvicorn on a loopback port."""

from __future__ import annotations

import io
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from db import Store, open_store
from desk.app import create_app
from pipeline import api
from pipeline.demo.run import run_demo

PASSWORD = "correct horse battery"
ROLES = ("viewer", "checker", "editor", "admin")


def demo_copy(cache: Path, target: Path) -> Path:
    """A fresh copy of the demo's database and sources.yaml in `target` (the demo runs once per
    test session, into `cache`)."""
    if not (cache / "claimwatch.db").exists():  # in a thread: a browser test's Playwright
        with ThreadPoolExecutor(1) as pool:      # holds this thread's event loop
            pool.submit(run_demo, Console(file=io.StringIO()), keep_dir=str(cache)).result()
    shutil.copytree(cache, target)
    return target


@dataclass
class ServedDesk:
    url: str
    store: Store
    sources: Path

    def client(self, role: str | None = None) -> httpx.Client:
        """An HTTP client logged in as the account of `role` (None: logged out)."""
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)
        if role is not None:
            login(client, role)
        return client


def login(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "next": "/",
                                       "csrf": csrf_of(form.text)})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


@contextmanager
def serve_desk(directory: Path, sources: Path | None = None) -> Iterator[ServedDesk]:
    """The desk on the database and sources.yaml in `directory` (or `sources`, a file or a
    directory of them), with one account per role (named after the role), on a free loopback
    port until the block ends."""
    sources = sources or directory / "sources.yaml"
    store = open_store(f"sqlite:///{directory / 'claimwatch.db'}")
    for role in ROLES:
        if role not in {u.name for u in api.users(store)}:
            api.add_user(store, role, role, PASSWORD, display_name=f"{role.title()} Person")
    app = create_app(store, sources)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the desk did not start")
        time.sleep(0.02)
    try:
        yield ServedDesk(f"http://127.0.0.1:{port}", store, sources)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
