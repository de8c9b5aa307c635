"""The desk's routes, one module per resource: `pages` (HTML) and, where the REST API has the
resource, `rest` (JSON under /api/v1) over the same library call."""

from desk.routes import (
    admin,
    claims,
    factchecks,
    flags,
    history,
    login,
    queue,
    snapshots,
    sources,
)

ALL = (login, queue, flags, claims, factchecks, sources, snapshots, history, admin)
