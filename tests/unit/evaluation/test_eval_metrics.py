"""Our NumPy metrics agree with scikit-learn's; curves and degradation have the right shape and sign."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.evaluation import metrics as m


@pytest.fixture(params=[0, 1, 2])
def binary(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    if request.param == 2:
        s = np.round(s, 1)  # many ties
    return y, s


def test_classification_metrics_match_sklearn(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = binary
    pred = (s >= 0.5).astype(int)
    assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert m.pr_auc(y, s) == pytest.approx(skm.average_precision_score(y, s))
    assert m.f1(y, s) == pytest.approx(skm.f1_score(y, pred))
    assert m.accuracy(y, s) == pytest.approx(skm.accuracy_score(y, pred))
    assert m.precision(y, s) == pytest.approx(skm.precision_score(y, pred))
    assert m.recall(y, s) == pytest.approx(skm.recall_score(y, pred))
    assert m.brier(y, s) == pytest.approx(skm.brier_score_loss(y, s))
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, np.clip(s, 1e-15, 1 - 1e-15)))


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(100, 20, 200)
    p = y + rng.normal(0, 10, 200)
    assert m.rmse(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p))
    assert m.r2(y, p) == pytest.approx(skm.r2_score(y, p))
    assert m.mape(y, p) == pytest.approx(skm.mean_absolute_percentage_error(y, p))


def test_single_class_auc_is_nan() -> None:
    assert np.isnan(m.roc_auc(np.ones(5, dtype=int), np.linspace(0, 1, 5)))


@pytest.mark.parametrize(("metric", "base", "other", "worse"), [
    ("roc_auc", 0.8, 0.7, True), ("roc_auc", 0.8, 0.9, False), ("rmse", 10.0, 12.0, True), ("brier", 0.2, 0.1, False),
])
def test_degradation_is_positive_when_worse(metric: str, base: float, other: float, worse: bool) -> None:
    assert (m.degradation(metric, base, other) > 0) is worse


def test_curves_are_monotone_and_calibration_counts_add_up(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = binary
    c = m.curves(y, s)
    fpr, tpr = np.array(c["roc"]["fpr"]), np.array(c["roc"]["tpr"])
    assert fpr[0] == 0 and tpr[-1] == pytest.approx(1.0) and (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert len(fpr) <= 101
    assert sum(c["calibration"]["count"]) == len(y)
    assert np.trapezoid(tpr, fpr) == pytest.approx(skm.roc_auc_score(y, s), abs=0.02)


@pytest.fixture(params=[0, 1, 2])
def multiclass(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    """4 classes; seed 2 never predicts class 3 (its column is always small) to exercise zero division."""
    rng = np.random.default_rng(request.param)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(0, 1, (400, 4)) + 1.5 * np.eye(4)[y]
    if request.param == 2:
        logits[:, 3] -= 10
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def test_multiclass_metrics_match_sklearn(multiclass: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = multiclass
    pred = p.argmax(axis=1)
    assert m.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert m.f1_macro(y, p) == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert m.precision_macro(y, p) == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert m.recall_macro(y, p) == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0))
    assert m.roc_auc_ovr(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert m.log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2, 3]))
    assert m.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p, labels=[0, 1, 2, 3]))
    assert (m.confusion(y, p) == skm.confusion_matrix(y, pred, labels=[0, 1, 2, 3])).all()
    report = m.per_class_report(y, p)
    assert report["support"] == np.bincount(y, minlength=4).tolist()
    assert report["recall"] == pytest.approx(skm.recall_score(y, pred, average=None, labels=[0, 1, 2, 3]), abs=1e-6)


def test_multiclass_auc_skips_classes_absent_from_the_sample() -> None:
    """A bootstrap resample or a slice may miss a class: AUC averages the classes it can rank; none -> NaN."""
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    assert m.roc_auc_ovr(y, p) == pytest.approx(1.0)  # class 2 never occurs: skipped, not a crash
    assert np.isnan(m.roc_auc_ovr(np.array([1, 1]), p[:2]))


def test_every_metric_belongs_to_a_task() -> None:
    from shipyard.evaluation.names import TASK_METRICS

    assert {n for names in TASK_METRICS.values() for n in names} == set(m.METRICS)
