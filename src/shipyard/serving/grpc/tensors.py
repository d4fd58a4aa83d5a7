"""ModelInferRequest -> the REST path's request document; outputs -> ModelInferResponse tensors.

A request's inputs come as typed ``contents`` or as ``raw_input_contents`` (one bytes per input, in input
order, little-endian; a BYTES element is a 4-byte length and its bytes); raw inputs are decoded by the REST
binary extension's codec (``serving.binary_tensors``), so both end as the ``{"inputs": [{name, datatype,
shape, data}]}`` document that ``routes.oip_v2.run`` takes. Every malformed tensor is a ``RequestError``
naming the field.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.serving import binary_tensors
from shipyard.serving.routes.oip_v2 import _datatype
from shipyard.serving.signature import RequestError

# datatype -> the InferTensorContents field that carries it
CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
            "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
            "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
            "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def parameter(p: Any) -> Any:
    """An InferParameter's value (None when unset)."""
    kind = p.WhichOneof("parameter_choice")
    return None if kind is None else getattr(p, kind)


def _params(m: Any) -> dict[str, Any]:
    return {k: parameter(v) for k, v in m.items()}


def _text(values: Any, field: str) -> list[str]:
    out = []
    for j, b in enumerate(values):
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(field=f"{field}[{j}]", value=b[:16], expected="UTF-8 text") from None
    return out


def request_document(msg: Any) -> dict[str, Any]:
    """The REST-shaped request document of a ModelInferRequest."""
    raw = list(msg.raw_input_contents)
    if raw and len(raw) != len(msg.inputs):
        raise RequestError(field="raw_input_contents", value=len(raw),
                           expected=f"one entry per input ({len(msg.inputs)} inputs)")
    inputs: list[dict[str, Any]] = []
    for i, t in enumerate(msg.inputs):
        doc: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
        if raw:
            if t.HasField("contents"):
                raise RequestError(field=f"inputs[{i}].contents", value="present",
                                   expected="no contents when raw_input_contents is used")
            doc["parameters"] = {"binary_data_size": len(raw[i])}
        else:
            doc["data"] = _contents(t, i)
        inputs.append(doc)
    body: dict[str, Any] = {"inputs": inputs}
    if raw:
        try:
            binary_tensors.decode_request(body, memoryview(b"".join(raw)))
        except RequestError as exc:  # the REST codec names REST fields: say them the gRPC way
            raise RequestError(field=_raw_field(exc.field or ""), value=exc.value, expected=exc.expected,
                               status=exc.status) from None
        for t in inputs:
            t.pop("parameters", None)
    if msg.id:
        body["id"] = msg.id
    if msg.parameters:
        body["parameters"] = _params(msg.parameters)
    if msg.outputs:
        body["outputs"] = [{"name": o.name} for o in msg.outputs]
    return body


def _raw_field(field: str) -> str:
    if field.startswith("inputs[") and field.endswith("].parameters.binary_data_size"):
        return "raw_input_contents[" + field[len("inputs["):-len("].parameters.binary_data_size")] + "]"
    return "raw_input_contents" if field == binary_tensors.HEADER.decode() or field.startswith("Inference-") else field


def _contents(t: Any, i: int) -> list[Any]:
    kind = CONTENTS.get(t.datatype)
    if kind is None:
        raise RequestError(field=f"inputs[{i}].datatype", value=t.datatype,
                           expected="an OIP datatype with typed contents (" + ", ".join(CONTENTS) + ")")
    values = getattr(t.contents, kind)
    for other in set(CONTENTS.values()) - {kind}:
        if len(getattr(t.contents, other)):
            raise RequestError(field=f"inputs[{i}].contents.{other}", value="present",
                               expected=f"{kind} for datatype {t.datatype}")
    if kind == "bytes_contents":
        return _text(values, f"inputs[{i}].contents.bytes_contents")
    return list(values)


def fill_response(resp: Any, outputs: dict[str, np.ndarray], raw: bool) -> None:
    """Append each output to a ModelInferResponse: as ``raw_output_contents`` or typed ``contents``."""
    for name, arr in outputs.items():
        datatype = _datatype(arr)
        if not raw and datatype not in CONTENTS:  # FP16 has no typed field: sent as FP32
            arr, datatype = arr.astype(np.float32), "FP32"
        t = resp.outputs.add(name=name, datatype=datatype, shape=list(arr.shape))
        if raw:
            resp.raw_output_contents.append(binary_tensors.tensor_bytes(arr, datatype))
        elif datatype == "BYTES":
            t.contents.bytes_contents.extend(
                v if isinstance(v, bytes) else str(v).encode("utf-8") for v in arr.ravel().tolist())
        else:
            getattr(t.contents, CONTENTS[datatype]).extend(arr.ravel().tolist())
