"""Stored snapshots as the publisher served them: a page to look at one (HTML in a sandboxed
frame, documents as their text and tables), the original bytes to download, and the bytes for
the frame, served under a policy that lets them run nothing and load nothing."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from db.models import MAX_ID
from desk.auth import DeskDep, Viewer
from desk.security import SNAPSHOT_POLICY
from desk.templating import page
from pipeline import api

pages = APIRouter(include_in_schema=False)
rest = APIRouter(tags=["snapshots"])
SnapshotId = Annotated[int, Path(ge=1, le=MAX_ID)]
FRAMED = ("html",)  # kinds shown as the page itself, in a sandboxed frame


@pages.get("/snapshots/{snapshot_id}")
def snapshot_page(request: Request, snapshot_id: SnapshotId, state: DeskDep,
                  me: Viewer) -> Response:
    record, source = api.snapshot(state.store, snapshot_id)
    document = None if record.kind in FRAMED else api.snapshot_document(
        state.store, state.config(), snapshot_id)
    kept = api.archive_status(state.store, snapshot=snapshot_id)
    return page(request, "snapshot.html", me, section="sources", s=record, source=source,
                framed=record.kind in FRAMED, document=document,
                archived=kept[0] if kept else None)


@pages.get("/snapshots/{snapshot_id}/raw")
def snapshot_raw(snapshot_id: SnapshotId, state: DeskDep, me: Viewer) -> Response:
    """The stored bytes for the sandboxed frame: they may run nothing and load nothing."""
    body, record = api.snapshot_content(state.store, snapshot_id)
    media = "text/html" if record.kind in FRAMED else "text/plain"
    charset = _charset(record.content_type) or "utf-8"
    return Response(body, media_type=f"{media}; charset={charset}", headers={
        "content-security-policy": SNAPSHOT_POLICY, "x-frame-options": "SAMEORIGIN",
        "cache-control": "private, max-age=86400"})


@pages.get("/snapshots/{snapshot_id}/download")
def snapshot_download(snapshot_id: SnapshotId, state: DeskDep, me: Viewer) -> Response:
    return _original(state, snapshot_id)


@rest.get("/snapshots/{snapshot_id}", summary="A snapshot's metadata")
def snapshot_json(snapshot_id: SnapshotId, state: DeskDep, me: Viewer) -> dict[str, Any]:
    record, source = api.snapshot(state.store, snapshot_id)
    kept = api.archive_status(state.store, snapshot=snapshot_id)
    return {**record.to_json(), "source": source, "content_type": record.content_type,
            "kind": record.kind, "sha256": record.sha256,
            "archive": kept[0].link_json() if kept else None}


@rest.get("/snapshots/{snapshot_id}/content", summary="The bytes as the publisher served them",
          response_class=Response,
          responses={200: {"content": {"application/octet-stream": {}},
                           "description": "the original bytes, as an attachment"}})
def snapshot_content(snapshot_id: SnapshotId, state: DeskDep, me: Viewer) -> Response:
    return _original(state, snapshot_id)


def _original(state: Any, snapshot_id: int) -> Response:
    """The original bytes as an attachment (never rendered by the desk's origin)."""
    body, record = api.snapshot_content(state.store, snapshot_id)
    suffix = {"html": "html", "pdf": "pdf", "xlsx": "xlsx", "csv": "csv", "json": "json",
              "feed": "xml"}.get(record.kind, "bin")
    return Response(body, media_type="application/octet-stream", headers={
        "content-disposition": f'attachment; filename="snapshot-{snapshot_id}.{suffix}"',
        "content-security-policy": SNAPSHOT_POLICY,
        "x-claimwatch-content-type": re.sub(r"[^\w/.+; =-]", "", record.content_type)[:200]})


def _charset(content_type: str) -> str | None:
    found = re.search(r"charset=([\w.-]+)", content_type or "", re.IGNORECASE)
    return found.group(1) if found else None
