"""Is this response the evidence at all? Bot challenges, WAF blocks, login walls, soft 404s and
empty bodies are answered with ordinary-looking responses; evaluated as content they would make
every quote look removed. `screen` recognises them from the status, headers, final URL and the
first bytes of the body, before anything is stored.

`blocked` (a challenge, a WAF, a login wall) becomes an `error` outcome: the desk must decide how
to read that source. `missing` (a soft 404, a redirect to the home page, an empty body) counts as
a failed check, so it becomes `unreachable` after the same 3-in-a-row rule as a dead host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pipeline.fetch import FetchResult

HEAD_BYTES = 64 * 1024  # challenge and error pages say what they are near the top
# challenge and block pages carry a sentence or two; an article whose title happens to say
# "access denied" carries far more
SMALL_PAGE_CHARS = 2000

_CHALLENGE_TITLES = re.compile(
    r"just a moment|attention required|checking (your|if the site connection is) |"
    r"access denied|request (blocked|rejected)|are you a (human|robot)|captcha|ddos protection|"
    r"security check|verify you are human|bot (check|verification)|pardon our interruption",
    re.IGNORECASE)
# plain substrings of the lower-cased head: a case-insensitive regex alternation took 4 ms a page
_CHALLENGE_MARKERS = (
    b"cf-chl-", b"challenge-platform", b"_cf_chl_opt", b"cf-browser-verification", b"g-recaptcha",
    b"h-captcha", b"px-captcha", b"_incapsula_resource", b"awswaf", b"datadome", b"perimeterx",
    b"enable javascript and cookies to continue")
_NOT_FOUND_TITLES = re.compile(
    r"\b(page|file|document|article|content|story)\s+(was\s+)?not\s+found\b|"
    r"^\W*(error\s*)?404\W*$|\b404\s*(error|not found|page|[-–|:])|"
    r"page (does not|doesn't|no longer) exists?|(page|content|article|story) (is )?no longer "
    r"available|page cannot be found|we can(no|')t find (that|the|this) page", re.IGNORECASE)
_LOGIN_TITLES = re.compile(r"\b(sign|log)\s?-?in\b|\blogin\b|\bsubscribe to (continue|read)\b",
                           re.IGNORECASE)
_LOGIN_PATHS = re.compile(r"/(login|signin|sign-in|log-in|sso|auth|account/login)\b",
                          re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_PASSWORD = re.compile(rb"<input[^>]+type=[\"']?password", re.IGNORECASE)
_MARKUP = re.compile(rb"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>|&nbsp;",
                     re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class NotEvidence:
    kind: Literal["blocked", "missing"]
    reason: str


def screen(result: FetchResult) -> NotEvidence | None:
    """Why `result` is not the page the source cites, or None when it may be evaluated."""
    headers = result.headers
    if result.disallowed:
        return NotEvidence("blocked", result.error or "disallowed by robots.txt")
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return NotEvidence("blocked", "blocked by a bot challenge (cf-mitigated: challenge)")
    if result.status in (401, 403, 429, 503) and not result.ok:
        server = headers.get("server", "")
        behind = f" by {server}" if server else ""
        return NotEvidence("blocked", f"the site refused the request{behind} "
                                      f"(HTTP {result.status}): blocked or rate-limited")
    if not result.ok or result.body is None:
        return None
    body = result.body
    head = body[:HEAD_BYTES]
    if not body.strip():
        return NotEvidence("missing", "the server answered with an empty body")
    if not _is_html(result):
        return None
    title = _title(head)
    if (_CHALLENGE_TITLES.search(title) or _has_marker(head.lower())) and \
            _visible_chars(body, SMALL_PAGE_CHARS) < SMALL_PAGE_CHARS:
        return NotEvidence("blocked", f"blocked by a bot challenge or firewall page "
                                      f"(title: \"{title[:80]}\")")
    if _LOGIN_PATHS.search(urlsplit(result.final_url).path) and not _LOGIN_PATHS.search(
            urlsplit(result.url).path):
        return NotEvidence("blocked", f"redirected to a login page ({result.final_url})")
    if _PASSWORD.search(body) and _LOGIN_TITLES.search(title):
        return NotEvidence("blocked", f"a login wall (title: \"{title[:80]}\")")
    if _NOT_FOUND_TITLES.search(title):
        return NotEvidence("missing", f"a \"page not found\" page served with HTTP "
                                      f"{result.status} (title: \"{title[:80]}\")")
    if _moved_to_home(result.url, result.final_url):
        return NotEvidence("missing", f"redirected to the site's home page ({result.final_url})")
    if _visible_chars(body, 1) == 0:
        return NotEvidence("missing", "the page has no visible text")
    return None


def _visible_chars(body: bytes, enough: int) -> int:
    """How many characters of text lie outside tags, scripts and styles, counting no further
    than `enough` (most pages answer within their first few kilobytes)."""
    count, position = 0, 0
    for markup in _MARKUP.finditer(body):
        count += len(body[position:markup.start()].strip())
        if count >= enough:
            return count
        position = markup.end()
    return count + len(body[position:].strip())


def _has_marker(lowered: bytes) -> bool:
    return any(marker in lowered for marker in _CHALLENGE_MARKERS)


def _is_html(result: FetchResult) -> bool:
    if result.content_type in ("text/html", "application/xhtml+xml"):
        return True
    start = (result.body or b"")[:256].lstrip().lower()
    return not result.content_type and start.startswith((b"<!doctype html", b"<html"))


def _title(head: bytes) -> str:
    found = _TITLE.search(head)
    if not found:
        return ""
    return re.sub(r"\s+", " ", found.group(1).decode("utf-8", errors="replace")).strip()


def _moved_to_home(requested: str, final: str) -> bool:
    """A redirect from a deep page to the bare root of the same site."""
    want, got = urlsplit(requested), urlsplit(final)
    if want.path.rstrip("/") == got.path.rstrip("/"):
        return False  # not moved at all
    home = got.path in ("", "/") or re.fullmatch(r"/(index\.\w+|home|[a-z]{2}(-[a-z]{2})?)/?",
                                                 got.path, re.IGNORECASE)
    return bool(home) and want.path not in ("", "/") and got.netloc.removeprefix("www.") == \
        want.netloc.removeprefix("www.") and not got.query
