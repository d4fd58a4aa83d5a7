"""Per-row signature checks for batch scoring: a DataFrame chunk -> the good rows as ``Rows`` plus a reason per bad row.

The gateway's ``Signature`` refuses a whole request at its first bad value; a batch job must instead keep the
good rows and quarantine each bad one with its own reason, so the checks here are vectorised per column over
the same compiled signature (column names, types, nullability, categories). CSV has no types: numeric text
("1.5") in a numeric column is accepted, anything else that is not a number is a bad row.

``check_chunk`` takes a Parquet record batch as it comes: for an all-numeric signature over numeric Arrow
columns it fills the float64 matrix straight from the Arrow buffers and checks it in one vectorised pass
(no pandas copy of the chunk); only a chunk with a bad row goes through ``check_frame`` for its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.serving.signature import NUMERIC, Column, Rows, Signature


@dataclass(slots=True)
class Checked:
    """One chunk after the checks: ``rows`` (None when no row passed), ``good`` mask, ``reasons`` of bad rows."""

    rows: Rows | None
    good: np.ndarray
    reasons: dict[int, str]


def _short(v: Any) -> str:
    text = repr(v.item() if hasattr(v, "item") else v)
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric(col: Column, s: pd.Series, null: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(float64 values, bad mask, expected) for a float/integer/boolean column."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~null & ~np.isfinite(vals)
        if col.type == "integer":
            bad |= ~null & np.isfinite(vals) & (vals != np.floor(vals))
        elif col.type == "boolean":
            bad |= ~null & ~np.isin(vals, (0.0, 1.0))
    expected = {"float": "a finite number", "integer": "an integer", "boolean": "a boolean (0/1/true/false)"}
    return vals, bad, expected[col.type]


def _arrow_numeric(sig: Signature, batch: Any) -> Checked | None:
    """The fast path: every signature column present with a numeric Arrow type and every value good (a null
    or NaN only in a nullable column) -> the checked matrix; None when it does not apply or a row is bad."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not sig.numeric or not sig.names:
        return None
    names = set(batch.schema.names)
    if any(c not in names for c in sig.names):
        return None
    n = batch.num_rows
    # Column-major: each column is one contiguous copy (filling a row-major matrix column by column took 3x
    # as long), and tree ensembles predict as fast on it; the model process's frames make it contiguous.
    by_column = np.empty((len(sig.columns), n), dtype=np.float64)
    for j, col in enumerate(sig.columns):
        arr = batch.column(col.name)
        kind = arr.type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            return None
        if not pa.types.is_float64(kind):
            arr = pc.cast(arr, pa.float64(), safe=False)
        by_column[j] = arr.to_numpy(zero_copy_only=False)  # a null becomes NaN
        vals = by_column[j]
        if col.type == "integer" and not (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            with np.errstate(invalid="ignore"):
                if np.any(np.isfinite(vals) & (vals != np.floor(vals))):
                    return None
        elif col.type == "boolean" and not pa.types.is_boolean(kind):
            if np.any(~np.isnan(vals) & (vals != 0.0) & (vals != 1.0)):
                return None
    matrix = by_column.T
    finite = np.isfinite(matrix)
    if not finite.all():  # NaN (null) is fine in a nullable column; inf never is
        nullable = np.array([c.nullable for c in sig.columns])
        if np.any(np.isinf(matrix)) or np.any(~finite & ~nullable):
            return None
    return Checked(Rows(n, matrix=matrix), np.ones(n, dtype=bool), {})


def check_chunk(sig: Signature, chunk: Any) -> tuple[Checked, Any]:
    """``chunk``: a pandas DataFrame (CSV) or an Arrow record batch (Parquet). Returns the checks and the
    chunk as a DataFrame when one was needed (bad rows: their raw values go to the quarantine), else None."""
    if isinstance(chunk, pd.DataFrame):
        return check_frame(sig, chunk), chunk
    fast = _arrow_numeric(sig, chunk)
    if fast is not None:
        return fast, None
    df = chunk.to_pandas()
    return check_frame(sig, df), df


def check_frame(sig: Signature, df: pd.DataFrame) -> Checked:
    """Check every row of ``df`` against ``sig``; extra columns are ignored, a missing one fails every row."""
    n = len(df)
    missing = [c for c in sig.names if c not in df.columns]
    if missing:
        reason = f"{missing[0]}: missing column, expected a column {missing[0]!r} (the version's signature)"
        return Checked(None, np.zeros(n, dtype=bool), dict.fromkeys(range(n), reason))
    reasons: dict[int, str] = {}
    numeric_vals: dict[str, np.ndarray] = {}
    for col in sig.columns:
        s = df[col.name]
        null = s.isna().to_numpy()
        if col.type in NUMERIC:
            vals, bad, expected = _numeric(col, s, null)
            numeric_vals[col.name] = vals
        elif col.type == "category" and col.categories is not None:
            bad = ~null & ~s.isin(col.categories).to_numpy()
            expected = "one of " + ", ".join(sorted(map(str, col.categories))[:10])
        elif col.type in ("string", "datetime"):
            bad = ~null & ~s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            expected = "text"
        else:
            bad = np.zeros(n, dtype=bool)
            expected = col.type
        if not col.nullable:
            for i in np.flatnonzero(null):
                reasons.setdefault(int(i), f"{col.name}: got null, expected a non-null {col.type} "
                                           f"(column {col.name} is not nullable)")
        for i in np.flatnonzero(bad):
            reasons.setdefault(int(i), f"{col.name}: got {_short(s.iloc[int(i)])}, expected {expected}")
    good = np.ones(n, dtype=bool)
    if reasons:
        good[list(reasons)] = False
    if not good.any():
        return Checked(None, good, reasons)
    k = int(good.sum())
    if sig.numeric:
        matrix = np.column_stack([numeric_vals[c][good] for c in sig.names]) if sig.names else np.empty((k, 0))
        return Checked(Rows(k, matrix=np.ascontiguousarray(matrix, dtype=np.float64)), good, reasons)
    cols: dict[str, list[Any]] = {}
    for col in sig.columns:
        if col.name in numeric_vals:
            conv = {"float": float, "integer": int, "boolean": bool}[col.type]
            cols[col.name] = [None if np.isnan(v) else conv(v) for v in numeric_vals[col.name][good]]
        else:
            cols[col.name] = [None if pd.isna(v) else v for v in df[col.name].to_numpy(dtype=object)[good]]
    return Checked(Rows(k, columns=cols), good, reasons)
