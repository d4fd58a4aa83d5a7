"""Turn a model's output into the scores metrics use: P(label 1) for classification, the (n, k) probability
matrix for multi-class, predictions for regression."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError


def score(model: Any, X: Any, task: str) -> np.ndarray:
    if task in ("classification", "multiclass"):
        if not hasattr(model, "predict_proba"):
            raise InvalidInputError(field="model", value=type(model).__name__,
                                    expected="a classifier with predict_proba (the train function's result)")
        proba = np.asarray(model.predict_proba(X), dtype=float)
        if task == "multiclass":
            if proba.ndim != 2:
                raise InvalidInputError(field="model", value=f"predict_proba shape {proba.shape}",
                                        expected="(rows, classes) probabilities for a multi-class target")
            return proba
        return proba[:, 1] if proba.ndim == 2 else proba
    return np.asarray(model.predict(X), dtype=float).reshape(-1)
