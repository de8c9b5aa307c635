"""The review desk (issue 11): a FastAPI application over `pipeline.api`, with server-rendered
pages (Jinja2 + htmx, every asset served by the app) and the REST API under /api/v1."""
