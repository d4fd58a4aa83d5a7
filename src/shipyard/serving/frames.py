"""Frames between the gateway and its model process: a JSON header plus raw array buffers, no pickle.

A frame is ``u32 body length | u32 header length | header (orjson) | buffers``. The header holds
the frame kind, a sequence number, free JSON ``meta`` and, per array, ``[name, dtype, shape]``;
the buffers follow in that order. Numeric, boolean, fixed-width string and datetime arrays travel
as their raw bytes (``np.frombuffer`` on the other side, no copy); object arrays (mixed Python
values) travel as JSON lists in ``meta["json"]``. Nothing on either side ever unpickles: both ends
are ours, but a frame format that cannot run code keeps it that way if one of them is compromised.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

PREFIX = struct.Struct("<II")
LOAD, UNLOAD, PREDICT, RESULT, ERROR, STOP, LIMITS = 1, 2, 3, 4, 5, 6, 7


def pack(kind: int, seq: int, meta: dict[str, Any] | None = None, arrays: dict[str, np.ndarray] | None = None,
         blob: bytes = b"") -> list[bytes | memoryview]:
    """Encode one frame as a list of buffers (write them in order, e.g. ``transport.writelines``)."""
    specs: list[list[Any]] = []
    bufs: list[bytes | memoryview] = []
    meta = dict(meta or {})
    for name, arr in (arrays or {}).items():
        if arr.dtype.kind == "O":
            meta.setdefault("json", {})[name] = [list(arr.shape), arr.tolist()]
            continue
        arr = np.ascontiguousarray(arr)
        specs.append([name, arr.dtype.str, list(arr.shape)])
        bufs.append(arr.reshape(-1).view(np.uint8).data)
    if blob:
        specs.append(["", "blob", [len(blob)]])
        bufs.append(blob)
    header = orjson.dumps({"k": kind, "s": seq, "m": meta, "a": specs}, option=orjson.OPT_SERIALIZE_NUMPY)
    size = 4 + len(header) + sum(len(b) if isinstance(b, bytes) else b.nbytes for b in bufs)
    return [PREFIX.pack(size, len(header)), header, *bufs]


def unpack(body: bytes | bytearray | memoryview) -> tuple[int, int, dict[str, Any], dict[str, Any], bytes]:
    """Decode a frame body (everything after the u32 length): (kind, seq, meta, arrays, blob)."""
    view = memoryview(body)
    (hlen,) = struct.unpack_from("<I", view, 0)
    header = orjson.loads(view[4:4 + hlen])
    offset = 4 + hlen
    arrays: dict[str, Any] = {}
    blob = b""
    for name, dtype, shape in header["a"]:
        if dtype == "blob":
            blob = bytes(view[offset:offset + shape[0]])
            offset += shape[0]
            continue
        dt = np.dtype(dtype)
        count = math.prod(shape)
        arrays[name] = np.frombuffer(view, dtype=dt, count=count, offset=offset).reshape(shape)
        offset += count * dt.itemsize
    meta = header["m"]
    for name, (shape, values) in meta.pop("json", {}).items():
        arr = np.empty(shape, dtype=object)
        arr[...] = values
        arrays[name] = arr
    return header["k"], header["s"], meta, arrays, blob
