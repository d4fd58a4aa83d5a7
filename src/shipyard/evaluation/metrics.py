"""Classification and regression metrics in NumPy (fast enough to run inside bootstrap loops) and curves.

Scores are probabilities of the positive class (label 1) for classification, predictions for
regression. Labels are ``score >= 0.5``. Multi-class (``multiclass``): ``y`` holds class indices
0..k-1 and the scores are the (n, k) probability matrix; the label is the most probable class;
``accuracy``, ``log_loss`` and ``brier`` take either shape. Every function agrees with
scikit-learn's namesake (tested in tests/unit/evaluation/test_eval_metrics.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from shipyard.evaluation.names import (
    CLASSIFICATION,
    DEFAULT_MAIN,
    LOWER_IS_BETTER,
    MULTICLASS,
    REGRESSION,
    TASK_METRICS,
)

__all__ = ["CLASSIFICATION", "DEFAULT_MAIN", "LOWER_IS_BETTER", "METRICS", "MULTICLASS", "REGRESSION", "compute",
           "confusion", "curves"]
EPS = 1e-15

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos = y == 1
    n1 = int(pos.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision, as ``sklearn.metrics.average_precision_score`` (ties form one threshold)."""
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), ys.size - 1]
    tps = np.cumsum(ys)[last]
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _confusion(y: np.ndarray, s: np.ndarray) -> tuple[int, int, int, int]:
    pred = s >= 0.5
    truth = y == 1
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    return tp, fp, fn, y.size - tp - fp - fn


def precision(y: np.ndarray, s: np.ndarray) -> float:
    tp, fp, _, _ = _confusion(y, s)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y: np.ndarray, s: np.ndarray) -> float:
    tp, _, fn, _ = _confusion(y, s)
    return tp / (tp + fn) if tp + fn else 0.0


def f1(y: np.ndarray, s: np.ndarray) -> float:
    tp, fp, fn, _ = _confusion(y, s)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def accuracy(y: np.ndarray, s: np.ndarray) -> float:
    if not y.size:
        return float("nan")
    if s.ndim == 2:
        return float(np.mean(s.argmax(axis=1) == y))
    return float(np.mean((s >= 0.5) == (y == 1)))


def brier(y: np.ndarray, s: np.ndarray) -> float:
    """Binary: mean squared error of P(1). Multi-class: mean over rows of the squared distance between
    the probability vector and the one-hot truth (scikit-learn's multi-class ``brier_score_loss``)."""
    if not y.size:
        return float("nan")
    if s.ndim == 2:
        return float(np.mean(np.sum((s - _onehot(y, s.shape[1])) ** 2, axis=1)))
    return float(np.mean((s - y) ** 2))


def log_loss(y: np.ndarray, s: np.ndarray) -> float:
    if not y.size:
        return float("nan")
    if s.ndim == 2:
        return float(-np.mean(np.log(np.clip(s[np.arange(y.size), y], EPS, 1.0))))
    p = np.clip(s, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# -- multi-class ---------------------------------------------------------------------------------
def _onehot(y: np.ndarray, k: int) -> np.ndarray:
    out: np.ndarray = np.eye(k)[y]
    return out


def confusion(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(k, k) counts, rows = true class, columns = predicted class (the most probable one)."""
    k = s.shape[1]
    return np.bincount(y * k + s.argmax(axis=1), minlength=k * k).reshape(k, k)


def _class_stats(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class index 0..k-1: precision, recall, f1, support, and whether the class occurs in the truth or
    the predictions (scikit-learn's macro labels). A class never predicted has precision 0 (``zero_division=0``)."""
    cm = confusion(y, s)
    tp = np.diag(cm).astype(float)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    prec = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
    rec = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
    total = prec + rec
    f = np.where(total > 0, 2 * prec * rec / np.where(total > 0, total, 1), 0.0)
    return prec, rec, f, support, (predicted + support) > 0


def _macro(y: np.ndarray, s: np.ndarray, which: int) -> float:
    if not y.size:
        return float("nan")
    stats = _class_stats(y, s)
    return float(np.mean(stats[which][stats[4]]))


def precision_macro(y: np.ndarray, s: np.ndarray) -> float:
    return _macro(y, s, 0)


def recall_macro(y: np.ndarray, s: np.ndarray) -> float:
    return _macro(y, s, 1)


def f1_macro(y: np.ndarray, s: np.ndarray) -> float:
    return _macro(y, s, 2)


def roc_auc_ovr(y: np.ndarray, s: np.ndarray) -> float:
    """Macro average of one-vs-rest ROC AUC over the classes that have both positives and negatives
    in ``y`` (NaN when none has); equals scikit-learn's ``multi_class="ovr"`` when every class occurs."""
    aucs = [roc_auc((y == c).astype(np.int64), s[:, c]) for c in range(s.shape[1])]
    valid = [a for a in aucs if a == a]
    return float(np.mean(valid)) if valid else float("nan")


def per_class_report(y: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
    """Per class index 0..k-1: precision, recall, f1, support (for reports; absent classes count 0)."""
    prec, rec, f, support, _ = _class_stats(y, s)
    return {"precision": _r(prec), "recall": _r(rec), "f1": _r(f), "support": [int(v) for v in support]}


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2))) if y.size else float("nan")


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p))) if y.size else float("nan")


def r2(y: np.ndarray, p: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    return 1.0 - float(np.sum((y - p) ** 2)) / ss_tot if ss_tot else float("nan")


def mape(y: np.ndarray, p: np.ndarray) -> float:
    """Mean absolute percentage error as a fraction (scikit-learn's convention: 0.1 is 10%)."""
    return float(np.mean(np.abs(y - p) / np.maximum(np.abs(y), np.finfo(np.float64).eps))) if y.size else float("nan")


METRICS: dict[str, MetricFn] = {
    "roc_auc": roc_auc, "pr_auc": pr_auc, "f1": f1, "accuracy": accuracy, "precision": precision,
    "recall": recall, "brier": brier, "log_loss": log_loss,
    "rmse": rmse, "mae": mae, "r2": r2, "mape": mape,
    "roc_auc_ovr": roc_auc_ovr, "f1_macro": f1_macro, "precision_macro": precision_macro,
    "recall_macro": recall_macro,
}


def names_for(task: str) -> tuple[str, ...]:
    return TASK_METRICS[task]


def compute(task: str, y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """Every metric of the task."""
    return {name: METRICS[name](y, s) for name in names_for(task)}


def degradation(metric: str, base: float, other: float) -> float:
    """How much worse ``other`` is than ``base`` (positive = worse), whatever the metric's direction."""
    return other - base if metric in LOWER_IS_BETTER else base - other


def curves(y: np.ndarray, s: np.ndarray, points: int = 101, bins: int = 10) -> dict[str, dict[str, list[float]]]:
    """ROC and PR curves (down-sampled to about ``points`` points) and the calibration curve."""
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), ys.size - 1]
    tps = np.cumsum(ys)[last].astype(float)
    fps = (last + 1) - tps
    P, N = max(tps[-1], 1.0), max(fps[-1], 1.0)
    tpr, fpr = np.r_[0.0, tps / P], np.r_[0.0, fps / N]
    prec, rec = np.r_[1.0, tps / (last + 1)], np.r_[0.0, tps / P]
    pick = np.unique(np.linspace(0, tpr.size - 1, min(points, tpr.size)).round().astype(int))
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean_pred = np.bincount(which, weights=s, minlength=bins)
    frac_pos = np.bincount(which, weights=y.astype(float), minlength=bins)
    keep = counts > 0
    return {
        "roc": {"fpr": _r(fpr[pick]), "tpr": _r(tpr[pick])},
        "pr": {"recall": _r(rec[pick]), "precision": _r(prec[pick])},
        "calibration": {"mean_predicted": _r(mean_pred[keep] / counts[keep]),
                        "fraction_positive": _r(frac_pos[keep] / counts[keep]),
                        "count": [int(c) for c in counts[keep]]},
    }


def _r(a: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in a]
