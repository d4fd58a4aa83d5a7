"""Open Inference Protocol v2 (KServe/Triton/MLServer REST): model metadata, readiness, infer.

Paths name the endpoint as the model (``/v2/models/{endpoint}``); ``versions/{v}`` addresses one
model version that answers the endpoint's clients (weight > 0); a shadow version is 404 there.
Inputs: one 2-D tensor [rows, n_inputs] in signature order, or one tensor per signature input
([rows] or [rows, 1]). Outputs: ``predict`` (labels or values) and, for classifiers,
``predict_proba`` [rows, n_classes]. Errors are ``{"error": "<field>: got ..., expected ..."}``
with a 4xx status. The binary tensor data extension (tritonclient's default) is decoded and encoded by
``serving.binary_tensors``; a request without its header costs one dictionary lookup more than before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from shipyard.serving import binary_tensors
from shipyard.serving.http import HttpError, Request, Response, object_body
from shipyard.serving.signature import RequestError

SIG_TYPES = {"float": "FP64", "integer": "INT64", "boolean": "BOOL"}
NP_TYPES = {"f8": "FP64", "f4": "FP32", "f2": "FP16", "i8": "INT64", "i4": "INT32", "i2": "INT16", "i1": "INT8",
            "u8": "UINT64", "u4": "UINT32", "u2": "UINT16", "u1": "UINT8", "b1": "BOOL"}
OPTS = orjson.OPT_SERIALIZE_NUMPY


def _datatype(arr: np.ndarray) -> str:
    return NP_TYPES.get(f"{arr.dtype.kind}{arr.dtype.itemsize}", "BYTES")


def _tensor(name: str, arr: np.ndarray) -> dict[str, Any]:
    flat = arr.ravel()
    data: Any = flat if flat.dtype.kind in "fiub" else [v if isinstance(v, str) else str(v) for v in flat.tolist()]
    return {"name": name, "datatype": _datatype(arr), "shape": list(arr.shape), "data": data}


def _metadata(ep: Any, lv: Any, versions: list[int]) -> dict[str, Any]:
    sig = lv.signature
    inputs = [{"name": c.name, "datatype": SIG_TYPES.get(c.type, "BYTES"), "shape": [-1]} for c in sig.columns]
    outputs = [{"name": "predict", "datatype": _datatype(np.asarray(lv.classes)) if lv.classes else "FP64",
                "shape": [-1]}]
    if lv.classes:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(lv.classes)]})
    return {"name": ep.name, "versions": [str(v) for v in versions], "platform": f"shipyard-{lv.flavor}",
            "inputs": inputs, "outputs": outputs,
            "parameters": {"model": lv.model, "model_version": lv.version, "routing": ep.table.to_dict(),
                           "generation": ep.generation, "classes": lv.classes}}


async def model_metadata(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    ep = gw.endpoint(parts[2])
    if len(parts) == 5:
        lv = gw.choose(ep, req, parts[4])
        return Response(200, orjson.dumps(_metadata(ep, lv, [lv.version])), version=str(lv.version))
    lv = ep.versions[ep.table.served[0]]
    return Response(200, orjson.dumps(_metadata(ep, lv, list(ep.table.served))), version=str(lv.version))


async def model_ready(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    ep = gw.state.endpoints.get(parts[2])
    if ep is None:
        return Response(400, b"")
    if len(parts) == 6:  # a shadow is loaded but never ready to answer a client: 404 like an unknown version
        ok = parts[4].isdigit() and int(parts[4]) in ep.table.served
        return Response(200 if ok else 404, b"", version=parts[4] if ok else "none")
    return Response(200, b"", version=str(ep.table.served[0]))


def _parse(lv: Any, inputs: Any) -> Any:
    return lv.signature.from_oip(inputs)


async def infer(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    ep = gw.endpoint(parts[2])
    header = req.headers.get(binary_tensors.HEADER)
    if header is None:
        body = object_body(req.body)
    else:
        head, tensors = binary_tensors.split_body(req.body, header)
        body = object_body(head)
        binary_tensors.decode_request(body, tensors)
    version, outputs = await run(gw, ep, req, parts[4] if len(parts) == 6 else None, body)
    rid = body.get("id")
    doc = {"model_name": ep.name, "model_version": version, "id": rid if isinstance(rid, str) else req.request_id}
    binary = binary_tensors.wants_binary(body, body.get("outputs"))
    if binary is False:
        doc["outputs"] = [_tensor(n, a) for n, a in outputs.items()]
        return Response(200, orjson.dumps(doc, option=OPTS), version=version)
    return _binary_response(doc, outputs, binary, version)


async def run(gw: Any, ep: Any, req: Request, version_path: str | None,
              body: dict[str, Any]) -> tuple[str, dict[str, np.ndarray]]:
    """Route, check against the signature, predict (``Gateway.infer``: batching, shadows, log, metrics) and
    pick the requested ``outputs``: (the answering version, outputs). Shared by REST and gRPC (``serving.grpc``)."""
    params = body.get("parameters")
    key = params.get("routing_key") if isinstance(params, dict) else None
    lv = gw.choose(ep, req, version_path, key)
    version = str(lv.version)
    wanted = body.get("outputs")
    names: list[str] | None = None
    if wanted is not None:
        if not isinstance(wanted, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                   for o in wanted):
            raise HttpError(400, RequestError(field="outputs", value=wanted, expected="a list of {name}"), version)
        names = [o["name"] for o in wanted]
    try:
        rows = lv.signature.from_oip(body.get("inputs"))
    except RequestError as exc:
        raise HttpError(exc.status, exc, version) from None
    outputs = await gw.infer(ep, lv, rows, req, body.get("inputs"), _parse)
    if names is not None:
        unknown = [n for n in names if n not in outputs]
        if unknown:
            raise HttpError(400, RequestError(field="outputs", value=unknown[0],
                                              expected="one of " + ", ".join(outputs)), version)
        outputs = {n: outputs[n] for n in names}
    return version, outputs


def _binary_response(doc: dict[str, Any], outputs: dict[str, np.ndarray], binary: dict[str, bool] | bool,
                     version: str) -> Response:
    """The JSON header, then the raw bytes of each binary output (``binary_tensors``)."""
    tensors, chunks = [], []
    for n, a in outputs.items():
        if binary is True or (isinstance(binary, dict) and binary.get(n)):
            datatype = _datatype(a)
            raw = binary_tensors.tensor_bytes(a, datatype)
            tensors.append({"name": n, "datatype": datatype, "shape": list(a.shape),
                            "parameters": {"binary_data_size": len(raw)}})
            chunks.append(raw)
        else:
            tensors.append(_tensor(n, a))
    doc["outputs"] = tensors
    head = orjson.dumps(doc, option=OPTS)
    return Response(200, head + b"".join(chunks), content_type=b"application/octet-stream", version=version,
                    extra=[(b"inference-header-content-length", str(len(head)).encode("ascii"))])


ROUTES: dict[tuple[str, ...], tuple[tuple[str, ...], Any]] = {
    ("v2", "models", "*"): (("GET",), model_metadata),
    ("v2", "models", "*", "versions", "*"): (("GET",), model_metadata),
    ("v2", "models", "*", "ready"): (("GET",), model_ready),
    ("v2", "models", "*", "versions", "*", "ready"): (("GET",), model_ready),
    ("v2", "models", "*", "infer"): (("POST",), infer),
    ("v2", "models", "*", "versions", "*", "infer"): (("POST",), infer),
}
