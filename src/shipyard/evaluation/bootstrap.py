"""Bootstrap confidence intervals: one model's metric, and the paired difference of two models on one test set.

Resample indices are drawn once as a (B, n) matrix; both models are scored on the same resamples,
so the interval of the difference reflects the pairing (much tighter than two independent intervals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shipyard.evaluation.metrics import METRICS


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def to_list(self) -> list[float]:
        return [self.low, self.high]


def resamples(n: int, b: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(b, n))


def _interval(values: np.ndarray, alpha: float) -> Interval:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(float("nan"), float("nan"))
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return Interval(float(lo), float(hi))


def metric_ci(metric: str, y: np.ndarray, s: np.ndarray, *, b: int = 200, seed: int = 0,
              alpha: float = 0.05) -> Interval:
    """Percentile interval of ``metric`` over ``b`` resamples."""
    fn = METRICS[metric]
    idx = resamples(y.size, b, seed)
    return _interval(np.array([fn(y[i], s[i]) for i in idx]), alpha)


def paired_diff_ci(metric: str, y: np.ndarray, new: np.ndarray, old: np.ndarray, *, b: int = 200, seed: int = 0,
                   alpha: float = 0.05) -> tuple[Interval, Interval]:
    """Intervals of ``metric(new) - metric(old)`` and of the relative difference in percent, on shared resamples."""
    fn = METRICS[metric]
    idx = resamples(y.size, b, seed)
    a = np.array([fn(y[i], new[i]) for i in idx])
    c = np.array([fn(y[i], old[i]) for i in idx])
    diff = a - c
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(c != 0, 100.0 * diff / np.abs(c), np.nan)
    return _interval(diff, alpha), _interval(rel, alpha)
