"""Test helpers for rollouts: a settable clock, metric windows written straight into the store, and a minimal
reader of them (the builtin provider itself lands with the telemetry branch; this reads the same rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from shipyard.core.windows import LATENCY_EDGES_MS, add_counts, bucket_of
from shipyard.rollout.providers.base import VersionMetrics
from shipyard.store.sql import tables as t


class SetClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> datetime:
        self.t += timedelta(seconds=seconds)
        return self.t


def write_window(db, endpoint: str, version: int, start: datetime, seconds: float, requests: int, errors: int = 0,
                 latency_ms: float = 4.0, shadow: bool = False, predictions: dict[str, Any] | None = None,
                 gateway: str = "test:1") -> None:
    buckets = [0] * (len(LATENCY_EDGES_MS) + 1)
    buckets[bucket_of(latency_ms)] = requests
    with db.begin() as conn:
        conn.execute(t.metric_windows.insert().values(
            endpoint=endpoint, version=version, gateway=gateway, shadow=shadow, start=start,
            end=start + timedelta(seconds=seconds), requests=requests, rows=requests, errors=errors,
            latency_sum_ms=latency_ms * requests, latency_buckets=buckets, predictions=predictions or {}))


class WindowsProvider:
    """Sums ``metric_windows`` rows inside [start, end) per version (answering rows win over shadow rows)."""

    name = "test-windows"

    def __init__(self, db) -> None:
        self.db = db

    def query(self, endpoint: str, start: datetime, end: datetime) -> dict[int, VersionMetrics]:
        W = t.metric_windows
        acc: dict[tuple[int, bool], list[Any]] = {}
        with self.db.read() as conn:
            for r in conn.execute(select(W).where(W.c.endpoint == endpoint, W.c.start >= start, W.c.end <= end)):
                a = acc.setdefault((r.version, bool(r.shadow)), [0, 0, 0, 0.0, []])
                a[0] += r.requests
                a[1] += r.rows
                a[2] += r.errors
                a[3] += r.latency_sum_ms
                a[4] = add_counts(a[4], r.latency_buckets)
        out: dict[int, VersionMetrics] = {}
        for (v, shadow), a in sorted(acc.items(), key=lambda kv: kv[0][1], reverse=True):
            out[v] = VersionMetrics(v, shadow, a[0], a[1], a[2], a[3], tuple(a[4]))
        return out
