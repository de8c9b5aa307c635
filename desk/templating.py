"""Jinja2 for the desk's pages: autoescaping on (page text is data), the few filters the pages
use (relative times, dates), and what every page gets (the account, the CSRF token, the desk's
configuration problem if any).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from db import utcnow
from desk.auth import csrf_token
from desk.state import Desk
from pipeline import __version__
from pipeline.accounts import Account
from pipeline.vocab import Role, iso

TEMPLATES = Path(__file__).with_name("templates")
# autoescaping on everywhere: page text is data, whatever the template's name
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                                   autoescape=True))


def ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'just now', '10 min ago', '3 h ago', '2 days ago' (stored times are naive UTC)."""
    if moment is None:
        return "never"
    seconds = ((now or utcnow()) - moment).total_seconds()
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return "just now" if seconds < 60 else f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
    return f"{int(seconds)} s"


def when(moment: dt.datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


templates.env.filters.update(ago=ago, when=when, iso=iso)
templates.env.globals.update(Role=Role, version=__version__)


def page(request: Request, template: str, me: Account | None, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    """Render a page template with what every page needs."""
    state: Desk = request.app.state.desk
    return templates.TemplateResponse(request, template, {
        "me": me, "csrf": csrf_token(request), "problem": state.problem, "now": utcnow(),
        **context}, status_code=status_code)
