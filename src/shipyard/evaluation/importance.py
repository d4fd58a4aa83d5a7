"""Global feature importance: permutation importance on the test set; SHAP when enabled (optional extra, lazy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.evaluation import metrics as m
from shipyard.evaluation.scoring import score


def permutation_importance(model: Any, X: Any, y: np.ndarray, task: str, main: str, base: float, *,
                           repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """Mean degradation of ``main`` when one column is shuffled, per column, largest first."""
    rng = np.random.default_rng(seed)
    fn = m.METRICS[main]
    result = {}
    for c in X.columns:
        drops = []
        for _ in range(repeats):
            Xp = X.copy()
            Xp[c] = X[c].iloc[rng.permutation(len(Xp))].set_axis(X.index)  # keeps the column's dtype
            drops.append(m.degradation(main, base, fn(y, score(model, Xp, task))))
        result[str(c)] = float(np.mean(drops))
    return dict(sorted(result.items(), key=lambda kv: -kv[1]))


def shap_importance(model: Any, X: Any, task: str, *, background: int = 50, rows: int = 100,
                    seed: int = 0) -> dict[str, float]:
    """Mean |SHAP value| per column (model-agnostic permutation explainer on a sample)."""
    try:
        import shap
    except ImportError:
        raise InvalidInputError(field="evaluation.shap", value=True,
                                expected="the shap extra: pip install 'shipyard[shap]' (or set shap: false)") from None
    bg = X.sample(min(background, len(X)), random_state=seed)
    sample = X.sample(min(rows, len(X)), random_state=seed + 1)
    explainer = shap.Explainer(lambda data: score(model, _frame(data, X), task), bg)
    values = np.abs(np.asarray(explainer(sample).values)).mean(axis=0)
    if values.ndim == 2:  # multi-class: one column of SHAP values per class; mean |value| over classes
        values = values.mean(axis=1)
    return dict(sorted(((str(c), float(v)) for c, v in zip(X.columns, values, strict=True)), key=lambda kv: -kv[1]))


def _frame(data: Any, like: Any) -> Any:
    import pandas as pd

    return data if isinstance(data, pd.DataFrame) else pd.DataFrame(data, columns=like.columns)
