"""Models: list, show, register, versions, artifacts, aliases, stages, tags."""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import Field

from shipyard.api.deps import MAX_INT, WS, AliasParam, NameParam, VersionParam, needs
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.api.schemas import Body, ShortText, Text
from shipyard.core.permissions import Permission
from shipyard.errors import InvalidInputError

router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)

FLAVOR_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$"


class LineageLink(Body):
    kind: Literal["dataset", "run", "parent"]
    ref: Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00]*$")]
    digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    role: Annotated[str, Field(max_length=40, pattern=r"^[A-Za-z0-9_-]*$")] = "train"


class RegisterBody(Body):
    flavor: Annotated[str, Field(pattern=FLAVOR_PATTERN)] = "sklearn"
    artifact: str = Field(..., description="The model file, base64-encoded.")
    filename: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")] = "model.skops"
    signature: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    reports: dict[str, Any] | None = None
    lineage: list[LineageLink] = Field(default_factory=list, max_length=1000)
    # Registering straight into approved/production would bypass approvals: only these two; and `validated` is
    # answered 409 naming `stage` (issue 18: only gates shipyard evaluates itself validate; see .../evaluate).
    stage: Literal["candidate", "validated"] = "candidate"
    run_id: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9._-]*$")] | None = None
    description: Text = ""
    tags: dict[ShortText, Text] = Field(default_factory=dict, max_length=200)


class AliasBody(Body):
    version: int = Field(..., ge=1, le=MAX_INT)


class StageBody(Body):
    stage: Literal["candidate", "validated", "approved", "production", "retired", "rejected", "archived"]
    reason: Text = ""


class TagBody(Body):
    value: Text


class EvaluateBody(Body):
    dataset: Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*([:@][^\x00]+)?$",
                                  description="The dataset version to evaluate on: NAME:VERSION (or NAME@VERSION; "
                                              "NAME alone is its latest version)")]


@router.get("", summary="Models with their latest version, aliases and stage counts")
def list_models(ws: WS) -> list[dict[str, Any]]:
    return [m.to_dict() for m in ws.models.list_models()]


@router.get("/{name}", summary="A model with all its versions")
def get_model(name: NameParam, ws: WS, summary: Annotated[bool, Query(
        description="Each version's evaluation cut to its main metric, its interval and the gate results "
                    "(a list of 1,000 versions, for a table)")] = False) -> dict[str, Any]:
    detail = ws.models.get_model(name).to_dict()
    if summary:
        for v in detail["versions"]:
            ev = v.get("evaluation") or {}
            main = ev.get("main_metric")
            v["evaluation"] = {"main_metric": main, "metrics": {main: (ev.get("metrics") or {}).get(main)} if main
                               else {}, "ci": {main: (ev.get("ci") or {}).get(main)} if main else {},
                               "gates": ev.get("gates") or []} if ev else None
            v["provenance"] = {}
            v["signature"] = None
    return detail


@router.post("/{name}/versions", summary="Register a new version (needs model:write)",
             dependencies=[needs(Permission.MODEL_WRITE)])
def register(name: NameParam, body: RegisterBody, ws: WS) -> dict[str, Any]:
    from shipyard.core.stages import Stage

    try:
        data = base64.b64decode(body.artifact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(field="artifact", value=body.artifact[:40],
                                expected="the model file encoded as standard base64") from None
    if not data:
        raise InvalidInputError(field="artifact", value="", expected="a non-empty model file")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(body.filename).name)
    with tempfile.TemporaryDirectory(prefix="shipyard-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        mv = ws.models.register(
            name, path, body.flavor, signature=body.signature, provenance=body.provenance,
            evaluation=body.evaluation, reports=body.reports, lineage=[x.model_dump() for x in body.lineage],
            stage=Stage(body.stage), run_id=body.run_id, description=body.description, tags=dict(body.tags),
        )
    return mv.to_dict()


@router.get("/{name}/versions/{version}", summary="One version")
def get_version(name: NameParam, version: VersionParam, ws: WS) -> dict[str, Any]:
    return ws.models.get_version(f"{name}:{version}").to_dict()


@router.get("/{name}/versions/{version}/artifact", summary="The version's artifact bytes (hash-verified)",
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}}})
def get_artifact(name: NameParam, version: VersionParam, ws: WS) -> Response:
    data = ws.models.load_artifact(f"{name}:{version}")
    return Response(data, media_type="application/octet-stream")


@router.get("/{name}/aliases/{alias}", summary="The version an alias points at")
def get_alias(name: NameParam, alias: AliasParam, ws: WS) -> dict[str, Any]:
    return ws.models.get_version(f"{name}@{alias}").to_dict()


@router.put("/{name}/aliases/{alias}", summary="Point an alias at a version (needs model:stage)",
            dependencies=[needs(Permission.MODEL_STAGE)])
def set_alias(name: NameParam, alias: AliasParam, body: AliasBody, ws: WS) -> dict[str, Any]:
    return ws.models.set_alias(name, alias, body.version).to_dict()


@router.delete("/{name}/aliases/{alias}", summary="Remove an alias (needs model:stage)",
               dependencies=[needs(Permission.MODEL_STAGE)])
def delete_alias(name: NameParam, alias: AliasParam, ws: WS) -> dict[str, Any]:
    ws.models.delete_alias(name, alias)
    return {"model": name, "alias": alias, "deleted": True}


@router.post("/{name}/versions/{version}/stage", summary="Move a version to another stage (needs model:stage)",
             dependencies=[needs(Permission.MODEL_STAGE)])
def set_stage(name: NameParam, version: VersionParam, body: StageBody, ws: WS) -> dict[str, Any]:
    return ws.models.set_stage(f"{name}:{version}", body.stage, body.reason).to_dict()


@router.put("/{name}/versions/{version}/tags/{key}", summary="Set a tag (needs model:write)",
            dependencies=[needs(Permission.MODEL_WRITE)])
def set_tag(name: NameParam, version: VersionParam, key: Annotated[str, PathParam(pattern=KEY_PATTERN)],
            body: TagBody, ws: WS) -> dict[str, Any]:
    return ws.models.set_tag(f"{name}:{version}", key, body.value).to_dict()


@router.post("/{name}/versions/{version}/evaluate",
             summary="Run the workspace's evaluation and gates on a dataset version, in the server (needs "
                     "model:write); the version becomes validated (gates pass) or rejected, with sealed evidence",
             dependencies=[needs(Permission.MODEL_WRITE)])
def evaluate(name: NameParam, version: VersionParam, body: EvaluateBody, ws: WS) -> dict[str, Any]:
    from shipyard.pipeline.evaluate_version import ModelEvaluationService

    # the control plane never imports user code: a pyfunc version is refused, not loaded
    return ModelEvaluationService(ws, allow_user_code=False).evaluate(f"{name}:{version}", body.dataset).to_dict()
