"""Bootstrap intervals: they contain the point estimate, pairing tightens the difference, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.evaluation import bootstrap
from shipyard.evaluation.metrics import roc_auc


def data(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = rng.random(n)
    good = np.clip(0.35 * y + 0.65 * base, 0, 1)
    slightly_better = np.clip(good + 0.04 * (y - 0.5), 0, 1)
    return y, good, slightly_better


def test_metric_ci_contains_estimate_and_is_reproducible() -> None:
    y, s, _ = data()
    ci = bootstrap.metric_ci("roc_auc", y, s, b=200, seed=1)
    assert ci.low < roc_auc(y, s) < ci.high
    assert ci == bootstrap.metric_ci("roc_auc", y, s, b=200, seed=1)


def test_paired_difference_detects_a_consistent_improvement() -> None:
    y, old, new = data()
    diff, rel = bootstrap.paired_diff_ci("roc_auc", y, new, old, b=200, seed=2)
    assert 0 < diff.low <= diff.high  # the paired interval clears 0
    assert rel.low > 0
    a = bootstrap.metric_ci("roc_auc", y, new, b=200, seed=2)
    b = bootstrap.metric_ci("roc_auc", y, old, b=200, seed=2)
    assert a.low < b.high  # the unpaired intervals overlap: only pairing shows the difference
    same, _ = bootstrap.paired_diff_ci("roc_auc", y, old, old, b=50, seed=2)
    assert same.low == pytest.approx(0) and same.high == pytest.approx(0)
