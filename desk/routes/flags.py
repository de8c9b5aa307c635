"""A flag: the claim, the expectation in words, why it was flagged, the evidence change itself,
both snapshots as served, who has looked at it, comments, and the review form; and the REST
API's flags (list, one, review)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from db.models import MAX_ID
from desk.auth import Checker, DeskDep, Editor, Viewer
from desk.templating import page
from pipeline import api
from pipeline.queue import Filters
from pipeline.vocab import Decision, Role

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["flags"])
FlagId = Annotated[int, Path(ge=1, le=MAX_ID)]


@pages.get("/flags/{flag_id}")
def flag_page(request: Request, flag_id: FlagId, state: DeskDep, me: Viewer) -> Response:
    if me.may(Role.CHECKER):  # "seen by": the people who can act on what they saw
        api.mark_seen(state.store, flag_id, me.id)
    found = api.flag(state.store, state.config(), flag_id)
    return page(request, "flag.html", me, section="queue", d=found)


@pages.post("/flags/{flag_id}/review")
def review_form(request: Request, flag_id: FlagId, state: DeskDep, me: Editor,
                decision: Annotated[str, Form()], note: Annotated[str, Form()] = "",
                verdict: Annotated[str, Form()] = "",
                update_expectation: Annotated[bool, Form()] = False) -> Response:
    done = api.review(state.store, flag_id, decision=decision, reviewer=me.display_name,
                      note=note.strip() or None, verdict=verdict.strip() or None,
                      sources=state.sources, config=state.config(),
                      update_expectation=update_expectation, account_id=me.id)
    found = api.flag(state.store, state.config(), flag_id)
    return page(request, "flag.html", me, section="queue", d=found, reviewed=done)


@pages.post("/flags/{flag_id}/comment")
def comment_form(flag_id: FlagId, state: DeskDep, me: Checker,
                 text: Annotated[str, Form()] = "") -> Response:
    api.comment(state.store, flag_id, me.id, text)
    return RedirectResponse(f"/flags/{flag_id}#comments", status_code=303)


class ReviewRequest(BaseModel):
    """An editor's decision on a flag (the reviewer is the token's account)."""

    decision: Decision
    note: str | None = Field(default=None, max_length=10_000)
    verdict: str | None = Field(default=None, max_length=2_000,
                                description="the claim's new verdict, with 'revised'")
    update_expectation: bool = Field(
        default=False, description="also update the expectation to what is observed now")


@rest.get("/flags", summary="Flags, most severe and newest first")
def flags_json(state: DeskDep, me: Viewer,
               status: Literal["open", "reviewed", "resolved", "all"] = "open",
               severity: Literal["", "low", "medium", "high"] = "",
               factcheck: str = "", source: str = "",
               page_number: Annotated[int, Query(alias="page", ge=1, le=10**6)] = 1
               ) -> dict[str, Any]:
    found = api.review_queue(state.store, Filters(severity or None, factcheck or None,
                                                  source or None, status), page=page_number)
    return {"open_by_severity": found.open_by_severity, "matching": found.matching,
            "page": found.page, "pages": found.pages,
            "flags": [item.flag.to_json() for g in found.groups for c in g.claims
                      for item in c.items]}


@rest.get("/flags/{flag_id}", summary="A flag with its claim, expectation and evidence change")
def flag_json(flag_id: FlagId, state: DeskDep, me: Viewer) -> dict[str, Any]:
    return api.flag(state.store, state.config(), flag_id).to_json()


@rest.post("/flags/{flag_id}/review", summary="Record a decision on an open flag")
def review_json(flag_id: FlagId, body: ReviewRequest, state: DeskDep,
                me: Editor) -> dict[str, Any]:
    return api.review(state.store, flag_id, decision=body.decision,
                      reviewer=me.display_name, note=body.note, verdict=body.verdict,
                      sources=state.sources, config=state.config(),
                      update_expectation=body.update_expectation, account_id=me.id).to_json()
