"""The per-part function: read a part in chunks, check rows against the signature, predict, write Parquet.

Output and quarantine files are written under a temporary name and renamed when complete, so a part's
output either exists whole or not at all; the same part always writes the same file name, so a rerun
replaces rather than duplicates it. With a sample rate for monitoring, the sampled rows' inputs and outputs
go to ``_monitor/<stem>.parquet`` the same way (``service`` publishes them to the endpoint's prediction log).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.batch.checks import check_chunk
from shipyard.batch.parts import MONITOR, QUARANTINE, Part, read_chunks
from shipyard.serving.runtime import Outputs
from shipyard.serving.signature import Rows, Signature


@dataclass(frozen=True, slots=True)
class Scorer:
    """What every part needs: the version's identity, its compiled signature, and its predict function."""

    model: str
    version: int
    signature: Signature
    predict: Callable[[Rows], Outputs]
    classes: list[Any] | None


@dataclass(frozen=True, slots=True)
class PartResult:
    rows: int
    bad: int
    seconds: float
    logged: int = 0  # rows sampled into _monitor/ for the prediction log


def _ids(part: Part, idx: np.ndarray) -> Any:
    """``<stem>:<row>`` for each row index, built in Arrow (a Python f-string per row costs ~10 % of a job)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    prefix = pa.scalar(part.out_name.removesuffix(".parquet") + ":")
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(idx, type=pa.int64()), pa.string()), "")


def _proba_name(label: Any) -> str:
    return f"proba_{label}"


def _output_frame(scorer: Scorer, part: Part, idx: np.ndarray, out: Outputs) -> Any:
    import pyarrow as pa

    n = len(idx)
    pred = np.asarray(out["predict"])
    # one value per part: dictionary columns (int8 indices), so neither 250k copies of the string are built
    # nor the Parquet writer hashes each to find the one dictionary entry
    zeros = pa.array(np.zeros(n, dtype=np.int8))
    frame: dict[str, Any] = {
        "row_id": _ids(part, idx),
        "part": pa.DictionaryArray.from_arrays(zeros, pa.array([part.out_name.removesuffix(".parquet")])),
        "row": pa.array(idx, type=pa.int64()),
        "model": pa.DictionaryArray.from_arrays(zeros, pa.array([scorer.model])),
        "version": pa.array(np.full(n, scorer.version, dtype=np.int64)),
        "prediction": pa.array(pred.tolist() if pred.dtype == object else pred),
    }
    proba = out.get("predict_proba")
    if proba is not None:
        labels = scorer.classes or list(range(proba.shape[1]))
        for j, label in enumerate(labels):
            frame[_proba_name(label)] = pa.array(np.ascontiguousarray(proba[:, j], dtype=np.float64))
    return pa.table(frame)


def sampled(part: Part, idx: np.ndarray, rate: float) -> np.ndarray:
    """Which rows (by index in the part) go to the prediction log at ``rate``: a hash of (part, row), so a
    rerun of the part logs the same rows (SplitMix64 over the row index offset by the part name's hash)."""
    if rate >= 1.0:
        return np.ones(len(idx), dtype=bool)
    seed = int.from_bytes(hashlib.sha256(part.out_name.encode()).digest()[:8], "little")
    with np.errstate(over="ignore"):
        x = idx.astype(np.uint64) + np.uint64(seed)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) < rate * float(1 << 53)


def _monitor_frame(scorer: Scorer, rows: Rows, idx: np.ndarray, out: Outputs, keep: np.ndarray) -> Any:
    """The sampled rows as the gateway's prediction log holds them (``input_*``, ``output_*``), keyed by
    ``row``; the driver adds the endpoint, version, time and job when it publishes them."""
    import pyarrow as pa

    from shipyard.telemetry.prediction_log import output_arrays

    cols: dict[str, Any] = {"row": pa.array(idx[keep], type=pa.int64())}
    for j, name in enumerate(scorer.signature.names):
        if rows.matrix is not None:
            cols[f"input_{name}"] = pa.array(np.ascontiguousarray(rows.matrix[keep, j]), from_pandas=True)
        else:
            assert rows.columns is not None
            cols[f"input_{name}"] = pa.array([v for v, k in zip(rows.columns[name], keep, strict=True) if k])
    cols.update(output_arrays([{k: np.asarray(v)[keep] for k, v in out.items()}]))
    return pa.table(cols)


def _quarantine_frame(part: Part, df: pd.DataFrame, offset: int, reasons: dict[int, str]) -> pd.DataFrame:
    local = np.array(sorted(reasons), dtype=np.int64)
    idx = local + offset
    raw = [json.dumps(df.iloc[i].to_dict(), default=str) for i in local.tolist()]
    return pd.DataFrame({"row_id": _ids(part, idx).to_pylist(), "part": part.out_name.removesuffix(".parquet"),
                         "row": idx, "reason": [reasons[i] for i in local.tolist()], "values": raw})


class _Writer:
    """A Parquet file written chunk by chunk to ``.NAME.tmp-PID`` and renamed to NAME on ``commit``.

    Dictionary encoding only where values repeat (the part, model, version, a label): trying it on the
    unique row ids and probabilities costs ~40 % of the writing time and then falls back anyway."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.writer: Any = None

    def write(self, df: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
        if self.writer is None:
            repeated = [f.name for f in table.schema if f.name in REPEATED
                        and not pa.types.is_floating(f.type)]
            self.writer = pq.ParquetWriter(self.tmp, table.schema, use_dictionary=repeated)
        self.writer.write_table(table.cast(self.writer.schema))

    def commit(self, empty: Any) -> None:
        if self.writer is None:
            if empty is None:
                self.path.unlink(missing_ok=True)  # nothing to write: no stale file from an earlier run either
                return
            self.write(empty)
        self.writer.close()
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.path)


REPEATED = frozenset({"part", "model", "version", "prediction", "output_predict"})


class _Inline:
    """An executor that runs each call now, in the caller's thread (a Dask or Ray task writes as it goes)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(fn(*args))
        return done


def _write_output(out: _Writer, scorer: Scorer, part: Part, idx: np.ndarray, pred: Outputs) -> None:
    out.write(_output_frame(scorer, part, idx, pred))


def score_part(scorer: Scorer, part: Part, out_dir: Path, chunk_rows: int, sample: float = 0.0) -> PartResult:
    """Score one part into ``out_dir/<stem>.parquet``, writing in this thread (see ``start_part``)."""
    return start_part(scorer, part, out_dir, chunk_rows, sample, _Inline()).result()  # type: ignore[arg-type]


def start_part(scorer: Scorer, part: Part, out_dir: Path, chunk_rows: int, sample: float,
               writes: Executor, after: Future[Any] | None = None) -> Future[PartResult]:
    """Score one part into ``out_dir/<stem>.parquet`` (and ``_quarantine/<stem>.parquet`` for bad rows;
    with ``sample`` > 0, ``_monitor/<stem>.parquet`` for the rows to log). The monitor and quarantine files
    are renamed into place before the output, so a part whose output exists has them too.

    This thread reads, checks and predicts; building and writing the output (and the renames) go to
    ``writes``, a single thread, in order, one chunk behind: the next chunk (or, with ``after``, the
    previous part's last work, the next part) is read and checked while the last one is written, and the
    write is waited for before the next predict, so it never competes with the model's threads. The
    returned future is done when the files are in place; if a write failed it raises that error and
    nothing is renamed."""
    start = time.perf_counter()
    (out_dir / QUARANTINE).mkdir(parents=True, exist_ok=True)
    out = _Writer(out_dir / part.out_name)
    bad_out = _Writer(out_dir / QUARANTINE / part.out_name)
    mon_out = None
    if sample > 0:
        (out_dir / MONITOR).mkdir(parents=True, exist_ok=True)
        mon_out = _Writer(out_dir / MONITOR / part.out_name)
    rows = bad = logged = 0
    queued: list[Future[Any]] = [] if after is None else [after]
    for chunk in read_chunks(part, chunk_rows):
        checked, df = check_chunk(scorer.signature, chunk)
        del chunk  # the record batch's buffers go back now, not when the next one is read
        if queued:
            queued[-1].result()  # at most one chunk's output waits to be written
        if checked.rows is not None:
            idx = np.flatnonzero(checked.good) + rows
            pred = scorer.predict(checked.rows)
            if mon_out is not None and (keep := sampled(part, idx, sample)).any():
                queued.append(writes.submit(mon_out.write, _monitor_frame(scorer, checked.rows, idx, pred, keep)))
                logged += int(keep.sum())
            queued.append(writes.submit(_write_output, out, scorer, part, idx, pred))
            del pred
        if checked.reasons:
            queued.append(writes.submit(bad_out.write, _quarantine_frame(part, df, rows, checked.reasons)))
        rows += len(checked.good)
        bad += len(checked.reasons)
        del checked, df

    if after is not None:
        queued.pop(0)  # the previous part's: its error is its own

    def finish() -> PartResult:
        for f in queued:  # all done (one thread, in order): re-raises a failed write before any rename
            f.result()
        import pyarrow as pa

        label = pa.dictionary(pa.int8(), pa.string())
        empty = pa.schema([("row_id", pa.string()), ("part", label), ("row", pa.int64()), ("model", label),
                           ("version", pa.int64())]).empty_table()
        bad_out.commit(None)
        if mon_out is not None:
            mon_out.commit(None)
        out.commit(empty)
        return PartResult(rows, bad, time.perf_counter() - start, logged)

    return writes.submit(finish)
