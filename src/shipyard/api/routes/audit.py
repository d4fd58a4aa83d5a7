"""The audit log: filtered events, JSON-lines export, chain verification (needs audit:read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from shipyard.api.deps import WS
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.governance.audit_service import MAX_LIMIT

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)
FILTER = r"^[^\x00]{0,300}$"
Actor = Annotated[str | None, Query(pattern=FILTER, description="Exact principal name.")]
Action = Annotated[str | None, Query(pattern=FILTER, description="Action, '*' wildcards (model.*).")]
Subject = Annotated[str | None, Query(pattern=FILTER, description="Subject, '*' wildcards (model:credit:*).")]
Since = Annotated[str | None, Query(pattern=FILTER, description="ISO date/time or 30m, 24h, 7d.")]


@router.get("/events", summary="Audit events, oldest first (with limit: the newest N)")
def events(ws: WS, actor: Actor = None, action: Action = None, subject: Subject = None, since: Since = None,
           limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ws.audit.log(actor=actor, action=action, subject=subject, since=since,
                                              limit=limit)]


@router.get("/export", summary="All matching events as JSON lines", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}})
def export(ws: WS, actor: Actor = None, action: Action = None, subject: Subject = None,
           since: Since = None) -> Response:
    # One body with its length: the events are read (and the filters checked) before anything is sent, so
    # streaming gained nothing, and a chunked StreamingResponse over a sync iterator once left a client
    # waiting for the final chunk in the schemathesis run.
    body = "".join(ws.audit.export_jsonl(actor=actor, action=action, subject=subject, since=since))
    return Response(body.encode("utf-8"), media_type="application/x-ndjson")


@router.get("/verify", summary="Recompute the hash chain; ok=false names the first bad event")
def verify(ws: WS, require_keyed: Annotated[bool, Query(
        description="Fail unless every event is keyed with the server's SHIPYARD_AUDIT_KEY.")] = False,
           ) -> dict[str, Any]:
    return ws.audit.verify(require_keyed=require_keyed).to_dict()
