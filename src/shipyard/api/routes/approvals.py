"""Approvals: approve or reject a version (needs model:approve; the author may not approve)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from shipyard.api.deps import REF_PATTERN, WS, needs
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.api.schemas import Body, Text
from shipyard.core.permissions import Permission

router = APIRouter(prefix="/approvals", tags=["approvals"], responses=ERROR_RESPONSES)


class DecisionBody(Body):
    ref: Annotated[str, Field(pattern=REF_PATTERN, description="NAME, NAME:VERSION or NAME@ALIAS")]
    decision: Literal["approve", "reject"]
    reason: Text = ""


@router.post("", summary="Record a decision; returns the version (stage moves when approvals suffice)",
             dependencies=[needs(Permission.MODEL_APPROVE)])
def decide(body: DecisionBody, ws: WS) -> dict[str, Any]:
    if body.decision == "approve":
        return ws.approvals.approve(body.ref, body.reason).to_dict()
    return ws.approvals.reject(body.ref, body.reason).to_dict()


@router.get("", summary="The decisions recorded on a version")
def list_decisions(ws: WS, ref: Annotated[str, Query(pattern=REF_PATTERN)]) -> list[dict[str, Any]]:
    return list(ws.models.get_version(ref).approvals)


@router.get("/pending", summary="The approval queue: validated versions with their gate evidence (source, verified)")
def pending(ws: WS) -> list[dict[str, Any]]:
    return ws.approvals.pending()
