"""Jensen-Shannon distance (base 2, in [0, 1]) on shared bins."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shipyard.core.drift.base import DriftResult, Sample
from shipyard.core.drift.binning import shared_counts
from shipyard.errors import InvalidInputError

DEFAULT_THRESHOLD = 0.1


def js_distance(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """The square root of the Jensen-Shannon divergence (base 2): 0 identical, 1 disjoint.

    Raises:
        InvalidInputError: the count vectors differ in length or either sums to zero.
    """
    p = np.asarray(ref_counts, dtype=np.float64)
    q = np.asarray(cur_counts, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise InvalidInputError(
            field="cur_counts", value=q.shape, expected=f"counts on the same {p.shape} bins"
        )
    if p.sum() <= 0 or q.sum() <= 0:
        raise InvalidInputError(field="counts", value=0, expected="at least one value on each side")
    p, q = p / p.sum(), q / q.sum()
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
