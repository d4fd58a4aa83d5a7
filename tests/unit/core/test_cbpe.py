"""Issue 16, acceptance point 4: the label-free estimate tracks true accuracy within 0.05 under covariate shift."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.core.cbpe import estimate
from shipyard.errors import InvalidInputError


def _window(rng: np.random.Generator, n: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(mean, 1.0, (n, 2))
    logit = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_tracks_true_accuracy_and_auc_under_covariate_shift(seed: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score

    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*_window(rng, 20_000, 0.0))  # calibrated: the right model family
    errors = []
    for shift in (0.0, 0.5, 1.0, 1.5, -1.0):  # P(x) moves, P(y | x) stays: accuracy and AUC change
        x, y = _window(rng, 5_000, shift)
        p = model.predict_proba(x)[:, 1]
        est = estimate(p)
        true_acc = accuracy_score(y, p >= 0.5)
        errors.append(abs(est.accuracy - true_acc))
        assert abs(est.accuracy - true_acc) < 0.05, (shift, est, true_acc)
        assert abs(est.roc_auc - roc_auc_score(y, p)) < 0.05, (shift, est)
    assert max(errors) < 0.05


def test_the_estimate_moves_with_the_shift_not_only_sits_at_one_value() -> None:
    rng = np.random.default_rng(9)
    confident, unsure = rng.uniform(0.9, 1.0, 1000), rng.uniform(0.45, 0.55, 1000)
    assert estimate(confident).accuracy > 0.9 > 0.6 > estimate(unsure).accuracy


def test_edge_cases_and_errors() -> None:
    assert np.isnan(estimate(np.ones(10)).roc_auc)
    assert estimate(np.array([0.5, 0.5])).roc_auc == pytest.approx(0.5)
    for bad in (np.array([]), np.array([0.2, 1.2]), np.array([np.nan])):
        with pytest.raises(InvalidInputError) as info:
            estimate(bad)
        assert info.value.field == "probabilities"
    with pytest.raises(InvalidInputError):
        estimate(np.array([0.3]), threshold=1.0)
