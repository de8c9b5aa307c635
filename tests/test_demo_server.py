"""SiteServer: the versioned loopback site used by the demo and the tests."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from pipeline.demo.server import SiteServer

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    (v1 / "src").mkdir(parents=True)
    (v2 / "src").mkdir(parents=True)
    (v1 / "index.html").write_text("<html><body><p>version one</p></body></html>")
    (v2 / "index.html").write_text("<html><body><p>version two</p></body></html>")
    (v1 / "src" / "index.html").write_text("<p>nested</p>")
    (v1 / "list.xlsx").write_bytes(b"PK\x03\x04fake")
    (v1 / "doc.pdf").write_bytes(b"%PDF-1.4\n")
    (v1 / "data.csv").write_text("a,b\n1,2\n")
    (v1 / "data.json").write_text('{"a": 1}')
    (v1 / "notes.txt").write_text("hello")
    (v1 / "blob.bin").write_bytes(b"\x00\x01")
    (v1 / "rss.xml").write_text('<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>')
    (v1 / "atom.xml").write_text(
        '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"></feed>'
    )
    (tmp_path / "secret.txt").write_text("outside the root")
    return tmp_path


@pytest.fixture()
def server(site: Path):
    with SiteServer(site / "v1") as srv:
        yield srv


def raw_get(srv: SiteServer, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (no client-side normalisation of `..`)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_base_url_and_url(server: SiteServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.url("/a/b.html") == server.base_url + "/a/b.html"
    assert server.url("a/b.html") == server.base_url + "/a/b.html"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("list.xlsx", XLSX),
        ("doc.pdf", "application/pdf"),
        ("data.csv", "text/csv; charset=utf-8"),
        ("data.json", "application/json"),
        ("rss.xml", "application/rss+xml"),
        ("atom.xml", "application/atom+xml"),
        ("blob.bin", "application/octet-stream"),
    ],
)
def test_content_types(server: SiteServer, path: str, content_type: str) -> None:
    resp = httpx.get(server.url(path))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == content_type
    assert resp.headers["content-length"] == str(len(resp.content))
    assert resp.headers["etag"].startswith('"') and resp.headers["etag"].endswith('"')
    assert resp.headers["last-modified"].endswith("GMT")


def test_text_plain(server: SiteServer) -> None:
    assert httpx.get(server.url("notes.txt")).headers["content-type"].startswith("text/plain")


def test_content_type_override(server: SiteServer) -> None:
    server.content_types["/list.xlsx"] = "application/octet-stream"
    server.content_types["data.csv"] = "text/plain"
    assert httpx.get(server.url("list.xlsx")).headers["content-type"] == "application/octet-stream"
    assert httpx.get(server.url("data.csv")).headers["content-type"] == "text/plain"


def test_directory_serves_its_index(server: SiteServer) -> None:
    assert httpx.get(server.url("src/")).text == "<p>nested</p>"


def test_head_has_headers_but_no_body(server: SiteServer) -> None:
    resp = httpx.head(server.url("index.html"))
    assert resp.status_code == 200
    assert resp.content == b""
    assert int(resp.headers["content-length"]) > 0
    assert "etag" in resp.headers


def test_missing_file_is_404_with_html(server: SiteServer) -> None:
    resp = httpx.get(server.url("nope.html"))
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert b"404" in resp.content


@pytest.mark.parametrize("path", ["/../secret.txt", "/src/../../secret.txt", "/%2e%2e/secret.txt"])
def test_path_traversal_is_404(server: SiteServer, path: str) -> None:
    status, body = raw_get(server, path)
    assert status == 404
    assert b"outside the root" not in body


def test_etag_if_none_match(server: SiteServer) -> None:
    first = httpx.get(server.url("index.html"))
    etag = first.headers["etag"]
    again = httpx.get(server.url("index.html"))
    assert again.headers["etag"] == etag
    assert again.headers["last-modified"] == first.headers["last-modified"]
    cached = httpx.get(server.url("index.html"), headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert (
        httpx.get(server.url("index.html"), headers={"If-None-Match": '"x", ' + etag}).status_code
        == 304
    )
    other = httpx.get(server.url("index.html"), headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_if_modified_since(server: SiteServer) -> None:
    first = httpx.get(server.url("index.html"))
    lm = first.headers["last-modified"]
    resp = httpx.get(server.url("index.html"), headers={"If-Modified-Since": lm})
    assert resp.status_code == 304
    old = formatdate(0, usegmt=True)
    assert (
        httpx.get(server.url("index.html"), headers={"If-Modified-Since": old}).status_code == 200
    )
    # If-None-Match wins over If-Modified-Since.
    headers = {"If-Modified-Since": lm, "If-None-Match": '"other"'}
    assert httpx.get(server.url("index.html"), headers=headers).status_code == 200


def test_root_switch_changes_body_etag_and_last_modified(server: SiteServer, site: Path) -> None:
    first = httpx.get(server.url("index.html"))
    assert "version one" in first.text
    server.root = site / "v2"
    second = httpx.get(server.url("index.html"))
    assert "version two" in second.text
    assert second.headers["etag"] != first.headers["etag"]
    assert second.headers["last-modified"] != first.headers["last-modified"]
    # the old validators do not produce a 304 for the new content
    for headers in (
        {"If-None-Match": first.headers["etag"]},
        {"If-Modified-Since": first.headers["last-modified"]},
    ):
        assert httpx.get(server.url("index.html"), headers=headers).status_code == 200
    assert httpx.get(server.url("list.xlsx")).status_code == 404
    server.root = site / "v1"
    back = httpx.get(server.url("index.html"))
    assert back.headers["etag"] == first.headers["etag"]
    assert back.headers["last-modified"] == first.headers["last-modified"]


def test_status_override_serves_index_html(server: SiteServer, site: Path) -> None:
    server.root = site / "v2"
    server.status = 404
    for path in ("index.html", "anything/else.xlsx"):
        resp = httpx.get(server.url(path))
        assert resp.status_code == 404
        assert resp.headers["content-type"] == "text/html; charset=utf-8"
        assert "version two" in resp.text
    server.status = 410
    assert httpx.get(server.url("index.html")).status_code == 410
    server.status = None
    assert httpx.get(server.url("index.html")).status_code == 200


def test_status_override_without_index(tmp_path: Path) -> None:
    with SiteServer(tmp_path) as srv:
        srv.status = 410
        resp = httpx.get(srv.url("x"))
        assert resp.status_code == 410
        assert b"410" in resp.content


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_absolute_location(server: SiteServer, code: int) -> None:
    server.redirects["/old.html"] = (code, "/src/index.html")
    resp = httpx.get(server.url("old.html"))
    assert resp.status_code == code
    assert resp.headers["location"] == server.base_url + "/src/index.html"
    followed = httpx.get(server.url("old.html"), follow_redirects=True)
    assert followed.status_code == 200
    assert followed.text == "<p>nested</p>"


def test_request_log(server: SiteServer) -> None:
    httpx.get(server.url("index.html?x=1"), headers={"X-Probe": "yes"})
    httpx.head(server.url("doc.pdf"))
    records = list(server.requests)
    assert [(r.method, r.path) for r in records] == [
        ("GET", "/index.html?x=1"),
        ("HEAD", "/doc.pdf"),
    ]
    headers = {k.lower(): v for k, v in records[0].headers.items()}
    assert headers["x-probe"] == "yes"


def test_concurrent_requests_are_all_logged(server: SiteServer) -> None:
    def worker() -> None:
        with httpx.Client() as client:
            for _ in range(10):
                assert client.get(server.url("index.html")).status_code == 200

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.requests) == 50


def test_stop_is_prompt_and_frees_the_port(site: Path) -> None:
    srv = SiteServer(site / "v1")
    srv.start()
    port = srv.port
    client = httpx.Client()  # leaves a keep-alive connection open
    assert client.get(srv.url("index.html")).status_code == 200
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2
    client.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    srv.stop()  # idempotent


def test_restart_after_stop(site: Path) -> None:
    srv = SiteServer(site / "v1")
    with srv:
        assert httpx.get(srv.url("index.html")).status_code == 200
    with srv:
        assert httpx.get(srv.url("index.html")).status_code == 200
    assert not srv.running
