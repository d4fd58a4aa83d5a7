"""Batch predictions into an endpoint's prediction log (``shipyard batch score --monitor ENDPOINT``).

The monitors (drift, data quality, performance with CBPE) judge an endpoint's prediction log; a batch job
that scores the same model feeds them the same way the gateways do, as Seldon's batch processor does by
sending its rows through the deployment's request logger, rather than a second monitoring path beside it.
Each part's sampled rows (``score.sampled``: a hash of part and row, so a rerun logs the same rows) are
written by the worker to ``DIR/_monitor/<stem>.parquet`` with the part; the driver publishes them as one
prediction-log file ``predictions/{endpoint}/{day}/{hour}/batch-{job}-{stem}.parquet`` with the gateway's
columns (``request_id`` = ``{job}:{stem}``, ``row`` = the row in the part, the version, the time the part
was scored, ``input_*`` after the workspace's ``log_drop_columns``/``log_hash_columns``, ``output_*``) plus
``batch_job``. ``latency_ms`` is null: a batch row has no request latency.

Exactly once: the file's name and time come from the part's manifest entry (the job that scored it and
when), written before the file is published and marked published after; a run killed in between publishes
the same name again, which replaces the file. Rollouts never read these files (``read_log(batch=False)``):
a canary is judged on live traffic only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.batch.parts import MONITOR
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.telemetry.prediction_log import BATCH_PREFIX


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how a job's rows are logged."""

    endpoint: str
    sample: float
    drop: frozenset[str]
    hashed: frozenset[str]
    key: bytes

    def wants(self, entry: dict[str, Any]) -> bool:
        """Whether a finished part's manifest entry already has (or is about to have) its rows logged here."""
        log = entry.get("log") or {}
        return bool(log.get("endpoint") == self.endpoint and log.get("sample") == self.sample)


def resolve(ws: Any, endpoint: str, model: str, sample: float | None) -> Target:
    """The endpoint to log to: it must exist and serve ``model`` (its monitors judge that model's versions
    against their training data). ``sample`` defaults to ``serving.log_sample_rate``, as for live traffic.

    Raises:
        InvalidInputError: no such endpoint, another model, or a sample rate outside (0, 1].
    """
    from shipyard.config import STATE_DIR
    from shipyard.telemetry.prediction_log import log_hash_key

    try:
        ep = ws.endpoints.get(endpoint)
    except NotFoundError:
        raise InvalidInputError(f"--monitor: no endpoint {endpoint!r}", field="--monitor", value=endpoint,
                                expected="an existing endpoint (see `shipyard endpoints list`)") from None
    if ep.model != model:
        raise InvalidInputError(f"--monitor: endpoint {endpoint} serves model {ep.model}, not {model}",
                                field="--monitor", value=endpoint, expected=f"an endpoint serving {model}")
    cfg = ws.config.serving
    rate = cfg.log_sample_rate if sample is None else sample
    if not 0.0 < rate <= 1.0:
        raise InvalidInputError(field="--monitor-sample", value=rate, expected="a fraction in (0, 1]")
    hashed = frozenset(cfg.log_hash_columns) - frozenset(cfg.log_drop_columns)
    key = log_hash_key(ws.root / STATE_DIR, ws.settings.log_hash_key_bytes()) if hashed else b""
    return Target(endpoint, rate, frozenset(cfg.log_drop_columns), hashed, key)


def object_key(endpoint: str, job: str, stem: str, at: datetime) -> str:
    return f"predictions/{endpoint}/{at.strftime('%Y-%m-%d/%H')}/{BATCH_PREFIX}{job}-{stem}.parquet"


def publish(artifacts: Any, target: Target, out_dir: Path, part_name: str, entry: dict[str, Any]) -> str | None:
    """Publish the part's ``_monitor/`` rows as the manifest ``entry`` describes (job, version, time);
    returns the object written, or None when no row was sampled (no file). The monitor file is removed by
    ``forget`` once the manifest records the publication."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shipyard.telemetry.prediction_log import private_inputs

    source = out_dir / MONITOR / part_name
    if not source.exists():
        return None
    table = private_inputs(pq.read_table(source), set(target.drop), set(target.hashed), target.key)
    n = table.num_rows
    at = datetime.fromisoformat(entry["at"])
    job, stem = str(entry["job"]), part_name.removesuffix(".parquet")
    head = {
        "request_id": pa.repeat(pa.scalar(f"{job}:{stem}", pa.string()), n),
        "timestamp": pa.repeat(pa.scalar(at, pa.timestamp("us", tz="UTC")), n),
        "endpoint": pa.repeat(pa.scalar(target.endpoint, pa.string()), n),
        "model": pa.repeat(pa.scalar(entry["model"], pa.string()), n),
        "version": pa.repeat(pa.scalar(int(entry["version"]), pa.int64()), n),
        "row": table["row"],
        "latency_ms": pa.nulls(n, pa.float64()),
        "shadow": pa.repeat(pa.scalar(False), n),
        "batch_job": pa.repeat(pa.scalar(job, pa.string()), n),
    }
    rest = {c: table[c] for c in table.column_names if c != "row"}
    sink = io.BytesIO()
    pq.write_table(pa.table({**head, **rest}), sink)
    key = object_key(target.endpoint, job, stem, at)
    artifacts.put_object(key, sink.getvalue())
    return key


def forget(out_dir: Path, part_name: str) -> None:
    """The part's monitor file, once published and recorded (rows stay only in the prediction log)."""
    (out_dir / MONITOR / part_name).unlink(missing_ok=True)
