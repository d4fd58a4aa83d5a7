"""Endpoint monitors and alerts (read permission): latest results and trends per check, alerts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from shipyard.api.deps import WS, NameParam
from shipyard.api.errors import ERROR_RESPONSES

router = APIRouter(tags=["monitors"], responses=ERROR_RESPONSES)


def _service(ws: Any) -> Any:
    from shipyard.monitoring.service import MonitorService

    return MonitorService(ws.db, ws.actor, ws.clock)


@router.get("/endpoints/{name}/monitors", summary="Each check's latest result and history, and the alerts")
def endpoint_monitors(name: NameParam, ws: WS, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> dict[str, Any]:
    return _service(ws).status(name, limit)  # type: ignore[no-any-return]


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(ws: WS, endpoint: Annotated[str | None, Query(max_length=200)] = None,
                state: Literal["firing", "resolved"] | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return _service(ws).alerts(endpoint, state, limit)  # type: ignore[no-any-return]
