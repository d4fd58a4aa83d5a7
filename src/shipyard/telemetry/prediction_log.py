"""The prediction log: sampled request records, buffered, flushed as Parquet by endpoint and hour.

``record`` runs on the request path: a coin flip and an append. Every ``CHUNK`` records of one
(endpoint, model version, hour) are turned into an Arrow table right there, on the thread that
records (the event loop), a fraction of a millisecond at a time. A background thread flushes every
``interval_s`` (or sooner past ``max_rows``) and on shutdown: it converts the few records of the
open chunks, concatenates the tables and encodes Parquet (pyarrow releases the GIL while encoding),
one file per (endpoint, model version, hour) at ``predictions/{endpoint}/{YYYY-MM-DD}/{HH}/{uuid}.parquet``
through ``put_object``. Configured columns are dropped or replaced by their HMAC-SHA256 under the
workspace's log hash key (``log_hash_key``) before anything is written: a plain sha256 of an e-mail or a
postcode is reversed by hashing a dictionary of candidates, a keyed hash is not without the key.

pyarrow (~60 MB resident) is imported when the first record arrives, on a thread of its own, not when the
gateway starts: a gateway that has logged nothing carries none of it (issue 18). Until the import is done
records wait in their open chunk; the flusher converts them. ``import_guard`` wraps that import and the first
conversion (the gateway keeps pandas out there: pyarrow's first conversion imports it only to recognise
DataFrames, and remembers that it is absent).

Why the conversion is not all in the flusher: a thread that holds the GIL for tens of milliseconds
of Python starves the event loop, which gives the GIL up at every socket call and waits a whole
switch interval (5 ms) to get it back; measured at 32 concurrent clients, that cut throughput by
~20 % and stretched the latency tail to ~70 ms while a flush ran.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.telemetry.ticker import Ticker

log = logging.getLogger("shipyard.serving")
CHUNK = 256  # records converted to Arrow at a time on the recording thread (~0.5 ms for single-row records)
Key = tuple[str, str, int, int]  # endpoint, model, version, hour number


BATCH_PREFIX = "batch-"  # predictions/{endpoint}/{day}/{hour}/batch-{job}-{part}.parquet: a batch job's rows
KEY_FILE = "log-hash.key"  # in the workspace's .shipyard/, mode 0600, made once


def hash_value(key: bytes, v: Any) -> str | None:
    """A logged value of a ``log_hash_columns`` column: HMAC-SHA256 of its text under the workspace key."""
    return None if v is None else hmac.new(key, str(v).encode("utf-8"), hashlib.sha256).hexdigest()


def log_hash_key(state_dir: Path, configured: bytes | None = None) -> bytes:
    """The key for hashed log columns: ``configured`` (SHIPYARD_LOG_HASH_KEY; set it when gateways on several
    machines must hash alike), else the workspace's own, generated once into ``state_dir/log-hash.key`` (0600).
    The file appears atomically (written aside, then hard-linked), so workers starting together agree."""
    if configured:
        return configured
    path = state_dir / KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / f".{KEY_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32).hex().encode("ascii"))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another worker made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


class PredictionLog:
    def __init__(self, put_object: Callable[[str, bytes], str], *, sample_rate: float = 1.0,
                 drop_columns: list[str] | None = None, hash_columns: list[str] | None = None,
                 hash_key: bytes | None = None, interval_s: float = 5.0, max_rows: int = 50_000,
                 observe: Callable[[str, str, int], None] | None = None,
                 import_guard: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        self.put_object = put_object
        self.import_guard = import_guard  # wraps the import of pyarrow and its first conversion
        # (endpoint, "written" | "dropped", rows): the gateway's shipyard_prediction_log_rows_total
        self.observe = observe or (lambda endpoint, outcome, rows: None)
        self.sample_rate = sample_rate
        self.drop = set(drop_columns or [])
        self.hash = set(hash_columns or []) - self.drop
        if self.hash and not hash_key:
            raise ValueError("hash_columns need a hash_key (log_hash_key)")  # a wiring bug, not user input
        self.hash_key = hash_key or b""
        self.interval_s, self.max_rows = interval_s, max_rows
        self._open: dict[Key, list[tuple[Any, ...]]] = {}  # records not yet converted, per key
        self._sealed: dict[Key, list[Any]] = {}  # Arrow tables of CHUNK records each, per key
        self._rows = 0
        self._flushing = False
        self._arrow_ready = False  # pyarrow imported (on the first record, by _import_arrow)
        self._arrow_started = False
        self._arrow_lock = threading.Lock()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        # a failed flush is logged and its batch dropped: a failing store must not stop the gateway
        self._ticker = Ticker(self.flush, interval_s, "shipyard-predlog", "prediction log flush failed")
        self.written: list[str] = []

    def record(self, endpoint: str, lv: Any, request_id: str, rows: Any, outputs: dict[str, Any],
               latency_ms: float, shadow: bool = False) -> None:
        """Cheap: a coin flip and an append; every ``CHUNK`` records become an Arrow table. ``shadow``: a
        mirrored request (never answered), logged with the client request's id."""
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        now = time.time()
        key = (endpoint, lv.model, lv.version, int(now // 3600))
        full = None
        with self._lock:  # the flusher swaps the buffers from its own thread
            recs = self._open.get(key)
            if recs is None:
                recs = self._open[key] = []
            recs.append((request_id, now, rows, outputs, latency_ms, lv.signature.names, shadow))
            self._rows += rows.n
            if len(recs) >= CHUNK and self._arrow_ready:
                full = self._open.pop(key)
        if not self._arrow_started:
            self._arrow_started = True
            if "pyarrow" in sys.modules:  # imported already (by something else): only the first conversion is left
                self._import_arrow()
            else:
                threading.Thread(target=self._import_arrow, name="shipyard-predlog-import", daemon=True).start()
        if full is not None:
            table = self._convert(key, full)
            if table is not None:
                with self._lock:
                    self._sealed.setdefault(key, []).append(table)
        if self._rows >= self.max_rows and not self._flushing:
            self._flushing = True
            threading.Thread(target=self.flush, daemon=True).start()

    def _import_arrow(self) -> None:
        """Import pyarrow and make its first array conversion (which probes for pandas) under ``import_guard``;
        off the event loop, once: the first record's thread starts it, a flush waits for it."""
        with self._arrow_lock:
            if self._arrow_ready:
                return
            with self.import_guard():
                import pyarrow as pa
                import pyarrow.parquet as pq

                # the calls _table and flush make; in pyarrow 26 building a table from a dict is what probes
                table = pa.table({"x": pa.array(np.zeros(1)), "s": pa.array(["s"], pa.string())})
                pq.write_table(table, io.BytesIO())
            self._arrow_ready = True

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def flush(self) -> list[str]:
        """Write everything buffered; returns the object URLs written."""
        with self._flush_lock:
            try:
                with self._lock:
                    open_, self._open = self._open, {}
                    sealed, self._sealed = self._sealed, {}
                    self._rows = 0
                if not open_ and not sealed:
                    return []
                self._import_arrow()
                import pyarrow as pa
                import pyarrow.parquet as pq

                for key, recs in open_.items():
                    converted = self._convert(key, recs)
                    if converted is not None:
                        sealed.setdefault(key, []).append(converted)
                urls = []
                for (endpoint, model, version, hour), tables in sealed.items():
                    try:
                        table = (pa.concat_tables(tables, promote_options="default") if len(tables) > 1
                                 else tables[0])
                    except (pa.ArrowException, ValueError, TypeError):  # chunks whose columns cannot be unified
                        rows = sum(t.num_rows for t in tables)
                        log.exception("prediction log: dropped %d record(s) of %s:%s (endpoint %s) that do not "
                                      "fit one table", rows, model, version, endpoint)
                        self.observe(endpoint, "dropped", rows)
                        continue
                    sink = io.BytesIO()
                    pq.write_table(table, sink)
                    when = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d/%H")
                    obj = f"predictions/{endpoint}/{when}/{uuid.uuid4().hex}.parquet"
                    try:
                        urls.append(self.put_object(obj, sink.getvalue()))
                    except Exception:  # noqa: BLE001 - the store is down: these rows are lost, the others still go
                        log.exception("prediction log: dropped %d row(s) of %s:%s (endpoint %s): the artifact store "
                                      "did not take %s", table.num_rows, model, version, endpoint, obj)
                        self.observe(endpoint, "dropped", table.num_rows)
                        continue
                    self.observe(endpoint, "written", table.num_rows)
                self.written.extend(urls)
                return urls
            finally:
                self._flushing = False

    def _convert(self, key: Key, recs: list[tuple[Any, ...]]) -> Any:
        """``_table``, or None (logged, records dropped) when the records cannot become a table — e.g. a model
        output Arrow cannot store. Recording runs on the request path: it must never fail a request."""
        try:
            return self._table(key, recs)
        except Exception:  # noqa: BLE001 - whatever numpy/pyarrow raise for these values
            log.exception("prediction log: dropped %d record(s) of %s:%s (endpoint %s): cannot convert them",
                          len(recs), key[1], key[2], key[0])
            self.observe(key[0], "dropped", sum(getattr(r[2], "n", 1) for r in recs))
            return None

    def _table(self, key: Key, recs: list[tuple[Any, ...]]) -> Any:
        """Records of one (endpoint, model, version, hour) -> an Arrow table, one row per predicted row."""
        import pyarrow as pa

        endpoint, model, version, _ = key
        names = recs[0][5]
        counts = [r[2].n for r in recs]
        total = sum(counts)
        single = total == len(recs)
        ids = [r[0] for r in recs]
        stamps = np.array([r[1] for r in recs]) * 1e6
        lat = np.array([r[4] for r in recs], dtype=np.float64)
        shadow = np.array([r[6] for r in recs], dtype=bool)
        if not single:
            ids = [i for i, n in zip(ids, counts, strict=True) for _ in range(n)]
            stamps, lat, shadow = np.repeat(stamps, counts), np.repeat(lat, counts), np.repeat(shadow, counts)
            ends = np.cumsum(counts)
            row = np.arange(total) - np.repeat(ends - counts, counts)
        else:
            row = np.zeros(total, dtype=np.int64)
        cols: dict[str, Any] = {
            "request_id": pa.array(ids, pa.string()),
            "timestamp": pa.array(stamps.astype("int64"), pa.timestamp("us", tz="UTC")),
            "endpoint": pa.repeat(pa.scalar(endpoint, pa.string()), total),
            "model": pa.repeat(pa.scalar(model, pa.string()), total),
            "version": pa.repeat(pa.scalar(version, pa.int64()), total),
            "row": pa.array(row, pa.int64()),
            "latency_ms": pa.array(lat),
            "shadow": pa.array(shadow, pa.bool_()),  # a mirrored request: its request_id is the client's
        }
        matrices = [r[2].matrix for r in recs]
        if all(m is not None for m in matrices):
            mat = np.concatenate(matrices)
            inputs: dict[str, Any] = {n: mat[:, j] for j, n in enumerate(names)}
        else:
            inputs = {n: [v for r in recs for v in (r[2].columns[n] if r[2].columns is not None
                                                     else r[2].matrix[:, j].tolist())]
                      for j, n in enumerate(names)}
        for n, vals in inputs.items():
            if n in self.drop:
                continue
            if n in self.hash:
                plain = vals.tolist() if isinstance(vals, np.ndarray) else vals
                secret = self.hash_key
                cols[f"input_{n}"] = pa.array([hash_value(secret, None if v != v else v) for v in plain],
                                              pa.string())
            elif isinstance(vals, np.ndarray):
                cols[f"input_{n}"] = pa.array(vals, from_pandas=True)  # NaN was a null in the request
            else:
                cols[f"input_{n}"] = pa.array(vals)
        cols.update(output_arrays([r[3] for r in recs]))
        return pa.table(cols)


def output_arrays(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """``output_<name>`` Arrow arrays of the model outputs of several calls, one row per predicted row:
    text for labels that are not numbers, a fixed-size list per row for 2-D outputs (probabilities)."""
    import pyarrow as pa

    cols: dict[str, Any] = {}
    for out in outputs[0]:
        arr = np.concatenate([np.asarray(o[out]) for o in outputs])
        if arr.dtype.kind not in "fiub":
            arr = arr.astype(str)
        if arr.ndim == 2:
            cols[f"output_{out}"] = pa.FixedSizeListArray.from_arrays(pa.array(arr.ravel()), arr.shape[1])
        else:
            cols[f"output_{out}"] = pa.array(arr)
    return cols


def private_inputs(table: Any, drop: set[str], hashed: set[str], key: bytes) -> Any:
    """``table`` with the ``input_<name>`` columns the log must not hold as given: ``drop`` removed, ``hashed``
    replaced by their HMAC (``hash_value``), exactly as ``PredictionLog`` treats a request's inputs."""
    import pyarrow as pa

    for name in list(table.column_names):
        n = name.removeprefix("input_")
        if name == n or (n not in drop and n not in hashed):
            continue
        i = table.column_names.index(name)
        if n in drop:
            table = table.remove_column(i)
        else:
            hashed_values = [hash_value(key, None if v != v else v) for v in table[name].to_pylist()]
            table = table.set_column(i, name, pa.array(hashed_values, pa.string()))
    return table


def read_log(artifacts: Any, endpoint: str, since: datetime | None = None, columns: list[str] | None = None,
             skipped: list[str] | None = None, batch: bool = False) -> Any:
    """Every flushed record of ``endpoint`` (optionally from ``since`` on) as one Arrow table, or None;
    ``columns``: only these (those a file has), e.g. to skip the inputs. A file that is not readable
    Parquet (written by something else, damaged) is logged and left out, its path added to ``skipped``.
    ``batch``: also the rows batch jobs logged (``BATCH_PREFIX`` files, with a ``batch_job`` column); only
    monitors and the log view read them, never a rollout's judgement of live traffic.

    Files are found by their ``predictions/{endpoint}/{YYYY-MM-DD}/{HH}/`` folder, so hours before
    ``since`` are not even read; records whose columns cannot be unified (a model version with other
    inputs) still concatenate: missing columns are null.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    first_hour = None if since is None else since.astimezone(UTC).strftime("%Y-%m-%d/%H")
    tables = []
    for path in artifacts.list_objects(f"predictions/{endpoint}/"):
        parts = path.rsplit("/", 3)
        if not path.endswith(".parquet") or len(parts) < 4 or "/".join(parts[1:3]) < (first_hour or ""):
            continue
        if not batch and parts[3].startswith(BATCH_PREFIX):
            continue
        try:
            source = pq.ParquetFile(io.BytesIO(artifacts.get_object(path)))
            names = source.schema_arrow.names
            wanted = None if columns is None else list(dict.fromkeys([*columns, "timestamp", "row"]))
            part = source.read(columns=None if wanted is None else [c for c in wanted if c in names])
            if "timestamp" not in part.column_names or "row" not in part.column_names:
                raise ValueError("no timestamp/row columns: not a prediction-log file")
        except (pa.ArrowException, OSError, ValueError) as exc:
            log.warning("prediction log: skipped %s (%s)", path, exc)
            if skipped is not None:
                skipped.append(path)
            continue
        tables.append(part)
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    if since is not None:
        table = table.filter(pc.greater_equal(table["timestamp"], pa.scalar(since, pa.timestamp("us", tz="UTC"))))
    table = table.sort_by([("timestamp", "ascending"), ("row", "ascending")])
    return table if columns is None else table.select([c for c in columns if c in table.column_names])
