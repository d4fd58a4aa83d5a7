"""Two-sample Kolmogorov-Smirnov test for numeric columns (scipy, imported lazily)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from shipyard.core.drift.base import Binned, DriftResult, Sample, as_values, is_numeric
from shipyard.errors import InvalidInputError

DEFAULT_ALPHA = 0.05


def ks(reference: npt.ArrayLike, current: npt.ArrayLike) -> tuple[float, float]:
    """KS statistic D and p-value of two raw numeric samples (``scipy.stats.ks_2samp``).

    Raises:
        InvalidInputError: a side is empty or not numeric.
    """
    from scipy.stats import ks_2samp

    ref = _numeric(reference, "reference")
    cur = _numeric(current, "current")
    result = ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def ks_binned(reference: Binned, current: npt.ArrayLike) -> tuple[float, float]:
    """KS against a binned reference, comparing the two CDFs at the reference's inner edges only.

    Evaluating only at edges is exact for both samples (no interpolation inside bins, so discrete
    columns do not show spurious drift) and gives a lower bound of the full D; the p-value uses the
    asymptotic Kolmogorov distribution with the effective size ``n * m / (n + m)``.

    Raises:
        InvalidInputError: the reference is not numeric or a side is empty.
    """
    from scipy.stats import kstwobign

    if not reference.is_numeric or reference.total <= 0:
        raise InvalidInputError(field="reference", value="categories", expected="a numeric binned reference")
    cur = np.sort(_numeric(current, "current"))
    edges = np.asarray(reference.edges, dtype=np.float64)[1:-1]
    if edges.size == 0:
        return 0.0, 1.0
    ref_cdf = np.cumsum(reference.counts)[:-1] / reference.total
    cur_cdf = np.searchsorted(cur, edges, side="left") / cur.size  # share strictly below each edge
    d = float(np.max(np.abs(ref_cdf - cur_cdf)))
    n_eff = reference.total * cur.size / (reference.total + cur.size)
    return d, float(kstwobign.sf(d * math.sqrt(n_eff)))


class KsDriftTest:
    """KS two-sample test; drifted when the p-value is below ``threshold`` (alpha). Score is D."""

    name = "ks"

    def __init__(self, threshold: float = DEFAULT_ALPHA) -> None:
        self.threshold = threshold

    def compare(self, reference: Sample, current: Sample) -> DriftResult:
        if isinstance(current, Binned):
            raise InvalidInputError(field="current", value="binned summary", expected="raw numeric values")
        if isinstance(reference, Binned):
            d, p = ks_binned(reference, current)
        else:
            d, p = ks(reference, current)
        return DriftResult(d, d, p, p < self.threshold, self.name)


def _numeric(values: npt.ArrayLike, field: str) -> np.ndarray:
    arr = as_values(values, field)
    if arr.size == 0:
        raise InvalidInputError(field=field, value=0, expected="at least one non-missing value")
    if not is_numeric(arr):
        raise InvalidInputError(field=field, value="categories", expected="numeric values for the KS test")
    return arr
