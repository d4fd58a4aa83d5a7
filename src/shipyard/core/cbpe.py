"""Confidence-based performance estimation (CBPE, as NannyML's): accuracy and ROC AUC without labels.

If a classifier's probabilities are calibrated, a row predicted with probability ``p`` for its predicted
class is right with probability ``p``. So the expected accuracy of a window is the mean probability of the
predicted class (binary with the argmax decision: the mean of ``max(p, 1 - p)``). The expected ROC AUC
follows NannyML's ``estimate_roc_auc``: sort rows by score, descending; the expected true positives at
each cut are the cumulated probabilities, the expected false positives the cumulated complements; the
area under that expected ROC curve is the estimate. Multiclass: the macro one-vs-rest mean.

It holds under covariate shift (the inputs move, ``P(y | x)`` does not) while the model stays calibrated;
it cannot see concept drift. Pure NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True, slots=True)
class Estimate:
    rows: int
    accuracy: float | None
    roc_auc: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return {"rows": self.rows, "estimated_accuracy": self.accuracy, "estimated_roc_auc": self.roc_auc}


def _matrix(proba: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:  # the positive class's probability of a binary classifier
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities: got shape {p.shape}, expected [rows] or [rows, classes >= 2]")
    return p[np.isfinite(p).all(axis=1)]


def expected_accuracy(proba: ArrayLike, predicted: ArrayLike | None = None) -> float | None:
    """Mean probability of the predicted class (``predicted``: class indices; default the argmax)."""
    p = _matrix(proba)
    if p.shape[0] == 0:
        return None
    idx = p.argmax(axis=1) if predicted is None else np.asarray(predicted, dtype=np.int64)
    return float(np.clip(p[np.arange(p.shape[0]), idx], 0.0, 1.0).mean())


def expected_binary_auc(score: ArrayLike) -> float | None:
    """NannyML's ``estimate_roc_auc`` with the calibrated score as both the ranking and the expected label."""
    s = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return None
    s = s[np.argsort(-s, kind="stable")]
    # rows with the same score form one step of the curve (as roc_curve's thresholds do)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tps = np.r_[0.0, np.cumsum(s)[last]]
    fps = np.r_[0.0, (last + 1) - tps[1:]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return None  # every row certain of one class: no curve
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    return float(np.trapezoid(tpr, fpr))


def expected_auc(proba: ArrayLike) -> float | None:
    """Binary: the expected AUC of the positive class's score; multiclass: the one-vs-rest macro mean."""
    p = _matrix(proba)
    if p.shape[1] == 2:
        return expected_binary_auc(p[:, 1])
    scores = [expected_binary_auc(p[:, k]) for k in range(p.shape[1])]
    known = [s for s in scores if s is not None]
    return float(np.mean(known)) if known else None


def estimate(proba: ArrayLike, predicted: ArrayLike | None = None) -> Estimate:
    p = _matrix(proba)
    return Estimate(int(p.shape[0]), expected_accuracy(p, predicted), expected_auc(p))
