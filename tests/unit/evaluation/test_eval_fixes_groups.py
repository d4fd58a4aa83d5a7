"""Evaluation edge cases: groups below the minimum size, the configured fairness metric, plots and reports over
missing values, and values that look like markup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.config import parse_project
from shipyard.errors import InvalidInputError
from shipyard.evaluation.evaluator import EvaluationOptions, evaluate
from shipyard.evaluation.gates import run_gates
from shipyard.evaluation.plots import plots
from shipyard.evaluation.reports.card import limitations, render_card

FAIR_KEYS = {"demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
             "equalized_odds_ratio"}


class Numeric:
    """The model sees the numeric columns only (as a pipeline with a column selector would)."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X[["a", "b"]])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, Numeric]:
    rng = np.random.default_rng(3)
    n = 460
    X = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n)})
    y = (X["a"] + rng.normal(0, 1, n) > 0).astype(int).to_numpy()
    # two real groups of 200 plus 60 one-row groups (an id column mixed into a category)
    X["group"] = ["x"] * 200 + ["y"] * 200 + [f"id{i}" for i in range(60)]
    X["ref"] = [f"r{i}" for i in range(n)]
    return X, y, Numeric(LogisticRegression().fit(X[["a", "b"]], y))


def _opts(**kw: object) -> EvaluationOptions:
    return EvaluationOptions(task="classification", main="roc_auc", bootstrap=0, **kw)  # type: ignore[arg-type]


def test_groups_below_the_minimum_are_left_out_of_the_fairness_metrics(data) -> None:  # type: ignore[no-untyped-def]
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_ratio

    X, y, model = data
    with pytest.warns(UserWarning, match="evaluation.fairness.sensitive: group has 60 of 62 groups"):
        doc = evaluate(model, X, y, _opts(sensitive=["group"]), artifact_size=1)
    pred = (model.predict_proba(X)[:, 1] >= 0.5).astype(int)
    big = X["group"].isin(["x", "y"]).to_numpy()
    fair = doc["fairness"]["group"]
    assert fair["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y[big], pred[big], sensitive_features=X["group"][big]))
    assert doc["metrics"]["equalized_odds_ratio"] == pytest.approx(
        equalized_odds_ratio(y[big], pred[big], sensitive_features=X["group"][big]))
    assert FAIR_KEYS <= set(doc["metrics"]) and doc["metrics"]["demographic_parity_difference"] < 0.5
    assert [g["group"] for g in fair["by_group"]] == ["x", "y"]
    assert len(fair["small_groups"]) == 60 and fair["small_groups"][0]["n"] == 1 and fair["min_group_size"] == 30
    assert any("group" in w and "fewer than 30" in w for w in doc["warnings"])
    from shipyard.evaluation.evaluator import EvaluationWarning

    assert issubclass(EvaluationWarning, UserWarning)


def test_a_unique_column_has_no_fairness_value_and_a_gate_on_it_fails_saying_why(data) -> None:  # type: ignore[no-untyped-def]
    X, y, model = data
    with pytest.warns(UserWarning, match="ref"):
        doc = evaluate(model, X, y, _opts(sensitive=["ref"], slices=["ref"]), artifact_size=1)
    assert doc["metrics"]["demographic_parity_difference"] is None  # not 1.0 from 460 groups of one row
    assert all(r["too_small"] and r["metrics"] == {} for r in doc["slices"]["ref"])
    assert plots(doc).get("Slices: ref") is None and plots(doc).get("Fairness: ref") is None
    gate = run_gates(["demographic_parity_difference <= 0.1"], doc)[0]
    assert not gate.passed and "fewer than 2 groups of ref" in gate.note and "min_group_size" in gate.note


def test_min_group_size_is_configurable(data) -> None:  # type: ignore[no-untyped-def]
    X, y, model = data
    doc = evaluate(model, X, y, _opts(slices=["group"], sensitive=["group"], min_group_size=1), artifact_size=1)
    assert not any(r["too_small"] for r in doc["slices"]["group"]) and doc["warnings"] == []
    assert doc["min_group_size"] == 1 and len(doc["fairness"]["group"]["by_group"]) == 62
    cfg = parse_project({"evaluation": {"min_group_size": 50}})
    assert cfg.evaluation.min_group_size == 50 and parse_project({}).evaluation.min_group_size == 30
    with pytest.raises(InvalidInputError) as err:
        parse_project({"evaluation": {"min_group_size": 0}})
    assert err.value.field == "evaluation.min_group_size"


def test_the_fairness_metric_is_validated_and_recorded(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError) as err:
        parse_project({"evaluation": {"fairness": {"sensitive": ["x"], "metric": "foo"}}})
    assert err.value.field == "evaluation.fairness.metric" and err.value.value == "foo"
    assert "demographic_parity_ratio" in str(err.value) and "equalized_odds_difference" in str(err.value)
    assert "Value error" not in str(err.value)
    ok = parse_project({"evaluation": {"fairness": {"sensitive": ["x"], "metric": "equalized_odds_ratio"}}})
    assert ok.evaluation.fairness is not None and ok.evaluation.fairness.metric == "equalized_odds_ratio"
    X, y, model = data
    with pytest.warns(UserWarning):
        doc = evaluate(model, X, y, _opts(sensitive=["group"], fairness_metric="equalized_odds_ratio"),
                       artifact_size=1)
    assert doc["fairness_metric"] == "equalized_odds_ratio"
    assert run_gates(["equalized_odds_ratio >= 0.01", "demographic_parity_ratio >= 0.01"], doc)[0].passed


def _doc_with_gaps() -> dict:
    return {"task": "classification", "main_metric": "roc_auc", "headline": ["roc_auc"], "test_rows": 50,
            "metrics": {"roc_auc": None, "robustness_missing_drop": None}, "ci": {},
            "robustness": {"missing": {"setting": 0.1, "metric": "roc_auc", "value": None, "drop": None,
                                       "error": "ValueError: Input X contains NaN."},
                           "noise": {"setting": 0.05, "metric": "roc_auc", "value": 0.8, "drop": 0.01}},
            "slices": {"Home": [{"value": "own", "n": 40, "metrics": {"roc_auc": None}},
                                {"value": "<i>boat</i>", "n": 3, "metrics": {}}]},
            "fairness": {"Sex": {"demographic_parity_difference": float("nan"), "by_group": [
                {"group": "a", "n": 40, "selection_rate": None},
                {"group": "<i>b</i>", "n": 40, "selection_rate": 0.3}]},
                "Empty": {"demographic_parity_difference": None, "by_group": []}},
            "importance": {"method": "permutation", "values": {"a": float("nan"), "b": 0.1}},
            "per_class": {}, "efficiency": {}}


def test_plots_and_cards_take_missing_values() -> None:
    doc = _doc_with_gaps()
    out = plots(doc)
    assert {"Robustness", "Fairness: Sex", "Feature importance"} <= set(out) and "Fairness: Empty" not in out
    mv = {"model": "m", "version": 1, "stage": "candidate", "flavor": "sklearn", "artifact_digest": "ab" * 32,
          "artifact_size": 1, "created_at": "2025-01-01T00:00:00", "created_by": "<b>eve</b>",
          "run_id": None, "signature": {"inputs": [{"name": "<i>Home</i>", "type": "category"}]},
          "description": "a | b <script>x</script>", "provenance": {}, "evaluation": doc, "lineage": [],
          "approvals": []}
    lim = " ".join(limitations(mv))
    assert "fails under missing perturbation (setting 0.1): ValueError: Input X contains NaN." in lim
    md, html = render_card(mv, {})
    assert "<script>" not in html and "<b>eve</b>" not in html and "<i>Home</i>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "&lt;i&gt;boat&lt;/i&gt;" in html
    assert "<script>" not in md and "<i>Home</i>" not in md and "a \\| b" in md
