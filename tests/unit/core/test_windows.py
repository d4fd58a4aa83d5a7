"""Mergeable latency histograms: bucket lookup, addition and quantiles."""

from __future__ import annotations

import pytest

from shipyard.core.windows import LATENCY_EDGES_MS, N_LATENCY_BUCKETS, add_counts, bucket_of, quantile


def test_bucket_of_uses_upper_inclusive_edges() -> None:
    assert bucket_of(0.0) == 0
    assert bucket_of(0.25) == 0
    assert bucket_of(0.26) == 1
    assert bucket_of(10_000.0) == len(LATENCY_EDGES_MS) - 1
    assert bucket_of(1e9) == N_LATENCY_BUCKETS - 1


def test_quantile_interpolates_inside_the_bucket_and_merges_by_addition() -> None:
    a = [0] * N_LATENCY_BUCKETS
    b = [0] * N_LATENCY_BUCKETS
    a[bucket_of(1.2)] = 50  # (1.0, 1.5]
    b[bucket_of(40.0)] = 50  # (30, 50]
    both = add_counts(a, b)
    assert quantile(both, 0.5) == pytest.approx(1.5)
    assert 30.0 < (quantile(both, 0.99) or 0) <= 50.0
    assert quantile([0] * N_LATENCY_BUCKETS, 0.5) is None
    with pytest.raises(ValueError):
        quantile(both, 1.5)
