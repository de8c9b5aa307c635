"""The review queue (home): open flags, most severe and newest first, grouped by fact-check and
claim, with who has seen each."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from desk.auth import DeskDep, Viewer
from desk.templating import page
from pipeline import api
from pipeline.queue import Filters

pages = APIRouter(include_in_schema=False)


@pages.get("/")
def review_queue(request: Request, state: DeskDep, me: Viewer, status: str = "open",
                 severity: str = "", factcheck: str = "", source: str = "",
                 page_number: Annotated[int, Query(alias="page", ge=1, le=10**6)] = 1
                 ) -> Response:
    filters = Filters(severity or None, factcheck or None, source or None, status)
    found = api.review_queue(state.store, filters, page=page_number)
    query = urlencode({k: v for k, v in {"status": status, "severity": severity,
                                         "factcheck": factcheck, "source": source}.items() if v})
    return page(request, "queue.html", me, section="queue", q=found, query=query)
