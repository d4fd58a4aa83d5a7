"""The prediction log: sampled request records, buffered, flushed as Parquet by endpoint and hour.

``record`` runs on the request path and only appends a tuple to a list (after the sampling coin).
A background thread flushes every ``interval_s`` (or sooner past ``max_rows``) and on shutdown:
one Parquet file per (endpoint, model version, hour) at
``predictions/{endpoint}/{YYYY-MM-DD}/{HH}/{uuid}.parquet`` through ``put_object``. Configured
columns are dropped or replaced by their sha256 before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from shipyard.serving.ticker import Ticker

log = logging.getLogger("shipyard.serving")
CHUNK = 4096


def _hash(v: Any) -> str | None:
    return None if v is None else hashlib.sha256(str(v).encode("utf-8")).hexdigest()


class PredictionLog:
    def __init__(self, put_object: Callable[[str, bytes], str], *, sample_rate: float = 1.0,
                 drop_columns: list[str] | None = None, hash_columns: list[str] | None = None,
                 interval_s: float = 5.0, max_rows: int = 50_000) -> None:
        self.put_object = put_object
        self.sample_rate = sample_rate
        self.drop = set(drop_columns or [])
        self.hash = set(hash_columns or []) - self.drop
        self.interval_s, self.max_rows = interval_s, max_rows
        self._buf: list[tuple[Any, ...]] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        # a failed flush is logged and its batch dropped: a failing store must not stop the gateway
        self._ticker = Ticker(self.flush, interval_s, "shipyard-predlog", "prediction log flush failed")
        self.written: list[str] = []

    def record(self, endpoint: str, lv: Any, request_id: str, rows: Any, outputs: dict[str, Any],
               latency_ms: float) -> None:
        """Cheap: a coin flip and an append; conversion happens at flush time."""
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        rec = (endpoint, lv.model, lv.version, lv.signature.names, request_id, time.time(), rows, outputs,
               latency_ms)
        with self._lock:  # the flusher swaps the buffer from its own thread
            self._buf.append(rec)
            self._rows += rows.n
        if self._rows >= self.max_rows:
            threading.Thread(target=self.flush, daemon=True).start()

    def start(self) -> None:
        # Import pyarrow now: a first import inside the flusher holds the GIL for ~0.5 s mid-traffic.
        import pyarrow.parquet  # noqa: F401

        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def flush(self) -> list[str]:
        """Write everything buffered; returns the object URLs written."""
        with self._flush_lock:
            with self._lock:
                buf, self._buf, self._rows = self._buf, [], 0
            if not buf:
                return []
            groups: dict[tuple[str, str, int, int], list[tuple[Any, ...]]] = {}
            for rec in buf:  # group by hour number (an integer division, not a strftime per record)
                groups.setdefault((rec[0], rec[1], rec[2], int(rec[5] // 3600)), []).append(rec)
            urls = []
            for (endpoint, _model, _version, hour), recs in groups.items():
                data = self._parquet(recs)
                when = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d/%H")
                key = f"predictions/{endpoint}/{when}/{uuid.uuid4().hex}.parquet"
                urls.append(self.put_object(key, data))
            self.written.extend(urls)
            return urls

    def _parquet(self, recs: list[tuple[Any, ...]]) -> bytes:
        """Columns built in chunks of ``CHUNK`` records: each numpy/arrow call holds the GIL briefly, so the
        event loop is not stalled for the whole buffer (a 65k-record buffer in one go was a ~50 ms stall)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [self._table(recs[i:i + CHUNK]) for i in range(0, len(recs), CHUNK)]
        sink = io.BytesIO()
        table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        pq.write_table(table, sink)
        return sink.getvalue()

    def _table(self, recs: list[tuple[Any, ...]]) -> Any:
        import pyarrow as pa

        names = recs[0][3]
        counts = np.array([r[6].n for r in recs])
        cols: dict[str, Any] = {
            "request_id": pa.array(np.repeat(np.array([r[4] for r in recs], dtype=object), counts), pa.string()),
            "timestamp": pa.array(np.repeat(np.array([r[5] for r in recs]) * 1e6, counts).astype("int64"),
                                  pa.timestamp("us", tz="UTC")),
            "endpoint": pa.array(np.repeat(np.array([r[0] for r in recs], dtype=object), counts), pa.string()),
            "model": pa.array(np.repeat(np.array([r[1] for r in recs], dtype=object), counts), pa.string()),
            "version": pa.array(np.repeat(np.array([r[2] for r in recs]), counts), pa.int64()),
            "row": pa.array(np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts), pa.int64()),
            "latency_ms": pa.array(np.repeat(np.array([r[8] for r in recs], dtype=np.float64), counts)),
        }
        matrices = [r[6].matrix for r in recs]
        if all(m is not None for m in matrices):
            mat = np.concatenate(matrices)
            inputs: dict[str, Any] = {n: mat[:, j] for j, n in enumerate(names)}
        else:
            inputs = {n: [v for r in recs for v in (r[6].columns[n] if r[6].columns is not None
                                                     else r[6].matrix[:, j].tolist())]
                      for j, n in enumerate(names)}
        for n, vals in inputs.items():
            if n in self.drop:
                continue
            if n in self.hash:
                plain = vals.tolist() if isinstance(vals, np.ndarray) else vals
                cols[f"input_{n}"] = pa.array([_hash(None if v != v else v) for v in plain], pa.string())
            elif isinstance(vals, np.ndarray):
                cols[f"input_{n}"] = pa.array(vals, from_pandas=True)  # NaN was a null in the request
            else:
                cols[f"input_{n}"] = pa.array(vals)
        for key in recs[0][7]:
            arr = np.concatenate([np.asarray(r[7][key]) for r in recs])
            if arr.dtype.kind not in "fiub":
                arr = arr.astype(str)
            if arr.ndim == 2:
                cols[f"output_{key}"] = pa.FixedSizeListArray.from_arrays(pa.array(arr.ravel()), arr.shape[1])
            else:
                cols[f"output_{key}"] = pa.array(arr)
        return pa.table(cols)
