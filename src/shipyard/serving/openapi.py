"""The gateway's OpenAPI 3.1 document, written by hand (the request path uses no framework).

Endpoint names are listed as an ``enum`` of what the gateway serves right now, so contract
testers (schemathesis) exercise real endpoints as well as unknown ones.
"""

from __future__ import annotations

from typing import Any

ERROR_OIP = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
ERROR_V1 = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "type": {"type": "string"}, "field": {"type": ["string", "null"]}, "value": {},
    "expected": {"type": ["string", "null"]}, "message": {"type": "string"}}}}, "required": ["error"]}
SCALAR: dict[str, Any] = {"type": ["number", "integer", "string", "boolean", "null"]}
DATATYPE = {"type": "string", "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                                       "INT64", "FP16", "FP32", "FP64", "BYTES"]}
TENSOR = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "datatype": DATATYPE,
    "parameters": {"type": "object"}, "data": {"type": "array"}}}
INFER_REQUEST = {"type": "object", "required": ["inputs"], "properties": {
    "id": {"type": "string"}, "parameters": {"type": "object"},
    "inputs": {"type": "array", "items": TENSOR},
    "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                                           "properties": {"name": {"type": "string"}}}}}}
INFER_RESPONSE = {"type": "object", "required": ["model_name", "outputs"], "properties": {
    "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
    "outputs": {"type": "array", "items": TENSOR}}}
TENSOR_META = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": DATATYPE,
    "shape": {"type": "array", "items": {"type": "integer"}}}}
MODEL_METADATA = {"type": "object", "required": ["name", "platform", "inputs", "outputs"], "properties": {
    "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
    "platform": {"type": "string"}, "inputs": {"type": "array", "items": TENSOR_META},
    "outputs": {"type": "array", "items": TENSOR_META}, "parameters": {"type": "object"}}}
SERVER_METADATA = {"type": "object", "required": ["name", "version", "extensions"], "properties": {
    "name": {"type": "string"}, "version": {"type": "string"},
    "extensions": {"type": "array", "items": {"type": "string"}}}}
ENDPOINTS = {"type": "object", "required": ["endpoints"], "properties": {"endpoints": {"type": "array", "items": {
    "type": "object", "required": ["name", "model", "generation", "routing"], "properties": {
        "name": {"type": "string"}, "model": {"type": "string"}, "generation": {"type": "integer"},
        "routing": {"type": "object"}}}}}}
PREDICT_REQUEST = {"type": "object", "properties": {
    "instances": {"type": "array", "items": {"type": "object", "additionalProperties": SCALAR}},
    "dataframe_split": {"type": "object", "properties": {"columns": {"type": "array", "items": {"type": "string"}},
                                                         "data": {"type": "array", "items": {"type": "array"}}}},
    "key": {"type": "string"}}}
PREDICT_RESPONSE = {"type": "object", "required": ["request_id", "model", "version", "predictions"], "properties": {
    "request_id": {"type": "string"}, "model": {"type": "string"}, "version": {"type": "integer"},
    "predictions": {"type": "array", "items": SCALAR,
                    "description": "one per row: the class label (classifiers) or the value (regressors)"},
    "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
                      "description": "classifiers: one row of class probabilities per input row, in `classes` order"},
    "classes": {"type": "array", "items": SCALAR}}}
FEEDBACK_ITEM = {"type": "object", "required": ["request_id"], "properties": {
    "request_id": {"type": "string"}, "label": SCALAR,
    "row": {"type": "integer", "minimum": 0, "description": "0-based row of a multi-row request"},
    "labels": {"type": "array", "items": SCALAR, "description": "one label per row of the request"}}}
FEEDBACK_REQUEST = {"anyOf": [FEEDBACK_ITEM, {"type": "object", "required": ["feedback"], "properties": {
    "feedback": {"type": "array", "items": FEEDBACK_ITEM}}}]}


def _errors(schema: dict[str, Any], codes: tuple[str, ...] = ("400", "404", "413", "422", "503")) -> dict[str, Any]:
    return {c: {"description": "error", "content": {"application/json": {"schema": schema}}} for c in codes}


def document(endpoints: list[str]) -> dict[str, Any]:
    name = {"name": "model_name", "in": "path", "required": True,
            "schema": {"type": "string", "enum": endpoints} if endpoints else {"type": "string"}}
    version = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string"}}
    ep = {**name, "name": "endpoint"}
    empty = {"200": {"description": "true"}, "400": {"description": "false"}}

    def op(summary: str, params: list[Any], body: dict[str, Any] | None, ok: dict[str, Any], err: Any,
           method: str = "post") -> dict[str, Any]:
        o: dict[str, Any] = {"summary": summary, "parameters": params,
                             "responses": {"200": {"description": "ok", "content": {"application/json": {
                                 "schema": ok}}}, **_errors(err)}}
        if body is not None:
            o["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        return {method: o}

    return {
        "openapi": "3.1.0",
        "info": {"title": "shipyard inference gateway", "version": "1",
                 "description": "Open Inference Protocol v2 plus shipyard's /v1 predict and feedback."},
        "paths": {
            "/v2": {"get": {"summary": "server metadata", "responses": {"200": {"description": "ok", "content": {
                "application/json": {"schema": SERVER_METADATA}}}}}},
            "/v2/health/live": {"get": {"summary": "liveness", "responses": empty}},
            "/v2/health/ready": {"get": {"summary": "readiness", "responses": empty}},
            "/v2/models/{model_name}": op("model metadata", [name], None, MODEL_METADATA, ERROR_OIP, "get"),
            "/v2/models/{model_name}/ready": {"get": {"summary": "model readiness", "parameters": [name],
                                                      "responses": empty}},
            "/v2/models/{model_name}/infer": op("infer", [name], INFER_REQUEST, INFER_RESPONSE, ERROR_OIP),
            "/v2/models/{model_name}/versions/{model_version}/infer": op(
                "infer on one version", [name, version], INFER_REQUEST, INFER_RESPONSE, ERROR_OIP),
            "/v1/endpoints/{endpoint}/predict": op("predict", [ep], PREDICT_REQUEST, PREDICT_RESPONSE, ERROR_V1),
            "/v1/endpoints/{endpoint}/feedback": {"post": {
                "summary": "feedback", "parameters": [ep],
                "requestBody": {"required": True, "content": {"application/json": {"schema": FEEDBACK_REQUEST}}},
                "responses": {"202": {"description": "accepted"},
                              **_errors(ERROR_V1, ("400", "401", "403", "404", "413", "422", "503"))}}},
            "/v1/endpoints": {"get": {"summary": "endpoints and their routing", "responses": {"200": {
                "description": "ok", "content": {"application/json": {"schema": ENDPOINTS}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
    }
