"""Per-row signature checks for batch scoring: a DataFrame chunk -> the good rows as ``Rows`` plus a reason per bad row.

The gateway's ``Signature`` refuses a whole request at its first bad value; a batch job must instead keep the
good rows and quarantine each bad one with its own reason, so the checks here are vectorised per column over
the same compiled signature (column names, types, nullability, categories). CSV has no types: numeric text
("1.5") in a numeric column is accepted, anything else that is not a number is a bad row.
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
