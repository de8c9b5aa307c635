"""Adding a fact-check (editors): paste the published fact-check's URL, read the draft watch
`claimwatch import` makes of it next to the pages it cites and the sentences matched there,
edit it, and save it as a new file of the directory of sources (validated first; problems are
shown as FILE:LINE). A desk on one sources.yaml can read the draft but not save it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from desk.auth import DeskDep, Editor
from desk.templating import page
from pipeline import api
from pipeline.accounts import Account
from pipeline.errors import ConfigError, Conflict, FetchError, UsageError

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["fact-checks"])
MAX_TEXT = 1_000_000  # characters of YAML an editor may save at once


@pages.get("/factchecks/new")
def new_page(request: Request, state: DeskDep, me: Editor) -> Response:
    return _form(request, state, me)


@pages.post("/factchecks/new")
def draft_form(request: Request, state: DeskDep, me: Editor,
               url: Annotated[str, Form(max_length=2000)]) -> Response:
    try:
        draft = api.import_factcheck(url.strip(), sources=state.sources)
    except (UsageError, FetchError, ConfigError) as exc:
        return _form(request, state, me, url=url, problems=_problems(exc), status_code=400)
    return _form(request, state, me, url=url, draft=draft, text=draft.text)


@pages.post("/factchecks/new/save")
def save_form(request: Request, state: DeskDep, me: Editor,
              text: Annotated[str, Form(max_length=MAX_TEXT)],
              url: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        saved = api.add_factcheck(state.store, text, state.sources, by=me.display_name,
                                  imported_from=url or None)
    except (UsageError, ConfigError, Conflict) as exc:
        return _form(request, state, me, url=url, text=text, problems=_problems(exc),
                     status_code=400)
    return _form(request, state, me, saved=saved)


def _form(request: Request, state: Any, me: Account, status_code: int = 200,
          **context: Any) -> Response:
    return page(request, "factcheck_new.html", me, status_code, section="factchecks",
                directory=state.sources.is_dir(), sources=state.sources, **context)


def _problems(exc: Exception) -> list[str]:
    return list(exc.problems) if isinstance(exc, ConfigError) else [str(exc)]


class DraftRequest(BaseModel):
    """A published fact-check to draft a watch of."""

    url: str = Field(max_length=2000, description="the fact-check's address (http or https)")


class FactCheckFile(BaseModel):
    """An accepted draft: the YAML of one fact-check file."""

    text: str = Field(max_length=MAX_TEXT)
    imported_from: str | None = Field(default=None, max_length=2000)


@rest.post("/factchecks/drafts", summary="Draft a watch of a published fact-check")
def draft_json(body: DraftRequest, state: DeskDep, me: Editor) -> dict[str, Any]:
    return api.import_factcheck(body.url.strip(), sources=state.sources).to_json()


@rest.post("/factchecks", summary="Save a fact-check file into the directory of sources",
           status_code=201)
def save_json(body: FactCheckFile, state: DeskDep, me: Editor) -> dict[str, Any]:
    saved = api.add_factcheck(state.store, body.text, state.sources, by=me.display_name,
                              imported_from=body.imported_from)
    return {"file": str(saved)}
