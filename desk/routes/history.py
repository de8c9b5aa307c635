"""The audit trail as a story: filters, pages, CSV and JSON downloads, and whether the hash
chain verifies (walked on request: on a big log that takes a while)."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from desk.auth import DeskDep, Viewer
from desk.templating import page, templates
from pipeline import api
from pipeline.history import Event

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["history"])
PAGE_SIZE = 100
Seq = Annotated[int | None, Query(ge=1, le=2**63 - 1)]


def _events(state: Any, claim: str, source: str, since: str, until: str, kind: str,
            before: int | None, limit: int | None, newest_first: bool) -> list[Event]:
    return api.history(state.store, claim=claim or None, source=source or None,
                       since=since or None, until=until or None,
                       kinds=[kind] if kind else None, newest_first=newest_first,
                       before=before, limit=limit)


@pages.get("/history")
def history_page(request: Request, state: DeskDep, me: Viewer, claim: str = "",
                 source: str = "", since: str = "", until: str = "", kind: str = "",
                 before: Seq = None) -> Response:
    found = _events(state, claim, source, since, until, kind, before, PAGE_SIZE + 1, True)
    query = {"claim": claim, "source": source, "since": since, "until": until, "kind": kind}
    return page(request, "history.html", me, section="history", events=found[:PAGE_SIZE],
                more=found[PAGE_SIZE - 1].seq if len(found) > PAGE_SIZE else None, f=query,
                kinds=KINDS)


@pages.get("/history.csv")
def history_csv(state: DeskDep, me: Viewer, claim: str = "", source: str = "",
                since: str = "", until: str = "", kind: str = "") -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["seq", "at", "kind", "source", "claim", "text"])
    for e in _events(state, claim, source, since, until, kind, None, None, False):
        row = e.to_json()
        writer.writerow([row["seq"], row["at"], e.kind, e.source or "", e.claim or "",
                         _spreadsheet_safe(e.text)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": 'attachment; filename="claimwatch-history.csv"'})


@pages.get("/history.json")
def history_download(state: DeskDep, me: Viewer, claim: str = "", source: str = "",
                     since: str = "", until: str = "", kind: str = "") -> Response:
    events = _events(state, claim, source, since, until, kind, None, None, False)
    return Response(json.dumps({"events": [e.to_json() for e in events]}, indent=1),
                    media_type="application/json", headers={
                        "content-disposition": 'attachment; filename="claimwatch-history.json"'})


@pages.post("/history/verify")
def verify(request: Request, state: DeskDep, me: Viewer) -> HTMLResponse:
    """The chain walked now (an htmx fragment)."""
    result = api.audit_verify(state.store)
    return templates.TemplateResponse(request, "_verified.html", {"v": result})


@rest.get("/history", summary="The audit trail, oldest first (or a page of it, newest first)")
def history_json(state: DeskDep, me: Viewer, claim: str = "", source: str = "",
                 since: str = "", until: str = "", kind: str = "", before: Seq = None,
                 limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
                 newest_first: bool = False) -> dict[str, Any]:
    events = _events(state, claim, source, since, until, kind, before, limit, newest_first)
    return {"events": [e.to_json() for e in events]}


KINDS = ("snapshot", "fetch-mode", "failure", "flag", "flag-resolved", "flag-reopened",
         "flag-retired", "review", "comment", "alert", "run", "config", "source-retired",
         "source-restored", "check-requested", "sources-edit", "sources-file", "account",
         "checkpoint", "prune")


def _spreadsheet_safe(text: str) -> str:
    """Page text a spreadsheet would take for a formula (=, +, -, @ first) is kept as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
