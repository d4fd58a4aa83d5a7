"""Train the diabetes-progression model: one-hot ``sex``, impute and scale numbers, ridge regression."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> Pipeline:
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]
    features = ColumnTransformer([
        ("categories", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                 ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
         categorical),
        ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
    ])
    return Pipeline([("features", features), ("ridge", Ridge(alpha=float(params.get("alpha", 1.0))))]).fit(X, y)
