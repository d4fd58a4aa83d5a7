"""ModelInferRequest -> the REST path's request document; outputs -> ModelInferResponse tensors.

A request's inputs come as typed ``contents`` or as ``raw_input_contents`` (one bytes per input, in input
order, little-endian; a BYTES element is a 4-byte length and its bytes); raw inputs are decoded by the REST
binary extension's codec (``serving.binary_tensors``), so both end as the ``{"inputs": [{name, datatype,
shape, data}]}`` document that ``routes.oip_v2.run`` takes. Every malformed tensor is a ``RequestError``
naming the field.
"""

from __future__ import annotations

import math
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
WIDTHS = {datatype: np.dtype(dtype).itemsize for datatype, dtype in binary_tensors.DTYPES.items()}


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
    if raw:
        inputs = _raw_numeric(msg.inputs, raw)
        if inputs is None:
            inputs = _raw_inputs(msg.inputs, raw)
    else:
        inputs = [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape), "data": _contents(t, i)}
                  for i, t in enumerate(msg.inputs)]
    body: dict[str, Any] = {"inputs": inputs}
    if msg.id:
        body["id"] = msg.id
    if msg.parameters:
        body["parameters"] = _params(msg.parameters)
    if msg.outputs:
        body["outputs"] = [{"name": o.name} for o in msg.outputs]
    return body


def _raw_numeric(tensors: Any, raw: list[bytes]) -> list[dict[str, Any]] | None:
    """The common case, decoded directly: every raw input numeric, its bytes exactly its shape's elements. None
    for anything else (BYTES, a size or dimension that does not fit, an unknown datatype, typed contents beside
    raw ones): ``_raw_inputs`` then decodes it through the REST codec, whose errors name the field."""
    inputs: list[dict[str, Any]] = []
    for t, data in zip(tensors, raw, strict=True):
        dtype = binary_tensors.DTYPES.get(t.datatype)
        shape = list(t.shape)
        if (dtype is None or t.datatype == "BYTES" or t.HasField("contents") or any(d < 0 for d in shape)
                or len(data) != math.prod(shape) * WIDTHS[t.datatype]):
            return None
        arr = np.frombuffer(data, dtype=dtype)
        inputs.append({"name": t.name, "datatype": t.datatype, "shape": shape,
                       "data": (arr != 0).tolist() if t.datatype == "BOOL" else arr.tolist()})
    return inputs


def _raw_inputs(tensors: Any, raw: list[bytes]) -> list[dict[str, Any]]:
    """Raw inputs through the REST binary extension's codec (``binary_tensors.decode_request``)."""
    inputs: list[dict[str, Any]] = []
    for i, t in enumerate(tensors):
        if t.HasField("contents"):
            raise RequestError(field=f"inputs[{i}].contents", value="present",
                               expected="no contents when raw_input_contents is used")
        inputs.append({"name": t.name, "datatype": t.datatype, "shape": list(t.shape),
                       "parameters": {"binary_data_size": len(raw[i])}})
    try:
        binary_tensors.decode_request({"inputs": inputs}, memoryview(b"".join(raw)))
    except RequestError as exc:  # the REST codec names REST fields: say them the gRPC way
        raise RequestError(field=_raw_field(exc.field or ""), value=exc.value, expected=exc.expected,
                           status=exc.status) from None
    for doc in inputs:
        doc.pop("parameters", None)
    return inputs


def _raw_field(field: str) -> str:
    if field.startswith("inputs[") and field.endswith("].parameters.binary_data_size"):
        return "raw_input_contents[" + field[len("inputs["):-len("].parameters.binary_data_size")] + "]"
    return "raw_input_contents" if field == binary_tensors.HEADER.decode() or field.startswith("Inference-") else field


def _contents(t: Any, i: int) -> list[Any]:
    kind = CONTENTS.get(t.datatype)
    if kind is None:
        raise RequestError(field=f"inputs[{i}].datatype", value=t.datatype,
                           expected="an OIP datatype with typed contents (" + ", ".join(CONTENTS) + ")")
    for field, _ in t.contents.ListFields():  # only the fields that hold values
        if field.name != kind:
            raise RequestError(field=f"inputs[{i}].contents.{field.name}", value="present",
                               expected=f"{kind} for datatype {t.datatype}")
    values = getattr(t.contents, kind)
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
