"""Responses that are not the evidence: recognised before anything is stored or evaluated."""

from __future__ import annotations

import pytest

from pipeline.fetch import FetchResult
from pipeline.screen import screen

ARTICLE = b"<p>" + b"The county board met to discuss the 287(g) agreement. " * 80 + b"</p>"


def response(body: bytes, *, status: int = 200, title: str = "", url: str =
             "https://city.example/news/2026/statement", final: str | None = None,
             headers: dict[str, str] | None = None) -> FetchResult:
    html = b"<html><head><title>" + title.encode() + b"</title></head><body>" + body + \
        b"</body></html>"
    ok = status < 300
    return FetchResult(url, final or url, status,
                       {"content-type": "text/html; charset=utf-8", **(headers or {})},
                       html if ok else None, None if ok else f"HTTP {status}", ())


@pytest.mark.parametrize(("result", "kind", "words"), [
    (response(b"Checking your browser", title="Just a moment..."), "blocked", "bot challenge"),
    (response(b"<div id='cf-chl-widget'></div>", title="example.org"), "blocked", "challenge"),
    (response(ARTICLE, headers={"cf-mitigated": "challenge"}), "blocked", "cf-mitigated"),
    (response(b"", status=403, headers={"server": "cloudflare"}), "blocked", "HTTP 403"),
    (response(b"<form><input type='password'></form>", title="Sign in to continue"), "blocked",
     "login wall"),
    (response(ARTICLE, final="https://city.example/login?next=/news"), "blocked", "login page"),
    (response(ARTICLE, title="Page Not Found | City of Example"), "missing", "not found"),
    (response(ARTICLE, title="Error 404 - City of Example"), "missing", "not found"),
    (response(ARTICLE, final="https://www.city.example/"), "missing", "home page"),
    (response(b"   "), "missing", "no visible text"),
])
def test_pages_that_are_not_the_evidence(result: FetchResult, kind: str, words: str) -> None:
    found = screen(result)
    assert found is not None and found.kind == kind and words in found.reason


@pytest.mark.parametrize("result", [
    response(ARTICLE, title="404 arrests made in immigration sweep | Star Tribune"),
    response(ARTICLE, title="Lawyers say access denied to detainees held at Whipple"),
    response(ARTICLE, title="Just a moment: what the new policy means"),
    response(ARTICLE, final="https://city.example/news/2026/statement-updated"),
    response(ARTICLE, title="Statement", url="https://city.example/",
             final="https://city.example/"),
    response(b"", status=404),  # a real 404 is `gone`, handled by the fetch result itself
])
def test_real_pages_pass(result: FetchResult) -> None:
    assert screen(result) is None


def test_non_html_documents_are_not_screened_for_titles() -> None:
    csv = FetchResult("https://x.example/list.csv", "https://x.example/list.csv", 200,
                      {"content-type": "text/csv"}, b"Title,Page not found\n1,2\n", None, ())
    assert screen(csv) is None
