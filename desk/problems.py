"""Errors as the desk shows them: library errors (`pipeline.errors`) become problem+json
(RFC 9457) under /api with the CLI's one-line message, and an error page elsewhere. One mapping
from error to HTTP status, and the responses every API route documents in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from desk.templating import page
from pipeline.errors import (
    ClaimwatchError,
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    UsageError,
)

STATUS = {NotFound: 404, Conflict: 409, Unauthorized: 401, Forbidden: 403, UsageError: 400,
          ConfigError: 400}
TITLES = {400: "That did not work", 401: "Log in first", 403: "Not allowed", 404: "Not found",
          409: "Someone got there first", 500: "Something went wrong"}


class Problem(BaseModel):
    """An error (RFC 9457 problem details); `detail` is the message the CLI would print."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None


def _response(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {}}}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _response("bad input: `field` names it"),
    401: _response("no valid API token (Authorization: Bearer …)"),
    403: _response("the token's account lacks the role"),
    404: _response("no such fact-check, claim, flag, source or snapshot"),
    409: _response("the state moved meanwhile (a flag already reviewed)"),
}


def status_of(exc: ClaimwatchError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


def claimwatch_error(request: Request, exc: ClaimwatchError) -> Response:
    code = status_of(exc)
    message = str(exc).splitlines()[0]
    if request.url.path.startswith("/api/"):
        body = Problem(title=type(exc).__name__, status=code, detail=message,
                       field=exc.field if isinstance(exc, UsageError) else None)
        headers = {"www-authenticate": "Bearer"} if code == 401 else {}
        if isinstance(exc, Unauthorized) and exc.retry_after:
            headers["retry-after"] = str(exc.retry_after)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=code,
                            media_type="application/problem+json", headers=headers)
    if code == 401 and request.method == "GET":
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    who = request.scope.get("claimwatch.account")
    return page(request, "error.html", who if who else None, status_code=code,
                title=TITLES.get(code, "Error"), message=message)


def bad_request(request: Request, exc: RequestValidationError) -> Response:
    """A malformed request (a field of the wrong type): one line, like any other bad input."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = str(first.get("msg", "invalid request"))
    return claimwatch_error(request, UsageError(f"{where}: {message}" if where else message,
                                                field=where or None))
