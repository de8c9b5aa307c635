"""A claim: its verdict history, every evidence item with its current outcome, last check,
baseline and latest snapshot, its timeline (the days it moved), and its past flags and
decisions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from desk.auth import DeskDep, Viewer
from desk.templating import page
from pipeline import api
from pipeline.describe import expectation_in_words

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["claims"])


@pages.get("/claims/{claim}")
def claim_page(request: Request, claim: str, state: DeskDep, me: Viewer) -> Response:
    found = api.claim(state.store, claim)
    # both list the claim's active items in their order (`position`)
    moments = [i.moments for i in api.timeline(state.store, claim,
                                               config=state.config()).items]
    return page(request, "claim.html", me, section="factchecks", c=found,
                words=[expectation_in_words(item.expectation) for item in found.items],
                timeline=moments if len(moments) == len(found.items) else [()] * len(moments))


@rest.get("/claims/{claim}", summary="A claim, its verdict history and its evidence")
def claim_json(claim: str, state: DeskDep, me: Viewer) -> dict[str, Any]:
    return api.claim(state.store, claim).to_json()


@rest.get("/claims/{claim}/timeline",
          summary="When each evidence item's outcome or observation changed")
def claim_timeline_json(claim: str, state: DeskDep, me: Viewer) -> dict[str, Any]:
    return api.timeline(state.store, claim, config=state.config()).to_json()
