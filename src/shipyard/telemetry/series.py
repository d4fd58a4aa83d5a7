"""Time series of an endpoint's live metrics per version, read from the gateways' metric windows.

The windows every gateway process flushes (table ``metric_windows``) are summed per version into steps of
``step_s`` seconds: requests, errors, request rate, error rate and latency quantiles (from the summed
histograms, so N gateways add up). For the dashboard's endpoint page and ``GET /endpoints/{name}/metrics``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from shipyard.core.windows import add_counts, quantile
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

MAX_POINTS = 2000


def _utc(ts: datetime) -> datetime:
    from datetime import UTC

    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def endpoint_series(db: Database, endpoint: str, since: datetime, until: datetime, step_s: int = 5
                    ) -> dict[str, Any]:
    """``{"step_s", "since", "until", "versions": {version: {"shadow", "t", "requests", "errors", "rps",
    "error_rate", "p50_ms", "p99_ms"}}}`` with one point per step that saw traffic (``t`` in epoch seconds)."""
    step_s = max(1, int(step_s))
    span = (until - since).total_seconds()
    if span / step_s > MAX_POINTS:  # a long range gets coarser steps, never an unbounded answer
        step_s = int(span // MAX_POINTS) + 1
    W = t.metric_windows
    q = (select(W.c.version, W.c.shadow, W.c.start, W.c.requests, W.c.errors, W.c.latency_buckets)
         .where(W.c.endpoint == endpoint, W.c.start >= since, W.c.start < until).order_by(W.c.start))
    acc: dict[tuple[int, bool], dict[int, list[Any]]] = {}
    origin = since.timestamp()
    with db.read() as conn:
        for r in conn.execute(q):
            k = int((_utc(r.start).timestamp() - origin) // step_s)
            cell = acc.setdefault((int(r.version), bool(r.shadow)), {}).setdefault(k, [0, 0, []])
            cell[0] += int(r.requests)
            cell[1] += int(r.errors)
            cell[2] = add_counts(cell[2], list(r.latency_buckets or []))
    versions: dict[str, Any] = {}
    for (version, shadow), cells in sorted(acc.items()):
        keys = sorted(cells)
        reqs = [cells[k][0] for k in keys]
        errs = [cells[k][1] for k in keys]
        versions[str(version)] = {
            "shadow": shadow,
            "t": [origin + k * step_s for k in keys],
            "requests": reqs,
            "errors": errs,
            "rps": [n / step_s for n in reqs],
            "error_rate": [e / n if n else None for e, n in zip(errs, reqs, strict=True)],
            "p50_ms": [quantile(cells[k][2], 0.5) for k in keys],
            "p99_ms": [quantile(cells[k][2], 0.99) for k in keys],
        }
    return {"endpoint": endpoint, "step_s": step_s, "since": since.isoformat(), "until": until.isoformat(),
            "versions": versions}


def window_bounds(now: datetime, minutes: int) -> tuple[datetime, datetime]:
    return now - timedelta(minutes=minutes), now
