"""Live metric windows: fixed latency bucket edges and the arithmetic on mergeable histograms.

Gateways count what they serve per endpoint x version into histograms over fixed edges, so windows from
N gateway processes (and consecutive flushes) add up by plain addition, and a quantile can be read off the
sum. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

# Upper bounds (ms) of the latency buckets; one more bucket counts everything above the last edge.
LATENCY_EDGES_MS: tuple[float, ...] = (
    0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0,
    1000.0, 2500.0, 5000.0, 10000.0,
)
N_LATENCY_BUCKETS = len(LATENCY_EDGES_MS) + 1


def bucket_of(latency_ms: float, edges: Sequence[float] = LATENCY_EDGES_MS) -> int:
    """Index of the bucket that counts ``latency_ms`` (the first edge >= it; len(edges) = overflow)."""
    lo, hi = 0, len(edges)
    while lo < hi:
        mid = (lo + hi) // 2
        if edges[mid] < latency_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo


def add_counts(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Element-wise sum of two bucket count vectors (the shorter is padded with zeros)."""
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def quantile(counts: Sequence[int], q: float, edges: Sequence[float] = LATENCY_EDGES_MS) -> float | None:
    """The ``q`` quantile (0..1) of a bucketed distribution, interpolated linearly inside its bucket
    (Prometheus' ``histogram_quantile`` rule); None without observations. The overflow bucket answers its
    lower edge (the largest finite bound), as Prometheus does."""
    if not 0 <= q <= 1:
        raise ValueError(f"q: got {q}, expected 0..1")
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            if i >= len(edges):
                return float(edges[-1])
            lower = 0.0 if i == 0 else float(edges[i - 1])
            upper = float(edges[i])
            return lower + (upper - lower) * ((rank - seen) / c)
        seen += c
    return float(edges[-1])
