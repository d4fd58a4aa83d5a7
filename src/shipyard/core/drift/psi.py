"""Population stability index (PSI) on shared bins, for numeric and categorical columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from shipyard.core.drift.base import Binned, DriftResult, Sample, as_values
from shipyard.core.drift.binning import counts_on_edges, shared_counts, shares

EPS = 1e-4
DEFAULT_THRESHOLD = 0.1


def psi(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, eps: float = EPS) -> float:
    """PSI = sum((q - p) * ln(q / p)) over bins, with shares floored at ``eps`` so empty bins stay finite.

    Args:
        ref_counts: reference counts (or shares) per bin.
        cur_counts: current counts (or shares) on the same bins.
        eps: the floor for a bin's share.

    Returns:
        0 for identical distributions; 0.1 is a common "look" and 0.25 an "act" level.

    Raises:
        InvalidInputError: the count vectors differ in length or either sums to zero.
    """
    p, q = shares(ref_counts, cur_counts)
    p, q = np.clip(p, eps, None), np.clip(q, eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_from_edges(
    edges: Sequence[float], ref_counts: Sequence[float], cur_values: npt.ArrayLike, eps: float = EPS
) -> float:
    """PSI of raw current values against a reference profile's bin edges and counts (outer bins open)."""
    ref = Binned.numeric(edges, ref_counts)
    values = as_values(cur_values, "cur_values")
    return psi(ref.counts, counts_on_edges(np.asarray(ref.edges), values), eps)


def category_psi(
    ref_freqs: Mapping[str, float], current: Mapping[str, float] | npt.ArrayLike, eps: float = EPS
) -> float:
    """PSI over categories; labels unseen in the reference count as their own (reference-empty) bin."""
    cur: Sample = Binned.categorical(current) if isinstance(current, Mapping) else current
    ref_counts, cur_counts = shared_counts(Binned.categorical(ref_freqs), cur)
    return psi(ref_counts, cur_counts, eps)


class PsiDriftTest:
    """PSI on the reference's quantile bins (numbers) or on the union of labels (categories)."""

    name = "psi"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, eps: float = EPS) -> None:
        self.threshold = threshold
        self.eps = eps

    def compare(self, reference: Sample, current: Sample) -> DriftResult:
        value = psi(*shared_counts(reference, current), eps=self.eps)
        return DriftResult(value, value, None, value >= self.threshold, self.name)
