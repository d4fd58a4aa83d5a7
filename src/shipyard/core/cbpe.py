"""Label-free performance estimate for binary classifiers (confidence-based performance estimation, CBPE).

When a model is calibrated, a prediction with probability ``p`` is right with probability ``max(p, 1-p)``
(at threshold 0.5), so the expected accuracy of a window is the mean of that — no labels needed. The same
idea gives an expected confusion matrix at every threshold, hence an expected ROC curve and AUC: a row
with probability ``p`` counts ``p`` of a positive and ``1 - p`` of a negative. Under covariate shift
(P(x) moves, P(y | x) does not) a calibrated model stays calibrated, and the estimate follows the true
metric (NannyML's CBPE rests on the same argument). It cannot see concept drift (P(y | x) changing).
Pure and vectorised: one sort and cumulative sums.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.errors import InvalidInputError


@dataclass(frozen=True)
class PerformanceEstimate:
    """Expected accuracy (at ``threshold``) and ROC AUC of a window, from predicted probabilities alone."""

    accuracy: float
    roc_auc: float
    rows: int
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate(probabilities: npt.ArrayLike, threshold: float = 0.5) -> PerformanceEstimate:
    """CBPE of accuracy and ROC AUC from the positive-class probabilities of one window.

    Raises:
        InvalidInputError: no probabilities, a value outside [0, 1] or NaN, or a threshold outside (0, 1).
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise InvalidInputError(field="probabilities", value=0, expected="at least one predicted probability")
    if not np.all((p >= 0) & (p <= 1)):
        bad = p[~((p >= 0) & (p <= 1))][0]
        raise InvalidInputError(field="probabilities", value=float(bad), expected="probabilities in [0, 1]")
    if not 0 < threshold < 1:
        raise InvalidInputError(field="threshold", value=threshold, expected="a number between 0 and 1")
    predicted = p >= threshold
    accuracy = float(np.mean(np.where(predicted, p, 1.0 - p)))
    return PerformanceEstimate(accuracy=accuracy, roc_auc=expected_auc(p), rows=int(p.size), threshold=threshold)


def expected_auc(p: np.ndarray) -> float:
    """The area under the expected ROC curve: thresholds at every distinct probability, ties grouped."""
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    positives, negatives = ps.sum(), (1.0 - ps).sum()
    if positives <= 0 or negatives <= 0:
        return float("nan")  # one class expected only: AUC undefined
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    tpr = np.r_[0.0, np.cumsum(ps)[last_of_tie] / positives]
    fpr = np.r_[0.0, np.cumsum(1.0 - ps)[last_of_tie] / negatives]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
