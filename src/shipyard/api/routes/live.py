"""Live metrics of an endpoint per version over time (from the gateways' metric windows), for the dashboard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from shipyard.api.deps import WS, NameParam
from shipyard.api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/endpoints", tags=["endpoints"], responses=ERROR_RESPONSES)


@router.get("/{name}/metrics", summary="Requests, errors and latency per version over the last minutes")
def endpoint_metrics(name: NameParam, ws: WS,
                     minutes: Annotated[int, Query(ge=1, le=7 * 24 * 60)] = 15,
                     step: Annotated[int, Query(ge=1, le=3600, description="Seconds per point.")] = 5,
                     ) -> dict[str, Any]:
    from shipyard.telemetry.series import endpoint_series, window_bounds

    ws.endpoints.get(name)  # authorizes READ; an unknown endpoint is a named 404
    since, until = window_bounds(ws.clock.now(), minutes)
    return endpoint_series(ws.db, name, since, until, step)
