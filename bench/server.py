"""nginx from Debian's packages serving the synthetic web on loopback addresses, and its own rate.

The benchmark starts nginx with its own nginx.conf in the run's directory (`daemon off`, pid file,
error log and temp paths there, `-p` prefix), so nothing of the system's nginx is used or touched.
ETag and Last-Modified are on (nginx's defaults for static files) and `if_modified_since before`
lets urlwatch, which sends its own last run time as If-Modified-Since, get its 304s.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CONF = """\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
{user}
events {{ worker_connections 4096; }}
http {{
    types {{
        text/html html;
        application/json json;
        application/rss+xml rss;
        application/vnd.openxmlformats-officedocument.spreadsheetml.sheet xlsx;
    }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/html application/json application/rss+xml;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    etag on;
    if_modified_since before;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
{listen}
        server_name _;
        root {root};
        location / {{ try_files $uri =404; }}
        location = /nginx_status {{ stub_status; allow 127.0.0.1; deny all; }}
    }}
}}
"""


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)


def free_port(hosts: list[str], start: int = 18080) -> int:
    """A port free on every host address."""
    for port in range(start, start + 500):
        try:
            for host in hosts:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port on the loopback addresses")


@dataclass
class Nginx:
    binary: str
    prefix: Path  # the run's nginx directory: conf, pid, error log, temp paths
    root: Path  # the web root
    hosts: list[str]
    port: int
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        user = "user root root;" if os.geteuid() == 0 else ""  # workers must read the tmp dir
        listen = "\n".join(f"        listen {h}:{self.port} backlog=4096;" for h in self.hosts)
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONF.format(workers=self.workers, prefix=self.prefix, user=user,
                                    listen=listen, root=self.root))
        cmd = [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e",
               str(self.prefix / "error.log")]
        with open(self.prefix / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start: {self.log_tail()}")
            if all(_listening(h, self.port) for h in self.hosts):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within 10 s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of the master and its workers
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-3:]) or "(no log)"


def counters(port: int) -> tuple[int, int]:
    """nginx's (accepted connections, requests) so far, from its stub_status page; the reading
    itself is one of each."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/nginx_status", timeout=5) as page:
        text = page.read().decode()
    match = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n", text)
    if not match:
        raise RuntimeError(f"unexpected nginx status page: {text!r}")
    return int(match.group(1)), int(match.group(3))


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Rate:
    tool: str
    requests_per_s: float  # full 200 responses of a typical page
    mb_per_s: float
    not_modified_per_s: float  # conditional requests answered 304
    page_bytes: int


def measure(url: str, page_bytes: int, seconds: float = 3.0) -> Rate:
    """nginx's own rate on one typical page: full responses, then conditional ones (304).

    With wrk (Debian's `wrk`) for `seconds` each; without it, a bounded loop of an async httpx
    client (at most 3,000 requests, which measures the client more than nginx)."""
    wrk = shutil.which("wrk")
    if wrk:
        full = _wrk(wrk, url, seconds, [])
        cond = _wrk(wrk, url, seconds, ["-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"])
        return Rate("wrk, 2 threads, 32 connections", full, full * page_bytes / 1e6, cond,
                    page_bytes)
    full = _httpx_loop(url, {}, seconds)
    cond = _httpx_loop(url, {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, seconds)
    return Rate("httpx loop (install wrk for nginx's real rate)", full, full * page_bytes / 1e6,
                cond, page_bytes)


def _wrk(wrk: str, url: str, seconds: float, extra: list[str]) -> float:
    out = subprocess.run([wrk, "-t2", "-c32", f"-d{seconds:g}s", *extra, url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not match:
        raise RuntimeError(f"wrk printed no rate: {out.strip()[-300:]}")
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"wrk got errors from nginx: {out.strip()[-300:]}")
    return float(match.group(1))


def _httpx_loop(url: str, headers: dict[str, str], seconds: float, limit: int = 3000) -> float:
    import asyncio

    import httpx

    async def main() -> float:
        done = 0
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(headers=headers) as client:
            async def worker() -> None:
                nonlocal done
                while done < limit and time.monotonic() < deadline:
                    response = await client.get(url)
                    if response.status_code not in (200, 304):
                        raise RuntimeError(f"nginx answered {response.status_code}")
                    done += 1
            start = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(16)))
            return done / (time.monotonic() - start)

    return asyncio.run(main())
