"""The desk's web application: FastAPI with server-rendered pages (Jinja2, htmx) and the REST
API under /api/v1 (OpenAPI at /api/openapi.json), on the same library as the CLI.

Each resource's routes live in `desk/routes/<resource>.py`, its page and its /api/v1 twin side
by side over one library call. Errors from the library become an error page or problem+json
with the same one-line message the CLI prints.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from db import Store
from desk.problems import RESPONSES, bad_request, claimwatch_error
from desk.routes import ALL as ROUTES
from desk.security import SecurityHeaders
from desk.state import Desk
from pipeline import __version__, api
from pipeline.errors import ClaimwatchError

STATIC = Path(__file__).with_name("static")
SESSION_HOURS = 12


def create_app(store: Store, sources: Path, *, secure_cookies: bool = False) -> FastAPI:
    app = FastAPI(title="claimwatch desk", version=__version__,
                  description="The review desk's REST API: fact-checks, claims, flags and their "
                              "reviews, sources, snapshots, diffs, history and reports.",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.desk = Desk(store, Path(sources), secure_cookies)
    app.state.desk.config()  # a broken sources.yaml at start is the caller's error
    app.add_middleware(SessionMiddleware, secret_key=api.session_key(store),
                       session_cookie="claimwatch_session", max_age=SESSION_HOURS * 3600,
                       same_site="lax", https_only=secure_cookies)
    app.add_middleware(SecurityHeaders, https=secure_cookies)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in ROUTES:
        app.include_router(module.pages)
        if hasattr(module, "rest"):
            app.include_router(module.rest, prefix="/api/v1", responses=RESPONSES)
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(ClaimwatchError, claimwatch_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, bad_request)  # type: ignore[arg-type]
    return app


def healthz(request: Request) -> JSONResponse:
    """For load balancers: 200 while the database answers."""
    desk: Desk = request.app.state.desk
    try:
        with desk.store.session() as session:
            session.connection()
    except Exception as exc:  # the database is down: say so, don't raise
        return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
    return JSONResponse({"ok": True, "version": __version__})
