"""Shared bins for drift tests: quantile edges, counts on edges, and aligning two samples' counts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shipyard.core.drift.base import Binned, Sample, as_values, is_numeric
from shipyard.errors import InvalidInputError

DEFAULT_BINS = 10


def shares(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Two count vectors on the same bins as shares that each sum to 1.

    Raises:
        InvalidInputError: the vectors differ in length or either sums to zero.
    """
    p = np.asarray(ref_counts, dtype=np.float64)
    q = np.asarray(cur_counts, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise InvalidInputError(
            field="cur_counts", value=q.shape, expected=f"counts on the same {p.shape} bins"
        )
    if p.sum() <= 0 or q.sum() <= 0:
        raise InvalidInputError(field="counts", value=0, expected="at least one value on each side")
    return p / p.sum(), q / q.sum()


def quantile_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Ascending, de-duplicated quantile edges of ``values`` (two equal edges for a constant sample).

    Raises:
        InvalidInputError: ``values`` is empty or ``bins`` is below 1.
    """
    if bins < 1:
        raise InvalidInputError(field="bins", value=bins, expected="an integer >= 1")
    if values.size == 0:
        raise InvalidInputError(field="values", value=0, expected="at least one non-missing value")
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return edges


def counts_on_edges(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counts of ``values`` per bin; the outer bins are open and a value on an inner edge goes right."""
    bins = len(edges) - 1
    index = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(index, minlength=bins).astype(np.float64)


def cdf_at(binned: Binned, points: np.ndarray) -> np.ndarray:
    """The share of a numeric summary below each point, interpolated linearly inside bins."""
    edges = np.asarray(binned.edges, dtype=np.float64)
    counts = np.asarray(binned.counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        raise InvalidInputError(field="counts", value=0, expected="a reference with at least one value")
    if edges[0] == edges[-1]:  # constant sample: a step, not a ramp
        return np.asarray(points > edges[0], dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(counts)]) / total
    return np.asarray(np.interp(points, edges, cumulative, left=0.0, right=1.0), dtype=np.float64)


def to_binned(sample: Sample, field: str, bins: int = DEFAULT_BINS) -> Binned:
    """Summarise raw values as a :class:`Binned` (quantile bins for numbers, label counts otherwise)."""
    if isinstance(sample, Binned):
        if sample.total <= 0:
            raise InvalidInputError(field=field, value=0, expected="a summary with at least one value")
        return sample
    values = as_values(sample, field)
    if values.size == 0:
        raise InvalidInputError(field=field, value=0, expected="at least one non-missing value")
    if is_numeric(values):
        edges = quantile_edges(values, bins)
        return Binned.numeric(edges.tolist(), counts_on_edges(edges, values).tolist())
    labels, counts = np.unique(values.astype(str), return_counts=True)
    return Binned(counts=tuple(counts.astype(float).tolist()), labels=tuple(labels.tolist()))


def shared_counts(reference: Sample, current: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Counts of reference and current on the same bins: the reference's bins, or the union of labels.

    A numeric current summary with other edges is re-binned through its interpolated CDF.

    Raises:
        InvalidInputError: either side is empty, or one is numeric and the other categorical.
    """
    ref = to_binned(reference, "reference")
    if ref.is_numeric:
        edges = np.asarray(ref.edges, dtype=np.float64)
        ref_counts = np.asarray(ref.counts, dtype=np.float64)
        if isinstance(current, Binned):
            _same_kind(current.is_numeric, True)
            shares = cdf_at(to_binned(current, "current"), edges[1:-1])
            cur_counts = np.diff(np.concatenate([[0.0], shares, [1.0]])) * current.total
            return ref_counts, cur_counts
        values = _non_empty(as_values(current, "current"))
        _same_kind(is_numeric(values), True)
        return ref_counts, counts_on_edges(edges, values)
    cur = to_binned(current, "current")
    _same_kind(cur.is_numeric, False)
    labels = list(dict.fromkeys([*(ref.labels or ()), *(cur.labels or ())]))
    position = {label: i for i, label in enumerate(labels)}
    ref_counts = np.zeros(len(labels))
    cur_counts = np.zeros(len(labels))
    np.add.at(ref_counts, [position[x] for x in ref.labels or ()], ref.counts)
    np.add.at(cur_counts, [position[x] for x in cur.labels or ()], cur.counts)
    return ref_counts, cur_counts


def _non_empty(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        raise InvalidInputError(field="current", value=0, expected="at least one non-missing value")
    return values


def _same_kind(current_numeric: bool, reference_numeric: bool) -> None:
    if current_numeric != reference_numeric:
        kind = "numbers" if reference_numeric else "categories"
        raise InvalidInputError(
            field="current",
            value="categories" if reference_numeric else "numbers",
            expected=f"{kind}, like the reference",
        )
