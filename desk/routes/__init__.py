"""The desk's routes, one module per resource: `pages` (HTML) and, where the REST API has the
resource, `rest` (JSON under /api/v1) over the same library call."""

from desk.routes import (
    admin,
    claims,
    factchecks,
    flags,
    history,
    imports,
    login,
    queue,
    snapshots,
    sources,
)

# `imports` before `factchecks`: /factchecks/new is not the fact-check "new"
ALL = (login, queue, flags, claims, imports, factchecks, sources, snapshots, history, admin)
