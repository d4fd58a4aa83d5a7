"""The three endpoint checks over one version's logged rows in a window: drift, data quality, performance.

- ``drift``: the logged inputs are profiled (``data.profile``) and compared with the training dataset's
  stored profile by the drift engine (``data.drift.compare_profiles``: the same verdict as ``data diff``
  and ``monitor drift``). Headline: the share of compared columns that drifted.
- ``quality``: per column of the training dataset's schema, vectorised over Arrow/NumPy: the null rate
  (and its excess over the training data's), the rate of categories the schema does not know and the rate
  of numbers outside its allowed range (of the non-missing values). Headline: the worst column's worst rate
  (null rate counted as its excess over training).
- ``performance``: feedback labels joined with the logged predictions by request id (late labels count
  whenever they arrive: the join runs each time) gives accuracy (labels) or MAE (numbers); for classifiers
  with logged probabilities, CBPE's label-free accuracy and AUC (``core.cbpe``) beside it. Headline: the
  true accuracy with at least ``min_labels`` labelled rows, else the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.monitoring.window import Reference, inputs_of

Metrics = dict[str, float | None]


@dataclass
class CheckResult:
    check: str
    version: int | None
    rows: int
    metrics: Metrics = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    headline: str | None = None  # the metric the check's levels bound
    enough: bool = True  # False: too few rows (or labels) to judge; no alert fires or resolves on it


def drift(table: Any, ref: Reference, spec: Any, skip: set[str]) -> CheckResult:
    from shipyard.data.drift import compare_profiles
    from shipyard.data.profile import DatasetProfile, profile_table
    from shipyard.data.schema import DatasetSchema

    out = CheckResult("drift", ref.version, table.num_rows, headline="share_drifted")
    if ref.profile is None or ref.schema is None:
        out.enough, out.detail = False, {"note": "the version names no training dataset: nothing to compare with"}
        return out
    if table.num_rows < spec.min_rows:
        out.enough, out.detail = False, {"note": f"{table.num_rows} rows < min_rows {spec.min_rows}"}
        return out
    schema = DatasetSchema.from_dict(ref.schema)
    reference = DatasetProfile.from_dict(ref.profile)
    current = profile_table(inputs_of(table, skip), schema)
    columns = [c for c in reference.columns if c in current.columns]
    result = compare_profiles(reference, current, columns=columns, methods=dict(spec.methods), alpha=spec.alpha,
                              threshold=spec.threshold)
    verdict = result.to_dict()
    compared = verdict.get("columns") or {}
    out.metrics = {"share_drifted": float(verdict.get("share_drifted") or 0.0),
                   "n_drifted": float(len(verdict.get("drifted") or [])), "columns": float(len(compared))}
    for name, c in compared.items():
        out.metrics[f"score.{name}"] = float(c["score"])
    out.detail = {"dataset": ref.dataset, "drifted": verdict.get("drifted") or [],
                  "columns": {n: {k: c.get(k) for k in ("method", "score", "p_value", "drifted", "severity")}
                              for n, c in compared.items()},
                  "skipped": verdict.get("skipped") or {}}
    return out


def quality(table: Any, ref: Reference, spec: Any, skip: set[str]) -> CheckResult:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out = CheckResult("quality", ref.version, table.num_rows, headline="worst_rate")
    if ref.schema is None:
        out.enough, out.detail = False, {"note": "the version names no training dataset: no schema to check"}
        return out
    if table.num_rows < spec.min_rows:
        out.enough, out.detail = False, {"note": f"{table.num_rows} rows < min_rows {spec.min_rows}"}
        return out
    inputs = inputs_of(table, skip)
    ref_nulls = {n: float(c.get("null_rate") or 0.0) for n, c in ((ref.profile or {}).get("columns") or {}).items()}
    n = inputs.num_rows
    columns: dict[str, dict[str, float]] = {}
    for col in ref.schema.get("columns") or []:
        name = col["name"]
        if name not in inputs.column_names:
            continue
        arr = inputs[name]
        missing = pc.is_null(arr, nan_is_null=True) if pa.types.is_floating(arr.type) else pc.is_null(arr)
        nulls = int(pc.sum(missing).as_py() or 0)
        present = n - nulls
        unseen = out_of_range = 0
        if present and col.get("type") == "category" and col.get("categories"):
            values = pc.cast(pc.drop_null(arr), pa.string()) if not pa.types.is_string(arr.type) else pc.drop_null(arr)
            unseen = present - int(pc.sum(pc.is_in(values, value_set=pa.array(col["categories"], pa.string())))
                                   .as_py() or 0)
        elif present and col.get("type") in ("integer", "float") and (col.get("min") is not None
                                                                      or col.get("max") is not None):
            try:
                x = pc.drop_null(pc.cast(arr, pa.float64())).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                x = np.empty(0)  # hashed or text in the log: not a number to range-check
            x = x[~np.isnan(x)]
            lo = -np.inf if col.get("min") is None else float(col["min"])
            hi = np.inf if col.get("max") is None else float(col["max"])
            out_of_range = int(((x < lo) | (x > hi)).sum())
        null_rate = nulls / n
        columns[name] = {"null_rate": null_rate, "reference_null_rate": ref_nulls.get(name, 0.0),
                         "unseen_rate": unseen / present if present else 0.0,
                         "out_of_range_rate": out_of_range / present if present else 0.0}
    worst, worst_col = 0.0, None
    for name, c in columns.items():
        rate = max(c["null_rate"] - c["reference_null_rate"], c["unseen_rate"], c["out_of_range_rate"])
        if rate > worst:
            worst, worst_col = rate, name
        for k in ("null_rate", "unseen_rate", "out_of_range_rate"):
            out.metrics[f"{k}.{name}"] = c[k]
    out.metrics.update({
        "worst_rate": worst,
        "max_null_rate": max((c["null_rate"] for c in columns.values()), default=0.0),
        "max_unseen_rate": max((c["unseen_rate"] for c in columns.values()), default=0.0),
        "max_out_of_range_rate": max((c["out_of_range_rate"] for c in columns.values()), default=0.0)})
    out.detail = {"dataset": ref.dataset, "worst_column": worst_col, "columns": columns}
    return out


def performance(table: Any, ref: Reference, spec: Any, endpoint: str,
                feedback: dict[tuple[str, int | None], Any]) -> CheckResult:
    import numpy as np

    from shipyard.core import cbpe
    from shipyard.telemetry.prediction_view import summarize

    out = CheckResult("performance", ref.version, table.num_rows, headline="accuracy_or_estimate")
    view = summarize(endpoint, None, table, feedback, limit=0)
    item = next((v for v in view.versions if v["version"] == ref.version), None)
    labelled = int(item["labelled"]) if item else 0
    out.metrics = {"rows": float(table.num_rows), "labelled": float(labelled),
                   "accuracy": item["accuracy"] if item and labelled >= spec.min_labels else None,
                   "mae": item["mae"] if item and labelled >= spec.min_labels else None,
                   "estimated_accuracy": None, "estimated_roc_auc": None}
    col = "output_predict_proba"
    if col in table.column_names and table.num_rows >= spec.min_rows:
        flat = table[col].combine_chunks()
        width = flat.type.list_size if hasattr(flat.type, "list_size") else 0
        if width >= 2:
            proba = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=float).reshape(-1, width)
            est = cbpe.estimate(proba)
            out.metrics["estimated_accuracy"], out.metrics["estimated_roc_auc"] = est.accuracy, est.roc_auc
            out.metrics.update(_labelled_auc(table, proba, ref.classes, feedback, spec.min_labels))
    true, est_acc = out.metrics["accuracy"], out.metrics["estimated_accuracy"]
    out.metrics["accuracy_or_estimate"] = true if true is not None else est_acc
    out.enough = out.metrics["accuracy_or_estimate"] is not None or out.metrics["mae"] is not None
    out.detail = {"labelled": labelled, "min_labels": spec.min_labels,
                  "source": "labels" if true is not None else ("cbpe" if est_acc is not None else None),
                  "labelled_accuracy": item["accuracy"] if item else None}
    return out


def _labelled_auc(table: Any, proba: Any, classes: list[Any] | None, feedback: dict[tuple[str, int | None], Any],
                  min_labels: int) -> Metrics:
    """The true ROC AUC on the labelled rows (labels matched to the probability columns by the version's
    classes), and CBPE's accuracy on those same rows: the estimate next to the truth, like for like."""
    import numpy as np

    from shipyard.core import cbpe

    out: Metrics = {"roc_auc": None, "estimated_accuracy_labelled": None}
    if not classes or not feedback or len(classes) != proba.shape[1]:
        return out
    pos = {str(c): i for i, c in enumerate(classes)}
    ids, rows = table["request_id"].to_pylist(), table["row"].to_pylist()
    per_request: dict[str, int] = {}
    for r in ids:
        per_request[r] = per_request.get(r, 0) + 1
    at, y = [], []
    for i, (r, k) in enumerate(zip(ids, rows, strict=True)):
        label = feedback.get((r, k))
        if label is None and per_request[r] == 1:
            label = feedback.get((r, None))
        j = None if label is None else pos.get(str(label))
        if j is not None:
            at.append(i)
            y.append(j)
    if len(at) < min_labels or len(set(y)) < 2:
        return out
    from sklearn.metrics import roc_auc_score

    p, truth = proba[np.asarray(at)], np.asarray(y)
    try:
        auc = (roc_auc_score(truth == 1, p[:, 1]) if p.shape[1] == 2 else
               roc_auc_score(truth, p, multi_class="ovr", labels=list(range(p.shape[1]))))
    except ValueError:  # a class without labelled rows in a multiclass window
        auc = None
    out["roc_auc"] = None if auc is None else float(auc)
    out["estimated_accuracy_labelled"] = cbpe.expected_accuracy(p)
    return out
