"""A version's documents for people: the stored evaluation reports, the model card, and the approval queue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from shipyard.api.deps import WS, NameParam, VersionParam
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.core.hashing import Digest
from shipyard.errors import NotFoundError

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)

REPORT_TYPES = {"report.html": "text/html; charset=utf-8", "report.json": "application/json",
                "junit.xml": "application/xml"}
ReportName = Literal["report.html", "report.json", "junit.xml"]


@router.get("/models/{name}/versions/{version}/reports/{report}", summary="A stored evaluation report (hash-verified)",
            response_class=Response,
            responses={200: {"content": {t: {"schema": {"type": "string"}} for t in REPORT_TYPES.values()}}})
def get_report(name: NameParam, version: VersionParam, report: ReportName, ws: WS) -> Response:
    mv = ws.models.get_version(f"{name}:{version}")
    digest = (mv.reports or {}).get(report)
    if not digest:
        raise NotFoundError(f"{mv.ref} has no {report} (versions registered by a pipeline run have one)",
                            field="report", value=report, expected=", ".join(sorted(mv.reports or {})) or
                            "a version with reports")
    data = ws.artifacts.get_bytes(Digest(str(digest)))
    # The HTML report is self-contained (inline CSS, base64 images, no scripts); the dashboard shows it in a
    # sandboxed frame. A report opened directly runs nothing either:
    headers = {"Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"}
    return Response(data, media_type=REPORT_TYPES[report], headers=headers)


@router.get("/models/{name}/versions/{version}/card", summary="The model card (HTML, or Markdown with format=md)",
            response_class=Response,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}},
                                         "text/markdown": {"schema": {"type": "string"}}}}})
def get_card(name: NameParam, version: VersionParam, ws: WS,
             format: Annotated[Literal["html", "md"], Query()] = "html") -> Response:
    from shipyard.evaluation.reports.card import render_card

    mv = ws.models.get_version(f"{name}:{version}")
    md, html = render_card(mv.to_dict(), ws.config.model_dump(mode="json", by_alias=True))
    if format == "md":
        return Response(md.encode("utf-8"), media_type="text/markdown; charset=utf-8")
    return Response(html.encode("utf-8"), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": "default-src 'none'; img-src data:; "
                                                        "style-src 'unsafe-inline'; sandbox"})


@router.get("/approvals/queue", summary="Versions waiting for approval (stage validated), oldest first")
def approval_queue(ws: WS) -> list[dict[str, Any]]:
    required = ws.config.approval.required
    queue: list[dict[str, Any]] = []
    for mv in ws.models.versions_in_stage("validated"):
        decided = {a.get("principal") for a in mv.approvals}
        approvals = sum(1 for a in mv.approvals if a.get("decision") == "approve")
        queue.append({"model": mv.model, "version": mv.version, "ref": mv.ref, "created_by": mv.created_by,
                      "created_at": mv.created_at, "approvals": approvals, "required": required,
                      "main_metric": (mv.evaluation or {}).get("main_metric"),
                      "metrics": (mv.evaluation or {}).get("metrics", {}),
                      "you_are_author": mv.created_by == ws.actor.name,
                      "you_decided": ws.actor.name in decided})
    queue.sort(key=lambda q: q["created_at"])
    return queue
