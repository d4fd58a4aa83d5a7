"""Efficiency: single-row latency (p50/p99, one thread), batch throughput, peak memory, artifact size."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import numpy as np

from shipyard.evaluation.scoring import score


def efficiency(model: Any, X: Any, task: str, artifact_size: int, *, single_rows: int = 100,
               batch_repeats: int = 3) -> dict[str, float]:
    """Latency is measured with one BLAS/OpenMP thread: the default pool stalls single-row predicts."""
    from threadpoolctl import threadpool_limits

    n = len(X)
    rows = [X.iloc[[i % n]] for i in range(min(single_rows, max(n, 1) * 4))]
    with threadpool_limits(limits=1):
        for r in rows[:5]:
            score(model, r, task)  # warm-up
        times = np.empty(len(rows))
        for i, r in enumerate(rows):
            t0: float = time.perf_counter_ns()
            score(model, r, task)
            times[i] = (time.perf_counter_ns() - t0) / 1e6
    best = float("inf")
    for _ in range(batch_repeats):
        t0 = time.perf_counter()
        score(model, X, task)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    try:
        score(model, X, task)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "p50_latency_ms": float(np.percentile(times, 50)),
        "p99_latency_ms": float(np.percentile(times, 99)),
        "throughput_rows_per_s": float(n / best) if best > 0 else float("inf"),
        "peak_memory_mb": peak / 2**20,
        "artifact_size_bytes": float(artifact_size),
        "artifact_size_mb": artifact_size / 2**20,
    }
