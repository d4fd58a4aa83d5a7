"""The Prometheus metric provider: PromQL over Prometheus' HTTP API (``/api/v1/query``), per version.

It reads what Prometheus scraped from the gateways' ``/metrics`` (``serving/metrics.py``): for answering
versions ``shipyard_requests_total`` (answered) plus ``shipyard_model_errors_total`` (the model failed),
``shipyard_predicted_rows_total`` and the ``shipyard_request_latency_seconds`` histogram, whose buckets are
``core.windows.LATENCY_EDGES_MS`` (in seconds); for shadows ``shipyard_shadow_requests_total{outcome="ok"|
"error"}``, ``shipyard_shadow_rows_total`` and ``shipyard_shadow_latency_seconds``. Each is
``sum by (version) (increase(metric{endpoint="E"}[end - start]))`` evaluated at ``end``, so gateways add
up and counter resets (a restarted gateway) are handled by Prometheus. ``increase`` extrapolates to the
window's edges, so counts are rounded and may differ from the exact number by a few percent (of the
sampled span over the window); the builtin provider counts exactly. The prediction histogram is not in
Prometheus (``predictions`` is empty). An unreachable server or an error answer is an ``UnavailableError``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from shipyard.core.windows import LATENCY_EDGES_MS, N_LATENCY_BUCKETS, bucket_of
from shipyard.errors import UnavailableError
from shipyard.rollout.providers.base import PROVIDERS, VersionMetrics


class PrometheusProvider:
    name = "prometheus"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def query(self, endpoint: str, start: datetime, end: datetime) -> dict[int, VersionMetrics]:
        ms = int(round((end - start).total_seconds() * 1000))
        if ms <= 0:
            return {}
        sel = '{endpoint="' + endpoint.replace("\\", "\\\\").replace('"', '\\"') + '"}'
        at = end.timestamp()

        def inc(metric: str, by: str = "version") -> list[tuple[dict[str, str], float]]:
            return self._vector(f"sum by ({by}) (increase({metric}{sel}[{ms}ms]))", at)

        out: dict[int, VersionMetrics] = {}
        for shadow, req, err, rows, lat in (
                (False, "shipyard_requests_total", "shipyard_model_errors_total", "shipyard_predicted_rows_total",
                 "shipyard_request_latency_seconds"),
                (True, None, None, "shipyard_shadow_rows_total", "shipyard_shadow_latency_seconds")):
            requests: dict[int, float] = {}
            errors: dict[int, float] = {}
            if shadow:
                for labels, v in inc("shipyard_shadow_requests_total", "version, outcome"):
                    if labels.get("outcome") in ("ok", "error"):
                        _add(requests, labels, v)
                    if labels.get("outcome") == "error":
                        _add(errors, labels, v)
            else:
                for labels, v in inc(req or ""):
                    _add(requests, labels, v)
                for labels, v in inc(err or ""):
                    _add(requests, labels, v)
                    _add(errors, labels, v)
            n_rows: dict[int, float] = {}
            for labels, v in inc(rows):
                _add(n_rows, labels, v)
            sums: dict[int, float] = {}
            for labels, v in inc(lat + "_sum"):
                _add(sums, labels, v)
            buckets: dict[int, dict[float, float]] = {}
            for labels, v in inc(lat + "_bucket", "version, le"):
                version = _version(labels)
                if version is not None:
                    le = float(labels.get("le", "+Inf"))
                    buckets.setdefault(version, {})[le] = buckets.get(version, {}).get(le, 0.0) + v
            for version, n in requests.items():
                if round(n) <= 0 or (shadow and version in out):
                    continue
                out[version] = VersionMetrics(
                    version, shadow, int(round(n)), int(round(n_rows.get(version, 0.0))),
                    int(round(errors.get(version, 0.0))), sums.get(version, 0.0) * 1000.0,
                    _per_bucket(buckets.get(version, {})), {})
        return out

    def _vector(self, promql: str, at: float) -> list[tuple[dict[str, str], float]]:
        import httpx

        try:
            resp = httpx.get(f"{self.url}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"},
                             timeout=self.timeout)
            doc: Any = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UnavailableError(f"prometheus at {self.url}: {type(exc).__name__}: {exc}", field="url",
                                   value=self.url, expected="a reachable Prometheus server") from exc
        if resp.status_code != 200 or not isinstance(doc, dict) or doc.get("status") != "success":
            msg = doc.get("error") if isinstance(doc, dict) else None
            raise UnavailableError(f"prometheus at {self.url} answered {resp.status_code} to {promql!r}: {msg}",
                                   field="query", value=promql, expected="a successful PromQL query")
        result = (doc.get("data") or {}).get("result") or []
        return [(r.get("metric") or {}, float(r["value"][1])) for r in result]


def _version(labels: dict[str, str]) -> int | None:
    v = labels.get("version", "")
    return int(v) if v.isdigit() else None


def _add(acc: dict[int, float], labels: dict[str, str], value: float) -> None:
    version = _version(labels)
    if version is not None and value == value:  # NaN: no samples
        acc[version] = acc.get(version, 0.0) + value


def _per_bucket(cumulative: dict[float, float]) -> tuple[int, ...]:
    """Prometheus' cumulative ``le`` buckets (seconds) -> counts per LATENCY_EDGES_MS bucket (+ overflow)."""
    if not cumulative:
        return ()
    cum = [0.0] * N_LATENCY_BUCKETS
    for le, c in cumulative.items():
        # le is the edge in seconds as text: match it to its edge despite the last digits of ms / 1000
        i = len(LATENCY_EDGES_MS) if math.isinf(le) else bucket_of(le * 1000.0 * (1 - 1e-9))
        cum[i] = max(cum[i], c)
    counts, prev = [], 0.0
    for c in cum:
        c = max(c, prev)  # a missing bucket holds the count below it
        counts.append(int(round(c - prev)))
        prev = c
    return tuple(counts)


PROVIDERS["prometheus"] = PrometheusProvider
