"""The gateway's options (from shipyard.yaml ``serving:``) and dependencies (routing, versions, store sinks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.serving.access import TokenSource
from shipyard.serving.routing_table import RoutingSource, VersionSource
from shipyard.store.artifacts.base import ArtifactStore

__all__ = ["GatewayDeps", "GatewayOptions"]


@dataclass
class GatewayOptions:
    max_batch_size: int = 32
    max_wait_ms: float = 2.0
    max_body_bytes: int = 8 * 1024 * 1024
    log_sample_rate: float = 1.0
    log_drop_columns: list[str] = field(default_factory=list)
    log_hash_columns: list[str] = field(default_factory=list)
    log_hash_key: bytes | None = None  # HMAC key for log_hash_columns (telemetry.prediction_log.log_hash_key)
    log_interval_s: float = 5.0
    poll_interval_s: float = 0.5
    predict_in: str = "process"  # process | thread (predict_threads; 0 = on the event loop)
    predict_threads: int | None = None
    freeze_gc: bool = True
    model_memory_mb: int | None = 2048  # the model process's address-space limit (sandbox.memory_mb)
    metrics_interval_s: float = 5.0  # metric windows: width and flush period (serving.metrics_interval)
    max_queue: int = 1024  # requests waiting per version; past it 503 queue_full
    predict_timeout_s: float = 10.0  # past it 503 timeout; a model process that hangs this long is restarted
    max_shadow_in_flight: int = 256  # mirrored requests in flight; past it a mirror is dropped (counted)
    feedback_max_labels: int = 1000
    feedback_buffer: int = 100_000
    auth_required: bool = False  # feedback needs a bearer token with the feedback permission


@dataclass
class GatewayDeps:
    routing: RoutingSource
    versions: VersionSource
    artifacts: ArtifactStore
    record_feedback: Any  # Callable[[list[tuple[str, str, int | None, Any]]], int]
    options: GatewayOptions = field(default_factory=GatewayOptions)
    # Callable[[list[dict]], int]: stores closed metric windows (telemetry.window_store.write); None: not kept
    record_windows: Any = None
    # Callable[[str, datetime, datetime], None]: how far this gateway has flushed them (window_store.mark)
    record_watermark: Any = None
    tokens: TokenSource | None = None  # valid token digests (auth: required); None: feedback needs no token
    # Callable[[Callable[[], object]], Callable[[], None] | None]: calls its argument from any thread when a routing
    # change commits (EndpointService.watch); returns how to stop. None: routing is only polled
    routing_changes: Any = None
    # child_spawn.Spawned: the model process `shipyard serve` started before the gateway (cold start); None: the
    # gateway's start-up starts one
    prestarted: Any = None
