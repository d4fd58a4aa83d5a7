"""Per-slice metrics: one row per value of a configured column (numeric columns in quartile bins)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.evaluation import metrics as m

MAX_LEVELS = 12  # more distinct numeric values than this are binned into quartiles
MIN_ROWS = 5


def slice_keys(values: Any) -> np.ndarray:
    """Labels for grouping: category values as text, numeric columns with many values as quartile bins."""
    import pandas as pd

    col = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(col) and col.nunique(dropna=True) > MAX_LEVELS:
        edges = np.unique(np.nanquantile(col.to_numpy(dtype=float), [0, 0.25, 0.5, 0.75, 1.0]))
        which = np.clip(np.searchsorted(edges, col.to_numpy(dtype=float), side="right") - 1, 0, len(edges) - 2)
        labels = np.array([f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}"
                           for i in range(len(edges) - 1)], dtype=object)
        out: np.ndarray = labels[which]
        out[col.isna().to_numpy()] = "(missing)"
        return out
    return np.array(["(missing)" if v is None or v != v else str(v) for v in col.tolist()], dtype=object)


def slice_metrics(X: Any, columns: list[str], y: np.ndarray, s: np.ndarray,
                  task: str) -> dict[str, list[dict[str, Any]]]:
    """``{column: [{"value", "n", "metrics": {...}}]}``, values sorted by size (largest first)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        keys = slice_keys(X[column])
        rows = []
        for value in sorted(set(keys), key=lambda v: -int(np.sum(keys == v))):
            mask = keys == value
            n = int(mask.sum())
            metrics = m.compute(task, y[mask], s[mask]) if n >= MIN_ROWS else {}
            rows.append({"value": str(value), "n": n, "metrics": _clean(metrics)})
        out[column] = rows
    return out


def _clean(d: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if v != v else round(float(v), 6)) for k, v in d.items()}
