"""Per-slice metrics: one row per value of a configured column (numeric columns in quartile bins)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.evaluation import metrics as m
from shipyard.evaluation.names import MIN_GROUP_SIZE

MAX_LEVELS = 12  # more distinct numeric values than this are binned into quartiles


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


def slice_metrics(X: Any, columns: list[str], y: np.ndarray, s: np.ndarray, task: str, *,
                  min_group_size: int = MIN_GROUP_SIZE) -> dict[str, list[dict[str, Any]]]:
    """``{column: [{"value", "n", "too_small", "metrics": {...}}]}``, values sorted by size (largest first).

    A value with fewer than ``min_group_size`` test rows is ``too_small``: it is listed with its size and no
    metrics (a metric over a handful of rows says nothing about the model).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        keys = slice_keys(X[column]).astype(str)
        values, counts = np.unique(keys, return_counts=True)
        rows = []
        for i in sorted(range(len(values)), key=lambda j: (-int(counts[j]), str(values[j]))):
            n = int(counts[i])
            too_small = n < min_group_size
            metrics = {}
            if not too_small:
                mask = keys == values[i]
                metrics = m.compute(task, y[mask], s[mask])
            rows.append({"value": str(values[i]), "n": n, "too_small": too_small, "metrics": _clean(metrics)})
        out[column] = rows
    return out


def small_slice_warnings(slices: dict[str, list[dict[str, Any]]], min_group_size: int) -> list[str]:
    """One sentence per slice column with values below the minimum group size, naming the column."""
    out = []
    for column, rows in slices.items():
        small = [(r["value"], r["n"]) for r in rows if r.get("too_small")]
        if small:
            out.append(f"evaluation.slices: {column} has {len(small)} of {len(rows)} values with fewer than "
                       f"{min_group_size} test rows ({small_groups_text(small)}); their metrics are not computed "
                       f"(evaluation.min_group_size: {min_group_size})")
    return out


def small_groups_text(small: list[tuple[str, int]], limit: int = 5) -> str:
    """``'a' n=3, 'b' n=1, … and 12 more`` (the largest first, as given)."""
    text = ", ".join(f"{g!r} n={n}" for g, n in small[:limit])
    return text + (f", … and {len(small) - limit} more" if len(small) > limit else "")


def _clean(d: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if v != v else round(float(v), 6)) for k, v in d.items()}
