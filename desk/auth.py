"""Who is asking, and may they: the account behind a request (a signed session cookie for the
pages, `Authorization: Bearer` for the REST API), the role a route needs, the CSRF token every
form carries, and login attempts slowed down per client address (accounts slow themselves down
too: `pipeline.accounts`).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from desk.state import Desk
from pipeline import api
from pipeline.accounts import Account
from pipeline.errors import Forbidden, Unauthorized
from pipeline.vocab import Role

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def desk(request: Request) -> Desk:
    state: Desk = request.app.state.desk
    return state


DeskDep = Annotated[Desk, Depends(desk)]


def account(request: Request, state: DeskDep) -> Account | None:
    """The account the request is made as (None: nobody logged in)."""
    cached = request.scope.get("claimwatch.account", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    found = None
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        found = api.token_account(state.store, header[7:].strip())
        request.scope["claimwatch.token"] = True
    elif isinstance(request.session.get("uid"), int):
        found = api.session_account(state.store, request.session["uid"],
                                    int(request.session.get("epoch", -1)))
        if found is None:
            request.session.clear()  # disabled, or its password changed: the session ends
    request.scope["claimwatch.account"] = found
    return found


MaybeAccount = Annotated[Account | None, Depends(account)]


def require(role: Role) -> Callable[..., Account]:
    """A dependency: the request's account, which must have at least `role`; unsafe requests
    made with a session cookie must also carry the session's CSRF token."""

    async def needs(request: Request, who: MaybeAccount) -> Account:
        if who is None:
            raise Unauthorized("log in first")
        if not who.may(role):
            raise Forbidden(f"this needs the {role} role (you are {who.role})")
        if request.method not in SAFE_METHODS and not request.scope.get("claimwatch.token"):
            await check_csrf(request)
        return who

    return needs


Viewer = Annotated[Account, Depends(require(Role.VIEWER))]
Checker = Annotated[Account, Depends(require(Role.CHECKER))]
Editor = Annotated[Account, Depends(require(Role.EDITOR))]
Admin = Annotated[Account, Depends(require(Role.ADMIN))]


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use): every form and htmx request sends it."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Refuse (403) an unsafe request without the session's CSRF token."""
    expected = request.session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise Forbidden("the form's security token is missing or stale: reload the page and "
                        "try again")


class LoginThrottle:
    """Failed logins per client address: after FREE in a row, each next attempt from there
    waits twice as long (up to MAX seconds). In memory: a restart forgets, which is fine, since
    accounts keep their own count in the database."""

    FREE, MAX = 5, 300

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> int:
        """Seconds before `client` may try again (0: now)."""
        with self._lock:
            count, until = self._failures.get(client, (0, 0.0))
        return max(0, int(until - time.monotonic() + 0.999)) if count > self.FREE else 0

    def failed(self, client: str) -> None:
        with self._lock:
            count, _until = self._failures.get(client, (0, 0.0))
            count += 1
            delay = min(2 ** max(0, count - self.FREE - 1), self.MAX)
            self._failures[client] = (count, time.monotonic() + delay)
            if len(self._failures) > 10_000:  # bounded: drop the oldest entries
                for key in list(self._failures)[:1000]:
                    del self._failures[key]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
