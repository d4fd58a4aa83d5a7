"""Endpoints: list, show, deploy a version, replace the routing table (needs endpoint:deploy to change)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from shipyard.api.deps import MAX_INT, NAME_PATTERN, REF_PATTERN, WS, NameParam
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.api.schemas import Body

router = APIRouter(prefix="/endpoints", tags=["endpoints"], responses=ERROR_RESPONSES)
HEADER_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"  # an HTTP header name (RFC 9110 token)
Version = Annotated[int, Field(ge=1, le=MAX_INT)]
Since = Annotated[str | None, Query(max_length=64, description="ISO date/time, or 30m, 24h, 7d ago")]


class DeployBody(Body):
    ref: Annotated[str, Field(pattern=REF_PATTERN, description="NAME:VERSION, NAME@ALIAS or NAME (latest)")]
    endpoint: Annotated[str, Field(pattern=NAME_PATTERN)] | None = Field(
        None, description="Endpoint name (default: the model's name)")
    weight: Annotated[int, Field(ge=0, le=100)] | None = Field(
        None, description="Percent of traffic for this version (the rest stays on the current heaviest one)")
    strategy: Literal["canary", "bluegreen", "shadow", "ab"] | None = Field(
        None, description="Rollout strategy when the endpoint serves another version (default: deploy.strategy)")


class Route(Body):
    version: Version
    weight: Annotated[int, Field(ge=0, le=100)]


class RoutingBody(Body):
    routes: Annotated[list[Route], Field(min_length=1, max_length=100)]
    shadow: Annotated[list[Version], Field(max_length=100)] = []
    sticky_header: Annotated[str, Field(pattern=HEADER_PATTERN)] | None = None


@router.get("", summary="Every endpoint with its routing table")
def list_endpoints(ws: WS) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ws.endpoints.list()]


@router.get("/{name}", summary="One endpoint")
def get_endpoint(name: NameParam, ws: WS) -> dict[str, Any]:
    return ws.endpoints.get(name).to_dict()


@router.get("/{name}/log", summary="What the gateways logged, per version, joined with feedback; newest rows")
def prediction_log(name: NameParam, ws: WS, since: Since = None,
                   limit: Annotated[int, Query(ge=0, le=1000)] = 10) -> dict[str, Any]:
    return ws.endpoints.prediction_log(name, since, limit).to_dict()


@router.post("", summary="Deploy a version: a new endpoint serves it; a served one starts a rollout (or weight %)")
def deploy(body: DeployBody, ws: WS) -> dict[str, Any]:
    return ws.rollouts.deploy(body.ref, body.endpoint, body.weight, body.strategy).to_dict()


@router.put("/{name}/routing", summary="Replace the routing table (running gateways pick it up within a second)")
def set_routing(name: NameParam, body: RoutingBody, ws: WS) -> dict[str, Any]:
    return ws.endpoints.set_routing(name, body.model_dump()).to_dict()
