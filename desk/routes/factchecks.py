"""Fact-checks and their evidence reports: the report as an editor would attach it to a
correction note (the same document `claimwatch report` writes), to read on the desk and to
download as HTML or Markdown."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from desk.auth import DeskDep, Viewer
from desk.templating import page
from pipeline import api

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["fact-checks"])
Format = Literal["md", "html"]


@pages.get("/factchecks")
def factchecks_page(request: Request, state: DeskDep, me: Viewer) -> Response:
    return page(request, "factchecks.html", me, section="factchecks",
                factchecks=api.factchecks(state.store, state.config()))


@pages.get("/factchecks/{factcheck}")
def factcheck_page(request: Request, factcheck: str, state: DeskDep, me: Viewer) -> Response:
    built = api.report_document(state.store, factcheck, desk_url="", config=state.config())
    body = api.render_report(built, "html", standalone=False)
    return page(request, "factcheck.html", me, section="factchecks", factcheck=factcheck,
                backfill=built.backfill,
                report=Markup(body))  # noqa: S704 (rendered by our own autoescaping template)


@pages.get("/factchecks/{factcheck}/report.{fmt}")
def report_download(factcheck: str, fmt: Format, state: DeskDep, me: Viewer) -> Response:
    return _report(state, factcheck, fmt, download=True)


@rest.get("/factchecks", summary="The desk's fact-checks and their open flags")
def factchecks_json(state: DeskDep, me: Viewer) -> dict[str, Any]:
    return {"factchecks": [f.to_json() for f in api.factchecks(state.store, state.config())]}


@rest.get("/factchecks/{factcheck}", summary="A fact-check's claims and their evidence")
def factcheck_json(factcheck: str, state: DeskDep, me: Viewer) -> dict[str, Any]:
    return api.report_document(state.store, factcheck, config=state.config(),
                               desk_url=_desk_url(state)).to_json()


@rest.get("/factchecks/{factcheck}/report", summary="The evidence report, as Markdown or HTML",
          response_class=Response,
          responses={200: {"content": {"text/markdown": {}, "text/html": {}}}})
def report_json(factcheck: str, state: DeskDep, me: Viewer,
                format: Annotated[Format, Query()] = "md") -> Response:  # noqa: A002
    return _report(state, factcheck, format, download=False)


def _report(state: Any, factcheck: str, fmt: str, *, download: bool) -> Response:
    text = api.report(state.store, factcheck, fmt, config=state.config(),
                      desk_url=_desk_url(state))
    media = "text/markdown; charset=utf-8" if fmt == "md" else "text/html; charset=utf-8"
    headers = {"content-disposition": f'attachment; filename="{factcheck}-evidence.{fmt}"'} \
        if download else {}
    if fmt == "html":  # a report is a document to read, never to run
        headers["content-security-policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(text, media_type=media, headers=headers)


def _desk_url(state: Any) -> str:
    """Links in what leaves the desk: absolute when sources.yaml gives the desk's address."""
    url = state.config().desk.url
    return str(url).rstrip("/") if url else ""
