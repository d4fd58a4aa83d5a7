"""Shadow against stable: pair the prediction log's records by request id and row, and compare them.

A shadow version's records carry the client request's id and ``shadow = true``; the answering (stable)
version's records carry the same id. Only rows both logged are compared (the log is sampled per record, so
a sample rate below 1 leaves fewer pairs). What ``compare`` reports:

- ``pairs``: rows predicted by both;
- ``agreement``: the share of pairs with the same label (None for numeric predictions: regression);
- ``mean_abs_score_diff``: classifiers with probabilities: the mean total-variation distance between the two
  probability vectors (for two classes that is |p_stable(1) - p_candidate(1)|); regression: the mean absolute
  difference of the predicted values; None without either;
- ``distance``: the Jensen-Shannon distance (base 2, 0 = same, 1 = disjoint) between the two output
  distributions over the paired rows: label frequencies, or for numbers a 20-bin histogram over the
  stable's range.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

import numpy as np

COLUMNS = ["request_id", "row", "version", "shadow", "timestamp", "output_predict", "output_predict_proba"]
BINS = 20


class ShadowComparison(TypedDict):
    pairs: int
    agreement: float | None
    mean_abs_score_diff: float | None
    distance: float | None
    stable_rows: int
    candidate_rows: int


def compare(log: Any, endpoint: str, stable: int, candidate: int, since: datetime | None = None
            ) -> ShadowComparison:
    """Compare the shadow ``candidate`` with ``stable`` over the records of ``endpoint`` from ``since`` on.

    Args:
        log: an artifact store (read through ``read_log``) or a prediction-log Arrow table already read.
        endpoint: the endpoint (used to read, and to filter a table holding several).
        stable: the answering version; its non-shadow records are used.
        candidate: the shadow version; its shadow records are used.
        since: only records from then on (None: all).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read(log, endpoint, since)
    empty = ShadowComparison(pairs=0, agreement=None, mean_abs_score_diff=None, distance=None, stable_rows=0,
                             candidate_rows=0)
    if table is None or table.num_rows == 0:
        return empty
    if "endpoint" in table.column_names:
        table = table.filter(pc.equal(table["endpoint"], endpoint))
    if since is not None:
        table = table.filter(pc.greater_equal(table["timestamp"], pa.scalar(since, pa.timestamp("us", tz="UTC"))))
    shadow = (table["shadow"] if "shadow" in table.column_names else pa.nulls(table.num_rows, pa.bool_()))
    shadow = pc.fill_null(shadow, False)
    keep = [c for c in ("request_id", "row", "output_predict", "output_predict_proba") if c in table.column_names]
    if "output_predict" not in keep:
        return empty
    mine = _first(table.filter(pc.and_(pc.equal(table["version"], stable), pc.invert(shadow))).select(keep))
    theirs = _first(table.filter(pc.and_(pc.equal(table["version"], candidate), shadow)).select(keep))
    out = ShadowComparison(pairs=0, agreement=None, mean_abs_score_diff=None, distance=None,
                           stable_rows=mine.num_rows, candidate_rows=theirs.num_rows)
    if not mine.num_rows or not theirs.num_rows:
        return out
    # join the keys and row positions only (Arrow joins cannot carry list columns), then take the outputs
    left = mine.select(["request_id", "row"]).append_column("_i", pa.array(np.arange(mine.num_rows)))
    right = theirs.select(["request_id", "row"]).append_column("_j", pa.array(np.arange(theirs.num_rows)))
    pairs = left.join(right, ["request_id", "row"], join_type="inner")
    out["pairs"] = pairs.num_rows
    if pairs.num_rows == 0:
        return out
    i, j = pairs["_i"].combine_chunks(), pairs["_j"].combine_chunks()
    joined = {"output_predict": mine["output_predict"].take(i), "c_output_predict": theirs["output_predict"].take(j)}
    if "output_predict_proba" in keep:
        joined["output_predict_proba"] = mine["output_predict_proba"].take(i)
        joined["c_output_predict_proba"] = theirs["output_predict_proba"].take(j)
    a, b = joined["output_predict"], joined["c_output_predict"]
    if pa.types.is_floating(a.type) and pa.types.is_floating(b.type):
        x, y = _floats(a), _floats(b)
        out["mean_abs_score_diff"] = round(float(np.mean(np.abs(x - y))), 6)
        out["distance"] = round(js_distance(*_histograms(x, y)), 6)
        return out
    sa, sb = [str(v) for v in a.to_pylist()], [str(v) for v in b.to_pylist()]
    out["agreement"] = round(sum(p == q for p, q in zip(sa, sb, strict=True)) / len(sa), 6)
    labels = sorted(set(sa) | set(sb))
    index = {lab: i for i, lab in enumerate(labels)}
    out["distance"] = round(js_distance(np.bincount([index[v] for v in sa], minlength=len(labels)),
                                        np.bincount([index[v] for v in sb], minlength=len(labels))), 6)
    if "output_predict_proba" in joined:
        pa_, pb_ = _matrix(joined["output_predict_proba"]), _matrix(joined["c_output_predict_proba"])
        if pa_ is not None and pb_ is not None and pa_.shape == pb_.shape:
            out["mean_abs_score_diff"] = round(float(np.mean(0.5 * np.abs(pa_ - pb_).sum(axis=1))), 6)
    return out


def js_distance(p: Any, q: Any) -> float:
    """Jensen-Shannon distance (base 2) between two count (or probability) vectors of the same length."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0 if p.sum() == q.sum() else 1.0
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(x: Any) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return float(np.sqrt(max(0.0, 0.5 * kl(p) + 0.5 * kl(q))))


def _read(log: Any, endpoint: str, since: datetime | None) -> Any:
    if hasattr(log, "list_objects"):
        from shipyard.telemetry.prediction_log import read_log

        return read_log(log, endpoint, since, columns=COLUMNS + ["endpoint"])
    return log


def _first(table: Any) -> Any:
    """The first record of each (request_id, row): a client that reuses an x-request-id pairs once."""
    import pyarrow as pa

    if table.num_rows == 0:
        return table
    idx = table.append_column("_i", pa.array(np.arange(table.num_rows)))
    firsts = idx.group_by(["request_id", "row"]).aggregate([("_i", "min")])["_i_min"]
    return table.take(pa.array(np.sort(firsts.to_numpy())))


def _floats(col: Any) -> Any:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)


def _matrix(col: Any) -> Any:
    rows = col.to_pylist()
    if not rows or any(r is None for r in rows):
        return None
    try:
        return np.asarray(rows, dtype=float)
    except (TypeError, ValueError):
        return None


def _histograms(x: Any, y: Any) -> tuple[Any, Any]:
    """Counts of ``x`` and ``y`` over BINS equal bins spanning the stable's (``x``) range (outliers clipped)."""
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, BINS + 1)
    bx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, BINS - 1)
    by = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, BINS - 1)
    return np.bincount(bx, minlength=BINS), np.bincount(by, minlength=BINS)
