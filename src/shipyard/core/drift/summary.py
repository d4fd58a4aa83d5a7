"""Column summaries the drift engine compares: a numeric quantile sketch (or old 10-bin profile) and category counts.

A numeric summary knows its distribution only approximately, so it answers "where is the CDF at x" with an
interval ``[lo, hi]`` that certainly holds ``F(x)``. Kolmogorov-Smirnov on two summaries then takes the
smallest gap the two intervals allow (a lower bound of the true D, so p-values stay conservative), and
the Wasserstein distance is read off the two quantile functions. Everything is vectorised over the sketch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shipyard.errors import InvalidInputError

SKETCH_SIZE = 1000
"""A sketch holds the values at quantiles 0, 1/1000, ..., 1 (1,001 values): F is known to within 0.001."""


def sketch_sorted(ordered: np.ndarray, size: int = SKETCH_SIZE) -> np.ndarray:
    """Quantiles of an ascending array at ``linspace(0, 1, size + 1)``, by the inverted CDF (real data values).

    The value at probability ``p`` is the smallest ``x`` with ``F(x) >= p`` (the minimum at ``p = 0``).
    """
    if ordered.size == 0:
        raise InvalidInputError(field="values", value=0, expected="at least one non-missing value")
    k = np.arange(size + 1, dtype=np.int64)
    index = np.clip((k * ordered.size + size - 1) // size - 1, 0, ordered.size - 1)  # ceil(p * n) - 1, exactly
    return np.asarray(ordered[index], dtype=np.float64)


@dataclass(frozen=True)
class NumericSummary:
    """A numeric column: its non-missing count, spread, and either a quantile sketch or (old profiles) bins.

    ``sketch`` holds the values at ``linspace(0, 1, len(sketch))`` (see :func:`sketch_sorted`). Without a
    sketch, ``edges``/``bin_counts`` are the profile's quantile bins (a value on an inner edge counted to
    its right), which pin the CDF only at 9 inner edges.
    """

    count: int
    std: float | None = None
    sketch: np.ndarray | None = None
    edges: np.ndarray | None = None
    bin_counts: np.ndarray | None = None

    @classmethod
    def from_values(cls, values: np.ndarray, size: int = SKETCH_SIZE) -> NumericSummary:
        """Summarise raw values (NaN dropped; infinities are kept out of the spread but not the CDF)."""
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[~np.isnan(arr)]
        if arr.size == 0:
            raise InvalidInputError(field="values", value=0, expected="at least one non-missing value")
        ordered = np.sort(arr)
        finite = ordered[np.isfinite(ordered)]
        std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
        return cls(count=int(ordered.size), std=std, sketch=sketch_sorted(ordered, size))

    @classmethod
    def from_profile(cls, count: int, std: float | None, quantiles: Sequence[float] | None,
                     edges: Sequence[float] | None, bin_counts: Sequence[float] | None) -> NumericSummary:
        sketch = None if not quantiles else np.asarray(quantiles, dtype=np.float64)
        e = None if not edges else np.asarray(edges, dtype=np.float64)
        c = None if not bin_counts else np.asarray(bin_counts, dtype=np.float64)
        if sketch is None and (e is None or c is None):
            raise InvalidInputError(field="profile", value="no quantiles or bins",
                                    expected="a numeric profile with a quantile sketch or bin edges")
        return cls(count=int(count), std=std, sketch=sketch, edges=e, bin_counts=c)

    @property
    def exact_ks(self) -> bool:
        """Whether the CDF is known to within 1/1000 (a sketch), not just at 9 bin edges."""
        return self.sketch is not None

    def points(self) -> np.ndarray:
        """Where this summary pins its CDF (candidate points for the KS supremum)."""
        if self.sketch is not None:
            return np.unique(self.sketch)
        assert self.edges is not None
        return np.unique(self.edges[1:-1]) if self.edges.size > 2 else np.unique(self.edges)

    def cdf_bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``lo <= F(x) <= hi`` at each point of ``x``."""
        if self.sketch is not None:
            probs = np.linspace(0.0, 1.0, self.sketch.size)
            right = np.searchsorted(self.sketch, x, side="right")  # sketch values <= x
            lo = np.where(right > 0, probs[np.maximum(right - 1, 0)], 0.0)
            hi = np.where(right < probs.size, probs[np.minimum(right, probs.size - 1)], 1.0)
            return lo, np.maximum(hi, lo)
        assert self.edges is not None and self.bin_counts is not None
        inner = self.edges[1:-1]
        below = np.concatenate([[0.0], np.cumsum(self.bin_counts)[:-1], [self.bin_counts.sum()]])
        below = below / max(self.bin_counts.sum(), 1.0)  # share strictly below each inner edge, plus 0 and 1
        # F(x) >= share below the last inner edge <= x; F(x) <= share below the first inner edge > x
        right = np.searchsorted(inner, x, side="right")
        return below[right], below[np.minimum(right + 1, below.size - 1)]

    def quantiles(self, probs: np.ndarray) -> np.ndarray:
        """The quantile function at ``probs`` (linear between sketch points or bin edges)."""
        if self.sketch is not None:
            return np.asarray(np.interp(probs, np.linspace(0.0, 1.0, self.sketch.size), self.sketch))
        assert self.edges is not None and self.bin_counts is not None
        cumulative = np.concatenate([[0.0], np.cumsum(self.bin_counts)]) / max(self.bin_counts.sum(), 1.0)
        return np.asarray(np.interp(probs, cumulative, self.edges))

    def spread(self) -> float:
        """The scale that normalises the Wasserstein distance: the std, else IQR / 1.349, else 1."""
        if self.std is not None and np.isfinite(self.std) and self.std > 0:
            return float(self.std)
        q1, q3 = self.quantiles(np.array([0.25, 0.75]))
        iqr = float(q3 - q1) / 1.349
        return iqr if np.isfinite(iqr) and iqr > 0 else 1.0

    def bins(self) -> tuple[np.ndarray, np.ndarray]:
        """Ten quantile bins (edges, counts) for PSI: the profile's own, else deciles of the sketch."""
        if self.edges is not None and self.bin_counts is not None:
            return self.edges, self.bin_counts
        assert self.sketch is not None
        edges = np.unique(self.quantiles(np.linspace(0.0, 1.0, 11)))
        if edges.size == 1:
            edges = np.array([edges[0], edges[0]])
        return edges, self.mass_on(edges) * self.count

    def mass_on(self, edges: np.ndarray) -> np.ndarray:
        """Shares of this distribution in bins with these edges (outer bins open), CDF midpoints at edges."""
        if edges.size <= 2:
            return np.array([1.0])
        lo, hi = self.cdf_bounds(edges[1:-1])
        # share strictly below an inner edge: take the interval's middle (exact for continuous data)
        below = np.concatenate([[0.0], (lo + hi) / 2, [1.0]])
        below = np.maximum.accumulate(below)
        return np.diff(below)


@dataclass(frozen=True)
class CategoricalSummary:
    """A category column: labels and their counts among the non-missing values."""

    labels: tuple[str, ...]
    counts: np.ndarray

    @classmethod
    def from_freqs(cls, freqs: dict[str, float], count: int) -> CategoricalSummary:
        return cls(labels=tuple(str(k) for k in freqs),
                   counts=np.asarray(list(freqs.values()), dtype=np.float64) * float(count))

    @property
    def count(self) -> int:
        return int(round(float(self.counts.sum())))


def align(a: CategoricalSummary, b: CategoricalSummary) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Both sides' counts on the union of labels (reference order first, then new labels)."""
    labels = list(dict.fromkeys([*a.labels, *b.labels]))
    position = {label: i for i, label in enumerate(labels)}
    ca, cb = np.zeros(len(labels)), np.zeros(len(labels))
    ca[[position[x] for x in a.labels]] = a.counts
    cb[[position[x] for x in b.labels]] = b.counts
    return labels, ca, cb
