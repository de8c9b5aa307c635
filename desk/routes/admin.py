"""People on the desk (admins only): accounts and their roles, disabling, API tokens (shown
once, stored as hashes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from db.models import MAX_ID
from desk.auth import Admin, DeskDep
from desk.templating import page
from pipeline import api

pages = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(max_length=100)]


def _admin_page(request: Request, state: DeskDep, me: Admin, **extra: object) -> Response:
    return page(request, "admin.html", me, section="admin", users=api.users(state.store),
                tokens=api.tokens(state.store), **extra)


@pages.get("/admin")
def admin_page(request: Request, state: DeskDep, me: Admin) -> Response:
    return _admin_page(request, state, me)


@pages.post("/admin/users")
def add_user(request: Request, state: DeskDep, me: Admin, name: Annotated[str, Form()],
             role: Annotated[str, Form()], password: Annotated[str, Form()],
             display_name: Annotated[str, Form()] = "") -> Response:
    api.add_user(state.store, name.strip(), role, password,
                 display_name=display_name.strip() or None, by=me.name)
    return RedirectResponse("/admin", status_code=303)


@pages.post("/admin/users/{name}/role")
def set_role(name: Name, state: DeskDep, me: Admin, role: Annotated[str, Form()]) -> Response:
    api.set_user_role(state.store, name, role, by=me.name)
    return RedirectResponse("/admin", status_code=303)


@pages.post("/admin/users/{name}/active")
def set_active(name: Name, state: DeskDep, me: Admin,
               active: Annotated[bool, Form()]) -> Response:
    if name == me.name and not active:
        raise api.UsageError("you cannot disable your own account", field="name")
    api.set_user_active(state.store, name, active, by=me.name)
    return RedirectResponse("/admin", status_code=303)


@pages.post("/admin/tokens")
def issue_token(request: Request, state: DeskDep, me: Admin, name: Annotated[str, Form()],
                label: Annotated[str, Form()] = "API token") -> Response:
    token, record = api.issue_token(state.store, name, label, by=me.name)
    return _admin_page(request, state, me, new_token=token, new_record=record)


@pages.post("/admin/tokens/{token_id}/revoke")
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], state: DeskDep,
                 me: Admin) -> Response:
    api.revoke_token(state.store, token_id, by=me.name)
    return RedirectResponse("/admin", status_code=303)
