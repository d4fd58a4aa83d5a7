"""Train the wine-cultivar model: impute and scale the 13 measurements, multinomial logistic regression.

``y`` holds class indices 0..k-1 in the order of the sorted labels (the run's provenance lists them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def train(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> Pipeline:
    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("logreg", LogisticRegression(C=float(params.get("C", 1.0)), max_iter=1000)),
    ]).fit(X, y)
