"""CBPE: label-free accuracy and AUC from calibrated probabilities (acceptance point 4 of issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from shipyard.core import cbpe


def _world(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Covariate shift: x moves, P(y | x) stays (a logistic function of x)."""
    x = rng.normal([shift, -shift / 2, 0.0], [1.0, 1.5, 1.0], size=(n, 3))
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


@pytest.mark.parametrize("seed", range(5))
def test_tracks_true_accuracy_under_covariate_shift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*_world(rng, 20_000, 0.0))
    for shift in (0.0, 0.75, 1.5, 2.5):
        x, y = _world(rng, 5_000, shift)
        proba = model.predict_proba(x)
        est = cbpe.estimate(proba)
        true_acc = accuracy_score(y, proba.argmax(axis=1))
        assert est.accuracy is not None and abs(est.accuracy - true_acc) < 0.05, (shift, est, true_acc)
        assert est.roc_auc is not None and abs(est.roc_auc - roc_auc_score(y, proba[:, 1])) < 0.05


def test_accuracy_moves_with_the_shift_and_the_estimate_follows() -> None:
    rng = np.random.default_rng(11)
    model = LogisticRegression().fit(*_world(rng, 20_000, 0.0))
    x0, y0 = _world(rng, 5_000, 0.0)
    # a shift towards the decision boundary: accuracy falls, and so does the estimate
    x1 = rng.normal([0.25, 0.6, 0.0], [0.3, 0.3, 0.3], size=(5_000, 3))
    y1 = (rng.random(5_000) < 1 / (1 + np.exp(-(1.2 * x1[:, 0] - 0.8 * x1[:, 1] + 0.5 * x1[:, 2] - 0.3)))).astype(int)
    a0 = accuracy_score(y0, model.predict(x0))
    a1 = accuracy_score(y1, model.predict(x1))
    e0, e1 = cbpe.expected_accuracy(model.predict_proba(x0)), cbpe.expected_accuracy(model.predict_proba(x1))
    assert a0 - a1 > 0.1
    assert e0 is not None and e1 is not None and abs(e0 - a0) < 0.05 and abs(e1 - a1) < 0.05


def test_binary_formula_and_edges() -> None:
    p = np.array([0.9, 0.2, 0.6, 0.5])
    assert cbpe.expected_accuracy(p) == pytest.approx(np.mean([0.9, 0.8, 0.6, 0.5]))
    # a given decision (not the argmax) uses the probability of the class it chose
    assert cbpe.expected_accuracy(p, predicted=[0, 0, 0, 0]) == pytest.approx(np.mean([0.1, 0.8, 0.4, 0.5]))
    assert cbpe.expected_binary_auc([1.0, 1.0, 0.0]) == pytest.approx(1.0)
    assert cbpe.expected_binary_auc([1.0, 1.0]) is None  # no expected negatives
    assert cbpe.expected_accuracy(np.empty((0, 2))) is None
    with pytest.raises(ValueError, match="expected"):
        cbpe.expected_accuracy(np.ones((3, 1)))


def test_multiclass_macro_auc() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4_000, 3)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in proba])
    est = cbpe.estimate(proba)
    assert est.accuracy == pytest.approx(accuracy_score(y, proba.argmax(axis=1)), abs=0.03)
    assert est.roc_auc == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"), abs=0.03)
