"""Global feature importance: permutation and SHAP rank the informative column first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from shipyard.evaluation.importance import permutation_importance, shap_importance


def _data(task: str) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400), "weak": rng.normal(size=400)})
    raw = 3 * X["signal"] + 0.3 * X["weak"] + rng.normal(scale=0.3, size=400)
    y = (raw > 0).astype(int).to_numpy() if task == "classification" else raw.to_numpy()
    return X, y


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_shap_ranks_the_informative_column_first(task: str) -> None:
    pytest.importorskip("shap", reason="the shap extra is not installed")
    X, y = _data(task)
    model = (LogisticRegression() if task == "classification" else Ridge()).fit(X, y)
    values = shap_importance(model, X, task, background=40, rows=60)
    assert list(values)[0] == "signal"
    assert values["signal"] > 5 * values["noise"] >= 0
    assert set(values) == {"signal", "noise", "weak"}


def test_permutation_importance_agrees() -> None:
    X, y = _data("classification")
    model = LogisticRegression().fit(X, y)
    from shipyard.evaluation import metrics as m
    from shipyard.evaluation.scoring import score

    base = m.METRICS["roc_auc"](y, score(model, X, "classification"))
    values = permutation_importance(model, X, y, "classification", "roc_auc", base)
    assert list(values)[0] == "signal" and values["signal"] > values["noise"]
