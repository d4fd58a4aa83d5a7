"""Signature enforcement at the gateway: request payloads -> checked rows, or an error naming the field.

A signature is compiled once per loaded version. The hot path for all-numeric signatures builds
one float64 matrix with a single ``np.array`` call and only falls back to a per-column scan to
name the offending column and value when that fails. Mixed signatures (categories, strings) keep
per-column lists that become a DataFrame in the prediction thread, off the event loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError

NUMERIC = frozenset({"float", "integer", "boolean"})
OIP_NUMERIC = frozenset({"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64",
                         "UINT8", "UINT16", "UINT32", "UINT64", "BOOL"})


class RequestError(InvalidInputError):
    """A request the gateway refuses; ``status`` is the HTTP status (400 malformed, 422 against the signature)."""

    status = 400

    def __init__(self, message: str | None = None, *, status: int = 400, field: str | None = None,
                 value: Any = None, expected: str | None = None) -> None:
        super().__init__(message, field=field, value=_short(value), expected=expected)
        self.status = status


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    nullable: bool
    categories: frozenset[Any] | None


@dataclass(slots=True)
class Rows:
    """Checked input rows: a float64 matrix (numeric signatures) or per-column lists, in signature order."""

    n: int
    matrix: np.ndarray | None = None
    columns: dict[str, list[Any]] | None = None


def concat(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    n = sum(p.n for p in parts)
    if parts[0].matrix is not None:
        return Rows(n, matrix=np.concatenate([p.matrix for p in parts]))
    cols: dict[str, list[Any]] = {k: [] for k in parts[0].columns or {}}
    for p in parts:
        for k, v in (p.columns or {}).items():
            cols[k].extend(v)
    return Rows(n, columns=cols)


def split(batch: Rows, counts: list[int]) -> list[Rows]:
    """The inverse of ``concat``: the batch's rows back into parts of ``counts`` rows."""
    parts, start = [], 0
    for n in counts:
        if batch.matrix is not None:
            parts.append(Rows(n, matrix=batch.matrix[start:start + n]))
        else:
            parts.append(Rows(n, columns={k: v[start:start + n] for k, v in (batch.columns or {}).items()}))
        start += n
    return parts


def _bad(field: str, value: Any, expected: str) -> RequestError:
    return RequestError(f"{field}: got {_short(value)!r}, expected {expected}", status=422,
                        field=field, value=value, expected=expected)


class Signature:
    """A compiled signature: ``from_instances``, ``from_dataframe_split``, ``from_oip`` -> ``Rows``."""

    def __init__(self, signature: dict[str, Any] | None) -> None:
        inputs = (signature or {}).get("inputs") or []
        self.columns = tuple(Column(str(c["name"]), str(c.get("type", "float")), bool(c.get("nullable", True)),
                                    frozenset(c["categories"]) if c.get("categories") is not None else None)
                             for c in inputs)
        self.names = tuple(c.name for c in self.columns)
        self.name_set = frozenset(self.names)
        self.numeric = all(c.type in NUMERIC for c in self.columns)
        self._int_idx = [i for i, c in enumerate(self.columns) if c.type == "integer"]
        self._bool_idx = [i for i, c in enumerate(self.columns) if c.type == "boolean"]
        self._all_nullable = all(c.nullable for c in self.columns)
        self.by_name = {c.name: c for c in self.columns}

    # -- payload shapes ------------------------------------------------------------------
    def from_instances(self, instances: Any, field: str = "instances") -> Rows:
        if not isinstance(instances, list):
            raise RequestError(field=field, value=type(instances).__name__,
                               expected="a list of {column: value} objects")
        if not instances:
            raise RequestError(f"{field}: empty batch, expected at least one row", status=422,
                               field=field, value=[], expected="at least one row")
        names, name_set = self.names, self.name_set
        for i, row in enumerate(instances):
            if type(row) is not dict:
                raise RequestError(field=f"{field}[{i}]", value=row, expected="an object {column: value}")
            if row.keys() != name_set:
                self._key_error(row.keys(), f"{field}[{i}]")
        if self.numeric:
            fast = self._fast_matrix([[row[c] for c in names] for row in instances])
            if fast is not None:
                return Rows(len(instances), matrix=fast)
        cols = {c: [row[c] for row in instances] for c in names}
        return self._from_columns(cols, len(instances), lambda c, i: f"{field}[{i}].{c}")

    def from_dataframe_split(self, split: Any) -> Rows:
        f = "dataframe_split"
        if not isinstance(split, dict) or not isinstance(split.get("columns"), list) \
                or not isinstance(split.get("data"), list):
            raise RequestError(field=f, value=split, expected="{columns: [...], data: [[...], ...]}")
        columns, data = split["columns"], split["data"]
        if len(set(map(str, columns))) != len(columns) or set(columns) != self.name_set:
            self._key_error(columns, f"{f}.columns")
        if not data:
            raise RequestError(f"{f}.data: empty batch, expected at least one row", status=422,
                               field=f"{f}.data", value=[], expected="at least one row")
        width = len(columns)
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != width:
                raise RequestError(field=f"{f}.data[{i}]", value=row, expected=f"a list of {width} values")
        pos = {c: j for j, c in enumerate(columns)}
        cols = {c: [row[pos[c]] for row in data] for c in self.names}
        if self.numeric:
            order = [pos[c] for c in self.names]
            fast = self._fast_matrix([[row[j] for j in order] for row in data])
            if fast is not None:
                return Rows(len(data), matrix=fast)
        return self._from_columns(cols, len(data), lambda c, i: f"{f}.data[{i}].{c}")

    def from_oip(self, inputs: Any) -> Rows:
        """OIP v2 ``inputs``: one 2-D tensor [rows, n_inputs] in signature order, or one tensor per column."""
        if not isinstance(inputs, list) or not inputs:
            raise RequestError(field="inputs", value=inputs, expected="a non-empty list of tensors")
        for i, t in enumerate(inputs):
            if not isinstance(t, dict):
                raise RequestError(field=f"inputs[{i}]", value=t, expected="a tensor {name, shape, datatype, data}")
            for key in ("name", "shape", "datatype", "data"):
                if key not in t:
                    raise RequestError(field=f"inputs[{i}].{key}", value=None, expected=f"'{key}' to be present")
            shape = t["shape"]
            if not isinstance(shape, list) or not shape or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                raise RequestError(field=f"inputs[{i}].shape", value=shape, expected="a list of non-negative integers")
            if t["datatype"] not in OIP_NUMERIC and t["datatype"] != "BYTES":
                raise RequestError(field=f"inputs[{i}].datatype", value=t["datatype"],
                                   expected="an OIP datatype (FP32, FP64, INT64, BOOL, BYTES, ...)")
        first = inputs[0]
        if len(inputs) == 1 and len(first["shape"]) == 2 and first["name"] not in self.name_set:
            return self._oip_matrix(first)
        return self._oip_columns(inputs)

    # -- helpers -------------------------------------------------------------------------
    def _oip_matrix(self, t: dict[str, Any]) -> Rows:
        rows, width = t["shape"]
        k = len(self.names)
        if width != k:
            raise RequestError(f"inputs[0].shape: got {t['shape']}, expected [rows, {k}] (columns in signature "
                               f"order: {', '.join(self.names[:8])}{'...' if k > 8 else ''})", status=422,
                               field="inputs[0].shape", value=t["shape"], expected=f"[rows, {k}]")
        if rows == 0:
            raise RequestError("inputs[0]: empty batch, expected at least one row", status=422,
                               field="inputs[0].shape", value=t["shape"], expected="at least one row")
        flat = self._flat(t["data"], rows * k, "inputs[0]")
        if not self.numeric:
            raise RequestError(field=f"inputs[0].name ({t['name']})", value=t["name"], status=422,
                               expected="one tensor per input column (the signature has non-numeric columns: "
                                        + ", ".join(c.name for c in self.columns if c.type not in NUMERIC) + ")")
        if t["datatype"] == "BYTES":
            raise _bad("inputs[0].datatype", "BYTES", "a numeric datatype (FP64, FP32, INT64, BOOL)")
        fast = self._fast_matrix(flat, shape=(rows, k))
        if fast is not None:
            return Rows(rows, matrix=fast)
        cols = {c: flat[j::k] for j, c in enumerate(self.names)}
        return self._from_columns(cols, rows, lambda c, i: f"inputs[0].data[{i}][{c}]")

    def _oip_columns(self, inputs: list[dict[str, Any]]) -> Rows:
        seen: dict[str, list[Any]] = {}
        rows: int | None = None
        for i, t in enumerate(inputs):
            name = t["name"]
            if name not in self.name_set:
                raise RequestError(f"inputs[{i}].name: unknown input {name!r}; expected one of "
                                   f"{', '.join(self.names)}", status=422, field=f"inputs[{i}].name",
                                   value=name, expected="a signature input: " + ", ".join(self.names))
            if name in seen:
                raise RequestError(field=f"inputs[{i}].name", value=name, expected="each input once")
            shape = t["shape"]
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                raise RequestError(f"input {name}: shape {shape}, expected [rows] or [rows, 1]", status=422,
                                   field=f"input {name}.shape", value=shape, expected="[rows] or [rows, 1]")
            if rows is None:
                rows = shape[0]
            elif shape[0] != rows:
                raise RequestError(f"input {name}: shape {shape}, expected {rows} rows like the first input",
                                   status=422, field=f"input {name}.shape", value=shape, expected=f"[{rows}]")
            col = self.by_name[name]
            if col.type in NUMERIC and t["datatype"] == "BYTES":
                raise _bad(f"input {name}.datatype", "BYTES", f"a numeric datatype for a {col.type} column")
            seen[name] = self._flat(t["data"], shape[0], f"input {name}")
        missing = [c for c in self.names if c not in seen]
        if missing:
            raise RequestError(f"input {missing[0]}: missing; expected one tensor per signature input "
                               f"({len(missing)} missing)", status=422, field=f"input {missing[0]}",
                               value=None, expected="a tensor for this input")
        if not rows:
            raise RequestError("inputs: empty batch, expected at least one row", status=422,
                               field="inputs", value=0, expected="at least one row")
        if self.numeric:
            fast = self._fast_matrix([seen[c] for c in self.names], transpose=True)
            if fast is not None:
                return Rows(rows, matrix=fast)
        return self._from_columns({c: seen[c] for c in self.names}, rows, lambda c, i: f"input {c}.data[{i}]")

    @staticmethod
    def _flat(data: Any, size: int, field: str) -> list[Any]:
        if not isinstance(data, list):
            raise RequestError(field=f"{field}.data", value=data, expected="a list of values")
        if data and isinstance(data[0], list):
            try:
                flat = np.array(data, dtype=object).ravel().tolist()
            except ValueError:
                raise RequestError(field=f"{field}.data", value=data, status=422,
                                   expected="a rectangular (row-major) array") from None
        else:
            flat = data
        if len(flat) != size:
            raise RequestError(f"{field}.data: {len(flat)} values, expected {size} (the shape's product)",
                               status=422, field=f"{field}.data", value=len(flat), expected=f"{size} values")
        return flat

    def _fast_matrix(self, values: list[Any], shape: tuple[int, int] | None = None,
                     transpose: bool = False) -> np.ndarray | None:
        """One float64 conversion into a (rows, columns) matrix — ``values`` is a flat row-major list with
        ``shape``, a list of rows, or (``transpose``) a list of columns. None means "take the slow path"
        (nulls, strings, ragged, NaN/infinity, fractions in integer columns, non-0/1 booleans), which
        names the offending column and value."""
        try:
            arr = np.array(values)
        except (ValueError, TypeError):
            return None
        kind = arr.dtype.kind
        if kind not in "fiub":
            return None
        if kind == "b" and len(self._bool_idx) != len(self.names):
            return None
        if kind == "f":
            # NaN (a null for nullable columns, an error otherwise) or infinity makes the total non-finite (so
            # does an overflowing sum, which only costs the slow path); for a flat list Python's sum is ~10x
            # cheaper than np.isfinite(...).all() on one row
            total = sum(values) if shape is not None else arr.sum()
            if not math.isfinite(total):
                return None
        out = arr.astype(np.float64, copy=False)
        if shape is not None:
            out = out.reshape(shape)
        if transpose:
            out = np.ascontiguousarray(out.T)
        if out.ndim != 2:
            return None
        if kind == "f" and self._int_idx:
            sub = out[:, self._int_idx]
            if not np.array_equal(sub, np.floor(sub)):
                return None
        if self._bool_idx:
            sub = out[:, self._bool_idx]
            if not np.isin(sub, (0.0, 1.0)).all():
                return None
        return out

    def _key_error(self, keys: Any, field: str) -> None:
        got = list(keys)
        missing = [c for c in self.names if c not in got]
        if missing:
            raise RequestError(f"{field}: missing column {missing[0]!r}", status=422, field=f"{field}.{missing[0]}",
                               value=None, expected=f"a value for column {missing[0]!r}")
        extra = [c for c in got if c not in self.name_set]
        if extra:
            raise RequestError(f"{field}: unknown column {extra[0]!r}; expected only {', '.join(self.names)}",
                               status=422, field=f"{field}.{extra[0]}", value=extra[0],
                               expected="only the signature's columns: " + ", ".join(self.names))
        raise RequestError(field=field, value=got, expected="each signature column exactly once")

    def _from_columns(self, cols: dict[str, list[Any]], n: int, where: Any) -> Rows:
        for col in self.columns:
            self._check_column(col, cols[col.name], where)
        if self.numeric:
            matrix = np.array([[np.nan if v is None else float(v) for v in cols[c]] for c in self.names],
                              dtype=np.float64).T
            return Rows(n, matrix=np.ascontiguousarray(matrix))
        return Rows(n, columns=cols)

    @staticmethod
    def _check_column(col: Column, values: list[Any], where: Any) -> None:
        t = col.type
        for i, v in enumerate(values):
            if v is None or (type(v) is float and math.isnan(v)):
                if not col.nullable:
                    raise _bad(where(col.name, i), v, f"a non-null {t} (column {col.name} is not nullable)")
                continue
            if t == "float":
                ok = type(v) in (int, float) and math.isfinite(v)
            elif t == "integer":
                ok = type(v) is int or (type(v) is float and v.is_integer())
            elif t == "boolean":
                ok = type(v) is bool or (type(v) in (int, float) and v in (0, 1))
            elif t == "category":
                ok = (col.categories is None and isinstance(v, (str, int))) or (
                    col.categories is not None and v in col.categories)
            elif t in ("string", "datetime"):
                ok = isinstance(v, str)
            else:
                ok = True
            if not ok:
                expected = f"a {t}" if t != "category" or col.categories is None else \
                    "one of " + ", ".join(sorted(map(str, col.categories))[:20])
                raise _bad(where(col.name, i), v, expected)
