"""Jensen-Shannon distance (base 2, in [0, 1]) on shared bins."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shipyard.core.drift.base import DriftResult, Sample
from shipyard.core.drift.binning import shared_counts, shares

DEFAULT_THRESHOLD = 0.1


def js_distance(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """The square root of the Jensen-Shannon divergence (base 2): 0 identical, 1 disjoint.

    Raises:
        InvalidInputError: the count vectors differ in length or either sums to zero.
    """
    p, q = shares(ref_counts, cur_counts)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


class JensenShannonDriftTest:
    """Jensen-Shannon distance on the reference's quantile bins or the union of labels."""

    name = "jensenshannon"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold

    def compare(self, reference: Sample, current: Sample) -> DriftResult:
        value = js_distance(*shared_counts(reference, current))
        return DriftResult(value, value, None, value >= self.threshold, self.name)
