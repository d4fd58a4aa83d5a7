"""The control-plane app factory: ``create_app(workspace or factory)`` -> FastAPI under ``/api/v1``."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi import APIRouter, FastAPI

from shipyard.api import errors
from shipyard.api.limits import BodyLimit, Limits
from shipyard.api.routes import (
    approvals,
    audit,
    datasets,
    documents,
    endpoints,
    health,
    live,
    models,
    monitors,
    rollouts,
    users,
)
from shipyard.workspace import Workspace

PREFIX = "/api/v1"
# documents before approvals: /approvals/queue must not be read as a decision route
ROUTERS = (health.router, datasets.router, models.router, documents.router, approvals.router, endpoints.router,
           rollouts.router, live.router, users.router, audit.router, monitors.router)


def create_app(workspace: Workspace | Callable[[], Workspace], limits: Limits | None = None) -> FastAPI:
    """Build the API over ONE workspace; each request acts as its bearer token's principal.

    Args:
        workspace: an open Workspace, or a factory opened on the first request (the server's own
            principal is never used for requests: every route except /health needs a token).
        limits: request-body size limits (default ``Limits()``: 1 MiB JSON, 1 GiB model upload,
            2 GiB dataset upload), answered 413 before the body is read.
    """
    import shipyard

    app = FastAPI(
        title="shipyard control plane",
        version=getattr(shipyard, "__version__", "0.1.0"),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    lock = threading.Lock()
    opened: list[Workspace] = [workspace] if isinstance(workspace, Workspace) else []

    def open_workspace() -> Workspace:
        if not opened:
            with lock:
                if not opened:
                    opened.append(workspace())  # type: ignore[operator]
        return opened[0]

    app.state.open_workspace = open_workspace
    errors.install(app)
    api = APIRouter(prefix=PREFIX)
    for r in ROUTERS:
        api.include_router(r)
    app.include_router(api)
    from shipyard.web import mount

    mount(app)
    app.add_middleware(BodyLimit, limits=limits or Limits())
    return app
