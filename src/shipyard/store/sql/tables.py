"""All SQL tables (SQLAlchemy Core). Schema changes go through Alembic migrations beside this file."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)

datasets = Table(
    "datasets", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("latest_version", Integer, nullable=False, default=0),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
)

dataset_versions = Table(
    "dataset_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("format", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("n_columns", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_version"),
    UniqueConstraint("dataset_id", "digest", name="uq_dataset_versions_digest"),
)

models = Table(
    "models", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("latest_version", Integer, nullable=False, default=0),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
)

model_versions = Table(
    "model_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(40), nullable=False),
    Column("artifact_digest", String(64), nullable=False),
    Column("artifact_size", BigInteger, nullable=False),
    Column("signature", JSON, nullable=True),
    Column("stage", String(20), nullable=False),
    Column("provenance", JSON, nullable=False),
    Column("evaluation", JSON, nullable=True),
    Column("reports", JSON, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    # gate evidence (migration 0009, issue 18): sealed by shipyard when it evaluated the gates itself
    Column("evidence", JSON, nullable=True),
    UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
)

model_aliases = Table(
    "model_aliases", metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", TS, nullable=False),
)

model_tags = Table(
    "model_tags", metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

lineage = Table(
    "lineage", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # dataset | run | parent
    Column("ref", String(300), nullable=False),  # "credit@3", a run id, "credit-risk:2"
    Column("digest", String(64), nullable=True),
    Column("role", String(40), nullable=False, default="train"),
    Index("ix_lineage_version", "version_id"),
)

stage_history = Table(
    "stage_history", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("from_stage", String(20), nullable=True),
    Column("to_stage", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("at", TS, nullable=False),
    Index("ix_stage_history_version", "version_id"),
)

approvals = Table(
    "approvals", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("decision", String(10), nullable=False),  # approve | reject
    Column("reason", Text, nullable=False, default=""),
    Column("at", TS, nullable=False),
    UniqueConstraint("version_id", "principal", "decision", name="uq_approvals_once"),
)

principals = Table(
    "principals", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", TS, nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("principal_id", Integer, ForeignKey("principals.id"), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=True),
    Column("revoked_at", TS, nullable=True),
)

audit_events = Table(
    "audit_events", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),  # ISO-8601 UTC, hashed as stored
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("before", Text, nullable=True),  # canonical JSON, hashed as stored
    Column("after", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # sha256 | hmac-sha256:<key id> (migration 0005); keyed events need SHIPYARD_AUDIT_KEY to verify
    Column("scheme", String(40), nullable=False, server_default="sha256"),
    Index("ix_audit_actor", "actor"),
    Index("ix_audit_action", "action"),
)

runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("model", String(200), nullable=True),
    Column("status", String(20), nullable=False),  # running | succeeded | failed | rejected
    Column("actor", String(200), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Column("git", JSON, nullable=True),
    Column("config", JSON, nullable=True),
    Column("result", JSON, nullable=True),
)

run_steps = Table(
    "run_steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), ForeignKey("runs.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("cache_key", String(64), nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("outputs", JSON, nullable=True),
    Column("log", Text, nullable=False, default=""),
    Index("ix_run_steps_run", "run_id"),
)

step_cache = Table(
    "step_cache", metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("step", String(100), nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
)

endpoints = Table(
    "endpoints", metadata,
    Column("name", String(200), primary_key=True),
    Column("model", String(200), nullable=False),
    # routing: {"routes": [{"version": 3, "weight": 90}, ...], "shadow": [4], "sticky_header": "x-user"}
    Column("routing", JSON, nullable=False),
    Column("generation", Integer, nullable=False, default=1),
    Column("config", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True),
    Column("endpoint", String(200), nullable=False),
    Column("request_id", String(100), nullable=False),
    Column("label", JSON, nullable=False),
    Column("at", TS, nullable=False),
    Column("row", Integer, nullable=True),  # 0-based row of a multi-row request; NULL: the whole request
    Index("ix_feedback_endpoint_request", "endpoint", "request_id"),
)

# Governance (issue 3): seq and hash of the newest audit event, updated with every append (one row, id=1).
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    # HMAC-SHA256 over (seq, hash) with SHIPYARD_AUDIT_KEY when the newest event is keyed (migration 0007)
    Column("mac", String(64), nullable=True),
)

# Rollouts (issue 15): one row per rollout of an endpoint; at most one active (progressing or paused)
# per endpoint. ``revision`` is bumped by every transition (optimistic concurrency: an UPDATE ... WHERE
# revision = :seen that matches no row lost a race and applies nothing).
rollouts = Table(
    "rollouts", metadata,
    Column("id", Integer, primary_key=True),
    Column("endpoint", String(200), nullable=False, index=True),
    Column("model", String(200), nullable=False),
    Column("strategy", String(20), nullable=False),  # canary | bluegreen | shadow | ab
    Column("state", String(20), nullable=False),  # progressing | paused | promoted | rolled_back | aborted
    Column("stable", Integer, nullable=False),  # the version serving before the rollout
    Column("candidate", Integer, nullable=False),
    Column("step", Integer, nullable=False, default=0),  # index into spec.steps
    Column("weights", JSON, nullable=False),  # {"3": 95, "4": 5}: answering weights now
    Column("spec", JSON, nullable=False),  # steps, interval_s, min_requests, checks, limits, pause_at, ...
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed analyses
    Column("inconclusive", Integer, nullable=False, default=0),  # consecutive intervals without enough data
    Column("revision", Integer, nullable=False, default=1),
    Column("reason", Text, nullable=True),  # why it paused, rolled back or was aborted
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("step_started_at", TS, nullable=False),
    Column("next_analysis_at", TS, nullable=True),
    Column("finished_at", TS, nullable=True),
)

# One analysis of one interval of a rollout: each check per version with value, threshold and verdict.
rollout_analyses = Table(
    "rollout_analyses", metadata,
    Column("id", Integer, primary_key=True),
    Column("rollout_id", Integer, ForeignKey("rollouts.id"), nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("at", TS, nullable=False),
    Column("window_start", TS, nullable=False),
    Column("window_end", TS, nullable=False),
    Column("verdict", String(20), nullable=False),  # pass | fail | inconclusive
    Column("checks", JSON, nullable=False),  # [{check, version, value, threshold, verdict, dry_run}, ...]
)

# Leader election where PostgreSQL advisory locks are not available (SQLite): a lease row with expiry.
leases = Table(
    "leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", TS, nullable=False),
)

# Live metric windows (issue 15): each gateway process flushes, every few seconds, what it served per
# endpoint x version over a window [start, end): counts, a latency histogram over fixed bucket edges
# (telemetry.windows.LATENCY_EDGES_MS) and a histogram of predictions, so N gateways add up.
metric_windows = Table(
    "metric_windows", metadata,
    Column("id", Integer, primary_key=True),
    Column("endpoint", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("gateway", String(100), nullable=False),  # host:pid of the gateway process that flushed it
    Column("shadow", Boolean, nullable=False, default=False),  # mirrored traffic (never answered)
    Column("start", TS, nullable=False),
    Column("end", TS, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("errors", Integer, nullable=False),  # 5xx answers and model errors
    Column("latency_sum_ms", Float, nullable=False),
    Column("latency_buckets", JSON, nullable=False),  # counts per LATENCY_EDGES_MS bucket (+ overflow)
    Column("predictions", JSON, nullable=False),  # {"kind": "score"|"label", "bins"|"labels": ..., "counts": ...}
    Index("ix_metric_windows_endpoint_start", "endpoint", "start"),
)

# How far each gateway process (host:pid) has flushed its metric windows: every window of it that ends at or
# before `flushed_through` is in `metric_windows`; `seen_at` is its last flush (the rollout controller waits for
# the gateways seen recently to pass the end of the interval it judges).
gateway_watermarks = Table(
    "gateway_watermarks", metadata,
    Column("gateway", String(100), primary_key=True),
    Column("flushed_through", TS, nullable=False),
    Column("seen_at", TS, nullable=False),
)

# Endpoint monitors (issue 16): one row per check run (drift, quality, performance) over a window of the
# prediction log; `metrics` holds the flat numbers alert rules read, `detail` the per-column breakdown.
monitor_results = Table(
    "monitor_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("endpoint", String(200), nullable=False),
    Column("check", String(40), nullable=False),  # drift | quality | performance
    Column("version", Integer, nullable=True),  # the version whose traffic was judged (the main answering one)
    Column("at", TS, nullable=False),
    Column("window_start", TS, nullable=True),
    Column("window_end", TS, nullable=True),
    Column("rows", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # ok | warning | critical | emergency | insufficient | error
    Column("metrics", JSON, nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_monitor_results_endpoint_check_at", "endpoint", "check", "at"),
)

# Alerts: one row per firing of a rule on an endpoint, kept while it fires (deduplicated: `last_seen_at`
# moves on), `resolved` when the condition clears; `actions` records what was done (retrain, rollback).
alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True),
    Column("endpoint", String(200), nullable=False),
    Column("rule", String(100), nullable=False),  # drift | quality | performance | an alerts[].name
    Column("check", String(40), nullable=False),
    Column("severity", String(20), nullable=False),  # warning | critical | emergency
    Column("state", String(20), nullable=False),  # firing | resolved
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("result_id", Integer, ForeignKey("monitor_results.id"), nullable=True),
    Column("fired_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("resolved_at", TS, nullable=True),
    Column("actions", JSON, nullable=False),
    Index("ix_alerts_endpoint_rule", "endpoint", "rule"),
    Index("ix_alerts_state", "state"),
)

# Batch scoring jobs (issue 19): one row per `shipyard batch score` run, inserted `running` when it starts and
# finished (`succeeded` | `failed`: past --max-bad-rate | `error`) in the transaction of its `batch.score` audit
# event; a run killed mid-way is marked `interrupted` by the next run on the same output folder. `parts` is the
# lineage: per input part its URI and sha256, the output file, counts, seconds and whether it was skipped.
batch_jobs = Table(
    "batch_jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # the version's artifact sha256
    Column("engine", String(20), nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("status", String(20), nullable=False),  # running | succeeded | failed | error | interrupted
    Column("actor", String(200), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Column("seconds", Float, nullable=True),
    Column("rows", BigInteger, nullable=True),
    Column("bad", BigInteger, nullable=True),
    Column("max_bad_rate", Float, nullable=False),
    Column("monitor_endpoint", String(200), nullable=True),  # --monitor: the endpoint whose log got the rows
    Column("logged", BigInteger, nullable=True),  # rows published to that prediction log
    Column("record", String(64), nullable=True),  # digest of the full JSON record in the artifact store
    Column("error", Text, nullable=True),
    Column("parts", JSON, nullable=False),
    Index("ix_batch_jobs_model_version", "model", "version"),
    Index("ix_batch_jobs_started_at", "started_at"),
)
