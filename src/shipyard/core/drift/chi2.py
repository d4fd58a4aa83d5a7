"""Chi-square test of homogeneity on category (or shared-bin) counts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from shipyard.core.drift.base import DriftResult, Sample
from shipyard.core.drift.binning import shared_counts
from shipyard.errors import InvalidInputError

DEFAULT_ALPHA = 0.05


def chi2(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> tuple[float, float, float]:
    """Chi-square statistic, p-value and Cramér's V of a 2 x k table of counts (no Yates correction).

    Bins empty on both sides are dropped; with fewer than two bins left there is nothing to test
    and the result is ``(0, 1, 0)``. Counts must be absolute counts, not shares.

    Raises:
        InvalidInputError: the count vectors differ in length, hold negatives, or a side sums to zero.
    """
    from scipy.stats import chi2_contingency

    p = np.asarray(ref_counts, dtype=np.float64)
    q = np.asarray(cur_counts, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise InvalidInputError(
            field="cur_counts", value=q.shape, expected=f"counts on the same {p.shape} bins"
        )
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise InvalidInputError(
            field="counts", value="empty or negative", expected="non-negative counts on each side"
        )
    table = np.vstack([p, q])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0, 0.0
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    cramers_v = math.sqrt(float(statistic) / table.sum())
    return float(statistic), float(p_value), cramers_v


class Chi2DriftTest:
    """Chi-square on the union of labels (or the reference's quantile bins); score is Cramér's V."""

    name = "chi2"

    def __init__(self, threshold: float = DEFAULT_ALPHA) -> None:
        self.threshold = threshold

    def compare(self, reference: Sample, current: Sample) -> DriftResult:
        statistic, p_value, v = chi2(*shared_counts(reference, current))
        return DriftResult(statistic, v, p_value, p_value < self.threshold, self.name)
