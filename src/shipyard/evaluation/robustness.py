"""Robustness: how much the main metric degrades under injected missing values, noise and swapped categories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.evaluation import metrics as m
from shipyard.evaluation.scoring import score


def _text_columns(X: Any) -> list[str]:
    import pandas as pd

    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def _numeric_columns(X: Any) -> list[str]:
    import pandas as pd

    return [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]


def with_missing(X: Any, rate: float, rng: np.random.Generator) -> Any:
    out = X.copy()
    for c in out.columns:
        mask = rng.random(len(out)) < rate
        if mask.any():
            if c in _numeric_columns(X):
                out[c] = out[c].astype(float)
            out.loc[mask, c] = np.nan
    return out


def with_noise(X: Any, scale: float, rng: np.random.Generator) -> Any:
    out = X.copy()
    for c in _numeric_columns(X):
        values = out[c].to_numpy(dtype=float)
        std = float(np.nanstd(values)) or 1.0
        out[c] = values + rng.normal(0.0, scale * std, size=values.size)
    return out


def with_swaps(X: Any, rate: float, rng: np.random.Generator) -> Any:
    import pandas as pd

    out = X.copy()
    for c in _text_columns(X):
        domain = np.array(sorted({str(v) for v in X[c].dropna().tolist()}), dtype=object)
        if domain.size < 2:
            continue
        mask = (rng.random(len(out)) < rate) & out[c].notna().to_numpy()
        if mask.any():
            col = out[c].astype(object).to_numpy(copy=True)
            col[mask] = rng.choice(domain, size=int(mask.sum()))
            out[c] = pd.Series(col, index=out.index).astype(X[c].dtype)
    return out


def robustness(model: Any, X: Any, y: np.ndarray, task: str, main: str, base: float, *, missing_rate: float,
               noise: float, swap_rate: float, seed: int) -> dict[str, Any]:
    """``{"perturbations": {kind: {setting, metric, value, drop[, error]}}, "metrics": {name: drop}}``, where
    ``name`` is ``robustness_<kind>_drop``.

    A perturbation the model refuses has ``value`` and ``drop`` None, its ``error`` and a NaN flat metric.
    """
    fn = m.METRICS[main]
    perturb: dict[str, Callable[[np.random.Generator], Any]] = {
        "missing": lambda r: with_missing(X, missing_rate, r),
        "noise": lambda r: with_noise(X, noise, r),
        "swap": lambda r: with_swaps(X, swap_rate, r),
    }
    settings = {"missing": missing_rate, "noise": noise, "swap": swap_rate}
    out: dict[str, Any] = {}
    flat: dict[str, float] = {}
    for i, (kind, make) in enumerate(perturb.items()):
        if not settings[kind]:
            continue
        try:
            value = fn(y, score(model, make(np.random.default_rng(seed + i)), task))
        except Exception as exc:  # whatever the user's model raises on perturbed input (e.g. a model that cannot
            # take missing values) is a finding, not a crash: its drop is NaN, so a gate on it fails and says why
            out[kind] = {"setting": settings[kind], "metric": main, "value": None, "drop": None,
                         "error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"}
            flat[f"robustness_{kind}_drop"] = float("nan")
            continue
        drop = m.degradation(main, base, value)
        out[kind] = {"setting": settings[kind], "metric": main, "value": value, "drop": drop}
        flat[f"robustness_{kind}_drop"] = drop
    return {"perturbations": out, "metrics": flat}
