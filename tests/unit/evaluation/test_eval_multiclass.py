"""Multi-class evaluation: fairness per group, the probability-column check, card sentences, SHAP shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.errors import InvalidInputError
from shipyard.evaluation.evaluator import EvaluationOptions, evaluate


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, LogisticRegression]:
    rng = np.random.default_rng(5)
    n = 600
    y = rng.integers(0, 3, n)
    X = pd.DataFrame({"a": rng.normal(0, 1, n) + y, "b": rng.normal(0, 1, n) - y,
                      "group": np.where(rng.random(n) < 0.5, "x", "y")})
    X.loc[X["group"] == "y", "a"] += rng.normal(0, 2, int((X["group"] == "y").sum()))  # noisier for group y
    model = LogisticRegression(max_iter=500).fit(X[["a", "b"]], y)
    return X, y, model


class Numeric:
    """The model sees the numeric columns only (as a pipeline with a column selector would)."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X[["a", "b"]])


def test_fairness_by_group_for_multiclass(data) -> None:  # type: ignore[no-untyped-def]
    X, y, model = data
    opts = EvaluationOptions(task="multiclass", main="roc_auc_ovr", sensitive=["group"], bootstrap=0, n_classes=3)
    doc = evaluate(Numeric(model), X, y, opts, artifact_size=1)
    pred = model.predict_proba(X[["a", "b"]]).argmax(axis=1)
    accs = {g: float(np.mean(pred[X["group"] == g] == y[X["group"] == g])) for g in ("x", "y")}
    fair = doc["fairness"]["group"]
    assert fair["accuracy_group_gap"] == pytest.approx(abs(accs["x"] - accs["y"]))
    assert doc["metrics"]["accuracy_group_gap"] == pytest.approx(fair["accuracy_group_gap"])
    rates = {r["group"]: r["selection_rates"] for r in fair["by_group"]}
    assert sum(rates["x"]) == pytest.approx(1.0)
    gap = max(abs(rates["x"][c] - rates["y"][c]) for c in range(3))
    assert doc["metrics"]["selection_rate_gap"] == pytest.approx(gap, abs=1e-6)
    assert doc["confusion"] and "curves" not in doc


def test_a_model_with_the_wrong_number_of_probability_columns_is_named(data) -> None:  # type: ignore[no-untyped-def]
    X, y, model = data
    opts = EvaluationOptions(task="multiclass", main="accuracy", bootstrap=0, n_classes=4)
    with pytest.raises(InvalidInputError, match="3 columns; the target has 4 classes") as err:
        evaluate(Numeric(model), X, y, opts, artifact_size=1)
    assert err.value.field == "model"


def test_card_names_a_class_the_model_misses() -> None:
    from shipyard.evaluation.reports.card import limitations

    mv = {"evaluation": {"test_rows": 90, "per_class": {"recall": [0.9, 0.2, 0.95], "support": [30, 30, 30]}},
          "provenance": {"classes": ["red", "green", "blue"]}}
    assert any("Class green is recognised in only 20%" in s for s in limitations(mv))


def test_shap_importance_averages_over_classes(data) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("shap")
    from shipyard.evaluation.importance import shap_importance

    X, _, model = data
    values = shap_importance(model, X[["a", "b"]], "multiclass", background=20, rows=20)
    assert set(values) == {"a", "b"} and all(v >= 0 for v in values.values())
