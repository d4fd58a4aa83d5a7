"""The checks on hand-made windows: data quality rates per column, CBPE beside the true accuracy, drift via the
engine against a stored profile, too few rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from shipyard.data.profile import profile_table
from shipyard.data.schema import infer_schema
from shipyard.monitoring import checks
from shipyard.monitoring.spec import DriftCheck, PerformanceCheck, QualityCheck
from shipyard.monitoring.window import Reference


def reference(n: int = 2000, seed: int = 0) -> tuple[Reference, pa.Table]:
    rng = np.random.default_rng(seed)
    train = pa.table({"x": rng.normal(0, 1, n), "y": rng.normal(5, 2, n),
                      "c": rng.choice(["a", "b", "c"], n)})
    schema = infer_schema(train)
    prof = profile_table(train, schema)
    return Reference("m", 1, "d@1", prof.to_dict(), schema.to_dict(), [0, 1], "classification"), train


def logged(cols: dict[str, object], n: int, **extra: object) -> pa.Table:
    base = {"request_id": [f"r{i}" for i in range(n)], "row": [0] * n, "version": [1] * n,
            "timestamp": pa.array(np.arange(n) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "latency_ms": [1.0] * n}
    return pa.table({**base, **{f"input_{k}": v for k, v in cols.items()}, **extra})


def test_quality_rates_per_column() -> None:
    ref, _ = reference()
    n = 400
    x = np.zeros(n)
    x[:40] = np.nan  # 10% missing
    y = np.full(n, 5.0)
    y[:20] = 1e6  # 5% far out of the allowed range
    c = np.array(["a"] * (n - 100) + ["zzz"] * 100, dtype=object)  # 25% unseen
    res = checks.quality(logged({"x": x, "y": y, "c": c}, n), ref, QualityCheck(), set())
    cols = res.detail["columns"]
    assert cols["x"]["null_rate"] == 0.1 and cols["y"]["out_of_range_rate"] == 0.05
    assert cols["c"]["unseen_rate"] == 0.25 and res.metrics["worst_rate"] == 0.25
    assert res.detail["worst_column"] == "c" and res.metrics["unseen_rate.c"] == 0.25
    hashed = checks.quality(logged({"x": x, "y": y, "c": c}, n), ref, QualityCheck(), {"c"})
    assert "c" not in hashed.detail["columns"]
    few = checks.quality(logged({"x": x[:10], "y": y[:10], "c": c[:10]}, 10), ref, QualityCheck(), set())
    assert not few.enough


def test_drift_uses_the_engine_against_the_profile() -> None:
    ref, _ = reference()
    rng = np.random.default_rng(9)
    n = 1000
    same = logged({"x": rng.normal(0, 1, n), "y": rng.normal(5, 2, n), "c": rng.choice(["a", "b", "c"], n)}, n)
    moved = logged({"x": rng.normal(1.0, 1, n), "y": rng.normal(5, 2, n), "c": rng.choice(["a", "b", "c"], n)}, n)
    a = checks.drift(same, ref, DriftCheck(), set())
    b = checks.drift(moved, ref, DriftCheck(), set())
    assert a.metrics["share_drifted"] == 0.0
    assert b.detail["drifted"] == ["x"] and abs(b.metrics["share_drifted"] - 1 / 3) < 1e-9
    none = checks.drift(same, Reference("m", 1, None, None, None, None, None), DriftCheck(), set())
    assert not none.enough


def test_performance_estimate_beside_the_labelled_accuracy() -> None:
    ref, _ = reference()
    rng = np.random.default_rng(4)
    n = 600
    p1 = rng.uniform(0, 1, n)
    y = (rng.random(n) < p1).astype(int)  # calibrated by construction
    pred = (p1 > 0.5).astype(int)
    proba = pa.FixedSizeListArray.from_arrays(pa.array(np.column_stack([1 - p1, p1]).ravel()), 2)
    table = logged({"x": np.zeros(n)}, n, output_predict=pa.array(pred), output_predict_proba=proba)
    feedback = {(f"r{i}", None): int(y[i]) for i in range(n)}
    res = checks.performance(table, ref, PerformanceCheck(), "ep", feedback)
    true = float((pred == y).mean())
    assert res.metrics["accuracy"] == round(true, 6)
    assert abs(res.metrics["estimated_accuracy"] - true) < 0.05
    assert res.metrics["accuracy_or_estimate"] == res.metrics["accuracy"] and res.detail["source"] == "labels"
    from sklearn.metrics import roc_auc_score

    assert res.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert abs(res.metrics["estimated_roc_auc"] - res.metrics["roc_auc"]) < 0.05
    assert res.metrics["estimated_accuracy_labelled"] == pytest.approx(res.metrics["estimated_accuracy"])
    few = checks.performance(table, ref, PerformanceCheck(min_labels=10_000), "ep", feedback)
    assert few.metrics["accuracy"] is None and few.detail["source"] == "cbpe"
    assert few.metrics["accuracy_or_estimate"] == few.metrics["estimated_accuracy"]
