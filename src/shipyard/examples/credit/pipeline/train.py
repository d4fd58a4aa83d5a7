"""Train the credit-risk model: one-hot categories, impute numbers, gradient-boosted trees.

shipyard calls ``train(X, y, params)`` with X a pandas DataFrame of the feature columns, y a NumPy
array (1 = the positive label, "bad") and params from shipyard.yaml; it must return a fitted
estimator. Only scikit-learn types are used, so the model is stored with skops and loads safely.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def train(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> Pipeline:
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]
    features = ColumnTransformer([
        ("categories", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                 ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
         categorical),
        ("numbers", SimpleImputer(strategy="median"), numeric),
    ])
    model = HistGradientBoostingClassifier(
        learning_rate=float(params.get("learning_rate", 0.1)),
        max_iter=int(params.get("max_iter", 100)),
        max_leaf_nodes=int(params.get("max_leaf_nodes", 15)),
        random_state=0,
    )
    return Pipeline([("features", features), ("model", model)]).fit(X, y)
