"""What an endpoint's gateways logged, joined with the feedback clients sent: per version and recent rows.

The join: feedback for (request id, row) labels that row; feedback for a whole request (no row) labels it
when the request predicted one row only (for several rows it cannot be told which one it means; send
``row`` or ``labels`` for those). A version's predictions
are compared with their labels as accuracy when they are labels (text, integers, booleans) and as the
mean absolute error when they are floats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RECENT_MAX = 1000
COLUMNS = ["request_id", "timestamp", "version", "row", "latency_ms", "output_predict"]  # what the view reads


@dataclass
class PredictionLogView:
    endpoint: str
    since: str | None
    rows: int = 0
    requests: int = 0
    versions: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)  # in the log folder but not prediction-log Parquet
    feedback: int = 0  # labels stored for the endpoint
    # labels that label no logged row here: request not sampled, older than `since`, or an id never served
    # (the gateway accepts any id: another replica may have served it, and the log is sampled)
    feedback_unmatched: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(endpoint: str, since: str | None, table: Any, feedback: dict[tuple[str, int | None], Any],
              limit: int = 10) -> PredictionLogView:
    """``table``: ``read_log``'s Arrow table (or None); ``feedback``: (request id, row or None for the whole
    request) -> label (the latest). Vectorised over the log (millions of rows); Python only touches labelled
    and listed rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    view = PredictionLogView(endpoint, since, feedback=len(feedback), feedback_unmatched=len(feedback))
    if table is None or table.num_rows == 0:
        return view
    rid, row = table["request_id"], table["row"]
    whole = {r: lbl for (r, k), lbl in feedback.items() if k is None}
    per_row = {f"{r}\x1f{k}": lbl for (r, k), lbl in feedback.items() if k is not None}
    multi = pc.unique(pc.filter(rid, pc.greater(row, 0)))  # requests that predicted several rows
    single = pc.invert(pc.is_in(rid, value_set=multi))
    keys = pc.binary_join_element_wise(rid, pc.cast(row, pa.string()), "\x1f")
    view.feedback_unmatched = (
        len(whole) - _true(pc.is_in(pa.array(list(whole), pa.string()), value_set=pc.filter(rid, single)))
        + len(per_row) - _true(pc.is_in(pa.array(list(per_row), pa.string()), value_set=keys)))
    labelled = pc.or_(pc.and_(single, pc.is_in(rid, value_set=pa.array(list(whole), pa.string()))),
                      pc.is_in(keys, value_set=pa.array(list(per_row), pa.string()))).to_numpy(zero_copy_only=False)

    def label_of(key: str, request: str, one: bool) -> Any:
        return per_row.get(key, whole.get(request) if one else None)

    versions = table["version"].to_numpy()
    first = row.to_numpy() == 0
    latency = table["latency_ms"].to_numpy(zero_copy_only=False).astype(float)
    stamps = table["timestamp"]
    preds = table["output_predict"] if "output_predict" in table.column_names else pa.nulls(table.num_rows)
    view.rows, view.requests = table.num_rows, int(first.sum())
    for version in np.unique(versions):
        mine = versions == version
        lat = latency[mine & first]
        lat = lat[~np.isnan(lat)]  # rows a batch job logged have no latency
        at = pc.filter(stamps, pa.array(mine))
        item: dict[str, Any] = {
            "version": int(version), "requests": int((mine & first).sum()), "rows": int(mine.sum()),
            "first": pc.min(at).as_py().isoformat(), "last": pc.max(at).as_py().isoformat(),
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
            "latency_p99_ms": round(float(np.percentile(lat, 99)), 3) if len(lat) else None,
            "labelled": int((mine & labelled).sum()), "accuracy": None, "mae": None,
        }
        done = np.flatnonzero(mine & labelled)
        if len(done):
            at_rows = pa.array(done)
            got = pc.take(preds, at_rows)
            labels = [label_of(k, r, o) for k, r, o in zip(pc.take(keys, at_rows).to_pylist(),
                                                            pc.take(rid, at_rows).to_pylist(),
                                                            pc.take(single, at_rows).to_pylist(), strict=True)]
            if pa.types.is_floating(got.type):
                values = np.asarray([_number(v) for v in labels], dtype=float)
                ok = ~np.isnan(values)
                diff = np.abs(got.to_numpy(zero_copy_only=False)[ok] - values[ok])
                item["mae"] = round(float(diff.mean()), 6) if ok.any() else None
            else:
                hits = [str(p) == str(lbl) for p, lbl in zip(got.to_pylist(), labels, strict=True)]
                item["accuracy"] = round(sum(hits) / len(hits), 6)
        view.versions.append(item)
    n = max(0, min(limit, RECENT_MAX, table.num_rows))
    tail = table.slice(table.num_rows - n).select(
        [c for c in ("timestamp", "request_id", "version", "row", "latency_ms") if c in table.column_names])
    tail_single = single.slice(table.num_rows - n).to_pylist()
    for rec, p, one in zip(tail.to_pylist(), preds.slice(table.num_rows - n).to_pylist(), tail_single, strict=True):
        view.recent.append({"time": rec["timestamp"].isoformat(), "request_id": rec["request_id"],
                            "version": int(rec["version"]), "row": int(rec["row"]), "prediction": p,
                            "label": label_of(f"{rec['request_id']}\x1f{rec['row']}", rec["request_id"], one),
                            "latency_ms": None if rec["latency_ms"] is None else round(float(rec["latency_ms"]), 3)})
    return view


def _true(mask: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(mask).as_py() or 0)


def _number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")
