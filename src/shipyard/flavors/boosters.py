"""What the gradient-boosting flavors (XGBoost, LightGBM) share: input coercion and score-to-output rules."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_categories(X: Any) -> Any:
    """Text columns of a DataFrame become pandas categoricals (what ``enable_categorical`` models expect)."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return X
    text = [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or
                                         isinstance(X[c].dtype, pd.CategoricalDtype))]
    return X.astype({c: "category" for c in text}) if text else X


def proba_from_scores(p: np.ndarray) -> np.ndarray:
    """A booster's probabilities as an (n, classes) matrix; binary models return only P(class 1)."""
    return p if p.ndim == 2 else np.column_stack([1.0 - p, p])


def labels_from_scores(p: np.ndarray, classifier: bool) -> np.ndarray:
    """Class indices for classifiers (threshold 0.5 or argmax), the raw values for regressors."""
    if not classifier:
        return p
    return (p >= 0.5).astype(np.int64) if p.ndim == 1 else p.argmax(axis=1)
