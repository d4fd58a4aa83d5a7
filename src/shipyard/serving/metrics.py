"""Prometheus metrics of the gateway, per endpoint and model version.

Each gateway app owns a private ``CollectorRegistry`` (several apps can live in one test process).
With ``--workers N`` the CLI sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, so
prometheus_client backs every value by a per-process mmap file and ``/metrics`` on any worker
aggregates all of them (``MultiProcessCollector``). Label children are cached: the request path
pays a dict lookup and an increment, nothing else.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shipyard.core.windows import LATENCY_EDGES_MS

# the metric windows' edges (core.windows), in seconds: the Prometheus rollout provider reads the same buckets
LATENCY_BUCKETS = tuple(e / 1000.0 for e in LATENCY_EDGES_MS)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
UNKNOWN = "(unknown)"


class GatewayMetrics:
    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        r = self.registry = CollectorRegistry()
        self.requests = Counter("shipyard_requests", "Requests answered, by endpoint, version and protocol.",
                                ["endpoint", "version", "protocol"], registry=r)
        self.rows = Counter("shipyard_predicted_rows", "Rows predicted, by endpoint and version.",
                            ["endpoint", "version"], registry=r)
        self.errors = Counter("shipyard_request_errors", "Requests answered with an error, by HTTP status.",
                              ["endpoint", "version", "status"], registry=r)
        self.latency = Histogram("shipyard_request_latency_seconds", "Time from request to response body.",
                                 ["endpoint", "version"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch = Histogram("shipyard_batch_size", "Rows per predict call (adaptive batching).",
                               ["model", "version"], buckets=BATCH_BUCKETS, registry=r)
        self.shadow = Counter("shipyard_shadow_requests", "Mirrored requests to shadow versions, by outcome (ok | "
                              "error: the model failed | rejected: its signature refused the request).",
                              ["endpoint", "version", "outcome"], registry=r)
        self.model_errors = Counter("shipyard_model_errors", "Requests the version's model failed (5xx, model "
                                    "errors; not client errors).", ["endpoint", "version"], registry=r)
        self.shadow_rows = Counter("shipyard_shadow_rows", "Rows predicted by shadow versions.",
                                   ["endpoint", "version"], registry=r)
        self.shadow_latency = Histogram("shipyard_shadow_latency_seconds", "Time a shadow version took to answer.",
                                        ["endpoint", "version"], buckets=LATENCY_BUCKETS, registry=r)
        self.loads = Counter("shipyard_model_loads", "Model version loads, by outcome (ok | failed).",
                             ["model", "version", "outcome"], registry=r)
        self.predlog = Counter("shipyard_prediction_log_rows", "Prediction-log rows flushed to the artifact store "
                               "(written) or lost (dropped: unconvertible, or the store refused them).",
                               ["endpoint", "outcome"], registry=r)
        self.feedback = Counter("shipyard_feedback_labels", "Feedback labels accepted, by endpoint.", ["endpoint"],
                                registry=r)
        self.shed = Counter("shipyard_requests_shed", "Requests answered 503 under overload, by reason "
                            "(queue_full: serving.max_queue reached; timeout: past serving.predict_timeout).",
                            ["endpoint", "version", "reason"], registry=r)
        self.feedback_dropped = Counter("shipyard_feedback_dropped", "Feedback labels dropped: the buffer "
                                        "(serving.feedback_buffer) was full while the store was unreachable.",
                                        ["endpoint"], registry=r)
        self.restarts = Counter("shipyard_model_process_restarts", "Model processes killed after not answering "
                                "within serving.predict_timeout.", registry=r)
        self.generation = Gauge("shipyard_routing_generation", "Routing generation in effect, per endpoint.",
                                ["endpoint"], registry=r, multiprocess_mode="max")
        self.generation_time = Gauge("shipyard_routing_generation_timestamp_seconds", "When the routing "
                                     "generation in effect took effect in this gateway (Unix time), per endpoint.",
                                     ["endpoint"], registry=r, multiprocess_mode="max")
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._cache.get(key)
        if child is None:
            child = self._cache[key] = metric.labels(*labels)
        return child

    def observe_request(self, endpoint: str, version: str, protocol: str, seconds: float, rows: int) -> None:
        self._child(self.requests, endpoint, version, protocol).inc()
        self._child(self.rows, endpoint, version).inc(rows)
        self._child(self.latency, endpoint, version).observe(seconds)

    def observe_model_error(self, endpoint: str, version: str, seconds: float) -> None:
        self._child(self.model_errors, endpoint, version).inc()
        self._child(self.latency, endpoint, version).observe(seconds)

    def observe_shadow_answer(self, endpoint: str, version: int, seconds: float, rows: int) -> None:
        v = str(version)
        self._child(self.shadow, endpoint, v, "ok").inc()
        self._child(self.shadow_rows, endpoint, v).inc(rows)
        self._child(self.shadow_latency, endpoint, v).observe(seconds)

    def declare_versions(self, endpoint: str, answering: tuple[int, ...], shadows: tuple[int, ...]) -> None:
        """Create the series of an endpoint's versions at 0 when routing takes effect, so Prometheus sees a
        version's counters before its first request (``increase`` cannot count a series' first sample)."""
        for v in map(str, answering):
            for protocol in ("v1", "v2"):
                self._child(self.requests, endpoint, v, protocol)
            self._child(self.rows, endpoint, v)
            self._child(self.model_errors, endpoint, v)
            self._child(self.latency, endpoint, v)
        for v in map(str, shadows):
            for outcome in ("ok", "error"):
                self._child(self.shadow, endpoint, v, outcome)
            self._child(self.shadow_rows, endpoint, v)
            self._child(self.shadow_latency, endpoint, v)

    def observe_error(self, endpoint: str, version: str, status: int) -> None:
        self._child(self.errors, endpoint or UNKNOWN, version, str(status)).inc()

    def batch_observer(self, model: str, version: int) -> Any:
        return self._child(self.batch, model, str(version)).observe

    def observe_shadow(self, endpoint: str, version: int, outcome: str) -> None:
        self._child(self.shadow, endpoint, str(version), outcome).inc()

    def observe_load(self, model: str, version: int, outcome: str) -> None:
        self._child(self.loads, model, str(version), outcome).inc()

    def observe_predlog(self, endpoint: str, outcome: str, rows: int) -> None:
        self._child(self.predlog, endpoint, outcome).inc(rows)

    def observe_feedback(self, endpoint: str, labels: int) -> None:
        self._child(self.feedback, endpoint).inc(labels)

    def observe_shed(self, endpoint: str, version: str, reason: str) -> None:
        self._child(self.shed, endpoint, version, reason).inc()

    def observe_feedback_dropped(self, endpoint: str, labels: int) -> None:
        self._child(self.feedback_dropped, endpoint).inc(labels)

    def set_generation(self, endpoint: str, generation: int) -> None:
        self._child(self.generation, endpoint).set(generation)
        self._child(self.generation_time, endpoint).set_to_current_time()

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            reg = CollectorRegistry()
            multiprocess.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
            return generate_latest(reg), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
