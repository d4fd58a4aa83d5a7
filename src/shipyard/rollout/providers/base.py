"""The one small interface rollout analysis reads live metrics through, per endpoint x version.

A provider answers what every gateway served for an endpoint over ``[start, end)``, summed across gateway
processes, one ``VersionMetrics`` per version (an answering version or a shadow: a version is never both).
Providers are registered by name in ``PROVIDERS`` (``builtin``, ``prometheus``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shipyard.core.windows import quantile


@dataclass(frozen=True, slots=True)
class VersionMetrics:
    version: int
    shadow: bool
    requests: int
    rows: int
    errors: int  # 5xx answers and model errors
    latency_sum_ms: float
    latency_buckets: tuple[int, ...]  # counts per core.windows.LATENCY_EDGES_MS bucket (+ overflow)
    # histogram of predictions: {"kind": "score", "edges": [...], "counts": [...]} (positive-class or top
    # probability), {"kind": "label", "counts": {label: n}}, or {"kind": "value", "edges": [...], "counts": [...]}
    predictions: dict[str, Any] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def latency_ms(self, q: float) -> float | None:
        return quantile(self.latency_buckets, q)


class MetricProvider(Protocol):
    name: str

    def query(self, endpoint: str, start: datetime, end: datetime) -> dict[int, VersionMetrics]:
        """Metrics per version served by ``endpoint`` over ``[start, end)`` (versions without traffic absent)."""
        ...


PROVIDERS: dict[str, Callable[..., MetricProvider]] = {}
