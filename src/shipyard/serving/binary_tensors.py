"""The OIP binary tensor data extension (Triton's, which tritonclient uses by default), both directions.

Request: the ``Inference-Header-Content-Length: N`` header says the body's first N bytes are the JSON
inference request; the raw bytes of the inputs follow, in input order, each input declaring its length
in ``parameters.binary_data_size`` (and carrying no ``data``). Numeric tensors are their elements in
row-major order, little-endian (BOOL one byte each); a BYTES tensor is each element as a 4-byte
little-endian length followed by its bytes. ``decode_request`` turns each binary input back into an
ordinary ``data`` list, so everything after it (signature checks, shadows, the log) is the JSON path.

Response: request ``parameters.binary_data_output: true`` makes every output binary, an output's own
``parameters.binary_data`` overrides that; a binary output carries ``parameters.binary_data_size``
instead of ``data``, and the body is the JSON followed by the outputs' bytes, its length in the
response's ``Inference-Header-Content-Length``.

Every malformed body is a 400 naming the field: a header length that is not an integer or exceeds the
body, a size that does not match the shape, bytes left over, a truncated BYTES element, non-UTF-8 text.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from shipyard.serving.signature import RequestError

HEADER = b"inference-header-content-length"
DTYPES: dict[str, str] = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "INT8": "i1", "INT16": "<i2",
                          "INT32": "<i4", "INT64": "<i8", "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4",
                          "UINT64": "<u8", "BOOL": "u1"}
_LEN = struct.Struct("<I")


def split_body(body: bytes, header: bytes) -> tuple[bytes, memoryview]:
    """(the JSON header, the binary part) of a body sent with ``Inference-Header-Content-Length``."""
    try:
        n = int(header)
    except ValueError:
        n = -1
    if not 0 < n <= len(body):
        raise RequestError(field="Inference-Header-Content-Length", value=header.decode("latin-1")[:40],
                           expected=f"the length of the JSON header, 1..{len(body)} (the body's size)")
    return body[:n], memoryview(body)[n:]


def _size(t: dict[str, Any], i: int) -> int | None:
    params = t.get("parameters")
    if params is None:
        return None
    if not isinstance(params, dict):
        raise RequestError(field=f"inputs[{i}].parameters", value=params, expected="an object")
    size = params.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RequestError(field=f"inputs[{i}].parameters.binary_data_size", value=size,
                           expected="a non-negative integer (bytes)")
    return size


def _count(t: dict[str, Any], i: int) -> int:
    shape = t.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise RequestError(field=f"inputs[{i}].shape", value=shape, expected="a list of non-negative integers")
    return math.prod(shape)


def _strings(chunk: memoryview, count: int, i: int) -> list[str]:
    out: list[str] = []
    pos, end = 0, len(chunk)
    field = f"inputs[{i}].parameters.binary_data_size"
    while pos < end:
        if pos + 4 > end:
            raise RequestError(field=field, value=end, expected="BYTES elements, each a 4-byte little-endian "
                               f"length and that many bytes (a length prefix is cut at byte {pos})")
        (n,) = _LEN.unpack_from(chunk, pos)
        pos += 4
        if pos + n > end:
            raise RequestError(field=field, value=end, expected=f"element {len(out)} of {n} bytes at byte {pos}, "
                               "inside the tensor's bytes")
        try:
            out.append(bytes(chunk[pos:pos + n]).decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(field=f"inputs[{i}].data[{len(out)}]", value=bytes(chunk[pos:pos + 16]),
                               expected="UTF-8 text") from None
        pos += n
    if len(out) != count:
        raise RequestError(field=field, value=end, expected=f"{count} BYTES elements (the shape's product), "
                           f"found {len(out)}")
    return out


def decode_request(doc: dict[str, Any], binary: memoryview) -> None:
    """Replace each binary input of ``doc`` (parsed JSON header) by its ``data`` list, in place."""
    inputs = doc.get("inputs")
    if not isinstance(inputs, list):
        raise RequestError(field="inputs", value=inputs, expected="a non-empty list of tensors")
    pos = 0
    for i, t in enumerate(inputs):
        if not isinstance(t, dict):
            continue  # the signature names it
        size = _size(t, i)
        if size is None:
            continue
        if "data" in t:
            raise RequestError(field=f"inputs[{i}].data", value="present",
                               expected="no data for an input sent as binary (parameters.binary_data_size)")
        if pos + size > len(binary):
            raise RequestError(field=f"inputs[{i}].parameters.binary_data_size", value=size,
                               expected=f"at most {len(binary) - pos} (the bytes left after the JSON header)")
        chunk, pos = binary[pos:pos + size], pos + size
        count, datatype = _count(t, i), t.get("datatype")
        if datatype == "BYTES":
            t["data"] = _strings(chunk, count, i)
            continue
        dtype = DTYPES.get(datatype) if isinstance(datatype, str) else None
        if dtype is None:
            raise RequestError(field=f"inputs[{i}].datatype", value=datatype,
                               expected="an OIP datatype (FP32, FP64, INT64, BOOL, BYTES, ...)")
        width = np.dtype(dtype).itemsize
        if size != count * width:
            raise RequestError(field=f"inputs[{i}].parameters.binary_data_size", value=size,
                               expected=f"{count * width} ({count} {datatype} elements of {width} bytes, "
                                        f"shape {t['shape']})")
        arr = np.frombuffer(chunk, dtype=dtype)
        t["data"] = (arr != 0).tolist() if datatype == "BOOL" else arr.tolist()
    if pos != len(binary):
        raise RequestError(field="Inference-Header-Content-Length", value=len(binary) - pos,
                           expected="no bytes after the inputs' binary data (the inputs' binary_data_size "
                                    "add up to less than the body)")


def wants_binary(doc: dict[str, Any], wanted: list[dict[str, Any]] | None) -> dict[str, bool] | bool:
    """Which outputs to send binary: a bool for all, or per requested output name."""
    params = doc.get("parameters")
    default = bool(params.get("binary_data_output")) if isinstance(params, dict) else False
    if not wanted:
        return default
    per: dict[str, bool] = {}
    for o in wanted:
        p = o.get("parameters")
        flag = p.get("binary_data") if isinstance(p, dict) else None
        per[o["name"]] = default if flag is None else bool(flag)
    return per


def tensor_bytes(arr: np.ndarray, datatype: str) -> bytes:
    """An output tensor's raw bytes in the extension's layout."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for v in arr.ravel().tolist():
            b = v if isinstance(v, bytes) else (v if isinstance(v, str) else str(v)).encode("utf-8")
            parts += (_LEN.pack(len(b)), b)
        return b"".join(parts)
    if datatype == "BOOL":
        return np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    return np.ascontiguousarray(arr, dtype=np.dtype(DTYPES[datatype])).tobytes()
