"""Rollouts: an endpoint's rollout, every rollout, and the operator's commands (deploy permission, audited)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from shipyard.api.deps import WS, NameParam, needs
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.api.schemas import Body, Text
from shipyard.core.permissions import Permission

router = APIRouter(tags=["rollouts"], responses=ERROR_RESPONSES)
Action = Annotated[Literal["pause", "resume", "promote", "abort"], Path(description="What to do")]


class CommandBody(Body):
    reason: Text = ""
    full: bool = Field(False, description="promote: a canary straight to 100% (default: its next step)")


@router.get("/endpoints/{name}/rollout", summary="The endpoint's newest rollout with its newest analyses")
def get_rollout(name: NameParam, ws: WS, analyses: Annotated[int, Query(ge=0, le=1000)] = 20) -> dict[str, Any]:
    return ws.rollouts.status(name, analyses).to_dict()


@router.get("/rollouts", summary="Every rollout, newest first")
def list_rollouts(ws: WS, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.rollouts.list(limit)]


@router.post("/endpoints/{name}/rollout/{action}", summary="Pause, resume, promote or abort the live rollout",
             dependencies=[needs(Permission.DEPLOY)])
def command(name: NameParam, action: Action, ws: WS, body: CommandBody | None = None) -> dict[str, Any]:
    b = body or CommandBody()
    return ws.rollouts.command(name, action, b.reason, b.full).to_dict()
