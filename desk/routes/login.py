"""Logging in and out of the desk. A login sets a signed session cookie naming the account and
its session epoch; failed logins are slowed down per account and per client address."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from desk.auth import DeskDep, LoginThrottle, MaybeAccount, check_csrf, csrf_token
from desk.templating import page
from pipeline import api
from pipeline.errors import Unauthorized

pages = APIRouter(include_in_schema=False)
throttle = LoginThrottle()


@pages.get("/login")
def login_form(request: Request, me: MaybeAccount, next: str = "/") -> Response:
    if me is not None:
        return RedirectResponse(_local(next), status_code=303)
    return page(request, "login.html", None, next=_local(next))


@pages.post("/login")
async def login(request: Request, state: DeskDep, name: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
                ) -> Response:
    await check_csrf(request)
    client = request.client.host if request.client else "?"
    wait = throttle.wait(client)
    error = f"too many failed logins from here: try again in {wait} s" if wait else None
    if error is None:
        try:
            who = api.login(state.store, name, password)
        except Unauthorized as exc:
            throttle.failed(client)
            error = str(exc)
    if error is not None:
        return page(request, "login.html", None, status_code=401, error=error, name=name,
                    next=_local(next))
    throttle.succeeded(client)
    request.session.clear()  # a new session: nothing from before the login carries over
    request.session.update(uid=who.id, epoch=who.session_epoch)
    csrf_token(request)
    return RedirectResponse(_local(next), status_code=303)


@pages.post("/logout")
async def logout(request: Request) -> Response:
    await check_csrf(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _local(target: str) -> str:
    """Only a path on the desk itself: a login link must not send anyone elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
