"""Sources: their health (failing, backed off, blocked, overdue, next check), what reads each,
its stored versions, any two of them compared; editors check a source now and retire one
accepted as gone (or restore it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from db.models import MAX_ID
from desk.auth import DeskDep, Editor, Viewer
from desk.templating import page
from pipeline import api

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["sources"])
SnapshotId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@pages.get("/sources")
def sources_page(request: Request, state: DeskDep, me: Viewer, health: str = "") -> Response:
    everything = api.sources(state.store, state.config())
    found = api.sources(state.store, state.config(), state=health) if health else everything
    counts: dict[str, int] = {}
    for h in everything:
        counts[h.state] = counts.get(h.state, 0) + 1
    return page(request, "sources.html", me, section="sources", sources=found, counts=counts,
                chosen=health)


@pages.get("/sources/{source}")
def source_page(request: Request, source: str, state: DeskDep, me: Viewer,
                before: SnapshotId = None, checking: bool = False,
                awaiting: bool = False) -> Response:
    health = api.source(state.store, state.config(), source)
    versions = api.snapshots(state.store, source, before=before)
    return page(request, "source.html", me, section="sources", h=health, versions=versions,
                checking=checking, awaiting=awaiting)


@pages.post("/sources/{source}/check")
def check_source(source: str, state: DeskDep, me: Editor, tasks: BackgroundTasks) -> Response:
    """Check the source after answering; or, when its fact-check awaits its backfill (never
    run in a web request), say so at once and check nothing."""
    config = state.config()
    api.source(state.store, config, source)  # it exists: else NotFound, before the redirect
    asked = api.check_now(state.store, config, source, by=me.display_name, defer=tasks.add_task)
    said = "awaiting" if asked.awaiting_backfill else "checking"
    return RedirectResponse(f"/sources/{source}?{said}=1", status_code=303)


@pages.post("/sources/{source}/retire")
def retire(source: str, state: DeskDep, me: Editor,
           note: Annotated[str, Form()] = "") -> Response:
    api.retire_source(state.store, source, by=me.display_name, note=note.strip() or None)
    return RedirectResponse(f"/sources/{source}", status_code=303)


@pages.post("/sources/{source}/restore")
def restore(source: str, state: DeskDep, me: Editor) -> Response:
    api.restore_source(state.store, source, by=me.display_name)
    return RedirectResponse(f"/sources/{source}", status_code=303)


@pages.get("/sources/{source}/compare")
def compare_page(request: Request, source: str, state: DeskDep, me: Viewer,
                 from_id: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
                 to_id: Annotated[int | None, Query(alias="to", ge=1, le=MAX_ID)] = None
                 ) -> Response:
    result = api.source_diff(state.store, state.config(), source, from_id=from_id, to_id=to_id)
    versions = api.snapshots(state.store, source, limit=200)
    return page(request, "compare.html", me, section="sources", d=result, versions=versions,
                region_diff=result.region)


@rest.get("/sources", summary="Every source's health")
def sources_json(state: DeskDep, me: Viewer,
                 health: Literal["new", "ok", "blocked", "failing", "backed off", "unreachable",
                                 "overdue", "retired"] | None = None) -> dict[str, Any]:
    return {"sources": [h.to_json() for h in api.sources(state.store, state.config(),
                                                         state=health)]}


@rest.get("/sources/{source}", summary="One source's health")
def source_json(source: str, state: DeskDep, me: Viewer) -> dict[str, Any]:
    return api.source(state.store, state.config(), source).to_json()


@rest.get("/sources/{source}/snapshots", summary="A source's stored versions, newest first")
def snapshots_json(source: str, state: DeskDep, me: Viewer, before: SnapshotId = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    return {"snapshots": [s.to_json() | {"kind": s.kind, "sha256": s.sha256}
                          for s in api.snapshots(state.store, source, limit=limit,
                                                 before=before)]}


@rest.post("/sources/{source}/check", summary="Check a source now")
def check_json(source: str, state: DeskDep, me: Editor) -> dict[str, Any]:
    return api.check_now(state.store, state.config(), source, by=me.display_name).to_json()


@rest.get("/sources/{source}/diff", summary="What changed between two snapshots of a source")
def diff_json(source: str, state: DeskDep, me: Viewer,
              from_id: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
              to_id: Annotated[int | None, Query(alias="to", ge=1, le=MAX_ID)] = None
              ) -> dict[str, Any]:
    return api.source_diff(state.store, state.config(), source, from_id=from_id,
                           to_id=to_id).to_json()
