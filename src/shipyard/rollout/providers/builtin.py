"""The builtin metric provider: the gateways' metric windows in the store, summed per version.

Every gateway process flushes closed windows (aligned to ``serving.metrics_interval`` of wall-clock time)
to ``metric_windows``; a query sums the windows that lie inside ``[start, end)`` across gateways, so N
gateways add up. A window still open, or closed less than a flush interval ago, is not there yet: ask for
an ``end`` at least ``telemetry.windows.complete_after(metrics_interval)`` in the past to see everything.
A version counted both as a shadow and answering inside one query (a shadow rollout that moved on to a
canary) reports its answering traffic only (mirrored requests would count the same client request twice).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shipyard.core.windows import add_counts
from shipyard.rollout.providers.base import PROVIDERS, VersionMetrics
from shipyard.store.sql.engine import Database
from shipyard.telemetry import window_store
from shipyard.telemetry.windows import merge_predictions


class BuiltinProvider:
    name = "builtin"

    def __init__(self, db: Database) -> None:
        self.db = db

    def query(self, endpoint: str, start: datetime, end: datetime) -> dict[int, VersionMetrics]:
        return sum_windows(window_store.read(self.db, endpoint, start, end))


def sum_windows(rows: list[dict[str, Any]]) -> dict[int, VersionMetrics]:
    """Window rows (any gateways, any times) -> one VersionMetrics per version."""
    acc: dict[tuple[int, bool], dict[str, Any]] = {}
    for r in rows:
        key = (int(r["version"]), bool(r["shadow"]))
        a = acc.get(key)
        if a is None:
            a = acc[key] = {"requests": 0, "rows": 0, "errors": 0, "latency_sum_ms": 0.0, "latency_buckets": [],
                            "predictions": {}}
        a["requests"] += int(r["requests"])
        a["rows"] += int(r["rows"])
        a["errors"] += int(r["errors"])
        a["latency_sum_ms"] += float(r["latency_sum_ms"])
        a["latency_buckets"] = add_counts(a["latency_buckets"], r["latency_buckets"] or [])
        a["predictions"] = merge_predictions(a["predictions"], r["predictions"] or {})
    out: dict[int, VersionMetrics] = {}
    for (version, shadow), a in sorted(acc.items(), key=lambda kv: kv[0][1], reverse=True):
        # shadows first, so an answering entry of the same version replaces it
        out[version] = VersionMetrics(version, shadow, a["requests"], a["rows"], a["errors"], a["latency_sum_ms"],
                                      tuple(a["latency_buckets"]), a["predictions"])
    return out


PROVIDERS["builtin"] = BuiltinProvider
