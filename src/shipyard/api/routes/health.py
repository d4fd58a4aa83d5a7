"""Liveness (no token needed) and who-am-I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shipyard.api.deps import WS
from shipyard.api.errors import ERROR_RESPONSES

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health", summary="Liveness; needs no token")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/whoami", summary="The principal behind the token")
def whoami(ws: WS) -> dict[str, Any]:
    from shipyard.core.permissions import MATRIX

    # The permissions let a client (the dashboard) show only what this principal may press.
    return {"name": ws.actor.name, "role": ws.actor.role.value,
            "permissions": sorted(p.value for p in MATRIX[ws.actor.role])}
